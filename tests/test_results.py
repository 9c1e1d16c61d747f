"""results.json: every field from docs/metrics.md's definitions on sums with known values."""

import math

import numpy as np
import pytest

from audiobits.bins import BinMeta, BinWriter, Codebook, TokenBins
from audiobits.results import ModelShape, ValidationSums, compute_results, read_results, write_results


@pytest.fixture
def mimi_like(tmp_path):
    meta = BinMeta(representation="mimi_all", corpus="c", encoder={"name": "mimi", "weights": "random"},
                   vocab_size=16385, eos_id=16384, codebooks=[Codebook(2048, 12.5)] * 8, flattening="frame_major",
                   tokens_per_frame=8)
    with BinWriter(tmp_path / "b", meta) as w:
        w.add("train", "t", np.zeros(80, dtype=np.int64), 0.8, 10)
        for i in range(4):  # 4 utterances of 1 s: 100 frame tokens + EOS
            w.add("val", f"v{i}", np.zeros(100, dtype=np.int64), 1.0, 20)
    return TokenBins(tmp_path / "b")


def test_results_from_known_sums(mimi_like, tmp_path):
    val = mimi_like.split("val")
    bits = 2.5  # every scored token costs exactly 2.5 bits
    tokens = np.array([100, 101, 101, 101])  # the very first token of the split is not scored
    sums = ValidationSums(tokens * bits * math.log(2), tokens, np.zeros(9), np.zeros(9, dtype=np.int64))
    shape = ModelShape(18_881_024, 16385, 6, 512, 1024)
    r = compute_results(mimi_like.meta, val, sums, shape, train_tokens=10**6, finished=True, bootstrap_resamples=200)
    assert r["bits_per_token"] == pytest.approx(2.5)
    assert r["tokens_per_sec"] == pytest.approx(403 / 4)
    assert r["bits_per_sec"] == pytest.approx(2.5 * 403 / 4)
    assert r["bits_per_byte"] == pytest.approx(2.5 * 403 / 80)
    assert r["nominal_bitrate"] == pytest.approx(1100)
    assert r["flat_capacity"] == pytest.approx(math.log2(16385) * 403 / 4)
    assert r["utilization_nominal"] == pytest.approx(2.5 * 403 / 4 / 1100)
    assert r["info_per_storage"] == pytest.approx(2.5 / 16)
    assert r["train_flops_trunk"] == 6 * 18_881_024 * 10**6
    assert r["inference_flops_per_bit_trunk"] == pytest.approx(2 * 18_881_024 / 2.5)
    low, high = r["bits_per_sec_ci95"]
    assert low <= r["bits_per_sec"] <= high
    assert r["val_scored_fraction"] == 1.0 and r["weights"] == "random"
    write_results(r, tmp_path / "run")
    assert read_results(tmp_path / "run") == r


def test_partial_pass_counts_only_scored_utterances(mimi_like):
    val = mimi_like.split("val")
    tokens = np.array([100, 101, 0, 0])
    sums = ValidationSums(tokens * math.log(2), tokens, np.zeros(9), np.zeros(9, dtype=np.int64))
    r = compute_results(mimi_like.meta, val, sums, ModelShape(1, 16385, 1, 8, 8), 1, False, bootstrap_resamples=50)
    assert r["val_seconds"] == 2.0 and r["val_utterances"] == 2
    assert r["val_scored_fraction"] == pytest.approx(201 / 403)


def test_missing_results_says_why(tmp_path):
    with pytest.raises(FileNotFoundError, match="did not finish fit"):
        read_results(tmp_path)


def test_a_partly_scored_utterance_counts_the_seconds_and_bytes_of_its_scored_share(mimi_like):
    """A partial pass cut utterance 1 after 50 of its 101 targets: 1 + 50/101 s were scored, not 2 s."""
    val = mimi_like.split("val")
    tokens = np.array([100, 50, 0, 0])
    sums = ValidationSums(tokens * math.log(2), tokens, np.zeros(9), np.zeros(9, dtype=np.int64))
    r = compute_results(mimi_like.meta, val, sums, ModelShape(1, 16385, 1, 8, 8), 1, False, bootstrap_resamples=50)
    seconds = 1.0 + 50 / 101
    assert r["val_seconds"] == pytest.approx(seconds) and r["val_text_bytes"] == pytest.approx(20 * seconds)
    assert r["bits_per_sec"] == pytest.approx(150 / seconds)
    assert r["tokens_per_sec"] == pytest.approx(150 / seconds)
    assert min(r["bits_per_sec_ci95"]) >= 100.0 - 1e-9  # both utterances carry 100-101 bits/s of what was scored
