"""The trainer options the study fixes, in one place: which ones `audiobits fit` refuses, which it honours, records
in results.json's ``trainer`` block and flags in the report and `audiobits sanity`, and why (docs/troubleshooting.md).

The study trains every model for exactly one epoch over its training windows (iso-data), with a WSD learning-rate
schedule sized from ``trainer.estimated_stepping_batches``, then scores the whole val split after the last step.

- Refused before anything is written: options that would end the run elsewhere than the epoch's end without the
  schedule knowing (more epochs, a wall-clock limit), or that skip the final evaluation.
- Honoured, recorded and flagged as not comparable: options Lightning folds into ``estimated_stepping_batches``, so
  the schedule still decays by the run's real end (``max_steps``, ``limit_train_batches``,
  ``accumulate_grad_batches``), and those that change the arithmetic (``gradient_clip_val``, a precision other than
  the study's for the device).
- Recorded only: ``limit_val_batches`` (a partial final validation is flagged by ``val_scored_fraction``) and
  ``val_check_interval`` (the final evaluation runs after the last step whatever the interval). ``limit_test_batches``
  only shapes `audiobits test`, whose loss reaches no results.json.
- A resume may not change how steps are taken (``RESUME_FIXED``): the checkpoint keeps its `TrainerRecord`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from audiobits.errors import ConfigValueError

EPOCHS = 1  # iso-data: exactly one pass over the training windows
CHECKPOINT_KEY = "audiobits_trainer_options"  # the TrainerRecord a checkpoint was trained with
RESUME_FIXED = ("accumulate_grad_batches", "gradient_clip_val", "precision")  # a resume may not change them


@dataclass(frozen=True)
class StudyOption:
    """A trainer option that can change what a run measures: the values that keep the study's meaning (the first is
    the study's own), what `audiobits fit` does with any other (``refuse`` it, or honour it and ``flag`` the run),
    and ``why``: the refusal's reason, or what the flagged value changes (the flag's words)."""

    name: str
    study: tuple
    action: Literal["refuse", "flag"]
    why: str

    def keeps(self, value: Any) -> bool:
        """``value`` is one of the study's, type included (``limit_train_batches`` 1 is one batch, 1.0 all), after
        `acting` (a clip value of 0 is no clipping)."""
        value = acting(self.name, value)
        return any(value == ok and type(value) is type(ok) for ok in self.study)


def acting(name: str, value: Any) -> Any:
    """Trainer option ``name``'s ``value`` as it acts: a ``gradient_clip_val`` of None, 0 or 0.0 is no clipping
    (Lightning clips only above 0), so all three become None; every other value is kept as it is."""
    return None if name == "gradient_clip_val" and value in (None, 0) else value


OPTIONS = (
    StudyOption("max_epochs", (EPOCHS,), "refuse", "the study trains exactly one epoch over the training windows "
                "(iso-data); for a shorter run use --trainer.max_steps or --trainer.limit_train_batches"),
    StudyOption("min_epochs", (None, 0, 1), "refuse", "the study trains exactly one epoch over the training windows "
                "(iso-data)"),
    StudyOption("min_steps", (None, 0), "refuse", "the run ends with its one epoch; min_steps past it would hold off "
                "the final evaluation, and within it changes nothing"),
    StudyOption("max_time", (None,), "refuse", "a wall-clock limit ends the epoch wherever the clock runs out, before "
                "the learning rate has decayed; use --trainer.max_steps, which the schedule is sized for"),
    StudyOption("check_val_every_n_epoch", (1, None), "refuse", "the run has one epoch, so any other value skips its "
                "final evaluation and no results.json is written"),
    StudyOption("max_steps", (-1,), "flag", "a step limit, not the epoch's end"),
    StudyOption("limit_train_batches", (1.0,), "flag", "part of the epoch"),
    StudyOption("accumulate_grad_batches", (1,), "flag", "a larger global batch, fewer steps"),
    StudyOption("gradient_clip_val", (None,), "flag", "the study does not clip"),
)


def study_precision(device: str) -> str:
    """The study's precision on a device type: bf16 autocast on CUDA, fp32 elsewhere (the CLI's default for the
    accelerator it trains on)."""
    return "bf16-mixed" if device == "cuda" else "32-true"


def check_fit_options(trainer: Any) -> None:
    """Refuse (`ConfigValueError`, one line) the first refused option set outside the study's values; ``trainer``
    is the parsed config's trainer section, so nothing has been created yet."""
    for option in OPTIONS:
        value = getattr(trainer, option.name, option.study[0])
        if option.action == "refuse" and not option.keeps(value):
            raise ConfigValueError(f"--trainer.{option.name} {value}: {option.why}.")


