"""LossSums: per-utterance and per-frame-position accounting of validation nats."""

import numpy as np
import torch

from audiobits import metrics
from audiobits.training.loss_sums import LossSums


def test_sums_by_utterance_and_position_match_a_direct_count():
    # two utterances: 6 frame tokens + EOS, then 4 + EOS; frames of 2 tokens
    offsets = torch.tensor([0, 7, 12])
    metric = LossSums(offsets, tokens_per_frame=2)
    positions = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, -1]])
    nats = torch.arange(12, dtype=torch.float32).view(2, 6) + 1.0
    metric.update(nats, positions)
    sums = metric.compute()
    # utterance 0 scores positions 1..6 (nats 1..6), utterance 1 positions 7..11 (nats 7..11); -1 is masked
    assert sums.nats_per_utterance.tolist() == [21.0, 45.0]
    assert sums.tokens_per_utterance.tolist() == [6, 5]
    # phase = (pos - start) % 2, EOS (positions 6 and 11) in the last bucket
    # utt0: pos1→1, 2→0, 3→1, 4→0, 5→1, 6 EOS; utt1: 7→0, 8→1, 9→0, 10→1, 11 EOS
    assert sums.nats_per_phase.tolist() == [2 + 4 + 7 + 9, 1 + 3 + 5 + 8 + 10, 6 + 11]
    assert sums.tokens_per_phase.tolist() == [4, 5, 2]
    assert sums.nats == 66.0 and sums.tokens == 11
    metric.reset()
    assert metric.compute().tokens == 0


def test_updates_accumulate_in_float64():
    metric = LossSums(torch.tensor([0, 1_000_001]))
    for _ in range(10):
        metric.update(torch.full((100_000,), 0.1), torch.arange(1, 100_001))
    exact = 1_000_000 * float(np.float32(0.1))  # the float32 inputs, summed exactly
    assert np.isclose(metric.compute().nats, exact, rtol=1e-12)


def test_sums_by_in_window_offset_count_each_column_as_its_context_length():
    metric = LossSums(torch.tensor([0, 20]), seq_len=4)
    positions = torch.tensor([[1, 2, 3, 4], [-1, -1, 7, 8]])  # the second window scores only its last two columns
    nats = torch.tensor([[1.0, 2.0, 3.0, 4.0], [9.0, 9.0, 5.0, 6.0]])
    metric.update(nats, positions)
    sums = metric.compute()
    assert sums.nats_per_offset.tolist() == [1.0, 2.0, 8.0, 10.0]
    assert sums.tokens_per_offset.tolist() == [1, 1, 2, 2]


def test_each_utterance_sums_its_targets_per_context_bucket_and_ranks_add_up():
    # utterances [0, 5) and [5, 20); windows of 4: context buckets [1], [2, 3], [4] = columns 0, 1-2, 3
    positions = torch.tensor([[1, 2, 3, 4], [-1, -1, 7, 8], [9, 10, 11, 12]])
    nats = torch.tensor([[1.0, 2.0, 3.0, 4.0], [9.0, 9.0, 5.0, 6.0], [7.0, 8.0, 9.0, 10.0]])
    whole = LossSums(torch.tensor([0, 5, 20]), seq_len=4)
    whole.update(nats, positions)
    sums = whole.compute()
    assert sums.nats_per_utterance_bucket.tolist() == [[1.0, 5.0, 4.0], [7.0, 5.0 + 8.0 + 9.0, 6.0 + 10.0]]
    assert sums.tokens_per_utterance_bucket.tolist() == [[1, 2, 1], [1, 3, 2]]
    by_offset = metrics.bits_by_context(sums.nats_per_offset, sums.tokens_per_offset)
    assert [b["tokens"] for b in by_offset] == sums.tokens_per_utterance_bucket.sum(axis=0).tolist()
    # two ranks, each with its own windows: their states reduce (sum) to the single-process states
    ranks = [LossSums(torch.tensor([0, 5, 20]), seq_len=4) for _ in range(2)]
    ranks[0].update(nats[:1], positions[:1])
    ranks[1].update(nats[1:], positions[1:])
    ranks[0].merge_state(ranks[1])
    merged = ranks[0].compute()
    assert np.array_equal(merged.nats_per_utterance_bucket, sums.nats_per_utterance_bucket)
    assert np.array_equal(merged.tokens_per_utterance_bucket, sums.tokens_per_utterance_bucket)
