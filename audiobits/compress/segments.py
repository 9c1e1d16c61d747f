"""The encoder of file formats 3 and 4: the logits of every stretch between two cache refills of every utterance
computed side by side in large blocks, then each utterance range-coded in order.

The decoder cannot do this (it learns each id from the one before), but the encoder knows every id in advance.
Between two refills (`refill_steps`) a stream's logits depend on the tokens since the last refill alone, so each
stretch is a row of its own: the first from an empty cache, each later one from a refill over the ``keep`` tokens
before it. :class:`~audiobits.compress.coding_model.CodingModel` gives a row the same bits in a block of 128 rows as
in the decoder's lanes, so the file decodes exactly as if it had been coded in lockstep
(`test_segments.py` checks byte-identical payloads). The model then runs at the batch a CPU is fastest at, and the
coder's sequential part is integer arithmetic on precomputed intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from audiobits.compress import lane_coder
from audiobits.compress.coding_model import MIN_ROWS, CodingModel
from audiobits.compress.range_coder import refill_steps, token_nats
from audiobits.model import GPTConfig

BLOCK_ROWS = 128  # stretches side by side: past ~128 rows a CPU step gains no tokens/s (benchmarks/RESULTS.md)


@dataclass(frozen=True)
class Stretch:
    """Steps ``first`` … ``first + steps − 1`` of the utterance in lane ``lane``, between two cache refills."""

    lane: int
    first: int
    steps: int


def stretches(lane: int, length: int, seq_len: int, keep: int) -> list[Stretch]:
    """The stretches of an utterance of ``length`` ids: ``seq_len`` steps from an empty cache, then one per refill
    (every ``seq_len − keep + 1`` steps, `refill_steps`)."""
    firsts = refill_steps(length, seq_len, keep)
    out = [Stretch(lane, 0, min(length, seq_len))] if length else []
    return out + [Stretch(lane, first, min(firsts.step, length - first)) for first in firsts]


def block_rows(config: GPTConfig, keep: int, memory_bytes: int) -> int:
    """Stretches per block within ``memory_bytes``: each row's key/value cache, its refill's activations (hidden
    states, MLP and attention scores over ``keep`` tokens) and its logits and counts."""
    cache = 2 * config.n_layer * config.seq_len * config.n_embd * 4
    refill = keep * (8 * config.n_embd + 2 * config.n_head * keep) * 4
    return int(min(BLOCK_ROWS, max(MIN_ROWS, memory_bytes // (cache + refill + 48 * config.vocab_size))))


class _Intervals:
    """What the coder needs of every id of a pass's utterances (total, start and size of its counts), and each
    utterance's cross-entropy under the unquantized softmax, filled block by block."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self.total = np.ones(ids.shape, dtype=np.uint64)
        self.start = np.zeros(ids.shape, dtype=np.uint64)
        self.own = np.ones(ids.shape, dtype=np.uint64)
        self.nats = np.zeros(ids.shape[0])

    def record(self, logits: np.ndarray, lanes: np.ndarray, steps: np.ndarray, live: np.ndarray) -> None:
        """Rows ``live`` of a block's logits predict id ``steps[i]`` of lane ``lanes[i]``."""
        lanes, steps, logits = lanes[live], steps[live], logits[live]
        symbols = self.ids[lanes, steps]
        total, start, own = lane_coder.intervals(logits, symbols)
        self.total[lanes, steps], self.start[lanes, steps], self.own[lanes, steps] = total, start, own
        np.add.at(self.nats, lanes, token_nats(logits, symbols))


def _run_block(model: CodingModel, block: list[Stretch], feeds: np.ndarray, keep: int, found: _Intervals) -> None:
    """The logits of one block of stretches, all from an empty cache or all from a refill."""
    lanes = np.array([s.lane for s in block])
    first = np.array([s.first for s in block])
    length = np.array([s.steps for s in block])
    last = feeds.shape[1] - 1
    model.start(len(block))
    if first[0] == 0:
        logits = model.step(torch.from_numpy(feeds[lanes, 0]))
    else:
        window = feeds[lanes[:, None], first[:, None] + np.arange(1 - keep, 1)]
        logits = model.refill(torch.from_numpy(window))
    found.record(logits.numpy(), lanes, first, length > 0)
    for s in range(1, length.max()):
        at = np.minimum(first + s, last)  # rows past their stretch's end step on padding, unrecorded
        found.record(model.step(torch.from_numpy(feeds[lanes, at])).numpy(), lanes, at, length > s)


@torch.inference_mode()
def encode_segments(model: CodingModel, lanes: list[np.ndarray | None], eos_id: int, keep: int, rows: int,
                    progress: Callable[[int, int], None] | None = None
                    ) -> tuple[list[bytes | None], np.ndarray]:
    """What `range_coder.encode_lanes` returns for formats 3 and 4 (each lane's payload, None when empty, and its
    cross-entropy in nats), computed stretch by stretch in blocks of ``rows``. ``progress(done, total)`` counts ids.
    """
    lengths = np.array([0 if u is None else len(u) for u in lanes], dtype=np.int64)
    steps = int(lengths.max(initial=0))
    ids = np.full((len(lanes), max(steps, 1)), eos_id, dtype=np.int64)
    feeds = np.full_like(ids, eos_id)  # the token fed at each step: EOS, then the utterance's ids
    for lane, utterance in enumerate(lanes):
        if utterance is not None:
            ids[lane, :len(utterance)] = utterance
            feeds[lane, 1:len(utterance)] = utterance[:-1]
    found = _Intervals(ids)
    work = [s for lane, n in enumerate(lengths) for s in stretches(lane, int(n), model.capacity, keep)]
    done, total = 0, int(lengths.sum())
    for group in ([s for s in work if s.first == 0], [s for s in work if s.first > 0]):
        for at in range(0, len(group), rows):
            block = group[at:at + rows]
            _run_block(model, block, feeds, keep, found)
            done += sum(s.steps for s in block)
            if progress is not None:
                progress(done, total)
    encoder = lane_coder.LaneEncoder(len(lanes))
    for t in range(steps):
        active = np.flatnonzero(lengths > t)
        encoder.code(active, found.total[active, t], found.start[active, t], found.own[active, t])
    return [None if u is None else encoder.payload(lane) for lane, u in enumerate(lanes)], found.nats
