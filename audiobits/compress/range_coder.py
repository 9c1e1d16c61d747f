"""Range coding of token streams with a model's next-token probabilities, many utterances side by side in lanes.

Encoder and decoder must derive bit-identical integer probabilities. Two rules make sure they do:

1. Logits → counts is exact: IEEE-exact float steps and integer tables, no ``exp`` of any math library
   (:mod:`audiobits.compress.lane_coder` for format versions 2 to 4, :mod:`audiobits.compress.range_coder_v1` for
   version 1).
2. The logits come from the same computation on both sides: every utterance's tokens are fed one per step from its
   start, and the cache is rebuilt from the last ``keep`` tokens at the same steps (`refill_steps`). Versions 3 and 4
   compute them with :class:`~audiobits.compress.coding_model.CodingModel` (4 with its lean RMSNorm), whose rows do
   not depend on the batch: the encoder computes all of an utterance's stretches between refills side by side
   (:mod:`audiobits.compress.segments`), the decoder steps the utterances in lanes. Versions 1 and 2 computed them
   with ``TinyGPT.forward_cached`` in a fixed number of lanes, each utterance in the lane it was encoded in
   (docs/compress.md, "Determinism").

Each step runs one batched model step and one vectorized coder step over every lane: no Python loop over lanes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from audiobits.compress import lane_coder, range_coder_v1
from audiobits.compress.coding_model import CodingModel
from audiobits.model import KVCache, TinyGPT

PROGRESS_EVERY = 500  # steps between progress reports of a long pass (a bar's update, microseconds)


class ModuleSteps:
    """`TinyGPT.forward_cached` behind the coding steps' interface: the logits of file format versions 1 and 2."""

    rows_independent = False  # decoded in the lanes and the batch it was coded in

    def __init__(self, model: TinyGPT) -> None:
        self.model, self.capacity = model, model.config.seq_len
        self.cache: KVCache | None = None

    @property
    def length(self) -> int:
        return self.cache.length

    def start(self, batch: int) -> None:
        if self.cache is None or self.cache.layers[0].k.shape[0] != batch:
            self.cache = self.model.new_cache(batch)
        self.cache.clear()

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.forward_cached(tokens[:, None], self.cache)[:, -1]

    @torch.inference_mode()
    def refill(self, window: torch.Tensor) -> torch.Tensor:
        self.cache.clear()
        return self.model.forward_cached(window, self.cache)[:, -1]


Steps = ModuleSteps | CodingModel


@dataclass(frozen=True)
class CodingFormat:
    """One file format version: its model steps, its coder's writer and reader (built per pass) and the header's
    record of its quantization."""

    version: int
    steps: Callable[[TinyGPT], Steps]
    encoder: Callable[[int], lane_coder.LaneEncoder | range_coder_v1.ConstrictionEncoder]
    decoder: Callable[[list[bytes]], lane_coder.LaneDecoder | range_coder_v1.ConstrictionDecoder]
    quantization: dict


LANE_CODER = {"steps_per_bit": lane_coder.STEPS_PER_BIT, "count_bits": lane_coder.COUNT_BITS,
              "coder": lane_coder.CODER}
FORMATS = {1: CodingFormat(1, ModuleSteps, range_coder_v1.ConstrictionEncoder, range_coder_v1.ConstrictionDecoder,
                           range_coder_v1.QUANTIZATION),
           2: CodingFormat(2, ModuleSteps, lane_coder.LaneEncoder, lane_coder.LaneDecoder, LANE_CODER),
           3: CodingFormat(3, partial(CodingModel, fold_norms=False), lane_coder.LaneEncoder, lane_coder.LaneDecoder,
                           LANE_CODER),
           4: CodingFormat(4, CodingModel, lane_coder.LaneEncoder, lane_coder.LaneDecoder, LANE_CODER)}
WRITTEN = FORMATS[4]  # what `audiobits compress` writes; every version in FORMATS decodes


