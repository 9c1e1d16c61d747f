"""Windows and samplers: one epoch uses every training window exactly once on any number of ranks."""

from pathlib import Path

import numpy as np
import pytest
import torch

from audiobits.bins import BinMeta, BinWriter, Codebook, SplitBins, TokenBins
import pickle

from audiobits.data import (EMPTY_WINDOW, IGNORE_INDEX, SLIDING, UTTERANCE_RESET, EpochBatchSampler,
                            ShardBatchSampler, TokenBinDataModule, TokenWindows, utterance_segments, window_plan)
from audiobits.demo.synthetic import write_markov_bins


@pytest.mark.parametrize("world", [1, 2, 3, 8])
@pytest.mark.parametrize("windows, batch", [(100, 4), (7, 3), (64, 8)])
def test_epoch_uses_every_window_once_on_any_world_size(world, windows, batch):
    per_rank = [list(EpochBatchSampler(windows, batch, rank, world, seed=3)) for rank in range(world)]
    assert len({len(batches) for batches in per_rank}) == 1  # same number of steps everywhere
    assert all(len(b) == batch for batches in per_rank for b in batches)
    used = np.concatenate([np.concatenate(b) for b in per_rank])
    real = used[used != EMPTY_WINDOW]
    assert sorted(real) == list(range(windows))
    assert len(per_rank[0]) == len(EpochBatchSampler(windows, batch, 0, world))


def test_shuffle_depends_on_seed_only():
    a = list(EpochBatchSampler(50, 5, seed=1))
    assert a == list(EpochBatchSampler(50, 5, seed=1)) and a != list(EpochBatchSampler(50, 5, seed=2))


def test_skip_resumes_the_same_order():
    full = list(EpochBatchSampler(40, 4, rank=1, world_size=2, seed=0))
    resumed = EpochBatchSampler(40, 4, rank=1, world_size=2, seed=0, skip_batches=3)
    assert list(resumed) == full[3:] and len(resumed) == len(full)


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("windows", [23, 1, 0])
def test_eval_shards_cover_each_window_once_and_pad_ranks_to_equal_length(world, windows):
    per_rank = [list(ShardBatchSampler(windows, 4, r, world)) for r in range(world)]
    assert len({len(batches) for batches in per_rank}) == 1  # no rank waits for another in a collective
    assert all(len(batches) == len(ShardBatchSampler(windows, 4, r, world)) for r, batches in enumerate(per_rank))
    seen = [i for batches in per_rank for b in batches for i in b]
    assert sorted(i for i in seen if i != EMPTY_WINDOW) == list(range(windows))


def _scored(ds):
    """(window, offset, position) of every scored target of a window set."""
    rows = []
    for w in range(len(ds)):
        position = ds[w]["position"].numpy()
        offsets = np.flatnonzero(position >= 0)
        rows += [(w, j, position[j]) for j in offsets]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@pytest.mark.parametrize("tokens, seq_len, stride", [(24, 8, 2), (24, 8, 8), (24, 8, 3), (9, 8, 2), (8, 8, 4),
                                                     (200, 16, 4), (2, 8, 1)])
def test_sliding_windows_score_every_target_once_with_at_least_seq_len_minus_stride_history(tokens, seq_len,
                                                                                              stride):
    plan = window_plan(np.array([[0, tokens]]), seq_len, stride)
    stream = np.arange(tokens)
    split = SplitBins(Path("stream.bin"), stream.dtype, tokens, np.array([0, tokens]), np.array(["u"]),
                      np.array([1.0]), np.array([0]), _tokens=stream)  # one utterance, ids 0..tokens-1
    ds = TokenWindows(split, seq_len, partial=True, plan=plan)
    rows = _scored(ds)
    assert sorted(rows[:, 2]) == list(range(1, tokens))  # every target exactly once
    later = rows[rows[:, 0] > 0]
    assert (later[:, 1] >= seq_len - stride).all()  # history of at least seq_len - stride tokens
    for w, j, p in rows:  # the item's target is the stream's token at that position, its input the one before
        assert ds[w]["target"][j] == stream[p] and ds[w]["input"][j] == stream[p - 1]
    if stride == seq_len:  # non-overlapping: the same windows as the fixed grid
        grid = TokenWindows(split, seq_len, partial=True)
        assert len(grid) == len(ds) and all(torch.equal(grid[i]["position"], ds[i]["position"])
                                            for i in range(len(ds)))


