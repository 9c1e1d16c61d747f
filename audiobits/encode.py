"""Encode a corpus with a representation into its bin directory: resumable shards, every GPU, iso-data drops.

Everything lives under ``<root>/<corpus.name>/``:

- ``corpus.json``: `Corpus.describe()` of the corpus the first representation was built from. Every
  representation must come from the same description (else they would not hold the same utterances).
- ``dropped.jsonl``: one JSON line ``{"split", "id", "representation", "reason"}`` per utterance that failed in
  some representation. Every representation leaves all of them out, so all bins of a corpus hold exactly the same
  utterances in the same (corpus) order.
- ``<rep>.shards/``: work in progress — ``plan.json`` and ``<split>-<k>.npz`` per shard of ``shard_size``
  utterances, each written to a temporary name and renamed, so a crash loses at most the shards in flight.
- ``<rep>/``: the finished bins, merged from the shards with `bins.BinWriter` (meta.json last); the shards are
  then removed. Bins that still list an utterance dropped.jsonl names (it failed later, in another
  representation) are stale: `prepare_bins` rewrites them without it, `stale_utterances` reports them.

Scale: `prepare_bins` runs the shards through `Trainer.predict` (`EncodeTask`): every rank takes shards
``k ≡ rank (mod world size)`` and skips finished ones, so one launcher covers one GPU, all local GPUs (DDP) and
several nodes (torchrun/SLURM; the root must be a shared filesystem); global rank 0 merges. Inside a running
Trainer (``audiobits fit``) it encodes in-process on that process's device instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from audiobits.bins import SPLITS, BinMeta, BinWriter, TokenBins, dtype_for_vocab, is_complete
from audiobits.corpora import Corpus, Loaded, Unreadable
from audiobits.representations.base import Representation, Utterance, UtteranceError

log = logging.getLogger(__name__)

CORPUS_RECORD = "corpus.json"
DROPPED_LOG = "dropped.jsonl"
PLAN = "plan.json"


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode: utterances per encoder call and per shard, and where (Lightning accelerator/devices)."""

    batch_size: int = 16  # utterances per encoder call (sorted by length within a shard)
    shard_size: int = 512  # utterances per resumable shard
    num_workers: int = 2  # dataloader processes reading/decoding audio per device
    accelerator: str = "auto"  # Lightning accelerator: "auto", "cuda", "cpu"
    devices: int | str = "auto"  # devices per node; "auto" = every visible GPU
    num_nodes: int = 1
    strategy: str = "auto"  # "auto" picks DDP for several devices; "ddp_spawn" where the launcher cannot re-run


@dataclass(frozen=True)
class Shard:
    """Utterances ``start:stop`` of one split; shard ``index`` of that split."""

    split: str
    index: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:06d}"


def _write_atomic(path: Path, write: Any, suffix: str = "") -> None:
    """Write a file through ``write(fileobj)`` to a temporary name beside ``path``, then rename it into place."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}{suffix}")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def read_dropped(corpus_dir: str | os.PathLike) -> dict[tuple[str, str], dict]:
    """The corpus-level drop log: (split, utterance id) -> its record."""
    path = Path(corpus_dir) / DROPPED_LOG
    if not path.is_file():
        return {}
    records = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
                records[(record["split"], record["id"])] = record
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}, line {number}: not a drop record ({e}); each line is a JSON object "
                                 "with split, id, representation and reason. Fix or delete the line.") from e
    return records


def add_dropped(corpus_dir: str | os.PathLike, records: list[dict]) -> None:
    """Append new drop records (an utterance already dropped keeps its first reason); rewritten atomically."""
    existing = read_dropped(corpus_dir)
    new = [r for r in records if (r["split"], r["id"]) not in existing]
    if new:
        lines = [json.dumps(r, ensure_ascii=False) for r in [*existing.values(), *new]]
        _write_atomic(Path(corpus_dir) / DROPPED_LOG, lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))


def stale_utterances(bins_dir: str | os.PathLike, dropped: dict[tuple[str, str], dict]) -> set[tuple[str, str]]:
    """Utterances a complete bin directory still holds although the corpus drop log names them."""
    held = set()
    for split in SPLITS:
        idx = Path(bins_dir) / f"{split}.idx.npz"
        if idx.is_file():
            with np.load(idx) as index:
                held.update((split, str(uid)) for uid in index["ids"])
    return held & dropped.keys()


def check_corpus_record(corpus_dir: Path, corpus: Corpus) -> None:
    """Record what selects the corpus's utterances on first use; refuse a different selection under the same name."""
    description = json.loads(json.dumps(corpus.describe()))
    path = corpus_dir / CORPUS_RECORD
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if recorded != description:
            raise ValueError(f"{path} records corpus {recorded}, but this config describes {description}. Bins of "
                             f"one corpus directory must come from the same utterances: give the corpus another "
                             f"name (init arg `name`), or delete {corpus_dir} to rebuild every representation.")
        return
    corpus_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, lambda f: f.write((json.dumps(description, indent=2) + "\n").encode("utf-8")))


