"""results.json: every field from docs/metrics.md's definitions on sums with known values."""

import math

import numpy as np
import pytest

from audiobits.bins import BinMeta, BinWriter, Codebook, TokenBins
from audiobits.results import ModelShape, ValidationSums, compute_results, read_results, write_val_utterances


def computed(*args, **kwargs) -> dict:
    """The object results.json holds for `compute_results` on these arguments (its keys are docs/results.md's)."""
    return compute_results(*args, **kwargs).as_json()


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
    record = compute_results(mimi_like.meta, val, sums, shape, train_tokens=10**6, finished=True,
                             bootstrap_resamples=200)
    r = record.as_json()
    assert r["bits_per_token"] == pytest.approx(2.5)
    assert r["tokens_per_sec"] == pytest.approx(403 / 4)
    assert r["bits_per_sec"] == pytest.approx(2.5 * 403 / 4)
    assert r["bits_per_byte"] == pytest.approx(2.5 * 403 / 80)
    assert r["nominal_bitrate"] == pytest.approx(1100)
    assert r["flat_capacity"] == pytest.approx(1400.0)  # log2(16384 content ids) × 100 frame tokens/s, the seed's
    assert r["seed_convention_bits_per_sec"] == pytest.approx(2.5 * 100)  # phases empty here: every target content
    assert r["utilization_nominal"] == pytest.approx(2.5 * 403 / 4 / 1100)
    assert r["info_per_storage"] == pytest.approx(2.5 / 16)
    assert r["train_flops_trunk"] == 6 * 18_881_024 * 10**6
    assert r["inference_flops_per_bit_trunk"] == pytest.approx(2 * 18_881_024 / 2.5)
    low, high = r["bits_per_sec_ci95"]
    assert low <= r["bits_per_sec"] <= high
    assert r["val_scored_fraction"] == 1.0 and r["weights"] == "random"
    record.write(tmp_path / "run")
    assert read_results(tmp_path / "run") == record


def test_partial_pass_counts_only_scored_utterances(mimi_like):
    val = mimi_like.split("val")
    tokens = np.array([100, 101, 0, 0])
    sums = ValidationSums(tokens * math.log(2), tokens, np.zeros(9), np.zeros(9, dtype=np.int64))
    r = computed(mimi_like.meta, val, sums, ModelShape(1, 16385, 1, 8, 8), 1, False, bootstrap_resamples=50)
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
    r = computed(mimi_like.meta, val, sums, ModelShape(1, 16385, 1, 8, 8), 1, False, bootstrap_resamples=50)
    seconds = 1.0 + 50 / 101
    assert r["val_seconds"] == pytest.approx(seconds) and r["val_text_bytes"] == pytest.approx(20 * seconds)
    assert r["bits_per_sec"] == pytest.approx(150 / seconds)
    assert r["tokens_per_sec"] == pytest.approx(150 / seconds)
    assert min(r["bits_per_sec_ci95"]) >= 100.0 - 1e-9  # both utterances carry 100-101 bits/s of what was scored


@pytest.mark.parametrize("representation, codebooks, vocab, capacity", [
    ("mimi_sem", [Codebook(2048, 12.5)], 2049, 137.5),
    ("neucodec", [Codebook(65536, 50.0)], 65537, 800.0),
    ("mimi_all", [Codebook(2048, 12.5)] * 8, 16385, 1400.0),
])
def test_flat_capacity_is_the_seeds_through_bins_and_results(tmp_path, representation, codebooks, vocab, capacity):
    """Through the real path (BinWriter → TokenBins → compute_results): content vocab × Σ frame rates."""
    meta = BinMeta(representation=representation, corpus="c", encoder={}, vocab_size=vocab, eos_id=vocab - 1,
                   codebooks=codebooks, flattening="frame_major", tokens_per_frame=len(codebooks))
    frames = int(sum(c.frame_rate for c in codebooks) * 2)  # 2 s per utterance
    with BinWriter(tmp_path / "b", meta) as w:
        w.add("train", "t", np.zeros(8, dtype=np.int64), 0.1, 1)
        for i in range(3):
            w.add("val", f"v{i}", np.ones(frames, dtype=np.int64), 2.0, 5)
    bins = TokenBins(tmp_path / "b")
    val = bins.split("val")
    tokens = np.diff(val.offsets) - np.array([1, 0, 0])
    phases = len(codebooks) + 1
    eos_nats = np.zeros(phases)
    eos_nats[-1] = 3 * 4 * math.log(2)  # the 3 EOS targets cost 4 bits each, content 1 bit each
    sums = ValidationSums(tokens * math.log(2) + 3 * math.log(2), tokens, eos_nats,
                          np.array([0] * (phases - 1) + [3]))
    r = computed(bins.meta, val, sums, ModelShape(1, vocab, 1, 8, 8), 1, True, bootstrap_resamples=50)
    assert r["flat_capacity"] == pytest.approx(capacity)
    assert r["seed_convention_bits_per_sec"] == pytest.approx(1.0 * sum(c.frame_rate for c in codebooks))


def _sums(val, bits, offsets=None):
    tokens = np.diff(val.offsets) - np.eye(1, len(val.ids), dtype=np.int64)[0]
    nats_offset, tokens_offset = offsets if offsets is not None else (None, None)
    return ValidationSums(tokens * bits * math.log(2), tokens, np.zeros(9), np.zeros(9, dtype=np.int64),
                          nats_offset, tokens_offset)


