"""Range coding vectorized over lanes (format version 2): one numpy step codes one id in every lane at once.

Counts: each logit's distance below its row's maximum is rounded to 1/``STEPS_PER_BIT`` bit and mapped through a
fixed integer table of round(2^(COUNT_BITS − k/STEPS_PER_BIT)), plus one (every id can be coded). Only IEEE-exact
float32 steps (subtract, multiply by a constant, round half to even) and integer arithmetic: the same logits give
the same counts on every machine. The total is the row's sum, not a power of two: the coder divides by it.

Coder: a 64-bit range coder that emits bytes (the range kept ≥ 2^56, so a total up to 2^50 still leaves ≥ 2^6
steps per count), carries propagated into the bytes already written, each lane's state a row of numpy arrays.
Termination writes the shortest byte string whose value, padded with the zeros the decoder reads past the end,
lies in the final interval (a few bits per utterance).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np

STEPS_PER_BIT = 64  # log2-probabilities rounded to 1/64 bit: ≤ 1e-4 bit/token lost (tests/test_lane_coder.py)
COUNT_BITS = 30  # the most likely id counts 2^30 + 1; ids 32 bits or more below it count 1
MAX_VOCAB = 1 << 20  # total ≤ 2^50 + 2^20: the coder's range (≥ 2^56) divided by it keeps ≥ 2^5 steps
LOG2_E = np.float32(1.4426950408889634)  # log2(e), written out: not computed by the machine's libm
SCALE = np.float32(STEPS_PER_BIT) * LOG2_E  # float32 multiply: exact IEEE rounding, the same everywhere
CODER = "audiobits lane range coder: 64-bit state, bytes, counts 2^30 · 2^(-k/64) + 1"
_TOP = np.uint64(1 << 56)  # renormalize (shift a byte out) while the range is below this
_BYTE = np.uint64(8)


def _count_table() -> np.ndarray:
    """round(2^COUNT_BITS · 2^(-k/STEPS_PER_BIT)) for k until it rounds to 0, in software decimal arithmetic (the
    same integers on every machine); its last entry is 0."""
    with localcontext() as ctx:
        ctx.prec = 40
        table = [int((Decimal(2) ** (COUNT_BITS - Decimal(k) / STEPS_PER_BIT)).to_integral_value())
                 for k in range(STEPS_PER_BIT * (COUNT_BITS + 2))]
    return np.array(table[:table.index(0) + 1], dtype=np.int32)


COUNT_TABLE = _count_table()
_LAST = np.float32(len(COUNT_TABLE) - 1)


def coding_counts(logits: np.ndarray) -> np.ndarray:
    """Counts − 1 (int32 [N, V]) of each id for float32 logits [N, V]; row ``i`` depends on row ``i`` alone."""
    logits = np.asarray(logits, dtype=np.float32)
    if logits.shape[-1] > MAX_VOCAB:
        raise ValueError(f"the lane coder codes vocabularies up to {MAX_VOCAB} ids, got {logits.shape[-1]}")
    top = logits.max(axis=-1, keepdims=True)
    if not np.isfinite(top).all():  # NaN propagates into the maximum, +inf is the maximum
        raise ValueError("the model produced non-finite logits; the weights or the input ids are broken")
    below = np.subtract(top, logits)
    below *= SCALE
    np.rint(below, out=below)
    np.minimum(below, _LAST, out=below)  # −inf logits land on the last entry: count 1
    return COUNT_TABLE[below.astype(np.int32)]


def intervals(logits: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's total count and the start and size of its symbol's counts (uint64) under the counts of
    ``logits`` [N, V]: everything the coder needs of a step, computable before the coder runs."""
    counts = coding_counts(logits)
    ends = _ends(counts)
    return (ends[:, -1].astype(np.uint64), *_interval(counts, ends, symbols))


def _ends(counts: np.ndarray) -> np.ndarray:
    """Where each id's interval ends (int64 [N, V]): the counts − 1 summed through it, plus its ones; the last column
    is the row's total."""
    ends = np.cumsum(counts, axis=1, dtype=np.int64)
    ends += np.arange(1, counts.shape[1] + 1)
    return ends


