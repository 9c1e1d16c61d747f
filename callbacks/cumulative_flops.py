"""Logs training tokens and cumulative training FLOPs (trunk 6·N·T and full) as the epoch goes."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from audiobits import metrics
from audiobits.data import IGNORE_INDEX


class CumulativeFLOPs(L.Callback):
    """Counts target tokens on the device every step and syncs them across ranks only when Lightning logs."""

    def __init__(self) -> None:
        self.tokens = 0  # synced, all ranks
        self._pending: torch.Tensor | None = None
        self._strategy = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._strategy = trainer.strategy

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        count = (batch["target"] != IGNORE_INDEX).sum()
        self._pending = count if self._pending is None else self._pending + count
        if trainer.global_step % trainer.log_every_n_steps == 0 or trainer.is_last_batch:
            self._flush()
            shape = pl_module.shape
            pl_module.log_dict({
                "train/tokens": float(self.tokens),
                "train/pflops_trunk": metrics.training_flops_trunk(shape.non_embedding_params, self.tokens) / 1e15,
                "train/pflops_full": metrics.training_flops_full(shape.non_embedding_params, shape.vocab_size,
                                                                 shape.n_embd, shape.n_layer, shape.seq_len,
                                                                 self.tokens) / 1e15,
            })

    def _flush(self) -> None:
        if self._pending is not None:
            self.tokens += int(self._strategy.reduce(self._pending, reduce_op="sum").item())
            self._pending = None

    def state_dict(self) -> dict:
        self._flush()  # every rank dumps the checkpoint, so this collective is matched
        return {"tokens": self.tokens}

    def load_state_dict(self, state_dict: dict) -> None:
        self.tokens = int(state_dict["tokens"])