class _HoursProgress:
    """tqdm bar counting hours of audio encoded, with the rate in hours of audio per second."""

    def __init__(self, desc: str, position: int) -> None:
        self.bar = tqdm(desc=desc, unit="h", position=position, bar_format="{desc}: {n:.3f} h audio [{elapsed}"
                        "{postfix}]", mininterval=1.0)
        self.start, self.hours, self.utterances = time.perf_counter(), 0.0, 0

    def update(self, seconds: float, utterances: int) -> None:
        self.hours += seconds / 3600
        self.utterances += utterances
        rate = self.hours / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{rate:.3g} h/s, {self.utterances} utt", refresh=False)
        self.bar.update(seconds / 3600)

    def close(self) -> None:
        self.bar.close()


class _ShardDataset(Dataset):
    """Item i = (shard, its loaded utterances): decoding runs in dataloader workers while the device encodes."""

    def __init__(self, corpus: Corpus, shards: list[Shard], audio: bool) -> None:
        self.corpus, self.shards, self.audio = corpus, shards, audio

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, i: int) -> tuple[Shard, Loaded]:
        shard = self.shards[i]
        return shard, self.corpus.load(shard.split, shard.start, shard.stop, audio=self.audio)


def _as_is(item: Any) -> Any:
    return item


class EncodeJob:
    """Encoding one corpus with one representation into ``<root>/<corpus.name>/<representation.name>/``."""

    def __init__(self, corpus: Corpus, representation: Representation, root: str | os.PathLike,
                 options: EncodeOptions = EncodeOptions()) -> None:
        self.corpus, self.representation, self.options = corpus, representation, options
        self.corpus_dir = Path(root) / corpus.name
        self.bins_dir = self.corpus_dir / representation.name
        self.shard_dir = self.corpus_dir / f"{representation.name}.shards"
        self._shards: list[Shard] | None = None
        self._progress: _HoursProgress | None = None

    # --- the plan: which shards exist ----------------------------------------------------------------------
    def shards(self) -> list[Shard]:
        """Every shard of every split, in corpus order."""
        if self._shards is None:
            size = self.options.shard_size
            self._shards = [Shard(split, k, start, min(start + size, n))
                            for split in SPLITS for n in [self.corpus.size(split)]
                            for k, start in enumerate(range(0, n, size))]
        return self._shards

    def _plan(self) -> dict:
        return json.loads(json.dumps({
            "corpus": self.corpus.describe(), "representation": self.representation.name,
            "encoder": self.representation.encoder_info(), "shard_size": self.options.shard_size,
            "sizes": {split: self.corpus.size(split) for split in SPLITS}}))

    def start_plan(self) -> None:
        """Write plan.json, or keep the shards of an interrupted run when it had the same plan (else discard them)."""
        plan, path = self._plan(), self.shard_dir / PLAN
        if path.is_file():
            if json.loads(path.read_text(encoding="utf-8")) == plan:
                return
            log.warning("%s: shards were made with another plan (corpus, encoder or shard size); starting over",
                        self.shard_dir)
            shutil.rmtree(self.shard_dir, ignore_errors=True)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, lambda f: f.write((json.dumps(plan, indent=2) + "\n").encode("utf-8")))

    def shard_path(self, shard: Shard) -> Path:
        return self.shard_dir / f"{shard.name}.npz"

    def pending(self, rank: int = 0, world_size: int = 1) -> list[Shard]:
        """This rank's unfinished shards: shard k of the global list belongs to rank k mod world_size."""
        return [s for s in self.shards()[rank::world_size] if not self.shard_path(s).is_file()]

    def loader(self, rank: int = 0, world_size: int = 1) -> DataLoader:
        """This rank's pending shards, loaded (and audio decoded) by dataloader workers."""
        dataset = _ShardDataset(self.corpus, self.pending(rank, world_size),
                                audio=self.representation.sample_rate is not None)
        workers = min(self.options.num_workers, len(dataset))
        return DataLoader(dataset, batch_size=None, collate_fn=_as_is, num_workers=workers,
                          persistent_workers=False, prefetch_factor=2 if workers else None)

    # --- encoding ------------------------------------------------------------------------------------------
    def start_progress(self, rank: int) -> None:
        self._progress = _HoursProgress(f"{self.corpus.name}/{self.representation.name} rank {rank}", rank)

    def stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def encode_shard(self, shard: Shard, items: Loaded) -> None:
        """Encode one shard's utterances (batched by similar duration) and write the shard file atomically."""
        if len(items) != shard.stop - shard.start:
            raise RuntimeError(f"{self.corpus.name} {shard.name}: corpus returned {len(items)} utterances for rows "
                               f"{shard.start}:{shard.stop}")
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"{self.corpus.name} {shard.name}: utterance id(s) {twice[:5]} occur twice; ids must be "
                             "unique within a split (check the corpus's id column)")
        failed: dict[str, str] = {}
        good: list[Utterance] = []
        for item in items:
            if isinstance(item, Unreadable):
                failed[item.id] = item.reason
                continue
            try:
                self.representation.check(item)
                good.append(item)
            except UtteranceError as e:
                failed[item.id] = e.reason
        tokens: dict[str, np.ndarray] = {}
        by_length = sorted(good, key=lambda u: u.duration)
        for start in range(0, len(by_length), self.options.batch_size):
            self._encode_batch(by_length[start:start + self.options.batch_size], tokens, failed)
        readable = [item for item in items if not isinstance(item, Unreadable)]
        if len(readable) > 1 and not tokens:
            first = readable[0].id
            raise RuntimeError(f"{self.representation.name} failed on every utterance of {self.corpus.name} "
                               f"{shard.name}, e.g. {first!r}: {failed[first]}. That is a broken encoder or a "
                               "representation that does not fit this corpus, not bad utterances; nothing was "
                               "dropped.")
        for uid, reason in failed.items():
            log.warning("%s %s: dropping utterance %r from every representation of %s: %s",
                        self.representation.name, shard.split, uid, self.corpus.name, reason)
        kept = [u for u in good if u.id in tokens]
        arrays = [tokens[u.id] for u in kept]
        data = {
            "start": shard.start, "stop": shard.stop,
            "tokens": np.concatenate(arrays or [np.zeros(0, np.int64)]).astype(
                dtype_for_vocab(self.representation.vocab_size)),
            "lengths": np.asarray([len(a) for a in arrays], np.int64),
            "ids": np.asarray([u.id for u in kept], dtype=str),
            "seconds": np.asarray([u.duration for u in kept], np.float64),
            "text_bytes": np.asarray([u.text_bytes for u in kept], np.int64),
            "failed_ids": np.asarray(list(failed), dtype=str),
            "failed_reasons": np.asarray(list(failed.values()), dtype=str),
        }
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.shard_path(shard), lambda f: np.savez(f, **data), suffix=".npz")
        if self._progress is not None:
            self._progress.update(float(data["seconds"].sum()), len(kept))

    def _encode_batch(self, batch: list[Utterance], tokens: dict[str, np.ndarray], failed: dict[str, str]) -> None:
        """Encode ``batch``; if it fails, encode its utterances one by one so only the bad one is dropped.

        UtteranceError is a verdict on the utterance; any other exception on a single utterance is logged with its
        traceback and counts as a failure too (a codec may crash on one odd input, but not on all of them)."""
        try:
            out = self.representation.encode(batch)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - a codec may crash on one odd input; isolate it below
            if len(batch) > 1:
                for utterance in batch:
                    self._encode_batch([utterance], tokens, failed)
                return
            if isinstance(e, UtteranceError):
                failed[batch[0].id] = e.reason
            else:
                log.exception("%s crashed on utterance %r", self.representation.name, batch[0].id)
                failed[batch[0].id] = f"{type(e).__name__}: {e}"
            return
        if len(out) != len(batch):
            raise RuntimeError(f"{type(self.representation).__name__}.encode returned {len(out)} arrays for "
                               f"{len(batch)} utterances")
        vocab = self.representation.vocab_size
        for utterance, ids in zip(batch, out):
            ids = np.asarray(ids)
            if ids.ndim != 1 or (ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0
                                               or ids.max() >= vocab)):
                raise RuntimeError(f"{type(self.representation).__name__}.encode gave utterance {utterance.id!r} "
                                   f"ids of shape {ids.shape}, dtype {ids.dtype} outside [0, {vocab}); the "
                                   "representation is broken")
            tokens[utterance.id] = ids.astype(np.int64, copy=False)

    def encode_pending(self, rank: int = 0, world_size: int = 1) -> None:
        """Encode this rank's unfinished shards in this process (the representation must already be on its device)."""
        self.start_progress(rank)
        try:
            for shard, items in self.loader(rank, world_size):
                self.encode_shard(shard, items)
        finally:
            self.stop_progress()

    # --- merging -------------------------------------------------------------------------------------------
    def merge(self) -> None:
        """Write the bins from the finished shards, leaving out every utterance in the corpus drop log."""
        shards = self.shards()
        missing = [s.name for s in shards if not self.shard_path(s).is_file()]
        if missing:
            raise RuntimeError(f"{self.shard_dir}: shards {missing[:5]}{'...' if len(missing) > 5 else ''} are not "
                               "encoded yet; run the encode again (finished shards are kept)")
        new_drops = []
        for shard in shards:
            with np.load(self.shard_path(shard)) as data:
                if (int(data["start"]), int(data["stop"])) != (shard.start, shard.stop):
                    raise RuntimeError(f"{self.shard_path(shard)} covers rows {data['start']}:{data['stop']}, the "
                                       f"plan {shard.start}:{shard.stop}; delete {self.shard_dir} and encode again")
                new_drops += [{"split": shard.split, "id": str(uid), "representation": self.representation.name,
                               "reason": str(reason)} for uid, reason in zip(data["failed_ids"],
                                                                             data["failed_reasons"])]
        add_dropped(self.corpus_dir, new_drops)
        dropped = read_dropped(self.corpus_dir)

        def utterances(split: str) -> Iterator[tuple[str, np.ndarray, float, int]]:
            for shard in (s for s in shards if s.split == split):
                with np.load(self.shard_path(shard)) as data:
                    tokens, lengths, ids = data["tokens"], data["lengths"], data["ids"]
                    seconds, text_bytes = data["seconds"], data["text_bytes"]
                ends = np.cumsum(lengths)
                for i, uid in enumerate(ids):
                    if (split, str(uid)) not in dropped:
                        yield str(uid), tokens[ends[i] - lengths[i]:ends[i]], float(seconds[i]), int(text_bytes[i])

        meta = self.representation.bin_meta(self.corpus.name)
        write_bins(self.bins_dir, meta, self.corpus, dropped, utterances)
        shutil.rmtree(self.shard_dir, ignore_errors=True)


