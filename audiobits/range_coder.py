"""Range coding of token streams with a model's next-token probabilities (constriction's range coder).

Encoder and decoder must derive bit-identical integer probabilities. Two rules make sure they do:

1. Logits → probabilities is exact integer arithmetic: a logit's distance below the row's maximum is rounded to
   1/``STEPS_PER_BIT`` bit and mapped through a fixed integer table of 2^(-k/STEPS_PER_BIT), so no ``exp`` of any
   math library (which may differ by an ULP between machines) enters; constriction then quantizes these integer
   weights to 24-bit counts (every id at least one count, so any id can be coded) in IEEE double arithmetic.
2. The logits come from the same computation on both sides: utterances advance in lockstep through
   :class:`CachedPredictor` (a KV cache, one token per lane per step, refilled at fixed steps) in a fixed number
   of lanes, each utterance in the lane it was encoded in. Nothing in TinyGPT mixes rows, so the operations
   applied to an utterance's row are the same whatever the other lanes hold; on one software and hardware stack
   its logits are bit-identical however the utterances are batched (docs/compress.md, "Determinism").
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext
from importlib import metadata

import constriction
import numpy as np
import torch

from audiobits.model import TinyGPT

STEPS_PER_BIT = 64  # log2-probabilities rounded to 1/64 bit: ≤ 1e-4 bit/token lost, see docs/compress.md
WEIGHT_BITS = 36  # the most likely id weighs 2^36; ids more than 36 bits below it get constriction's minimum
LOG2_E = 1.4426950408889634  # log2(e), written out: not computed by the machine's libm
PRECISION_BITS = 24  # constriction's Categorical: counts out of 2^24
PROGRESS_EVERY = 500  # steps between progress reports of a long pass (a bar's update, microseconds)
CODER = f"constriction {metadata.version('constriction')} queue.RangeEncoder, Categorical(perfect=False), " \
        f"{PRECISION_BITS}-bit"


def _exp2_table() -> np.ndarray:
    """round(2^WEIGHT_BITS · 2^(-r/STEPS_PER_BIT)) for r < STEPS_PER_BIT, in software decimal arithmetic (the
    same integers on every machine)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return np.array([int((Decimal(2) ** (WEIGHT_BITS - Decimal(r) / STEPS_PER_BIT)).to_integral_value())
                         for r in range(STEPS_PER_BIT)], dtype=np.int64)


EXP2_TABLE = _exp2_table()
_FAMILY = constriction.stream.model.Categorical(perfect=False)


def coding_weights(logits: np.ndarray) -> np.ndarray:
    """Integer weights (as float64, exact) ∝ 2^(round(log2 p · STEPS_PER_BIT) / STEPS_PER_BIT) for logits [N, V].

    Only IEEE-exact operations (subtract, multiply by a constant, round half to even) and integer shifts: given
    the same float32 logits, every machine gets the same weights.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(logits).all():
        raise ValueError("the model produced non-finite logits; the weights or the input ids are broken")
    below = -np.rint((logits - logits.max(axis=-1, keepdims=True)) * (STEPS_PER_BIT * LOG2_E)).astype(np.int64)
    shift = np.minimum(below // STEPS_PER_BIT, 63)
    return (EXP2_TABLE[below % STEPS_PER_BIT] >> shift).astype(np.float64)


def token_nats(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Cross-entropy (nats) of ``tokens`` [N] under the unquantized softmax of ``logits`` [N, V], in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=-1)
    log_z = top + np.log(np.exp(logits - top[:, None]).sum(axis=-1))
    return log_z - logits[np.arange(len(tokens)), tokens]


class CachedPredictor:
    """Next-token logits for a batch of streams that advance in lockstep, one token each per step (CPU, fp32).

    Each stream's context is its own tokens since its start. When the cache is full (``seq_len`` tokens) it is
    rebuilt from the last ``keep`` tokens, so every prediction sees between ``keep`` and ``seq_len`` tokens of
    history once the stream is that long — at the same step for every stream, encoder and decoder alike.
    """

    def __init__(self, model: TinyGPT, keep: int) -> None:
        if not 0 < keep < model.config.seq_len:
            raise ValueError(f"keep must lie in [1, seq_len={model.config.seq_len}), got {keep}")
        self.model, self.keep = model, keep

    def start(self, batch: int) -> None:
        self.cache = self.model.new_cache(batch)
        self.recent = torch.zeros(batch, 0, dtype=torch.long)

    @torch.inference_mode()
    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per stream [B]; logits [B, V] (float32) of each stream's next token."""
        new = torch.as_tensor(np.asarray(tokens, dtype=np.int64))[:, None]
        self.recent = torch.cat([self.recent, new], dim=1)[:, -self.keep:]
        if self.cache.length == self.cache.capacity:
            self.cache.clear()
            logits = self.model.forward_cached(self.recent, self.cache)
        else:
            logits = self.model.forward_cached(new, self.cache)
        return logits[:, -1].float().numpy()


