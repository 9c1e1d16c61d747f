"""Saves the stable-phase checkpoints that WSD cool-downs start from, at fixed fractions of the run's steps."""

from __future__ import annotations

from pathlib import Path

import lightning as L

DEFAULT_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2)


def fraction_checkpoint_name(fraction: float) -> str:
    """``fraction_0.0625.ckpt``: the file a fraction's checkpoint is saved as (and cool-downs look for)."""
    return f"fraction_{fraction:g}.ckpt"


def fraction_step(fraction: float, total_steps: int) -> int:
    """The optimizer step after which a fraction's checkpoint is saved (at least 1)."""
    return max(1, round(fraction * total_steps))


class DataFractionCheckpoints(L.Callback):
    """After optimizer step ``round(f × total steps)`` save ``<log_dir>/checkpoints/fraction_<f>.ckpt`` for each
    fraction ``f``. Saving reads state only: the run's results are the same with and without this callback."""

    def __init__(self, fractions: tuple[float, ...] = DEFAULT_FRACTIONS) -> None:
        if not all(0 < f < 1 for f in fractions):
            raise ValueError(f"checkpoint fractions must lie in (0, 1), got {fractions}")
        self.fractions = sorted(fractions)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        total = int(trainer.estimated_stepping_batches)
        for fraction in self.fractions:
            if trainer.global_step == fraction_step(fraction, total):
                path = Path(trainer.log_dir) / "checkpoints" / fraction_checkpoint_name(fraction)
                trainer.save_checkpoint(path)  # every rank calls it; Lightning writes once
