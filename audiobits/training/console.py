"""What a LightningCLI run says besides its numbers: no third-party tips, no FLOPs count Lightning never measured,
how to resume after Ctrl-C, and the finished runs a new ``fit`` or a resume meets (`audiobits.training.trainer_cli`)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from lightning_utilities.core import rank_zero as rank_zero_module

from audiobits.errors import AudiobitsError
from audiobits.results import RESULTS_FILE, Results, read_results

QUIET = ("💡 Tip:",  # Lightning's adverts for its cloud services (litlogger, litmodels), logged on every fit
         "Trainer already configured with model summary callbacks")  # ParameterSummary replacing Lightning's own
SUMMARY_LOG = logging.getLogger(ModelSummary.__module__)  # where Lightning's own summary goes


class NoThirdPartyTips(logging.Filter):
    """Drops Lightning's "💡 Tip: try installing ..." lines and its note that `ParameterSummary` replaced its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET)


def quiet_lightning() -> None:
    """Leave Lightning's tips out of every rank-zero message (once per process)."""
    log = rank_zero_module.log
    if not any(isinstance(existing, NoThirdPartyTips) for existing in log.filters):
        log.addFilter(NoThirdPartyTips())


class ParameterSummary(ModelSummary):
    """Lightning's model summary without its FLOPs column and "Total Flops" line when it measured none (it counts
    FLOPs only for a model with an example input; results.json has the study's FLOPs)."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int,
                  **summarize_kwargs: Any) -> None:
        if total_flops:
            return ModelSummary.summarize(summary_data, total_parameters, trainable_parameters, model_size,
                                          total_training_modes, total_flops, **summarize_kwargs)
        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                      total_flops, *columns)
        SUMMARY_LOG.info("\n" + table.rpartition("\n")[0])  # the last line is "0  Total Flops"


class InterruptNotice(Callback):
    """On Ctrl-C, says which checkpoint the fit can resume from and the command that does it."""

    def __init__(self, command: str) -> None:
        self.command = command

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt) or not trainer.is_global_zero:
            return
        print(interrupt_notice(self.command, trainer.global_step, last_checkpoint(trainer)), file=sys.stderr)


def last_checkpoint(trainer: L.Trainer) -> Path | None:
    """The run's ``last.ckpt`` when its checkpoint callback has saved one."""
    dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
    path = Path(dirpath) / "last.ckpt" if dirpath else None
    return path if path is not None and path.is_file() else None


def interrupt_notice(command: str, step: int, checkpoint: Path | None) -> str:
    """The line printed on Ctrl-C: where the fit stopped and how to go on."""
    if checkpoint is None:
        return (f"audiobits: interrupted at step {step}, before any checkpoint was saved; `{command}` starts the run "
                "again.")
    return (f"audiobits: interrupted at step {step}; `{command} --ckpt_path last` resumes from {checkpoint} (the "
            "steps after it are trained again, each window still once).")


def finished_result(run_dir: Path) -> Results | None:
    """The run's results.json when it records a finished epoch; None otherwise (also when it is missing or damaged:
    the notices that use this are advice, `audiobits report` names a damaged file)."""
    try:
        results = read_results(run_dir / RESULTS_FILE)
    except AudiobitsError:
        return None
    return results if results.finished else None


def resumes_a_finished_run(ckpt_path: str | Path, checkpoint: dict[str, Any]) -> bool:
    """Whether ``ckpt_path`` is the final checkpoint of a finished run: its run's results.json is finished at the
    checkpoint's step."""
    results = finished_result(Path(ckpt_path).parent.parent)
    return results is not None and results.global_step == checkpoint.get("global_step")


def finished_notice(ckpt_path: str | Path) -> str:
    """What a resume of a finished run says instead of training."""
    run_dir = Path(ckpt_path).parent.parent
    return (f"audiobits: {run_dir} is finished (its epoch is done and {run_dir / RESULTS_FILE} holds its results, "
            "kept as they are); nothing to resume. `audiobits validate` with the same --config and --ckpt_path "
            "evaluates it again; `fit` without --ckpt_path starts a new run.")


def earlier_runs_notice(root: Path, new_run: Path) -> str | None:
    """What a new fit says when its config (logger save_dir and name) already has finished runs; None if none."""
    finished = sorted((run for run in root.glob("version_*") if finished_result(run) is not None), key=str)
    if not finished:
        return None
    names = ", ".join(str(run) for run in finished)
    return (f"audiobits: this config already has {len(finished)} finished run(s) ({names}); this fit starts "
            f"{new_run}. `--ckpt_path last` would resume the newest run instead.")
