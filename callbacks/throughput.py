"""Training speed on the dashboard: tokens/s, samples/s, MFU against the card's bf16 peak, peak device memory."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from audiobits import metrics
from audiobits.results import Throughput
from audiobits.training.accelerators import bf16_peak
from audiobits.callbacks.cumulative_flops import trained_tokens


def device_peak(device: torch.device, configured: float | None) -> tuple[float | None, str]:
    """The dense bf16 peak FLOP/s MFU divides by, and a note naming it or saying why there is none."""
    if configured is not None:
        return configured, f"peak {configured:.4g} FLOP/s (throughput.peak_flops_per_sec)"
    if device.type != "cuda":
        return None, f"no MFU on {device.type}: it is defined against a GPU's dense bf16 peak"
    name = torch.cuda.get_device_name(device)
    peak = bf16_peak(name)
    if peak is None:
        return None, (f"{name} is not in audiobits.training.accelerators.BF16_PEAK: set "
                      "throughput.peak_flops_per_sec to its dense bf16 peak")
    return peak, f"{name}: dense bf16 peak {peak:.4g} FLOP/s"


class TrainingThroughput(L.Callback):
    """Logs ``train/tokens_per_sec``, ``train/samples_per_sec``, ``train/mfu`` (where the device's peak is known)
    and ``train/peak_memory_gib`` (CUDA) whenever Lightning logs, each rate over the steps since the previous log
    (validation time left out); `summary` gives the whole run's rates from the first logged step on."""

    def __init__(self, peak_flops_per_sec: float | None = None) -> None:
        """``peak_flops_per_sec``: the device's dense bf16 peak, for a GPU that audiobits.training.accelerators does not
        know (the table has H100, H200, A100, L40S)."""
        self.peak_flops_per_sec = peak_flops_per_sec
        self._first: tuple[float, int] | None = None
        self._last: tuple[float, int] | None = None
        self._paused = 0.0
        self._validation_started: float | None = None
        self._peak: float | None = None
        self._note = ""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._first = self._last = None
        self._paused = 0.0
        self._peak, self._note = device_peak(pl_module.device, self.peak_flops_per_sec)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_started = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._validation_started is not None:
            self._paused += time.perf_counter() - self._validation_started
            self._validation_started = None

    def _clock(self, device: torch.device) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - self._paused

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not (trainer.global_step % trainer.log_every_n_steps == 0 or trainer.is_last_batch):
            return
        now, tokens = self._clock(pl_module.device), trained_tokens(trainer, trainer.datamodule)
        if self._last is None:  # the first logged step starts the clock: compilation and warm-up stay out
            self._first = self._last = (now, tokens)
            return
        if tokens == self._last[1] or now <= self._last[0]:
            return
        rate = (tokens - self._last[1]) / (now - self._last[0])
        self._last = (now, tokens)
        logged = {"train/tokens_per_sec": rate, "train/samples_per_sec": rate / trainer.datamodule.seq_len}
        mfu = self._mfu(trainer, pl_module, rate)
        if mfu is not None:
            logged["train/mfu"] = mfu
        if pl_module.device.type == "cuda":
            logged["train/peak_memory_gib"] = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
        pl_module.log_dict(logged)

    def _mfu(self, trainer: L.Trainer, pl_module: L.LightningModule, tokens_per_sec: float) -> float | None:
        if self._peak is None:
            return None
        shape = pl_module.shape
        per_token = metrics.training_flops_full(shape.non_embedding_params, shape.vocab_size, shape.n_embd,
                                                shape.n_layer, shape.seq_len, 1)
        return metrics.model_flops_utilization(per_token, tokens_per_sec / trainer.world_size, self._peak)

    def summary(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Throughput:
        """The run's rates from the first logged step to the last (None when fewer than two were logged)."""
        rate = None
        if self._first is not None and self._last is not None and self._last[0] > self._first[0]:
            rate = (self._last[1] - self._first[1]) / (self._last[0] - self._first[0])
        memory = (torch.cuda.max_memory_allocated(pl_module.device) / 2**30
                  if pl_module.device.type == "cuda" else None)
        return Throughput(rate, None if rate is None else rate / trainer.datamodule.seq_len,
                          None if rate is None else self._mfu(trainer, pl_module, rate), self._note, memory)
