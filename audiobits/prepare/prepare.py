"""Make a corpus's bins for one representation complete and current: `prepare_bins`, the entry point of encoding.

It does only the work that is missing (nothing, a rewrite without newly dropped utterances, or the unfinished
shards of an `EncodeJob` and the merge), in this process or on every rank (`audiobits.rank_jobs.run_on_ranks`):
every rank encodes its own shards on its own device, so one launcher covers one GPU, all local GPUs (DDP) and
several nodes (torchrun/SLURM; the root must be a shared filesystem); global rank 0 merges. Whatever writes a bin
directory holds its lock (``<root>/<corpus>/<rep>.lock``, removed when done): a second `audiobits prepare` or `fit`
of the same bins waits for the first and then finds them complete.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from audiobits.bins import is_complete
from audiobits.corpora import Corpus
from audiobits.prepare.encode import EncodeJob, EncodeOptions
from audiobits.prepare.common_utterances import read_dropped, stale_utterances
from audiobits.prepare.merge import merge_shards, refresh
from audiobits.rank_jobs import run_on_ranks
from audiobits.representations.base import Representation

log = logging.getLogger(__name__)

_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")  # set by torchrun, Lightning, SLURM


def _launching_process() -> bool:
    """True in the process that launched this job (global rank 0): only it locks; the ranks it starts follow it."""
    return all(int(os.environ.get(name) or 0) == 0 for name in _RANK_VARIABLES)


def _write_holder(fd: int) -> None:
    """Name this process in the lock file it just locked, for a process that waits for it."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)


def _holder(path: Path) -> str:
    """Who holds the lock file ``path``, as it wrote there (empty or gone: "another process")."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
    except FileNotFoundError:
        return "another process"


@contextmanager
def bins_lock(bins_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``<bins_dir>.lock`` (a `filelock.FileLock`: an flock, released if the process dies) while writing
    ``bins_dir``; wait, with a message naming the holder (its pid and host, written into the lock file), while
    another process holds it. The lock file is removed on release (filelock makes a waiter that locked the removed
    file lock the current one)."""
    if not _launching_process():
        yield
        return
    path = Path(bins_dir).with_name(f"{Path(bins_dir).name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, on_acquired=_write_holder)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        log.warning("%s is being written by %s (another `audiobits prepare` or `fit`); waiting for it to finish "
                    "(lock %s)", bins_dir, _holder(path), path)
        lock.acquire()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        lock.release()


def refresh_bins(corpus: Corpus, bins_dir: str | os.PathLike) -> bool:
    """True when ``bins_dir`` is complete (after rewriting it, under its lock, without newly dropped utterances);
    False: it must be encoded. Complete and current bins are only read, so fits on them run side by side."""
    bins_dir = Path(bins_dir)
    if is_complete(bins_dir) and not stale_utterances(bins_dir, read_dropped(bins_dir.parent)):
        return refresh(corpus, bins_dir)  # nothing to rewrite: no lock
    with bins_lock(bins_dir):
        return refresh(corpus, bins_dir)


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
        run_on_ranks(job, job.options, partial(merge_shards, job))
    return job.bins_dir