@dataclass(frozen=True)
class TrainerRecord:
    """results.json's ``trainer`` block: the honoured options as the Trainer resolved them (so ``fast_dev_run`` or
    ``overfit_batches`` show through the limits they set), its precision and the device type it trained on."""

    max_steps: int
    limit_train_batches: int | float
    accumulate_grad_batches: int
    gradient_clip_val: int | float | None
    precision: str
    device: str
    limit_val_batches: int | float
    val_check_interval: int | float

    @classmethod
    def of(cls, trainer: Any) -> TrainerRecord:
        """The record of a Lightning ``Trainer``."""
        named = {f.name: getattr(trainer, f.name) for f in fields(cls) if f.name != "device"}
        return cls(**named, device=trainer.strategy.root_device.type)

    @classmethod
    def from_dict(cls, record: Any, path: str | os.PathLike,
                  fix: str = "Restore it, or leave the run out.") -> TrainerRecord:
        """The record kept in ``path`` (results.json's ``trainer`` block, or a checkpoint's); one that is not an
        object with exactly these fields (cut down or edited by hand) raises `ConfigValueError` naming the file and
        ``fix``, so a report skips that run alone."""
        names = [f.name for f in fields(cls)]
        if not isinstance(record, dict) or sorted(record) != sorted(names):
            found = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise ConfigValueError(f"{path}: its trainer block is {found}, not the fields {names} audiobits writes; "
                                   f"it was edited after fit wrote it. {fix}")
        return cls(**record)

    def as_dict(self) -> dict:
        return asdict(self)

    def deviations(self) -> list[str]:
        """Each honoured option this run set apart from the study, and what that means (``trainer.max_steps=5 (a
        step limit, not the epoch's end)``); [] when it ran as the study fixes them."""
        found = [f"trainer.{o.name}={getattr(self, o.name)!r} ({o.why})" for o in OPTIONS
                 if o.action == "flag" and not o.keeps(getattr(self, o.name))]
        study = study_precision(self.device)
        if self.precision != study:
            found.append(f"trainer.precision={self.precision} (the study's is {study} on {self.device})")
        return found


def check_resume_options(recorded: dict | None, current: TrainerRecord) -> None:
    """Refuse (`ConfigValueError`) resuming a checkpoint whose steps were taken with another accumulation, clipping or
    precision: results.json records one set of options for the whole run. Where it ends (``max_steps``,
    ``limit_train_batches``) may change: that is how a WSD cool-down resumes (`audiobits.scaling.cooldown`)."""
    if recorded is None:  # saved before audiobits recorded them: not checked
        return
    changed = [f"{name} {recorded.get(name)!r}, now {getattr(current, name)!r}" for name in RESUME_FIXED
               if acting(name, recorded.get(name)) != acting(name, getattr(current, name))]
    if changed:
        raise ConfigValueError(f"cannot resume from this checkpoint with other trainer options: it trained with "
                               f"{'; '.join(changed)}. Resume with its options, or start a new run without "
                               "--ckpt_path.")


def recorded_deviations(results: dict, path: str | os.PathLike = "results.json") -> list[str] | None:
    """:meth:`TrainerRecord.deviations` of a results.json (read from ``path``, named by a damaged block's error), and
    an evaluation in another precision than training's (``eval_precision``, `audiobits validate`'s own); None when it
    records no trainer options (written before they were recorded)."""
    record = results.get("trainer")
    if record is None:
        return None
    trained = TrainerRecord.from_dict(record, path)
    evaluated = results.get("eval_precision", trained.precision)  # `audiobits validate` may use another
    other = [] if evaluated == trained.precision else [
        f"eval_precision={evaluated} (trained in {trained.precision}: precision changes the evaluation)"]
    return trained.deviations() + other
