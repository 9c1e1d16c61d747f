"""Test-only callbacks: record which training windows each rank consumed, crash a run at a given step, and refuse the
user's input once evaluation starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import pytest

from audiobits.errors import AudiobitsError


class WindowRecorder(L.Callback):
    """Appends (global_step, window index) of every trained window to ``<out>/windows-rank<r>.txt``."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if "window" in batch:  # paired windows name themselves
            windows = [int(w) for w in batch["window"].cpu().numpy() if w >= 0]
        else:
            seq_len = batch["input"].shape[1]
            first = batch["position"][:, 0].cpu().numpy()
            windows = [(int(p) - 1) // seq_len for p in first if p >= 0]  # masked padding windows have -1
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / f"windows-rank{trainer.global_rank}.txt", "a") as f:
            f.writelines(f"{trainer.global_step} {w}\n" for w in windows)


class CrashAt(L.Callback):
    """Raises after the optimizer step ``step`` (simulates a node failure mid-epoch)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError(f"simulated crash at step {self.step}")


class RefuseAtEvaluation(L.Callback):
    """Raises the user-error type when validation or testing starts: after the logger made the run directory, as a
    refusal of the user's data found only then would."""

    def on_validation_start(self, trainer, pl_module) -> None:
        raise AudiobitsError("refused the user's input at evaluation start")

    on_test_start = on_validation_start


def read_windows(out: str | Path) -> np.ndarray:
    """All recorded (step, window) rows of every rank."""
    rows = [np.loadtxt(p, dtype=np.int64, ndmin=2) for p in sorted(Path(out).glob("windows-rank*.txt"))]
    return np.concatenate(rows) if rows else np.empty((0, 2), dtype=np.int64)


def crash_at_12_and_resume(fit: Callable[..., list[Path]], tmp_path: Path, bins: Path) -> tuple[list[Path], np.ndarray]:
    """Fit with a checkpoint every 5 steps and a crash at step 12, then resume from ``last``; the resumed runs and the
    windows both attempts trained that count (the crash lost steps 11-12: the checkpoint holds step 10), as
    (step, window) rows in training order."""
    record = tmp_path / "record"
    callbacks = ["--trainer.callbacks+=recorders.WindowRecorder", f"--trainer.callbacks.out={record}"]
    with pytest.raises(RuntimeError, match="simulated crash at step 12"):
        fit(tmp_path, bins, "--checkpoint.every_n_train_steps", "5", *callbacks,
            "--trainer.callbacks+=recorders.CrashAt", "--trainer.callbacks.step=12")
    first = read_windows(record)
    (record / "windows-rank0.txt").unlink()
    runs = fit(tmp_path, bins, "--checkpoint.every_n_train_steps", "5", "--ckpt_path", "last", *callbacks)
    second = read_windows(record)
    assert second[0, 0] == 11
    return runs, np.concatenate([first[first[:, 0] <= 10], second])


class InterruptAt(L.Callback):
    """Raises KeyboardInterrupt after the optimizer step ``step``: what Ctrl-C raises in the training loop."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt
