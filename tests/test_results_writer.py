"""ResultsWriter through the real `audiobits fit`: `finished` and `train_tokens` say what was actually trained."""

from importlib import metadata
from pathlib import Path

import pytest
import torch
from disk_checks import error_line, snapshot

from audiobits.bins import TokenBins
from audiobits.cli import main
from audiobits.data import num_windows
from audiobits.training.provenance import config_hash, git_commit
from audiobits.analysis.report import build_table
from results_file import results_json
from audiobits.analysis.runs import CONFIG_FILE, flags, load_run, load_runs, read_config
from audiobits.demo.synthetic import write_markov_bins
from audiobits.callbacks.results_writer import ResultsWriter

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "bins"
    write_markov_bins(out, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)  # 20 steps of 16
    return out


def fit_results(tmp_path, bins_dir, *extra) -> dict:
    main(["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir), "--trainer.logger.init_args.save_dir",
          str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
          *extra])
    return results_json(next((tmp_path / "runs" / "tiny").glob("version_*")))


@pytest.mark.parametrize("extra, windows_trained", [
    (["--trainer.max_steps", "5"], 5 * 16),
    (["--trainer.limit_train_batches", "7", "--trainer.accumulate_grad_batches", "3"], 7 * 16),  # 3 steps, 7 batches
])
def test_a_run_cut_short_is_unfinished_and_counts_only_what_it_trained(tmp_path, small, extra, windows_trained):
    results = fit_results(tmp_path, small, *extra)
    assert not results["finished"]
    assert results["train_tokens"] == windows_trained * 64


def test_a_full_epoch_with_accumulation_is_finished_with_every_window_and_its_provenance(tmp_path, small):
    windows = num_windows(TokenBins(small).split("train").num_tokens, 64, partial=False)
    results = fit_results(tmp_path, small, "--trainer.accumulate_grad_batches", "3", "--seed_everything", "7")
    assert results["finished"] and results["global_step"] == 7  # ceil(20 batches / 3)
    assert results["train_tokens"] == windows * 64
    record = results["provenance"]
    run = next((tmp_path / "runs" / "tiny").glob("version_*"))
    assert record["seed"] == 7 and record["device"] == "cpu" and record["git_commit"] == git_commit()
    assert record["config_sha256"] == config_hash(read_config(run / CONFIG_FILE))
    assert record["audiobits_version"] == metadata.version("audiobits")
    assert record["torch_version"] == torch.__version__
    notes = build_table(load_runs([run]), sanity=False).notes()
    assert (f"Provenance: audiobits {record['audiobits_version']} (git {record['git_commit']}), torch "
            f"{record['torch_version']}, lightning {record['lightning_version']}, device cpu — tiny") in notes
    codec = f"{results['encoder']['package']} {results['encoder']['version']}"
    assert notes[-1] == f"Seed, codec package, config sha256: tiny seed 7, {codec}, {record['config_sha256'][:12]}"


def validate(tmp_path, bins_dir, run, *extra) -> None:
    main(["validate", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir), "--ckpt_path",
          str(run / "checkpoints" / "last.ckpt"), "--trainer.logger.init_args.save_dir", str(tmp_path / "eval"),
          "--trainer.enable_progress_bar", "false", "--trainer.accelerator", "cpu", *extra])


def test_validate_refuses_a_cut_off_results_json_before_validating_and_its_fix_keeps_the_checkpoints_options(
        tmp_path, small, monkeypatch):
    fit_results(tmp_path, small, "--trainer.accelerator", "cpu", "--trainer.max_steps", "4",
                "--trainer.gradient_clip_val", "0.5")
    [run] = (tmp_path / "runs" / "tiny").glob("version_*")
    results = run / "results.json"
    results.write_text(results.read_text()[:120])
    before = snapshot(run)
    passes = []
    monkeypatch.setattr(ResultsWriter, "on_validation_batch_end", lambda *args: passes.append(1), raising=False)
    with pytest.raises(SystemExit) as exit_info:
        validate(tmp_path, small, run)
    assert error_line(exit_info).startswith(f"audiobits: error: {results}: not valid JSON (truncated?): ")
    assert error_line(exit_info).endswith(f"Move it aside (mv {results} {results}.damaged) and run the same "
                                          "`audiobits validate` again: it writes results.json anew from the "
                                          "checkpoint.")
    assert passes == [] and snapshot(run) == before  # refused before the first batch, nothing rewritten
    results.rename(f"{results}.damaged")
    validate(tmp_path, small, run, "--trainer.precision", "bf16-mixed")
    rewritten = results_json(run)
    assert passes  # the counter sees batches when the validation runs
    assert rewritten["trainer"]["gradient_clip_val"] == 0.5 and rewritten["global_step"] == 4  # the checkpoint's
    assert rewritten["eval_precision"] == "bf16-mixed" and rewritten["trainer"]["precision"] == "32-true"
    flagged = flags(load_run(run).results, {"corpus": rewritten["corpus"],
                                            "val_utterance_set": rewritten.get("val_utterance_set")})
    assert "trainer.gradient_clip_val=0.5 (the study does not clip)" in flagged
    assert "eval_precision=bf16-mixed (trained in 32-true: precision changes the evaluation)" in flagged


def test_fit_on_cpu_logs_its_throughput_to_tensorboard_and_results_json_without_mfu(tmp_path, small):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    results = fit_results(tmp_path, small)  # 20 steps, logging every 5: the clock starts at step 5
    assert results["train_tokens_per_sec"] > 0
    assert results["train_samples_per_sec"] == pytest.approx(results["train_tokens_per_sec"] / 64)
    assert results["mfu"] is None and "no MFU on cpu" in results["mfu_note"]
    assert results["peak_device_memory_gib"] is None
    events = EventAccumulator(str(next((tmp_path / "runs" / "tiny").glob("version_*")))).Reload()
    rates = [e.value for e in events.Scalars("train/tokens_per_sec")]
    assert len(rates) >= 3 and min(rates) > 0  # steps 10, 15, 20 (and the last batch)
    assert "train/mfu" not in events.Tags()["scalars"]