def encode_lanes(predictor: CachedPredictor, lanes: list[np.ndarray | None], eos_id: int,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[bytes | None], np.ndarray]:
    """Range-code the utterance in each lane (its ids, EOS included) on its own context, starting after one EOS
    token, all lanes in lockstep; an empty lane (None) is fed EOS. Returns each lane's payload (None when empty)
    and cross-entropy in nats under the unquantized softmax of the same logits. ``progress(step, steps)`` is
    called every PROGRESS_EVERY steps."""
    utterances = [np.zeros(0, dtype=np.int64) if u is None else np.asarray(u, dtype=np.int64) for u in lanes]
    encoders = [constriction.stream.queue.RangeEncoder() for _ in lanes]
    nats = np.zeros(len(lanes))
    feed = np.full(len(lanes), eos_id, dtype=np.int64)
    predictor.start(len(lanes))
    steps = max(len(u) for u in utterances)
    for t in range(steps):
        if progress is not None and t % PROGRESS_EVERY == 0:
            progress(t, steps)
        logits = predictor.step(feed)
        active = np.array([i for i, u in enumerate(utterances) if t < len(u)])
        symbols = np.array([utterances[i][t] for i in active], dtype=np.int32)
        weights = coding_weights(logits[active])
        for row, lane in enumerate(active):
            encoders[lane].encode(symbols[row:row + 1], _FAMILY, weights[row:row + 1])
        nats[active] += token_nats(logits[active], symbols)
        feed = np.array([u[t] if t < len(u) else eos_id for u in utterances], dtype=np.int64)
    return [None if u is None else sealed(e) for u, e in zip(lanes, encoders)], nats


def sealed(encoder: constriction.stream.queue.RangeEncoder) -> bytes:
    """The encoder's finished 32-bit words (big-endian), then the shortest byte string whose value, padded with the
    zeros the decoder reads past the end, lies in the final interval [lower, lower + range) of the 64-bit state:
    about 3 bits above the information in all, where constriction's own sealing ends on a whole word (≈ 17 bits,
    which short utterances feel)."""
    position, (lower, width) = encoder.pos()
    bulk = encoder.get_compressed()[:position].astype(">u4").tobytes()
    if lower + (1 << 32) - 1 >= 1 << 64:  # constriction wrote its held-back words carried (its seal point passed
        return bulk  # 2^64): the zeros after them stand for 2^64, which lies in the interval (range >= 2^32)
    for zero_bytes in range(8, -1, -1):  # the point in the interval with the most trailing zero bytes
        unit = 1 << (8 * zero_bytes)
        point = -(-lower // unit) * unit
        if point < min(lower + width, 1 << 64):
            return bulk + point.to_bytes(8, "big").rstrip(b"\0")
    raise AssertionError("unreachable: the point lower itself lies in the interval")


def decode_lanes(predictor: CachedPredictor, payloads: list[bytes | None], counts: list[int], eos_id: int,
                 progress: Callable[[int, int], None] | None = None) -> list[np.ndarray | None]:
    """Inverse of :func:`encode_lanes`: ``counts[i]`` ids from lane i's payload, which must sit in the lane it was
    encoded in, among as many lanes; what the other lanes hold does not matter. An empty lane (None: unused, or
    known to be corrupt) is fed EOS; a lane whose payload makes the decoder fail comes back as None.
    """
    lanes = len(payloads)
    decoders = [None if p is None else constriction.stream.queue.RangeDecoder(
        np.frombuffer(p + b"\0" * (-len(p) % 4), dtype=">u4").astype(np.uint32)) for p in payloads]
    out = [np.zeros(n, dtype=np.int64) if p is not None else None for p, n in zip(payloads, counts)]
    feed = np.full(lanes, eos_id, dtype=np.int64)
    predictor.start(lanes)
    steps = max(counts, default=0)
    for t in range(steps):
        if progress is not None and t % PROGRESS_EVERY == 0:
            progress(t, steps)
        logits = predictor.step(feed)
        feed = np.full(lanes, eos_id, dtype=np.int64)
        active = [i for i in range(lanes) if out[i] is not None and t < counts[i]]
        if not active:
            continue
        weights = coding_weights(logits[active])
        for row, lane in enumerate(active):
            try:
                symbol = int(decoders[lane].decode(_FAMILY, weights[row:row + 1])[0])
            except (ValueError, RuntimeError, AssertionError):
                out[lane] = None
                continue
            out[lane][t] = feed[lane] = symbol
    return out

