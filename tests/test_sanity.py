"""Sanity checks: each passes on a plausible run and fails on a run crafted to break it."""

import shutil

import pytest

from audiobits.cli import main as cli_main
from audiobits.bins import Codebook
from audiobits.analysis.runs import load_run
from audiobits.analysis.sanity import check_run, summary
from audiobits.results import TokenStats
from disk_checks import snapshot
from run_dirs import TEXT, make_run


def statuses(run_dir):
    return {c.name: c.status for c in check_run(load_run(run_dir))}


def test_a_plausible_codec_run_passes_everything(tmp_path):
    run = make_run(tmp_path, "mimi_sem", bits_per_token=4.0, distinct=1000, utterances=80)
    assert statuses(run) == {"frame rate": "pass", "bits/sec": "pass", "unigram entropy": "pass",
                             "vocab use": "pass", "transcript overlap": "skip",  # no text bins of the corpus
                             "trainer options": "pass",  # results.json without the fit callback's blocks:
                             "k-gram baselines": "skip", "still learning": "skip", "truth": "skip"}


def test_frame_rate_fails_when_tokens_per_second_exceed_the_codec_rate(tmp_path):
    run = make_run(tmp_path, "padded", tokens_per_utt=40, distinct=1000)  # 20 tokens/s from a 12.5 Hz codec
    check = next(c for c in check_run(load_run(run)) if c.name == "frame rate")
    assert check.status == "fail" and "20.000 tokens/s measured vs 12.500 nominal" in check.detail


def test_frame_rate_is_skipped_for_variable_rate_streams(tmp_path):
    run = make_run(tmp_path, "text", codebooks=TEXT, bits_per_token=5.0, tokens_per_utt=8, distinct=300)
    assert statuses(run)["frame rate"] == "skip"


@pytest.mark.parametrize("bits_per_token, why", [(11.5, "worse than a uniform guess"), (0.1, "far below the band")])
def test_bits_per_sec_fails_outside_what_is_possible(tmp_path, bits_per_token, why):
    run = make_run(tmp_path, "x", bits_per_token=bits_per_token, distinct=1000)  # log2(2049) = 11.0 bits/token
    check = next(c for c in check_run(load_run(run)) if c.name == "bits/sec")
    assert check.status == "fail" and why in check.detail


def test_multi_codebook_frame_rate_sums_levels(tmp_path):
    run = make_run(tmp_path, "mimi_all", codebooks=[Codebook(2048, 12.5)] * 8, tokens_per_utt=200,
                   tokens_per_frame=8, distinct=10000, bits_per_token=3.0)
    assert statuses(run)["frame rate"] == "pass"  # 8 × 12.5 = 100 tokens/s


def test_unigram_entropy_fails_when_the_model_is_worse_than_token_counts(tmp_path):
    run = make_run(tmp_path, "x", bits_per_token=9.0, distinct=64)  # uniform over 64 ids: 6 bits of entropy
    check = next(c for c in check_run(load_run(run)) if c.name == "unigram entropy")
    assert check.status == "fail" and "model 9.000 bits/token vs unigram entropy" in check.detail


def test_vocab_use_fails_for_a_collapsed_codebook(tmp_path):
    run = make_run(tmp_path, "collapsed", distinct=1, weights="random", bits_per_token=0.5)
    check = next(c for c in check_run(load_run(run)) if c.name == "vocab use")
    assert check.status == "fail" and "1 of 2048 ids used" in check.detail


def test_token_checks_skip_without_bins_and_use_recorded_stats(tmp_path):
    run = make_run(tmp_path, "x", distinct=64)
    shutil.rmtree(tmp_path / "bins")
    assert load_run(run).results.val_token_stats is not None  # recorded at fit time: no bins needed
    older = load_run(run)
    older.results.val_token_stats = None  # a results.json from before the field existed, bins gone
    assert [c.status for c in check_run(older) if c.name in ("unigram entropy", "vocab use")] == ["skip", "skip"]
    recorded = TokenStats(tokens=1039, content_tokens=1000, distinct=2, distinct_content=1, unigram_entropy=0.2)
    loaded = load_run(run)
    loaded.results.val_token_stats = recorded
    got = {c.name: c.status for c in check_run(loaded)}
    assert got["unigram entropy"] == "fail" and got["vocab use"] == "fail"


def test_cli_prints_each_check_and_strict_exits_on_failure(tmp_path, capsys):
    good = make_run(tmp_path, "good", distinct=1000)
    bad = make_run(tmp_path, "bad", distinct=1)
    cli_main(["sanity", str(good)])
    out = capsys.readouterr().out
    assert out.startswith("good (good, ") and "PASS  frame rate:" in out
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["sanity", str(good), str(bad), "--strict", "true"])
    assert exit_info.value.code == 1
    assert "FAIL  vocab use" in capsys.readouterr().out
    assert summary(check_run(load_run(bad))) == "2 fail"  # one id everywhere: vocab use and unigram entropy


def test_transcript_overlap_counts_val_utterances_whose_transcript_occurs_in_train(tmp_path):
    from audiobits.bins import BinMeta, BinWriter
    import numpy as np

    codec = make_run(tmp_path, "mimi_sem", bits_per_token=4.0, distinct=1000, utterances=80)
    meta = BinMeta(representation="text", corpus="demo", encoder={}, vocab_size=50257, eos_id=50256,
                   codebooks=TEXT, flattening="none")
    with BinWriter(tmp_path / "bins" / "demo" / "text", meta) as w:  # beside the codec run's bins
        for i in range(6):
            w.add("train", f"t{i}", np.array([i, i + 1, i + 2]), 1.0, 9)
        w.add("val", "v0", np.array([2, 3, 4]), 3.0, 9)  # the same sentence as train t2, another reader
        w.add("val", "v1", np.array([2, 3]), 1.0, 6)  # a prefix is not the same transcript
    check = next(c for c in check_run(load_run(codec)) if c.name == "transcript overlap")
    assert check.status == "warn" and check.detail.startswith("1 of 2 val utterances (75.0% of val seconds)")


def test_strict_fails_when_a_damaged_run_was_skipped_though_every_checked_run_passed(tmp_path, capsys):
    good = make_run(tmp_path, "good", distinct=1000)
    damaged = make_run(tmp_path, "damaged", distinct=1000)
    (damaged / "results.json").write_text((damaged / "results.json").read_text()[:100])
    cli_main(["sanity", str(tmp_path / "runs")])  # without --strict the skip is a note and the check passes
    out, err = capsys.readouterr()
    assert out.startswith(f"good (good, {good}): ok") and err.startswith(f"audiobits sanity: skipped {damaged}")
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["sanity", str(tmp_path / "runs"), "--strict", "true"])
    assert exit_info.value.code == 1 and len(capsys.readouterr().err.splitlines()) == 1
    assert snapshot(tmp_path) == before
