"""`audiobits fit` end to end through the real LightningCLI: known entropy, resume after a crash, CPU DDP."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.nn.functional as F
import yaml

from audiobits import model as model_lib
from audiobits.bins import TokenBins
from audiobits.cli import TOOLS, main
from audiobits.training.trainer_cli import lightning_cli, run_fit
from audiobits.data import num_windows
from results_file import results_json
from audiobits.analysis.runs import load_run
from audiobits.analysis.sanity import check_run
from audiobits.demo.synthetic import write_markov_bins
from recorders import crash_at_12_and_resume

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def fit(tmp_path, bins_dir, *extra):
    main(["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir),
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *QUIET, *extra])
    return sorted((tmp_path / "runs" / "tiny").glob("version_*"))


@pytest.fixture(scope="module")
def markov(tmp_path_factory):
    """Long utterances so the end-of-utterance token costs little: the measured rate is then near the chain's."""
    out = tmp_path_factory.mktemp("markov") / "bins"
    source = write_markov_bins(out, vocab=32, utterance_len=1000, train_utterances=200, val_utterances=20)
    return out, source


@pytest.mark.slow
def test_bits_per_token_lands_at_or_slightly_above_the_true_entropy_rate(tmp_path, markov):
    bins_dir, source = markov
    run = fit(tmp_path, bins_dir)[-1]
    results = results_json(run)
    oracle = source.oracle_bits(np.asarray(TokenBins(bins_dir).split("val").tokens, dtype=np.int64))
    assert results["finished"] and results["val_scored_fraction"] == 1.0
    # Never below what the true source itself scores on this very split (minus sampling noise) ...
    assert results["bits_per_token"] >= oracle - 0.02
    # ... and after one epoch of a tiny model, only slightly above the exact entropy rate.
    assert results["bits_per_token"] <= source.entropy_rate + 0.15
    assert results["bits_per_sec"] == pytest.approx(results["bits_per_token"] * results["tokens_per_sec"])
    assert (run / "config.yaml").is_file() and list(run.glob("events.out.tfevents.*"))
    # The headline is the sliding pass: on an order-1 source extra history changes nothing beyond noise ...
    sliding, non_overlapping = results["bits_per_token"], results["non_overlapping"]["bits_per_token"]
    assert results["eval_stride"] == 16 and results["context_tokens"] == 64
    assert sliding <= non_overlapping + 0.01 and non_overlapping >= oracle - 0.02
    # ... and bits/token is flat in the context length (one previous token is all the chain needs).
    curve = [b["bits_per_token"] for b in results["bits_by_context"] if b["tokens"] >= 1000]
    assert len(curve) >= 4 and max(curve) - min(curve) < 0.08
    # Each bucket's interval (over the 20 val utterances) holds its estimate, and the flat curve's bands overlap.
    filled = [b for b in results["bits_by_context"] if b["tokens"] >= 1000]
    lows, highs = [b["bits_per_token_lo"] for b in filled], [b["bits_per_token_hi"] for b in filled]
    assert all(lo <= b <= hi for lo, b, hi in zip(lows, curve, highs)) and max(lows) < min(highs)
    # The bigram baseline (Kneser-Ney on train) already reaches the chain: the model has nothing left to beat it by.
    kgram = results["kgram"]
    assert kgram["best_order"] >= 2 and kgram["best_bits_per_token"] <= source.entropy_rate + 0.05
    assert kgram["beats_best"] is False and kgram["gain_bits_per_sec_ci95"][0] <= 0
    check = next(c for c in check_run(load_run(run)) if c.name == "k-gram baselines")
    assert check.status == "warn" and "has not learned beyond k-gram statistics" in check.detail
    # The bins know the truth of their val targets: the run sits at or above it, and says by how much.
    truth = results["truth"]
    assert truth["true_bits_per_token"] == pytest.approx(oracle)
    assert truth["ratio"] == pytest.approx(results["bits_per_token"] / oracle) and not truth["below_truth"]


