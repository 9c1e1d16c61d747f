"""Run-to-run spread: `fit --seeds` repeats a fit per seed, and the report sets the seeds' mean ± std of bits/sec
beside the bootstrap interval and says which is larger."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from audiobits.cli import main
from audiobits.errors import ConfigValueError
from audiobits.analysis.report import build_table
from audiobits.analysis.runs import load_runs
from audiobits.analysis.seed_spread import Z95, split_seeds
from audiobits.demo.synthetic import write_markov_bins
from run_dirs import make_run

REPO = Path(__file__).resolve().parents[1]


def test_seeds_are_taken_out_of_a_fits_arguments():
    assert split_seeds(["fit", "--config", "x.yaml", "--seeds", "0,1,2"]) == ([0, 1, 2], ["fit", "--config", "x.yaml"])
    assert split_seeds(["fit", "--seeds=[3, 4]"]) == ([3, 4], ["fit"])
    assert split_seeds(["fit", "--config", "x.yaml"]) == (None, ["fit", "--config", "x.yaml"])
    for bad in ("a,b", "1,1", ""):
        with pytest.raises(ConfigValueError, match="give distinct integer seeds"):
            split_seeds(["fit", "--seeds", bad])


def with_seed(run_dir, seed: int) -> None:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["seed_everything"] = seed
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def test_the_report_sets_the_seed_spread_beside_the_bootstrap_and_names_the_larger(tmp_path):
    runs = [make_run(tmp_path, f"seed{s}", representation="mimi_sem", bits_per_token=b, curve=False)
            for s, b in enumerate((2.0, 2.5, 3.0))]
    for seed, run in enumerate(runs):
        with_seed(run, seed)
    other = make_run(tmp_path, "alone", representation="mimi_sem", bits_per_token=2.0, curve=False,
                     results_overrides={"train_tokens": 123})  # another data size: no seed group
    table = build_table(load_runs([*runs, other]), sanity=False)
    rates = [json.loads((r / "results.json").read_text())["bits_per_sec"] for r in runs]
    grouped = [row for row in table.rows if row["run"] != "alone"]
    for row in grouped:
        assert row["seed_runs"] == 3 and row["seed_mean_bits_per_sec"] == pytest.approx(np.mean(rates))
        assert row["seed_std_bits_per_sec"] == pytest.approx(np.std(rates, ddof=1))
        half = np.mean([(row_["bits_per_sec_hi"] - row_["bits_per_sec_lo"]) / 2 for row_ in grouped])
        assert row["seed_bootstrap_se"] == pytest.approx(half / Z95)
        assert row["seed_spread_larger"] == ("seeds" if row["seed_std_bits_per_sec"] > half / Z95 else "utterances")
    assert [row["seed_runs"] for row in table.rows if row["run"] == "alone"] == [None]
    assert "| seeds b/s mean ± std (n) | larger spread |" in table.markdown("baselines")


def test_seeds_of_a_config_that_fixes_its_log_version_each_keep_their_own_run(tmp_path):
    write_markov_bins(tmp_path / "bins", vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    config["data"]["init_args"]["bins_dir"] = str(tmp_path / "bins")
    config["trainer"]["logger"]["init_args"].update(save_dir=str(tmp_path / "runs"), version="main")
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(tmp_path / "fit.yaml"), "--seeds", "1,2", "--trainer.max_steps", "2",
          "--trainer.enable_progress_bar", "false"])
    runs = {r.path.name: r for r in load_runs([tmp_path / "runs"])}
    assert sorted(runs) == ["main_seed1", "main_seed2"]
    assert [runs[f"main_seed{s}"].config["seed_everything"] for s in (1, 2)] == [1, 2]


@pytest.mark.slow
def test_fit_with_seeds_on_the_demo_source_gives_the_seed_spread(demo_output, tmp_path):
    """Three seeds of the demo's phoneme fit: three runs, differing, and the report's spread of them."""
    main(["fit", "--config", str(demo_output / "configs" / "phonemes.yaml"), "--trainer.logger.init_args.save_dir",
          str(tmp_path / "runs"), "--seeds", "0,1,2"])
    runs = load_runs([tmp_path / "runs"])
    assert sorted(r.config["seed_everything"] for r in runs) == [0, 1, 2]
    assert sorted(r.config["data"]["init_args"]["seed"] for r in runs) == [0, 1, 2]
    rates = [r.results.headline.bits_per_sec for r in runs]
    assert len(set(rates)) == 3  # another seed, another run
    [row, *_] = build_table(runs, sanity=False).rows
    assert row["seed_runs"] == 3 and row["seed_std_bits_per_sec"] == pytest.approx(np.std(rates, ddof=1))
    assert row["seed_spread_larger"] in ("seeds", "utterances", "speakers")
