"""Windows and samplers: one epoch uses every training window exactly once on any number of ranks."""

import numpy as np
import pytest
import torch

from audiobits.bins import BinMeta, BinWriter, Codebook, TokenBins
import pickle

from audiobits.data import (EMPTY_WINDOW, IGNORE_INDEX, EpochBatchSampler, ShardBatchSampler, TokenBinDataModule,
                            TokenWindows)
from audiobits.synthetic import write_markov_bins


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
def test_eval_shards_cover_each_window_once_without_padding(world):
    seen = [i for r in range(world) for b in ShardBatchSampler(23, 4, r, world) for i in b]
    assert sorted(seen) == list(range(23))


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


def test_datamodule_knows_vocab_rates_and_capacity_from_meta_alone(tmp_path):
    write_markov_bins(tmp_path / "m", vocab=31, utterance_len=49, train_utterances=4, val_utterances=2)
    data = TokenBinDataModule(str(tmp_path / "m"))
    assert data.vocab_size == 32 and data.tokens_per_frame == 1
    assert data.tokens_per_sec == pytest.approx(50.0)  # 50 tokens (49 + EOS) per second of audio
    assert data.nominal_bitrate == pytest.approx(np.log2(31) * 50.0)
    assert data.flat_capacity == pytest.approx(np.log2(32) * 50.0)
