"""No trainer option silently changes what a number means: `audiobits fit` refuses the ones the study fixes before
anything is written, and records and flags the ones it honours (`audiobits.training.trainer_options`)."""

from pathlib import Path

import pytest
import torch
from disk_checks import error_line, snapshot

from audiobits.cli import main
from audiobits.training.trainer_cli import lightning_cli
from audiobits.errors import ConfigValueError
from audiobits.analysis.report import build_table
from results_file import results_json
from audiobits.analysis.runs import load_run
from audiobits.demo.synthetic import write_markov_bins
from audiobits.results import TrainerRecord
from audiobits.training.trainer_options import check_resume_options
from run_dirs import STUDY_TRAINER

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")
MIN_LR = 0.0003  # configs/tiny.yaml's model.min_lr: where the WSD schedule ends


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "bins"
    write_markov_bins(out, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)  # 20 steps of 16
    return out


def fit_args(tmp_path, bins_dir, *extra) -> list[str]:
    return ["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir), "--trainer.logger.init_args.save_dir",
            str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary",
            "false", *extra]


def report_row(run_dir: Path) -> dict:
    """The run's report row (flags, sanity) and its trainer-options check."""
    table = build_table([load_run(run_dir)])
    check = next(c for c in table.checks[table.rows[0]["run"]] if c.name == "trainer options")
    return {**table.rows[0], "trainer check": check}


@pytest.mark.parametrize("option, value, why", [
    ("max_epochs", "2", "exactly one epoch over the training windows"),
    ("min_epochs", "2", "exactly one epoch"),
    ("min_steps", "40", "hold off the final evaluation"),
    ("max_time", "00:00:01:00", "before the learning rate has decayed"),
    ("check_val_every_n_epoch", "2", "skips its final evaluation"),
])
def test_an_option_the_study_fixes_is_one_error_line_and_writes_nothing(tmp_path, small, option, value, why):
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(fit_args(tmp_path, small, f"--trainer.{option}", value))
    assert f"--trainer.{option} " in error_line(exit_info) and why in error_line(exit_info)
    assert snapshot(tmp_path) == before and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("extra, recorded, steps", [
    (["--trainer.max_steps", "5"], {"max_steps": 5}, 5),
    (["--trainer.limit_train_batches", "7"], {"limit_train_batches": 7}, 7),
])
def test_a_partial_epoch_decays_by_its_end_is_recorded_and_flagged(tmp_path, small, extra, recorded, steps):
    cli = lightning_cli(fit_args(tmp_path, small, *extra))
    assert cli.trainer.global_step == steps
    assert cli.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(MIN_LR)  # the schedule fit the run
    run = Path(cli.trainer.log_dir)
    results = results_json(run)
    assert results["trainer"].items() >= recorded.items() and not results["finished"]
    row = report_row(run)
    name, value = next(iter(recorded.items()))
    assert f"trainer.{name}={value!r} (" in "; ".join(row["flags"])
    assert row["trainer check"].status == "warn" and f"trainer.{name}={value!r}" in row["trainer check"].detail


@pytest.mark.parametrize("extra, recorded, flag", [
    (["--trainer.accumulate_grad_batches", "3"], {"accumulate_grad_batches": 3}, "trainer.accumulate_grad_batches=3"),
    (["--trainer.precision", "bf16-mixed"], {"precision": "bf16-mixed", "device": "cpu"},
     "trainer.precision=bf16-mixed (the study's is 32-true on cpu)"),
    (["--trainer.gradient_clip_val", "0.5"], {"gradient_clip_val": 0.5}, "trainer.gradient_clip_val=0.5 (the study"),
])
def test_a_whole_epoch_with_another_batch_or_precision_is_finished_but_flagged(tmp_path, small, extra, recorded,
                                                                               flag):
    cli = lightning_cli(fit_args(tmp_path, small, "--trainer.accelerator", "cpu", *extra))
    assert cli.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(MIN_LR)
    run = Path(cli.trainer.log_dir)
    results = results_json(run)
    assert results["finished"] and results["trainer"].items() >= recorded.items()
    row = report_row(run)
    assert [f for f in row["flags"] if f.startswith("trainer.")] == [next(f for f in row["flags"] if flag in f)]
    assert row["trainer check"].status == "warn"


def test_a_run_as_the_study_fixes_it_records_its_options_and_is_not_flagged(tmp_path, small):
    cli = lightning_cli(fit_args(tmp_path, small, "--trainer.accelerator", "cpu", "--trainer.val_check_interval",
                                 "0.5"))
    results = results_json(cli.trainer.log_dir)
    assert results["trainer"] == {"max_steps": -1, "limit_train_batches": 1.0, "accumulate_grad_batches": 1,
                                  "gradient_clip_val": None, "precision": "32-true", "device": "cpu",
                                  "limit_val_batches": 1.0, "val_check_interval": 0.5}
    row = report_row(Path(cli.trainer.log_dir))
    assert row["flags"] == [] and row["trainer check"].status == "pass"


@pytest.mark.parametrize("cuda", [False, True])
def test_the_default_precision_is_the_studys_for_the_device_that_trains(small, monkeypatch, cuda):
    """A CPU run on a machine with a GPU trains in fp32, as on one without (the default once followed the machine)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    cli = lightning_cli(["--config", TINY, "--data.init_args.bins_dir", str(small), "--trainer.accelerator", "cpu",
                         "--trainer.logger", "false"], run=False)
    assert cli.trainer.precision == "32-true"


def test_a_resume_with_another_accumulation_or_precision_is_refused_and_the_run_dir_stays_as_it_was(tmp_path, small):
    cpu = ["--trainer.accelerator", "cpu", "--checkpoint.every_n_train_steps", "2"]
    with pytest.raises(RuntimeError, match="simulated crash at step 3"):
        main(fit_args(tmp_path, small, *cpu, "--trainer.callbacks+=recorders.CrashAt", "--trainer.callbacks.step=3"))
    [run] = (tmp_path / "runs" / "tiny").glob("version_*")
    before = snapshot(tmp_path)
    for option, value, said in (("accumulate_grad_batches", "2", "accumulate_grad_batches 1, now 2"),
                                ("precision", "bf16-mixed", "precision '32-true', now 'bf16-mixed'")):
        with pytest.raises(SystemExit) as exit_info:
            main(fit_args(tmp_path, small, *cpu, "--ckpt_path", "last", f"--trainer.{option}", value))
        assert f"other trainer options: it trained with {said}. Resume with its options" in error_line(exit_info)
        assert snapshot(tmp_path) == before
    main(fit_args(tmp_path, small, *cpu, "--ckpt_path", "last", "--trainer.gradient_clip_val", "0"))  # 0: no clip
    assert results_json(run)["finished"]
    assert not [f for f in report_row(run)["flags"] if "gradient_clip_val" in f]


@pytest.mark.parametrize("unclipped", [0, 0.0])
def test_a_clip_value_of_zero_resumes_a_run_trained_without_clipping_and_is_not_flagged(unclipped):
    """0 and None both mean no clipping (Lightning clips only above 0): neither a resume nor the report tells them
    apart, while a real clip value is still refused on resume."""
    recorded = STUDY_TRAINER.as_dict()
    zero = TrainerRecord(**{**recorded, "gradient_clip_val": unclipped})
    check_resume_options(recorded, zero)
    check_resume_options(zero.as_dict(), STUDY_TRAINER)
    assert zero.deviations() == []
    with pytest.raises(ConfigValueError, match=r"gradient_clip_val None, now 0.5\. Resume with its options"):
        check_resume_options(recorded, TrainerRecord(**{**recorded, "gradient_clip_val": 0.5}))
