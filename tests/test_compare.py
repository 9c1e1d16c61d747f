"""`audiobits compare`: a new run beside references on the same utterances, with a paired bootstrap interval of the
difference (metrics.bootstrap_bits_per_second_difference) and whether it lies outside the reference's interval."""

import json
import math

import numpy as np
import pytest

from audiobits import metrics
from audiobits.cli import main


def test_paired_difference_of_a_constant_shift_is_exact():
    rng = np.random.default_rng(0)
    seconds = rng.uniform(1, 5, 200)
    nats_b = rng.uniform(0.5, 20, 200) * seconds  # utterances differ a lot
    nats_a = nats_b + 3.0 * seconds  # a carries exactly 3 nats/s more on every utterance
    low, high = metrics.bootstrap_bits_per_second_difference(nats_a, seconds, nats_b, seconds, resamples=500)
    assert low == pytest.approx(3 / math.log(2)) and high == pytest.approx(3 / math.log(2))
    unpaired = [metrics.bootstrap_bits_per_second(n, seconds, resamples=500) for n in (nats_a, nats_b)]
    assert all(hi - lo > 1.0 for lo, hi in unpaired)  # each alone is wide: pairing removes what they share
    assert metrics.bootstrap_bits_per_second_difference(nats_b, seconds, nats_b, seconds, resamples=50) == (0.0, 0.0)


def test_paired_difference_resamples_speakers_and_checks_shapes():
    seconds = np.ones(6)
    nats_a, nats_b = np.array([1.0, 1, 1, 5, 5, 5]), np.ones(6)
    by_speaker = metrics.bootstrap_bits_per_second_difference(nats_a, seconds, nats_b, seconds, resamples=2000,
                                                              clusters=np.array(list("aaabbb")))
    by_utterance = metrics.bootstrap_bits_per_second_difference(nats_a, seconds, nats_b, seconds, resamples=2000)
    assert by_speaker[1] - by_speaker[0] > by_utterance[1] - by_utterance[0]
    with pytest.raises(ValueError, match="equal-length"):
        metrics.bootstrap_bits_per_second_difference(nats_a, seconds, nats_b[:3], seconds)


def test_compare_demo_runs_on_the_same_utterances(demo_output, capsys):
    """Codec 2 at 700 bit/s against 3200 bit/s and mu-law on the demo's real runs (same corpus, same val split)."""
    runs = demo_output / "runs"
    main(["compare", str(runs / "codec2_700c" / "version_0"), "--against", str(runs / "codec2_3200"),
          str(runs / "mulaw"), "--format", "json", "--resamples", "2000"])
    out = json.loads(capsys.readouterr().out)
    by_ref = {c["representation"]: c for c in out["comparisons"]}
    assert set(by_ref) == {"codec2_3200", "mulaw"}
    for c in by_ref.values():
        low, high = c["paired_ci95"]
        assert high < 0 and low <= c["difference"] <= high and c["interval_kind"] == "utterances"
        assert c["new_outside_reference_interval"] and c["not_comparable"] == []
        assert c["verdict"] == "new is lower (paired 95% interval excludes 0)"
    main(["compare", str(runs / "codec2_700c" / "version_0"), "--against", str(runs / "codec2_3200")])
    table = capsys.readouterr().out
    assert table.startswith("new: codec2_700c") and "| codec2_3200 | codec2_3200 |" in table


def test_compare_needs_another_run(tmp_path):
    from run_dirs import make_run

    run = make_run(tmp_path, "only", curve=False)
    with pytest.raises(SystemExit, match="names no other finished run"):
        main(["compare", str(run), "--against", str(run)])


def test_compare_real_run_directories_with_known_rates(tmp_path, capsys):
    """Runs written by the real results writers (tests/run_dirs.py) at 2 and 3 bits/token over the same val split:
    the difference is exactly 1 bit/token × tokens/s, and a run on another corpus gets no paired interval."""
    from run_dirs import make_run

    new = make_run(tmp_path, "new", bits_per_token=2.0, curve=False)
    ref = make_run(tmp_path, "ref", bits_per_token=3.0, curve=False)
    other = make_run(tmp_path, "elsewhere", corpus="other", curve=False)
    main(["compare", str(new), "--against", str(ref), str(other), "--format", "json", "--resamples", "200"])
    out = {c["reference"]: c for c in json.loads(capsys.readouterr().out)["comparisons"]}
    expected = -1.0 * json.loads((ref / "results.json").read_text())["tokens_per_sec"]
    assert out["ref"]["difference"] == pytest.approx(expected)
    low, high = out["ref"]["paired_ci95"]  # utterances alike (the first has one target fewer): a narrow interval
    assert low <= expected <= high and high - low < 0.01 * abs(expected)
    assert out["ref"]["verdict"].startswith("new is lower")
    assert out["elsewhere"]["paired_ci95"] is None and out["elsewhere"]["not_comparable"] == ["other corpus (other)"]