def write_bins(bins_dir: Path, meta: BinMeta, corpus: Corpus, dropped: dict[tuple[str, str], dict],
               utterances: Callable[[str], Iterator[tuple[str, np.ndarray, float, int]]]) -> None:
    """Write every split's (id, tokens, seconds, text_bytes) in corpus order with BinWriter; meta.extra records the
    corpus description and how many utterances the drop log removed per split."""
    corpus_dir = bins_dir.parent
    meta.extra = {**meta.extra, "corpus_description": corpus.describe(),
                  "dropped_utterances": {s: sum(1 for k in dropped if k[0] == s) for s in SPLITS},
                  "drop_log": str(corpus_dir / DROPPED_LOG)}
    with BinWriter(bins_dir, meta) as writer:
        for split in SPLITS:
            seen: set[str] = set()
            for uid, tokens, seconds, text_bytes in utterances(split):
                if uid in seen:
                    raise ValueError(f"{corpus.name}: utterance id {uid!r} occurs twice in split {split!r}; ids must "
                                     "be unique within a split (check the corpus's id column)")
                seen.add(uid)
                writer.add(split, uid, tokens, seconds, text_bytes)
            if not seen:
                raise RuntimeError(f"{corpus.name}: split {split!r} has no utterances left (after "
                                   f"{meta.extra['dropped_utterances'][split]} drops, see {corpus_dir / DROPPED_LOG});"
                                   f" nothing to write to {bins_dir}")


