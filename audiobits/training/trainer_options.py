"""What `audiobits fit` does with the trainer options the study fixes (the table and its reasons:
:mod:`audiobits.study_options`): refuse the refused ones before anything is written, record the rest in a
`TrainerRecord` kept in the checkpoint, and refuse a resume with other options (``RESUME_FIXED``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from audiobits.errors import ConfigValueError
from audiobits.results import TrainerRecord
from audiobits.study_options import OPTIONS, acting

CHECKPOINT_KEY = "audiobits_trainer_options"  # the TrainerRecord a checkpoint was trained with
RESUME_FIXED = ("accumulate_grad_batches", "gradient_clip_val", "precision")  # a resume may not change them


def check_fit_options(trainer: Any) -> None:
    """Refuse (`ConfigValueError`, one line) the first refused option set outside the study's values; ``trainer``
    is the parsed config's trainer section, so nothing has been created yet."""
    for option in OPTIONS:
        value = getattr(trainer, option.name, option.study[0])
        if option.action == "refuse" and not option.keeps(value):
            raise ConfigValueError(f"--trainer.{option.name} {value}: {option.why}.")


def trainer_record(trainer: Any) -> TrainerRecord:
    """The `TrainerRecord` of a Lightning ``Trainer``: its honoured options as it resolved them and its device type."""
    named = {f.name: getattr(trainer, f.name) for f in fields(TrainerRecord) if f.name != "device"}
    return TrainerRecord(**named, device=trainer.strategy.root_device.type)


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