@pytest.mark.slow
def test_a_model_that_sees_the_future_is_caught(tmp_path, markov, monkeypatch):
    """The entropy check has teeth: drop the causal mask and the 'measured' rate falls below the true one."""
    def leaky(q, k, v):
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    monkeypatch.setattr(model_lib, "causal_attention", leaky)
    bins_dir, source = markov
    run = fit(tmp_path, bins_dir)[-1]
    results = results_json(run)
    assert results["bits_per_token"] < source.entropy_rate - 0.5
    assert results["truth"]["below_truth"] and results["truth"]["ratio"] < 0.9
    check = next(c for c in check_run(load_run(run)) if c.name == "truth")
    assert check.status == "fail" and "a leak" in check.detail


@pytest.fixture
def small(tmp_path):
    out = tmp_path / "small"
    write_markov_bins(out, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)  # 20 steps
    return out


def test_resume_after_a_crash_trains_every_window_exactly_once(tmp_path, small):
    windows = num_windows(TokenBins(small).split("train").num_tokens, 64, partial=False)
    runs, trained = crash_at_12_and_resume(fit, tmp_path, small)
    assert len(runs) == 1  # the resumed run continues in the crashed run's directory
    assert sorted(trained[:, 1]) == list(range(windows))
    results = results_json(runs[0])
    assert results["finished"] and results["global_step"] == int(np.ceil(windows / 16))


def test_run_fit_is_the_fit_subcommand_as_a_library_call_returning_the_run_directory(tmp_path, small):
    """What the demo, sweep and calibrate train with (tools never call `audiobits.cli.main`)."""
    run = run_fit(["--config", TINY, "--data.init_args.bins_dir", str(small), "--trainer.logger.init_args.save_dir",
                   str(tmp_path / "runs"), *QUIET])
    assert [run] == sorted((tmp_path / "runs" / "tiny").glob("version_*")) and results_json(run)["finished"]


def test_final_weights_are_validated_whatever_the_val_interval(tmp_path, small):
    """20 steps with validation every 6: Lightning alone would last validate at step 18."""
    run = fit(tmp_path, small, "--trainer.val_check_interval", "0.3")[-1]
    results = results_json(run)
    assert results["finished"] and results["global_step"] == 20
    steps, tokens = load_run(run).scalars("train/tokens")
    assert len(steps) and tokens[-1] == results["train_tokens"]  # one count for TensorBoard and results
    assert results["flat_capacity"] == pytest.approx(np.log2(16) * 50.0)  # 16 content ids at 50 frames/s


def test_validate_and_test_a_finished_checkpoint(tmp_path, small):
    run = fit(tmp_path, small)[-1]
    fitted = results_json(run)
    common = ["--config", TINY, "--data.init_args.bins_dir", str(small), "--ckpt_path",
              str(run / "checkpoints" / "last.ckpt"), "--trainer.logger.init_args.save_dir", str(tmp_path / "eval"),
              *QUIET]
    (run / "results.json").unlink()  # validate writes it anew into the checkpoint's run directory
    validated = lightning_cli(["validate", *common]).trainer.callback_metrics
    non_overlapping = fitted["non_overlapping"]
    assert float(validated["val/bits_per_token"]) == pytest.approx(non_overlapping["bits_per_token"], rel=1e-5)
    assert float(validated["val/utilization_flat"]) == pytest.approx(non_overlapping["utilization_flat"], rel=1e-5)
    rewritten = results_json(run)
    assert rewritten["bits_per_token"] == pytest.approx(fitted["bits_per_token"], rel=1e-5)  # the sliding headline
    assert rewritten["eval_stride"] == fitted["eval_stride"] == 16
    assert rewritten["train_tokens"] == fitted["train_tokens"] and rewritten["finished"]
    tested = lightning_cli(["test", *common]).trainer.callback_metrics
    assert float(tested["test/loss"]) == pytest.approx(float(validated["val/loss"]), rel=1e-6)  # no test split


def test_resume_without_a_checkpoint_says_so(tmp_path, small):
    with pytest.raises(SystemExit, match="no .*last.ckpt to resume from"):
        fit(tmp_path, small, "--ckpt_path", "last")


def test_missing_bins_give_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=r"meta.json not found.*bins_dir"):
        fit(tmp_path, tmp_path / "nothing-here")


