"""Make a corpus's bins for one representation complete and current: `prepare_bins`, the entry point of encoding.

It does only the work that is missing (nothing, a rewrite without newly dropped utterances, or the unfinished
shards of an `EncodeJob` and the merge), in this process or through `Trainer.predict` (`EncodeTask`): every rank
encodes its own shards on its own device, so one launcher covers one GPU, all local GPUs (DDP) and several nodes
(torchrun/SLURM; the root must be a shared filesystem); global rank 0 merges. Whatever writes a bin directory
holds its lock (``<root>/<corpus>/<rep>.lock``, removed when done): a second `audiobits prepare` or `fit` of the
same bins waits for the first and then finds them complete.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from audiobits.bins import is_complete
from audiobits.corpora import Corpus, Loaded
from audiobits.prepare.encode import EncodeJob, EncodeOptions
from audiobits.prepare.common_utterances import read_dropped, stale_utterances
from audiobits.prepare.merge import merge_shards, refresh
from audiobits.representations.base import Representation
from audiobits.prepare.shards import Shard

log = logging.getLogger(__name__)

_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")  # set by torchrun, Lightning, SLURM


def _launching_process() -> bool:
    """True in the process that launched this job (global rank 0): only it locks; the ranks it starts follow it."""
    return all(int(os.environ.get(name) or 0) == 0 for name in _RANK_VARIABLES)


@contextmanager
def bins_lock(bins_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``<bins_dir>.lock`` (an flock, released if the process dies) while writing ``bins_dir``; wait, with a
    message naming the holder, while another process holds it. The lock file is removed on release."""
    if not _launching_process():
        yield
        return
    path = Path(bins_dir).with_name(f"{Path(bins_dir).name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            log.warning("%s is being written by %s (another `audiobits prepare` or `fit`); waiting for it to finish "
                        "(lock %s)", bins_dir, holder, path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)  # the holder removed this lock file while we waited: lock the current one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def refresh_bins(corpus: Corpus, bins_dir: str | os.PathLike) -> bool:
    """True when ``bins_dir`` is complete (after rewriting it, under its lock, without newly dropped utterances);
    False: it must be encoded. Complete and current bins are only read, so fits on them run side by side."""
    bins_dir = Path(bins_dir)
    if is_complete(bins_dir) and not stale_utterances(bins_dir, read_dropped(bins_dir.parent)):
        return refresh(corpus, bins_dir)  # nothing to rewrite: no lock
    with bins_lock(bins_dir):
        return refresh(corpus, bins_dir)


class EncodeTask(L.LightningModule):
    """`Trainer.predict` over an `EncodeJob`: each rank encodes its share of the shards on its own device."""

    def __init__(self, job: EncodeJob) -> None:
        super().__init__()
        self.job = job

    def predict_dataloader(self) -> DataLoader:
        return self.job.loader(self.global_rank, self.trainer.world_size)

    def on_predict_start(self) -> None:
        self.job.representation.to(str(self.device))
        self.job.start_progress(self.global_rank, self.trainer.world_size)

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
    with bins_lock(job.bins_dir):
        if refresh(corpus, job.bins_dir):  # another process finished them while this one waited for the lock
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
