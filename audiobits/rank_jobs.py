"""Work split over Lightning ranks, written once: encoding shards and quality scoring are both a `RankJob`.

A job is a list of items (an encode shard, a chunk of corpus rows to score). Item k of the list belongs to rank
k mod world size (`items_of_rank`); a rank skips the items its job reports finished, so a rerun after a crash does
only what is missing, on any number of ranks. Each finished item is written by the job at once, whole or not at
all (`audiobits.files`: an atomic file per item; a quality chunk's rows are a partial file of their own). `run_here`
runs one rank's share in this process; `run_on_ranks` runs every rank's share through `Trainer.predict` (one
launcher for one device, all local devices and several nodes) and lets global rank 0 merge the items' files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

Item = TypeVar("Item")


class Placement(Protocol):
    """Where the ranks run (`audiobits.prepare.encode.EncodeOptions` is one): Lightning's accelerator, devices per
    node, nodes and strategy, and the dataloader workers per device that load the items."""

    accelerator: str
    devices: int | str
    num_nodes: int
    strategy: str
    num_workers: int


class RankJob(Protocol[Item]):
    """What the runner needs of a job: its items, which of them are still to do, how to load one (in dataloader
    workers), how to do one (writing its result whole) and the bar over a rank's share."""

    name: str  # names the ranks' barriers

    def items(self) -> Sequence[Item]:
        """Every item of the job, in the same order on every rank."""

    def unfinished(self, items: Sequence[Item]) -> list[Item]:
        """Those of ``items`` whose result is not written yet."""

    def reader(self) -> Callable[[Item], Any]:
        """A picklable function loading an item's input (runs in dataloader workers)."""

    def to(self, device: torch.device | str) -> None:
        """Move the job's models to this rank's device."""

    def start(self, rank: int, items: list[Item]) -> None:
        """Before this rank's unfinished ``items`` are done (opens its progress bar)."""

    def run(self, item: Item, loaded: Any, rank: int) -> int:
        """Do one item and write its result whole; returns how many units (utterances) it did."""

    def stop(self) -> None:
        """After this rank's share (closes its progress bar)."""


def items_of_rank(items: Sequence[Item], rank: int, world_size: int) -> list[Item]:
    """Rank ``rank``'s share of ``items``: item k belongs to rank k mod ``world_size`` (each item to exactly one)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside a world of {world_size}")
    return list(items[rank::world_size])


def pending(job: RankJob, rank: int = 0, world_size: int = 1) -> list:
    """This rank's items that are not finished yet."""
    return job.unfinished(items_of_rank(job.items(), rank, world_size))


class _Loaded(Dataset):
    """Item i = (item, its loaded input): loading runs in dataloader workers while the device works."""

    def __init__(self, items: list, read: Callable[[Any], Any]) -> None:
        self.items, self.read = items, read

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return self.items[i], self.read(self.items[i])


def _as_is(batch: Any) -> Any:
    return batch


def loader(job: RankJob, items: list, num_workers: int = 0) -> DataLoader:
    """``items`` with their inputs, loaded by up to ``num_workers`` dataloader processes, one item per batch."""
    workers = min(num_workers, len(items))
    return DataLoader(_Loaded(items, job.reader()), batch_size=None, collate_fn=_as_is, num_workers=workers,
                      persistent_workers=False, prefetch_factor=2 if workers else None)


def run_here(job: RankJob, rank: int = 0, world_size: int = 1, num_workers: int = 0) -> int:
    """Do rank ``rank``'s unfinished items in this process (the job's models already on their device); returns the
    units done."""
    items = pending(job, rank, world_size)
    job.start(rank, items)
    try:
        return sum(job.run(item, loaded, rank) for item, loaded in loader(job, items, num_workers))
    finally:
        job.stop()


class RankTask(L.LightningModule):
    """`Trainer.predict` over a `RankJob`: each rank does its share of the unfinished items on its own device."""

    def __init__(self, job: RankJob, num_workers: int) -> None:
        super().__init__()
        self.job, self.num_workers = job, num_workers

    def predict_dataloader(self) -> DataLoader:
        return loader(self.job, pending(self.job, self.global_rank, self.trainer.world_size), self.num_workers)

    def on_predict_start(self) -> None:
        self.job.to(self.device)
        self.job.start(self.global_rank, pending(self.job, self.global_rank, self.trainer.world_size))

    def on_predict_end(self) -> None:
        self.job.stop()

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch  # numpy audio; the job moves what it needs

    def predict_step(self, batch: tuple[Any, Any], batch_idx: int) -> int:
        return self.job.run(*batch, self.global_rank)


def rank_trainer(placement: Placement) -> L.Trainer:
    """A Trainer that only runs predict loops on ``placement``'s devices: no logger, checkpoints, bar or summary,
    and no distributed sampler (the job splits its items itself)."""
    return L.Trainer(accelerator=placement.accelerator, devices=placement.devices, num_nodes=placement.num_nodes,
                     strategy=placement.strategy, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False)


def run_on_ranks(job: RankJob, placement: Placement, merge: Callable[[], Any]) -> Any:
    """Every rank does its share through `Trainer.predict`; when all are done, global rank 0 calls ``merge`` (which
    combines the items' files into the job's output). Returns its result on global rank 0, None on the other ranks
    (which return once it is written)."""
    trainer = rank_trainer(placement)
    trainer.predict(RankTask(job, placement.num_workers), return_predictions=False)
    trainer.strategy.barrier(f"audiobits-{job.name}-done")
    result = merge() if trainer.is_global_zero else None
    trainer.strategy.barrier(f"audiobits-{job.name}-merged")
    return result
