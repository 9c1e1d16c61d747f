"""Format version 1's coder (constriction 0.5's range coder, one lane at a time): kept so files written before
version 2 still decode, and its writer so that reader stays tested against real version-1 payloads.

Logits → integer weights ∝ 2^(round(log2 p · STEPS_PER_BIT) / STEPS_PER_BIT) through a fixed table (no libm),
then constriction's ``Categorical(perfect=False)`` quantizes them to 24-bit counts in IEEE double arithmetic.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from importlib import metadata

import constriction
import numpy as np

STEPS_PER_BIT = 64
WEIGHT_BITS = 36  # the most likely id weighs 2^36; ids more than 36 bits below it get constriction's minimum
LOG2_E = 1.4426950408889634  # log2(e), written out: not computed by the machine's libm
PRECISION_BITS = 24  # constriction's Categorical: counts out of 2^24
CODER = f"constriction {metadata.version('constriction')} queue.RangeEncoder, Categorical(perfect=False), " \
        f"{PRECISION_BITS}-bit"
QUANTIZATION = {"steps_per_bit": STEPS_PER_BIT, "weight_bits": WEIGHT_BITS, "coder": CODER,
                "precision_bits": PRECISION_BITS}
_FAMILY = constriction.stream.model.Categorical(perfect=False)


def _exp2_table() -> np.ndarray:
    """round(2^WEIGHT_BITS · 2^(-r/STEPS_PER_BIT)) for r < STEPS_PER_BIT, in software decimal arithmetic (the
    same integers on every machine)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return np.array([int((Decimal(2) ** (WEIGHT_BITS - Decimal(r) / STEPS_PER_BIT)).to_integral_value())
                         for r in range(STEPS_PER_BIT)], dtype=np.int64)


EXP2_TABLE = _exp2_table()


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


class ConstrictionEncoder:
    """Version 1's writer: one constriction RangeEncoder per lane (same interface as `lane_coder.LaneEncoder`)."""

    def __init__(self, lanes: int) -> None:
        self.encoders = [constriction.stream.queue.RangeEncoder() for _ in range(lanes)]

    def encode(self, lanes: np.ndarray, logits: np.ndarray, symbols: np.ndarray) -> None:
        weights = coding_weights(logits)
        for row, lane in enumerate(lanes):
            self.encoders[lane].encode(np.asarray(symbols[row:row + 1], dtype=np.int32), _FAMILY,
                                       weights[row:row + 1])

    def payload(self, lane: int) -> bytes:
        return sealed(self.encoders[lane])


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


class ConstrictionDecoder:
    """Version 1's reader (same interface as `lane_coder.LaneDecoder`); an empty payload is an unused lane."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.decoders = [constriction.stream.queue.RangeDecoder(
            np.frombuffer(p + b"\0" * (-len(p) % 4), dtype=">u4").astype(np.uint32)) for p in payloads]

    def decode(self, lanes: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weights = coding_weights(logits)
        symbols, ok = np.zeros(len(lanes), dtype=np.int64), np.ones(len(lanes), dtype=bool)
        for row, lane in enumerate(lanes):
            try:
                symbols[row] = self.decoders[lane].decode(_FAMILY, weights[row:row + 1])[0]
            except (ValueError, RuntimeError, AssertionError):
                ok[row] = False
        return symbols, ok
