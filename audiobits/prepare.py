"""Make a corpus's bins for one representation complete and current: `prepare_bins`, the entry point of encoding.

It does only the work that is missing (nothing, a rewrite without newly dropped utterances, or the unfinished
shards of an `EncodeJob` and the merge), in this process or through `Trainer.predict` (`EncodeTask`): every rank
encodes its own shards on its own device, so one launcher covers one GPU, all local GPUs (DDP) and several nodes
(torchrun/SLURM; the root must be a shared filesystem); global rank 0 merges. Inside a running Trainer
(``audiobits fit``) it encodes in-process on that process's device instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from audiobits.corpora import Corpus, Loaded
from audiobits.encode import EncodeJob, EncodeOptions
from audiobits.merge import merge_shards, refresh_bins
from audiobits.representations.base import Representation
from audiobits.shards import Shard


class EncodeTask(L.LightningModule):
    """`Trainer.predict` over an `EncodeJob`: each rank encodes its share of the shards on its own device."""

    def __init__(self, job: EncodeJob) -> None:
        super().__init__()
        self.job = job

    def predict_dataloader(self) -> DataLoader:
        return self.job.loader(self.global_rank, self.trainer.world_size)

    def on_predict_start(self) -> None:
        self.job.representation.to(str(self.device))
        self.job.start_progress(self.global_rank)

    def on_predict_end(self) -> None:
        self.job.stop_progress()

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch  # numpy audio; the representation moves what it needs

    def predict_step(self, batch: tuple[Shard, Loaded], batch_idx: int) -> int:
        shard, items = batch
        self.job.encode_shard(shard, items)
        return len(items)


def prepare_bins(corpus: Corpus, representation: Representation, root: str | os.PathLike,
                 options: EncodeOptions = EncodeOptions(), device: str | torch.device | None = None) -> Path:
    """Make ``<root>/<corpus>/<representation>/`` complete and current, doing only the work that is missing.

    Complete and current: nothing. Complete but stale (the drop log gained utterances it holds): rewritten without
    them. Otherwise encode the unfinished shards and merge. ``device`` set: encode in this process on that
    device (used inside a running Trainer); unset: through `Trainer.predict` on ``options``' devices.
    """
    job = EncodeJob(corpus, representation, root, options)
    if refresh_bins(corpus, job.bins_dir):
        return job.bins_dir
    job.start_plan()
    if device is not None:
        representation.to(str(device))
        job.encode_pending()
        merge_shards(job)
        return job.bins_dir
    o = job.options
    trainer = L.Trainer(accelerator=o.accelerator, devices=o.devices, num_nodes=o.num_nodes, strategy=o.strategy,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False)
    trainer.predict(EncodeTask(job), return_predictions=False)
    trainer.strategy.barrier("audiobits-encoded")
    if trainer.is_global_zero:
        merge_shards(job)
    trainer.strategy.barrier("audiobits-merged")
    return job.bins_dir
