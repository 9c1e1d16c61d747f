"""`audiobits calibrate --like RUN`: a source matched to the demo's μ-law run, trained with that run's recipe."""

import json

import numpy as np
import pytest

from audiobits.bins import TokenBins
from audiobits.scaling.calibrate import calibration_config
from audiobits.scaling.calibration_file import CALIBRATION_FILE
from audiobits.cli import main
from audiobits.analysis.runs import find_run_dirs, load_run


def test_calibration_config_swaps_only_the_data_and_the_log_dir(tmp_path):
    run_config = {"model": {"n_layer": 3, "lr": 0.01}, "trainer": {"precision": "bf16-mixed"}, "ckpt_path": None,
                  "data": {"class_path": "audiobits.datamodules.MimiDataModule",
                           "init_args": {"root": "data", "seq_len": 256, "batch_size": 8, "num_workers": 3}}}
    config = calibration_config(run_config, tmp_path / "bins", tmp_path / "runs")
    assert config["model"] == run_config["model"] and config["trainer"]["precision"] == "bf16-mixed"
    assert config["data"] == {"class_path": "audiobits.data.TokenBinDataModule",
                              "init_args": {"seq_len": 256, "batch_size": 8, "num_workers": 3,
                                            "bins_dir": str(tmp_path / "bins")}}
    assert config["trainer"]["logger"]["init_args"]["save_dir"] == str(tmp_path / "runs")


@pytest.mark.slow
def test_calibrate_like_the_demo_mulaw_run(demo_output, tmp_path, capsys):
    demo = demo_output
    run = load_run(find_run_dirs(demo / "runs" / "mulaw")[0])
    main(["calibrate", "--like", str(run.path), "--out", str(tmp_path / "cal"), "--states", "64"])
    record = json.loads((tmp_path / "cal" / CALIBRATION_FILE).read_text())
    assert json.loads((run.path / CALIBRATION_FILE).read_text()) == record
    matched = TokenBins(tmp_path / "cal" / "bins")
    assert matched.meta.vocab_size == run.results.vocab_size
    original = TokenBins(run.bins_dir())
    assert len(matched.split("train").ids) == len(original.split("train").ids)
    assert record["train_tokens"] == matched.split("train").num_tokens
    assert 0.5 < record["train_tokens"] / original.split("train").num_tokens < 2.0  # lengths drawn from the run's
    # the recipe cannot beat the truth on the same split (beyond noise), and the slack is what the file says
    assert record["model_bits_per_token"] > record["true_bits_per_token"] - 0.02
    assert record["slack_bits_per_token"] == pytest.approx(record["model_bits_per_token"]
                                                           - record["true_bits_per_token"])
    assert np.isfinite(record["true_bits_per_token"]) and record["fit_seconds"] > 0
    printed = capsys.readouterr().out
    assert "slack" in printed and "not a correction" in printed and "fit" in printed


def test_the_report_shows_a_recorded_slack_beside_the_row(tmp_path):
    from audiobits.analysis.report import build_table
    from audiobits.analysis.runs import load_runs
    from run_dirs import make_run

    calibrated, plain = make_run(tmp_path, "mimi_sem"), make_run(tmp_path, "text")
    (calibrated / CALIBRATION_FILE).write_text(json.dumps({"slack_bits_per_token": 0.1234}))
    table = build_table(load_runs([calibrated, plain]), sanity=False)
    assert {r["run"]: r["calibration_slack"] for r in table.rows} == {"mimi_sem": 0.1234, "text": None}
    assert "slack b/tok" in table.markdown("scaling") and "+0.123" in table.markdown("scaling")