def ddp_fit(tmp_path, bins_dir, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "audiobits", "fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir),
           "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *QUIET,
           "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
           "--data.init_args.batch_size", "8", "--data.init_args.utterance_reset", "true", *extra]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return next((tmp_path / "runs" / "tiny").glob("version_*")), done.stderr


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_uses_every_window_once_and_scores_every_val_token_once(tmp_path, small):
    record = tmp_path / "record"
    run, log = ddp_fit(tmp_path, small, "--trainer.callbacks+=recorders.WindowRecorder",
                       f"--trainer.callbacks.out={record}")
    bins = TokenBins(small)
    windows = num_windows(bins.split("train").num_tokens, 64, partial=False)
    per_rank = [np.loadtxt(record / f"windows-rank{r}.txt", dtype=np.int64, ndmin=2) for r in (0, 1)]
    assert all(len(rows) for rows in per_rank)
    assert sorted(np.concatenate([rows[:, 1] for rows in per_rank])) == list(range(windows))
    results = results_json(run)
    targets = bins.split("val").num_tokens - 1
    # every pass (sliding headline, non-overlapping, utterance-reset) reduced over ranks, nothing twice
    assert results["eval_stride"] == 16 and "sliding pass" in log
    for block in (results, results["non_overlapping"], results["utterance_reset"]):
        assert block["val_tokens"] == targets
    assert results["val_scored_fraction"] == 1.0
    # The same checkpoint validated by one process gives the same numbers: the DDP split of windows is exact.
    lightning_cli(["validate", "--config", TINY, "--data.init_args.bins_dir", str(small), "--ckpt_path",
                   str(run / "checkpoints" / "last.ckpt"), "--data.init_args.utterance_reset", "true",
                   "--trainer.logger.init_args.save_dir", str(tmp_path / "eval"), *QUIET])
    single = results_json(run)
    for key in ("bits_per_token", "bits_per_sec"):
        assert single[key] == pytest.approx(results[key], rel=1e-6)
        assert single["non_overlapping"][key] == pytest.approx(results["non_overlapping"][key], rel=1e-6)
        assert single["utterance_reset"][key] == pytest.approx(results["utterance_reset"][key], rel=1e-6)
    ends = ("bits_per_token_lo", "bits_per_token_hi")  # per-utterance bucket sums reduce exactly too
    bands = [[b[end] for b in r["bits_by_context"] for end in ends] for r in (single, results)]
    assert bands[0] and bands[0] == pytest.approx(bands[1], rel=1e-6)


@pytest.mark.slow
def test_ddp_with_fewer_val_windows_than_ranks_neither_hangs_nor_double_counts(tmp_path):
    bins_dir = tmp_path / "one-window"
    write_markov_bins(bins_dir, vocab=16, utterance_len=40, train_utterances=60, val_utterances=1)  # 41 val tokens
    run, _ = ddp_fit(tmp_path, bins_dir)
    results = results_json(run)
    for block in (results, results["non_overlapping"], results["utterance_reset"]):
        assert block["val_tokens"] == 40 and block["val_utterances"] == 1


def leaves(tree: dict, prefix: tuple = ()):
    """(path, value) of every non-dict value in a nested dict."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


# every shipped LightningCLI config (a mapping; configs/sweep_ladder.yaml is a list of sizes for `audiobits sweep`)
FIT_CONFIGS = [p for p in sorted((REPO / "configs").glob("*.yaml")) if isinstance(yaml.safe_load(p.read_text()), dict)]


@pytest.mark.parametrize("config", FIT_CONFIGS, ids=lambda p: p.stem)
def test_print_config_applies_every_value_of_each_shipped_config(config, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    for path, value in leaves(yaml.safe_load(config.read_text())):
        applied = printed
        for key in path:
            applied = applied[key]
        assert applied == value, (config.name, path)
    assert printed["trainer"]["logger"]["init_args"]["name"] == config.stem  # not the default, so it was read


SUBCOMMANDS = ("fit", "validate", "test", "prepare", "import", *TOOLS)


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: audiobits")
    assert all(cmd in out for cmd in SUBCOMMANDS)


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_each_subcommand_prints_its_own_usage(subcommand, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([subcommand, "--help"])
    assert exit_info.value.code in (0, None)
    usage = capsys.readouterr().out.splitlines()[0]
    assert re.match(rf"usage: audiobits (\[options\] )?{subcommand} ", usage), usage