def drop_stale(corpus: Corpus, bins_dir: Path) -> None:
    """Rewrite complete bins without the utterances the drop log gained since they were written (no re-encode)."""
    dropped = read_dropped(bins_dir.parent)
    bins = TokenBins(bins_dir)

    def utterances(split: str) -> Iterator[tuple[str, np.ndarray, float, int]]:
        part = bins.split(split)
        tokens, offsets = part.tokens, part.offsets
        for i, uid in enumerate(part.ids):
            if (split, str(uid)) not in dropped:  # stored tokens end with EOS, which BinWriter adds again
                yield (str(uid), np.asarray(tokens[offsets[i]:offsets[i + 1] - 1]), float(part.seconds[i]),
                       int(part.text_bytes[i]))

    write_bins(bins_dir, bins.meta, corpus, dropped, utterances)


def note_kept_drops(corpus_dir: Path) -> None:
    """Say how many utterances the drop log keeps out of every representation, and how to retry them."""
    dropped = read_dropped(corpus_dir)
    if dropped:
        (split, uid), record = next(iter(dropped.items()))
        log.warning("%d utterance(s) stay dropped from every representation of %s as %s lists (e.g. %s %r: %s). To "
                    "retry them once their files are fixed, delete %s and prepare every representation again.",
                    len(dropped), corpus_dir.name, corpus_dir / DROPPED_LOG, split, uid, record["reason"], corpus_dir)


def refresh_bins(corpus: Corpus, bins_dir: str | os.PathLike) -> bool:
    """True when ``bins_dir`` is complete (after rewriting it without newly dropped utterances); False: encode it."""
    bins_dir = Path(bins_dir)
    check_corpus_record(bins_dir.parent, corpus)
    note_kept_drops(bins_dir.parent)
    if not is_complete(bins_dir):
        return False
    stale = stale_utterances(bins_dir, read_dropped(bins_dir.parent))
    if stale:
        log.warning("%s holds %d utterance(s) dropped since it was written (e.g. %s); rewriting it without them",
                    bins_dir, len(stale), sorted(stale)[0])
        drop_stale(corpus, bins_dir)
    return True


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
        job.merge()
        return job.bins_dir
    o = job.options
    trainer = L.Trainer(accelerator=o.accelerator, devices=o.devices, num_nodes=o.num_nodes, strategy=o.strategy,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False)
    trainer.predict(EncodeTask(job), return_predictions=False)
    trainer.strategy.barrier("audiobits-encoded")
    if trainer.is_global_zero:
        job.merge()
    trainer.strategy.barrier("audiobits-merged")
    return job.bins_dir
