"""Logs training tokens and cumulative training FLOPs (trunk 6·N·T and full) as the epoch goes."""

from __future__ import annotations

from typing import Any

import lightning as L

from audiobits import metrics
def trained_tokens(trainer: L.Trainer, datamodule, global_step: int | None = None) -> int:
    """Target tokens of the windows that reached an optimizer step (the epoch's last batch steps even when short):
    the one count behind ``train/tokens`` in TensorBoard and ``train_tokens`` in results.json. Derived from the
    global step (``global_step``: a checkpoint's, in ``validate``), so it needs no collective and survives a resume."""
    step = trainer.global_step if global_step is None else global_step
    batches = min(step * trainer.accumulate_grad_batches, trainer.num_training_batches)
    windows = min(batches * datamodule.batch_size * trainer.world_size, datamodule.train_windows)
    return int(windows * datamodule.seq_len)


class CumulativeFLOPs(L.Callback):
    """``train/tokens``, ``train/pflops_trunk`` and ``train/pflops_full`` whenever Lightning logs."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.global_step % trainer.log_every_n_steps == 0 or trainer.is_last_batch:
            tokens = trained_tokens(trainer, trainer.datamodule)
            shape = pl_module.shape
            pl_module.log_dict({
                "train/tokens": float(tokens),
                "train/pflops_trunk": metrics.training_flops_trunk(shape.non_embedding_params, tokens) / 1e15,
                "train/pflops_full": metrics.training_flops_full(shape.non_embedding_params, shape.vocab_size,
                                                                 shape.n_embd, shape.n_layer, shape.seq_len,
                                                                 tokens) / 1e15,
            })