def token_nats(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Cross-entropy (nats, float64) of ``tokens`` [N] under the unquantized softmax of ``logits`` [N, V], computed
    in the logits' own precision."""
    logits = torch.from_numpy(np.asarray(logits))
    picked = logits[torch.arange(len(tokens)), torch.from_numpy(np.asarray(tokens, dtype=np.int64))]
    return (logits.logsumexp(-1) - picked).double().numpy()


def refill_steps(steps: int, seq_len: int, keep: int) -> range:
    """The coding steps among the first ``steps`` (0-based: step t feeds an utterance's id t − 1, or EOS at 0) that
    rebuild the cache from the last ``keep`` fed tokens: when the cache is full, first after ``seq_len`` steps, then
    every ``seq_len − keep + 1``."""
    return range(seq_len, steps, seq_len - keep + 1)


class CachedPredictor:
    """Next-token logits for a batch of streams that advance in lockstep, one token each per step (CPU, fp32).

    Each stream's context is its own tokens since its start. When the cache is full (``seq_len`` tokens) it is
    rebuilt from the last ``keep`` tokens (`refill_steps`), so every prediction sees between ``keep`` and ``seq_len``
    tokens of history once the stream is that long — at the same step for every stream, encoder and decoder alike.
    The steps keep their cache across passes; the token window is allocated again only when the batch size changes.
    """

    def __init__(self, steps: Steps, keep: int) -> None:
        if not 0 < keep < steps.capacity:
            raise ValueError(f"keep must lie in [1, seq_len={steps.capacity}), got {keep}")
        self.steps, self.keep = steps, keep
        self.window = np.zeros((0, steps.capacity), dtype=np.int64)  # the cached tokens

    def start(self, batch: int) -> None:
        if self.window.shape[0] != batch:
            self.window = np.zeros((batch, self.steps.capacity), dtype=np.int64)
        self.steps.start(batch)

    @property
    def rows_independent(self) -> bool:
        """Whether a stream's logits do not depend on the batch, so that ended streams may leave it (`keep_rows`)."""
        return self.steps.rows_independent

    def keep_rows(self, rows: np.ndarray) -> None:
        """Go on with the streams ``rows`` (indices into the batch, in order) alone: the others have ended."""
        self.window = self.window[rows]
        self.steps.keep_rows(torch.from_numpy(rows))

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per stream [B]; logits [B, V] (float32) of each stream's next token."""
        new = np.asarray(tokens, dtype=np.int64)
        length = self.steps.length
        if length == self.steps.capacity:
            self.window[:, :self.keep - 1] = self.window[:, length - self.keep + 1:]
            self.window[:, self.keep - 1] = new
            logits = self.steps.refill(torch.from_numpy(self.window[:, :self.keep]))
        else:
            self.window[:, length] = new
            logits = self.steps.step(torch.from_numpy(new))
        return logits.float().numpy()


@torch.inference_mode()
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


@torch.inference_mode()
def decode_lanes(predictor: CachedPredictor, payloads: list[bytes | None], counts: list[int], eos_id: int,
                 progress: Callable[[int, int], None] | None = None, coding: CodingFormat = WRITTEN
                 ) -> list[np.ndarray | None]:
    """Inverse of :func:`encode_lanes`: ``counts[i]`` ids from lane i's payload, which must sit in the lane it was
    encoded in, among as many lanes; what the other lanes hold does not matter. Each row is fed what the encoder
    fed it: EOS, then its decoded ids, EOS once it has ended. An empty lane (None: unused, or known to be corrupt)
    is fed EOS; a lane whose payload makes the decoder fail comes back as None and is fed EOS from then on. Where
    the model's rows do not depend on the batch (formats 3 and 4), a lane leaves the batch when it ends, and an
    empty one before the first step; no step is taken once no lane is left to decode.
    """
    decoder = coding.decoder([b"" if p is None else p for p in payloads])
    counts_ = np.asarray(counts, dtype=np.int64)
    alive = np.array([p is not None for p in payloads], dtype=bool)
    steps = int(counts_.max(initial=0))
    out = np.zeros((len(payloads), steps), dtype=np.int64)
    predictor.start(len(payloads))
    rows = np.arange(len(payloads))  # the lane of each row of the batch
    feed = np.full(len(rows), eos_id, dtype=np.int64)  # each row's decoded id of the step before, else EOS
    until = 0  # the next step at which the rows decoding change (a lane ended or failed)
    for t in range(steps):
        if t == until:
            active = np.flatnonzero(alive[rows] & (counts_[rows] > t))  # the rows decoding at this step
            if not len(active):  # every lane has ended or failed: nothing left to decode
                break
            if predictor.rows_independent and len(active) < len(rows):  # the others leave the batch
                predictor.keep_rows(active)
                rows, feed, active = rows[active], feed[active], np.arange(len(active))
            lanes, every = rows[active], len(active) == len(rows)
            until = int(counts_[lanes].min())
        if progress is not None and t % PROGRESS_EVERY == 0:
            progress(t, steps)
        logits = predictor.step(feed)
        symbols, ok = decoder.decode(lanes, logits if every else logits[active])
        if every and ok.all():
            out[lanes, t] = feed = symbols
        else:
            alive[lanes[~ok]] = False
            feed = np.full(len(rows), eos_id, dtype=np.int64)
            out[lanes[ok], t] = feed[active[ok]] = symbols[ok]
            if not ok.all():
                until = t + 1
    return [out[lane, :n] if alive[lane] else None for lane, n in enumerate(counts_)]
