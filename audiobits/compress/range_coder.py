"""Range coding of token streams with a model's next-token probabilities, many utterances side by side in lanes.

Encoder and decoder must derive bit-identical integer probabilities. Two rules make sure they do:

1. Logits → counts is exact: IEEE-exact float steps and integer tables, no ``exp`` of any math library
   (:mod:`audiobits.compress.lane_coder` for format version 2, :mod:`audiobits.compress.range_coder_v1` for version 1).
2. The logits come from the same computation on both sides: utterances advance in lockstep through
   :class:`CachedPredictor` (a KV cache, one token per lane per step, refilled at fixed steps) in a fixed number
   of lanes, each utterance in the lane it was encoded in. Nothing in TinyGPT mixes rows, so the operations
   applied to an utterance's row are the same whatever the other lanes hold; on one software and hardware stack
   its logits are bit-identical however the utterances are batched (docs/compress.md, "Determinism").

Each step runs one batched model step and one vectorized coder step over every lane: no Python loop over lanes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from audiobits.compress import lane_coder, range_coder_v1
from audiobits.model import TinyGPT

PROGRESS_EVERY = 500  # steps between progress reports of a long pass (a bar's update, microseconds)


@dataclass(frozen=True)
class CodingFormat:
    """One file format version's coder: its writer and reader (built per pass) and the header's record of it."""

    version: int
    encoder: Callable[[int], lane_coder.LaneEncoder | range_coder_v1.ConstrictionEncoder]
    decoder: Callable[[list[bytes]], lane_coder.LaneDecoder | range_coder_v1.ConstrictionDecoder]
    quantization: dict


FORMATS = {1: CodingFormat(1, range_coder_v1.ConstrictionEncoder, range_coder_v1.ConstrictionDecoder,
                           range_coder_v1.QUANTIZATION),
           2: CodingFormat(2, lane_coder.LaneEncoder, lane_coder.LaneDecoder,
                           {"steps_per_bit": lane_coder.STEPS_PER_BIT, "count_bits": lane_coder.COUNT_BITS,
                            "coder": lane_coder.CODER})}
WRITTEN = FORMATS[2]  # what `audiobits compress` writes; every version in FORMATS decodes


def token_nats(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Cross-entropy (nats, float64) of ``tokens`` [N] under the unquantized softmax of ``logits`` [N, V], computed
    in the logits' own precision."""
    logits = torch.from_numpy(np.asarray(logits))
    picked = logits[torch.arange(len(tokens)), torch.from_numpy(np.asarray(tokens, dtype=np.int64))]
    return (logits.logsumexp(-1) - picked).double().numpy()


class CachedPredictor:
    """Next-token logits for a batch of streams that advance in lockstep, one token each per step (CPU, fp32).

    Each stream's context is its own tokens since its start. When the cache is full (``seq_len`` tokens) it is
    rebuilt from the last ``keep`` tokens, so every prediction sees between ``keep`` and ``seq_len`` tokens of
    history once the stream is that long — at the same step for every stream, encoder and decoder alike. The
    cache and the token window are allocated once per batch size and reused by every pass.
    """

    def __init__(self, model: TinyGPT, keep: int) -> None:
        if not 0 < keep < model.config.seq_len:
            raise ValueError(f"keep must lie in [1, seq_len={model.config.seq_len}), got {keep}")
        self.model, self.keep = model, keep
        self.cache = None

    def start(self, batch: int) -> None:
        if self.cache is None or self.window.shape[0] != batch:
            self.cache = self.model.new_cache(batch)
            self.window = torch.zeros(batch, self.model.config.seq_len, dtype=torch.long)  # the cached tokens
        self.cache.clear()

    @torch.inference_mode()
    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per stream [B]; logits [B, V] (float32) of each stream's next token."""
        new = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
        length = self.cache.length
        if length == self.cache.capacity:
            self.window[:, :self.keep - 1] = self.window[:, length - self.keep + 1:].clone()
            self.window[:, self.keep - 1] = new
            self.cache.clear()
            logits = self.model.forward_cached(self.window[:, :self.keep], self.cache)
        else:
            self.window[:, length] = new
            logits = self.model.forward_cached(new[:, None], self.cache)
        return logits[:, -1].float().numpy()


def encode_lanes(predictor: CachedPredictor, lanes: list[np.ndarray | None], eos_id: int,
                 progress: Callable[[int, int], None] | None = None, coding: CodingFormat = WRITTEN
                 ) -> tuple[list[bytes | None], np.ndarray]:
    """Range-code the utterance in each lane (its ids, EOS included) on its own context, starting after one EOS
    token, all lanes in lockstep; an empty lane (None) is fed EOS. Returns each lane's payload (None when empty)
    and cross-entropy in nats under the unquantized softmax of the same logits. ``progress(step, steps)`` is
    called every PROGRESS_EVERY steps."""
    lengths = np.array([0 if u is None else len(u) for u in lanes], dtype=np.int64)
    steps = int(lengths.max(initial=0))
    ids = np.full((len(lanes), steps), eos_id, dtype=np.int64)  # each lane's ids, EOS after its end
    for lane, utterance in enumerate(lanes):
        ids[lane, :lengths[lane]] = np.zeros(0) if utterance is None else utterance
    encoder = coding.encoder(len(lanes))
    nats = np.zeros(len(lanes))
    feed = np.full(len(lanes), eos_id, dtype=np.int64)
    predictor.start(len(lanes))
    for t in range(steps):
        if progress is not None and t % PROGRESS_EVERY == 0:
            progress(t, steps)
        logits = predictor.step(feed)
        active = np.flatnonzero(lengths > t)
        rows = logits if len(active) == len(lanes) else logits[active]
        encoder.encode(active, rows, ids[active, t])
        nats[active] += token_nats(rows, ids[active, t])
        feed = ids[:, t]
    return [None if u is None else encoder.payload(lane) for lane, u in enumerate(lanes)], nats


def decode_lanes(predictor: CachedPredictor, payloads: list[bytes | None], counts: list[int], eos_id: int,
                 progress: Callable[[int, int], None] | None = None, coding: CodingFormat = WRITTEN
                 ) -> list[np.ndarray | None]:
    """Inverse of :func:`encode_lanes`: ``counts[i]`` ids from lane i's payload, which must sit in the lane it was
    encoded in, among as many lanes; what the other lanes hold does not matter. An empty lane (None: unused, or
    known to be corrupt) is fed EOS; a lane whose payload makes the decoder fail comes back as None.
    """
    decoder = coding.decoder([b"" if p is None else p for p in payloads])
    counts_ = np.asarray(counts, dtype=np.int64)
    alive = np.array([p is not None for p in payloads], dtype=bool)
    steps = int(counts_.max(initial=0))
    out = np.zeros((len(payloads), steps), dtype=np.int64)
    predictor.start(len(payloads))
    feed = np.full(len(payloads), eos_id, dtype=np.int64)
    for t in range(steps):
        if progress is not None and t % PROGRESS_EVERY == 0:
            progress(t, steps)
        logits = predictor.step(feed)
        feed = np.full(len(payloads), eos_id, dtype=np.int64)
        active = np.flatnonzero(alive & (counts_ > t))
        if not len(active):
            continue
        symbols, ok = decoder.decode(active, logits if len(active) == len(payloads) else logits[active])
        alive[active[~ok]] = False
        out[active[ok], t] = feed[active[ok]] = symbols[ok]
    return [out[lane, :n] if alive[lane] else None for lane, n in enumerate(counts_)]
