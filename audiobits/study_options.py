"""The trainer options the study fixes, in one place (a table below the results record that flags them): which
ones `audiobits fit` refuses, which it honours, records in results.json's ``trainer`` block and flags in the report
and `audiobits sanity`, and why (docs/troubleshooting.md).

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

from dataclasses import dataclass
from typing import Any, Literal


EPOCHS = 1  # iso-data: exactly one pass over the training windows


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
