"""The final evaluation: after the last training step (and in ``audiobits validate``) the sliding-window pass and,
when asked, the utterance-reset pass score the validation split beside Lightning's non-overlapping pass.

They run outside Lightning's loop, on every rank's share of the windows, with the module's fp32-head scoring;
their sums are reduced across ranks like the non-overlapping pass's.
"""

from __future__ import annotations

import time

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from audiobits.training.loss_sums import LossSums
from audiobits.progress import with_progress
from audiobits.results import ValidationSums


def new_sums(datamodule, split: str) -> LossSums:
    """Empty per-utterance, per-phase and per-offset sums for one pass over ``split``."""
    return LossSums(torch.from_numpy(datamodule.split(split).offsets), datamodule.tokens_per_frame,
                    datamodule.seq_len)


def final_passes(trainer: L.Trainer, pl_module: L.LightningModule, split: str = "val") -> dict[str, ValidationSums]:
    """Run the datamodule's :meth:`final_passes` (``sliding``, ``utterance_reset``) and return their reduced sums;
    the log shows each pass's windows and wall time (the sliding pass costs ``seq_len / eval_stride`` forward
    passes per non-overlapping window)."""
    datamodule = trainer.datamodule
    out = {}
    for kind in datamodule.final_passes():
        start = time.perf_counter()
        loader = datamodule.eval_dataloader(split, kind)
        sums = new_sums(datamodule, split).to(pl_module.device)
        batches = with_progress(loader, len(loader), f"final evaluation, {kind} pass", "batch",
                                enabled=trainer.is_global_zero and trainer.progress_bar_callback is not None)
        with trainer.precision_plugin.val_step_context():
            out[kind] = pl_module.score(batches, sums)
        rank_zero_info(f"final evaluation, {kind} pass (seq_len {datamodule.seq_len}, stride "
                       f"{datamodule.eval_stride}): {len(loader.dataset)} windows in "
                       f"{time.perf_counter() - start:.1f} s")
    return out