def test_headline_is_the_sliding_pass_and_the_other_passes_keep_their_names(mimi_like, tmp_path):
    val = mimi_like.split("val")
    per_offset = (np.array([4.0, 3.0, 2.0, 2.0]) * math.log(2) * 10, np.array([10, 10, 10, 10]))
    non_overlapping = _sums(val, 2.5, per_offset)
    passes = {"sliding": _sums(val, 2.0), "utterance_reset": _sums(val, 3.0)}
    shape = ModelShape(1, 16385, 1, 8, 4)
    r = computed(mimi_like.meta, val, non_overlapping, shape, 1, True, bootstrap_resamples=50,
                        passes=passes, eval_stride=1)
    assert r["bits_per_token"] == pytest.approx(2.0) and r["eval_stride"] == 1
    assert r["non_overlapping"]["bits_per_token"] == pytest.approx(2.5)
    assert r["utterance_reset"]["bits_per_sec"] == pytest.approx(3.0 * 403 / 4)
    assert r["context_tokens"] == 4 and r["context_seconds"] == pytest.approx(4 / (403 / 4))
    # buckets of context tokens [1], [2, 3], [4]
    assert [b["context_tokens"] for b in r["bits_by_context"]] == [[1, 1], [2, 3], [4, 4]]
    assert [b["bits_per_token"] for b in r["bits_by_context"]] == pytest.approx([4.0, 2.5, 2.0])
    assert r["bits_by_context"][1]["mean_context_seconds"] == pytest.approx(2.5 / (403 / 4))
    assert r["ci_kind"] == "utterances" and r["bits_per_sec_ci95_speakers"] is None
    assert r["bits_per_sec_ci95"] == r["bits_per_sec_ci95_utterances"]
    without = computed(mimi_like.meta, val, non_overlapping, shape, 1, True, bootstrap_resamples=50)
    assert without["eval_stride"] == 4 and without["bits_per_token"] == pytest.approx(2.5)
    assert "utterance_reset" not in without

    path = write_val_utterances(val, passes["sliding"], tmp_path)
    with np.load(path) as saved:
        assert saved["ids"].tolist() == ["v0", "v1", "v2", "v3"] and saved["speakers"].tolist() == [""] * 4
        assert saved["nats"].sum() / math.log(2) / saved["seconds"].sum() == pytest.approx(r["bits_per_sec"])
        assert saved["tokens"].sum() == r["val_tokens"] and saved["text_bytes"].sum() == r["val_text_bytes"]


def test_speakers_in_the_index_give_the_speaker_interval(tmp_path):
    meta = BinMeta(representation="r", corpus="c", encoder={}, vocab_size=9, eos_id=8,
                   codebooks=[Codebook(8, 10.0)], flattening="none")
    with BinWriter(tmp_path / "b", meta) as w:
        w.add("train", "t", np.zeros(8, dtype=np.int64), 0.1, 1)
        for i in range(40):
            w.add("val", f"s{i % 4}_{i}", np.zeros(9, dtype=np.int64), 1.0, 3, speaker=f"s{i % 4}")
    bins = TokenBins(tmp_path / "b")
    val = bins.split("val")
    assert val.speakers.tolist()[:5] == ["s0", "s1", "s2", "s3", "s0"]
    tokens = np.diff(val.offsets) - np.eye(1, 40, dtype=np.int64)[0]
    speaker_bits = np.array([1.0, 2.0, 3.0, 4.0])[np.arange(40) % 4]  # speakers differ, utterances of one agree
    sums = ValidationSums(speaker_bits * tokens * math.log(2), tokens, np.zeros(2), np.zeros(2, dtype=np.int64))
    r = computed(bins.meta, val, sums, ModelShape(1, 9, 1, 8, 8), 1, True, bootstrap_resamples=2000)
    assert r["ci_kind"] == "speakers" and r["val_speakers"] == 4
    assert r["bits_per_sec_ci95"] == r["bits_per_sec_ci95_speakers"]
    width = {k: np.diff(r[f"bits_per_sec_ci95_{k}"])[0] for k in ("speakers", "utterances")}
    assert width["speakers"] > 2 * width["utterances"]  # 4 clusters, not 40 independent draws


def test_each_context_bucket_has_a_bootstrap_interval_when_the_sums_hold_its_utterances(mimi_like):
    val = mimi_like.split("val")
    per_offset = (np.array([4.0, 3.0, 2.0, 2.0]) * math.log(2) * 10, np.array([10, 10, 10, 10]))
    # buckets [1], [2, 3], [4] over the 4 utterances: all at 4 bits; two at 2 and two at 3 bits; one utterance only
    tokens = np.array([[3, 5, 0], [2, 5, 0], [3, 5, 0], [2, 5, 10]])
    bits = np.array([[4.0, 2.0, 2.0], [4.0, 2.0, 2.0], [4.0, 3.0, 2.0], [4.0, 3.0, 2.0]])
    sums = _sums(val, 2.5, per_offset)
    sums.nats_per_utterance_bucket, sums.tokens_per_utterance_bucket = tokens * bits * math.log(2), tokens
    r = computed(mimi_like.meta, val, sums, ModelShape(1, 16385, 1, 8, 4), 1, True, bootstrap_resamples=500)
    first, middle, last = r["bits_by_context"]
    assert first["bits_per_token_lo"] == pytest.approx(4.0) == first["bits_per_token_hi"]
    assert 2.0 <= middle["bits_per_token_lo"] < middle["bits_per_token"] == 2.5 < middle["bits_per_token_hi"] <= 3.0
    assert last["bits_per_token_lo"] is None and last["bits_per_token_hi"] is None  # one utterance: no interval
    older = computed(mimi_like.meta, val, _sums(val, 2.5, per_offset), ModelShape(1, 16385, 1, 8, 4), 1, True,
                            bootstrap_resamples=50)  # sums without per-utterance buckets: the curve, no interval
    assert not any("bits_per_token_lo" in b for b in older["bits_by_context"])