def test_utterance_reset_windows_never_see_across_an_utterance_start(split):
    offsets = split.offsets  # [0, 11, 24]: utterances of 10 + EOS and 12 + EOS tokens
    ds = TokenWindows(split, 4, partial=True, plan=window_plan(utterance_segments(offsets), 4, 2))
    rows = _scored(ds)
    assert sorted(rows[:, 2]) == list(range(1, split.num_tokens))
    for w, j, p in rows:
        u = split.utterance_of(np.array([p]))[0]
        start = ds.plan[w, 0]
        assert start >= max(offsets[u] - 1, 0)  # history starts at the previous utterance's EOS at the earliest
    first_of_second = rows[rows[:, 2] == offsets[1]][0]
    assert first_of_second[1] == 0  # the first token of utterance 2 is predicted from the EOS alone


def test_window_plan_rejects_a_stride_outside_the_window():
    with pytest.raises(ValueError, match="stride"):
        window_plan(np.array([[0, 10]]), 8, 9)


@pytest.fixture
def split(tmp_path):
    meta = BinMeta(representation="r", corpus="c", encoder={}, vocab_size=1000, eos_id=999,
                   codebooks=[Codebook(999, 1.0)], flattening="none")
    with BinWriter(tmp_path / "b", meta) as w:
        w.add("val", "a", np.arange(0, 10), 1.0, 1)
        w.add("val", "b", np.arange(10, 22), 1.0, 1)
    return TokenBins(tmp_path / "b").split("val")


def test_eval_windows_score_every_token_after_the_first_once(split):
    ds = TokenWindows(split, seq_len=8, partial=True)
    assert len(ds) == 3  # 24 tokens → 23 targets → 3 windows of 8, the last one partial
    targets = torch.cat([ds[i]["target"] for i in range(len(ds))])
    positions = torch.cat([ds[i]["position"] for i in range(len(ds))])
    stream = torch.from_numpy(np.asarray(split.tokens, dtype=np.int64))
    valid = positions >= 0
    assert positions[valid].tolist() == list(range(1, 24))
    assert torch.equal(targets[valid], stream[1:])
    assert (targets[~valid] == IGNORE_INDEX).all()
    item = ds[1]
    assert torch.equal(item["input"][1:], item["target"][:-1])  # target is input shifted by one


def test_training_windows_drop_only_the_partial_tail_and_pad_empty(split):
    ds = TokenWindows(split, seq_len=8, partial=False)
    assert len(ds) == 2  # the 7 targets of the partial tail are not trained on
    empty = ds[EMPTY_WINDOW]
    assert (empty["target"] == IGNORE_INDEX).all() and (empty["position"] == -1).all()
    with pytest.raises(IndexError):
        ds[2]


def test_windows_pickle_without_their_memmap(split):
    ds = TokenWindows(split, seq_len=8, partial=True)
    first = ds[0]  # opens the memmap in this process
    assert split._tokens is not None
    clone = pickle.loads(pickle.dumps(ds))  # what a dataloader worker receives
    assert clone.split._tokens is None
    assert torch.equal(clone[0]["target"], first["target"])


def test_datamodule_knows_vocab_from_meta_alone_and_builds_each_evaluation_pass(tmp_path):
    write_markov_bins(tmp_path / "m", vocab=31, utterance_len=49, train_utterances=4, val_utterances=2)
    data = TokenBinDataModule(str(tmp_path / "m"), seq_len=16, utterance_reset=True)
    assert data.vocab_size == 32 and data.tokens_per_frame == 1
    assert data.eval_stride == 4 and data.final_passes() == [SLIDING, UTTERANCE_RESET]
    for kind in (SLIDING, UTTERANCE_RESET):
        assert sorted(_scored(data.eval_windows("val", kind))[:, 2]) == list(range(1, 100))
    assert TokenBinDataModule(str(tmp_path / "m"), seq_len=16, eval_stride=16).final_passes() == []
