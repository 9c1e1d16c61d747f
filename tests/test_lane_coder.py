"""The vectorized lane coder (format version 2): exact integer counts, lossless round trips across many lanes,
carries into written bytes, a few bits of termination, and corrupt payloads caught."""

import numpy as np
import pytest

from audiobits.compress import lane_coder
from audiobits.compress.lane_coder import (
    COUNT_BITS, COUNT_TABLE, STEPS_PER_BIT, LaneDecoder, LaneEncoder, coding_counts,
)


def test_the_count_table_is_two_to_the_count_bits_minus_k_over_steps_down_to_zero():
    expected = [round(2.0 ** (COUNT_BITS - k / STEPS_PER_BIT)) for k in range(len(COUNT_TABLE))]
    assert COUNT_TABLE.tolist() == expected and COUNT_TABLE[-1] == 0 and COUNT_TABLE[-2] > 0


def test_counts_are_close_to_the_softmax_and_a_row_depends_on_itself_alone():
    logits = np.random.default_rng(0).normal(0, 3, size=(5, 300)).astype(np.float32)
    counts = coding_counts(logits).astype(np.float64) + 1
    assert counts.max() == 2 ** COUNT_BITS + 1 and counts.min() >= 1
    assert np.array_equal(coding_counts(logits[2:3])[0], coding_counts(logits)[2])
    p = np.exp(logits - logits.max(1, keepdims=True)).astype(np.float64)
    p /= p.sum(1, keepdims=True)
    q = counts / counts.sum(1, keepdims=True)
    assert (p * np.log2(p / q)).sum(1).max() < 1e-4  # 1/64-bit rounding: far under 1 % of any real rate


def test_impossible_ids_get_one_count_and_broken_logits_are_refused():
    logits = np.array([[0.0, -np.inf, -1e30, -50.0]], dtype=np.float32)
    assert coding_counts(logits)[0].tolist() == [2 ** COUNT_BITS, 0, 0, 0]
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="non-finite"):
            coding_counts(np.array([[0.0, bad]], dtype=np.float32))


def _messages(seed, lanes, steps, vocab, spread=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, spread, size=(steps, lanes, vocab)).astype(np.float32)
    p = np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    symbols = (p.cumsum(-1) < rng.random((steps, lanes, 1))).sum(-1).clip(max=vocab - 1)
    information = -np.log2(np.take_along_axis(p, symbols[..., None], -1)[..., 0]).sum(0)
    return logits, symbols, information


@pytest.mark.parametrize("vocab, spread", [(16, 0.3), (300, 3.0), (5000, 1.0)])
def test_many_lanes_round_trip_within_a_few_bits_of_the_information(vocab, spread, monkeypatch):
    """Lanes of different lengths coded in one vectorized step each; every lane decodes exactly, and each payload
    lies within a few bits of its information. Carries into the written bytes happen and are counted."""
    lanes, steps = 64, 120
    logits, symbols, _ = _messages(vocab, lanes, steps, vocab, spread)
    lengths = np.random.default_rng(1).integers(1, steps + 1, lanes)
    carried = []
    carry = LaneEncoder._carry
    monkeypatch.setattr(LaneEncoder, "_carry", lambda self, which: (carried.extend(which), carry(self, which)))
    encoder = LaneEncoder(lanes, capacity=4)  # grows as it writes
    for t in range(steps):
        active = np.flatnonzero(lengths > t)
        encoder.encode(active, logits[t, active], symbols[t, active])
    payloads = [encoder.payload(lane) for lane in range(lanes)]
    decoder = LaneDecoder(payloads)
    for t in range(steps):
        active = np.flatnonzero(lengths > t)
        got, ok = decoder.decode(active, logits[t, active])
        assert ok.all() and np.array_equal(got, symbols[t, active])
    p = np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    chosen = np.take_along_axis(p, symbols[..., None], -1)[..., 0]
    information = np.array([-np.log2(chosen[:n, lane]).sum() for lane, n in enumerate(lengths)])
    excess = 8 * np.array([len(x) for x in payloads]) - information
    # ~3 bits of termination on average; a final interval that happens to hold a point with k more trailing zero
    # bits than its width needs (chance 2^-k per lane) makes a payload k bits shorter: rare beyond 8
    assert excess.max() < 12 and -16 < excess.min() and 0 < excess.mean() < 6
    assert carried, "no carry happened: the test did not exercise the carry path"


def test_a_carry_runs_through_written_ff_bytes():
    encoder = LaneEncoder(2, capacity=8)
    encoder.out[:, :3] = [[7, 255, 255], [7, 254, 255]]
    encoder.written[:] = 3
    encoder._carry(np.array([0, 1]))
    assert encoder.out[:, :3].tolist() == [[8, 0, 0], [7, 255, 0]]


def test_a_corrupt_payload_fails_or_decodes_other_ids_and_leaves_other_lanes_alone():
    logits, symbols, _ = _messages(7, 4, 80, 50)
    encoder = LaneEncoder(4)
    lanes = np.arange(4)
    for t in range(80):
        encoder.encode(lanes, logits[t], symbols[t])
    payloads = [encoder.payload(lane) for lane in lanes]
    payloads[1] = bytes([payloads[1][0] ^ 0x40]) + payloads[1][1:]
    decoder = LaneDecoder(payloads)
    alive = np.ones(4, dtype=bool)
    decoded = np.zeros((80, 4), dtype=np.int64)
    for t in range(80):
        got, ok = decoder.decode(lanes[alive], logits[t, alive])
        decoded[t, lanes[alive][ok]] = got[ok]
        alive[lanes[alive][~ok]] = False
    assert all(np.array_equal(decoded[:, lane], symbols[:, lane]) for lane in (0, 2, 3))
    assert not alive[1] or not np.array_equal(decoded[:, 1], symbols[:, 1])


def test_vocabularies_beyond_the_coders_range_are_refused(monkeypatch):
    monkeypatch.setattr(lane_coder, "MAX_VOCAB", 8)
    with pytest.raises(ValueError, match="up to 8 ids"):
        coding_counts(np.zeros((1, 9), dtype=np.float32))


def test_the_symbol_search_finds_the_first_cumulative_count_above_the_target():
    """The decoder's symbol: per row, the first id whose cumulative count (counts − 1 summed, plus the ones) exceeds
    the target (np.searchsorted on each row as the oracle), at the first and last ids and in between."""
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 1000, (6, 300), dtype=np.int32)
    ends = lane_coder._ends(counts)
    with_ones = np.cumsum(counts.astype(np.int64), axis=1) + np.arange(1, 301)
    assert np.array_equal(ends, with_ones)
    target = np.array([0, with_ones[1, 0] - 1, with_ones[2, 0], with_ones[3, -1] - 1, with_ones[4, 150],
                       with_ones[5, -2]])
    expected = [np.searchsorted(row, t, side="right") for row, t in zip(with_ones, target)]
    assert lane_coder._first_above(ends, target).tolist() == expected == [0, 0, 1, 299, 151, 299]