def _interval(counts: np.ndarray, ends: np.ndarray, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The start and size (uint64) of each row's ``symbols`` interval, from the counts − 1 and `_ends`."""
    rows = np.arange(len(symbols))
    own = counts[rows, symbols].astype(np.uint64) + np.uint64(1)
    return ends[rows, symbols].astype(np.uint64) - own, own


class LaneEncoder:
    """The coder state of ``lanes`` streams: each row its own range coder, all advanced by one vectorized step."""

    def __init__(self, lanes: int, capacity: int = 1024) -> None:
        self.low = np.zeros(lanes, dtype=np.uint64)
        self.range = np.full(lanes, np.iinfo(np.uint64).max, dtype=np.uint64)
        self.out = np.zeros((lanes, capacity), dtype=np.uint8)
        self.written = np.zeros(lanes, dtype=np.int64)

    def encode(self, lanes: np.ndarray, logits: np.ndarray, symbols: np.ndarray) -> None:
        """Code ``symbols[i]`` under the counts of ``logits[i]`` in lane ``lanes[i]``, for every i at once."""
        self.code(lanes, *intervals(logits, symbols))

    def code(self, lanes: np.ndarray, total: np.ndarray, start: np.ndarray, own: np.ndarray) -> None:
        """Code in each lane ``lanes[i]`` the interval [start, start + own) of a total ``total[i]`` (uint64)."""
        step = self.range[lanes] // total
        low = self.low[lanes] + start * step  # wraps past 2^64: a carry into the bytes already written
        self._carry(lanes[low < self.low[lanes]])
        self.low[lanes], self.range[lanes] = low, own * step
        self._renormalize(lanes)

    def _carry(self, lanes: np.ndarray) -> None:
        at = self.written[lanes] - 1
        while len(lanes):
            full = self.out[lanes, at] == 255
            self.out[lanes[full], at[full]] = 0
            self.out[lanes[~full], at[~full]] += 1
            lanes, at = lanes[full], at[full] - 1

    def _renormalize(self, lanes: np.ndarray) -> None:
        while len(lanes := lanes[self.range[lanes] < _TOP]):
            if self.written.max() == self.out.shape[1]:
                self.out = np.concatenate([self.out, np.zeros_like(self.out)], axis=1)
            self.out[lanes, self.written[lanes]] = (self.low[lanes] >> np.uint64(56)).astype(np.uint8)
            self.written[lanes] += 1
            self.low[lanes] <<= _BYTE
            self.range[lanes] <<= _BYTE

    def payload(self, lane: int) -> bytes:
        """Lane ``lane``'s bytes, ended on the point of its final interval with the most trailing zero bytes."""
        low, width = int(self.low[lane]), int(self.range[lane])
        for zero_bytes in range(8, -1, -1):
            unit = 1 << (8 * zero_bytes)
            point = -(-low // unit) * unit
            if point < low + width:
                break
        if point >> 64:
            self._carry(np.array([lane]))
        head = self.out[lane, :self.written[lane]].tobytes()
        return (head + (point % (1 << 64)).to_bytes(8, "big")).rstrip(b"\0")


class LaneDecoder:
    """Inverse of :class:`LaneEncoder`: each lane reads its own payload (zeros past its end)."""

    def __init__(self, payloads: list[bytes]) -> None:
        width = max((len(p) for p in payloads), default=0) + 16
        self.data = np.zeros((len(payloads), width), dtype=np.uint8)
        for lane, payload in enumerate(payloads):
            self.data[lane, :len(payload)] = np.frombuffer(payload, dtype=np.uint8)
        self.range = np.full(len(payloads), np.iinfo(np.uint64).max, dtype=np.uint64)
        self.offset = np.zeros(len(payloads), dtype=np.uint64)  # the code's value minus the interval's low
        self.read = np.zeros(len(payloads), dtype=np.int64)
        for _ in range(8):
            self._shift_in(np.arange(len(payloads)))

    def _shift_in(self, lanes: np.ndarray) -> None:
        at = np.minimum(self.read[lanes], self.data.shape[1] - 1)  # the last column is always zero
        self.offset[lanes] = (self.offset[lanes] << _BYTE) | self.data[lanes, at].astype(np.uint64)
        self.read[lanes] += 1

    def decode(self, lanes: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The symbol coded in each lane ``lanes[i]`` under the counts of ``logits[i]``, and whether it decoded
        (False: the payload points outside every id's interval: it is corrupt or was coded with other counts)."""
        counts = coding_counts(logits)
        ends = _ends(counts)
        step = self.range[lanes] // ends[:, -1].astype(np.uint64)
        target = (self.offset[lanes] // step).astype(np.int64)
        symbols = _first_above(ends, target)
        start, own = _interval(counts, ends, symbols)
        ok = target < ends[:, -1]
        if not ok.all():
            lanes, start, own, step = lanes[ok], start[ok], own[ok], step[ok]
        self.offset[lanes] -= start * step
        self.range[lanes] = own * step
        while len(lanes := lanes[self.range[lanes] < _TOP]):
            self._shift_in(lanes)
            self.range[lanes] <<= _BYTE
        return symbols, ok


def _first_above(ends: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per row, the first id whose interval ends above ``target`` (0 where none does): one vectorized comparison over
    the rows, a pass like the cumsum before it, where a binary search made ~60 numpy calls per step (the decoder's
    per-step cost at small vocabularies)."""
    return np.argmax(ends > target[:, None], axis=1)
