"""The sharded encode job: a corpus through a representation, shard by shard, each shard resumable on its own.

Work in progress lives in ``<root>/<corpus.name>/<rep>.shards/``: ``plan.json`` (what the shards are) and one
`ShardRecord` per shard of ``shard_size`` utterances, so a crash loses at most the shards in flight. The job is a
`audiobits.rank_jobs.RankJob`: every rank takes shards ``k ≡ rank (mod world size)`` and skips finished ones. An
utterance the representation rejects is recorded in its shard with the reason (the merge,
:mod:`audiobits.prepare.merge`, adds it to the corpus drop log); the job runs in-process (`EncodeJob.encode_pending`)
or on every rank (`audiobits.rank_jobs.run_on_ranks`, from :mod:`audiobits.prepare.prepare`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch

from audiobits.bins import SPLITS, dtype_for_vocab
from audiobits.corpora import Corpus, Loaded, Unreadable, upgrade_description
from audiobits.files import read_json, write_text_atomic
from audiobits.progress import progress_bar
from audiobits.rank_jobs import run_here
from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.prepare.shards import Shard, ShardRecord
from audiobits.errors import ConfigValueError

log = logging.getLogger(__name__)

PLAN = "plan.json"
LONG_RECORDING_SECONDS = 1800.0  # a longer recording gets a warning where it is encoded whole (RAM grows with it)


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


class _EncodeProgress:
    """A bar over this rank's pending utterances (count, rate, ETA) with hours of audio encoded and their rate."""

    def __init__(self, desc: str, utterances: int, position: int) -> None:
        self.bar = progress_bar(utterances, desc, "utt", position=position)
        self.start, self.hours = time.perf_counter(), 0.0

    def update(self, seconds: float, utterances: int) -> None:
        self.hours += seconds / 3600
        rate = self.hours / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{self.hours:.3f} h audio, {rate:.3g} h/s", refresh=False)
        self.bar.update(utterances)

    def close(self) -> None:
        self.bar.close()


def _load_shard(corpus: Corpus, audio: bool | str, shard: Shard) -> Loaded:
    """A shard's utterances as the corpus serves them (audio decoded when ``audio``, read lazily in blocks when it is
    ``"blocks"``): runs in dataloader workers."""
    return corpus.load(shard.split, shard.start, shard.stop, audio=audio)


class EncodeJob:
    """Encoding one corpus with one representation into ``<root>/<corpus.name>/<representation.name>/``; a
    `audiobits.rank_jobs.RankJob` whose items are the shards."""

    name = "encode"

    def __init__(self, corpus: Corpus, representation: Representation, root: str | os.PathLike,
                 options: EncodeOptions = EncodeOptions()) -> None:
        self.corpus, self.representation, self.options = corpus, representation, options
        self.corpus_dir = Path(root) / corpus.name
        self.bins_dir = self.corpus_dir / representation.name
        self.shard_dir = self.corpus_dir / f"{representation.name}.shards"
        self._shards: list[Shard] | None = None
        self._progress: _EncodeProgress | None = None

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
            recorded = read_json(path, fix=f"Delete {self.shard_dir} (an interrupted encode's shards) and run the "
                                           "same command again: the shards are encoded anew.")
            if isinstance(recorded, dict) and {**recorded,
                                               "corpus": upgrade_description(recorded.get("corpus", {}))} == plan:
                return
            log.warning("%s: shards were made with another plan (corpus, encoder or shard size); starting over",
                        self.shard_dir)
            shutil.rmtree(self.shard_dir, ignore_errors=True)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(plan, indent=2) + "\n")

    def shard_path(self, shard: Shard) -> Path:
        return self.shard_dir / f"{shard.name}.npz"

    def items(self) -> list[Shard]:
        """The rank job's items: every shard."""
        return self.shards()

    def unfinished(self, shards: Sequence[Shard]) -> list[Shard]:
        """Those of ``shards`` without a shard file yet."""
        return [s for s in shards if not self.shard_path(s).is_file()]

    def reader(self) -> Callable[[Shard], Loaded]:
        """Loads a shard's utterances in a dataloader worker (audio decoded when the representation hears it, in
        blocks when it reads them so)."""
        rep = self.representation
        return partial(_load_shard, self.corpus, "blocks" if rep.reads_blocks else rep.sample_rate is not None)

    def to(self, device: torch.device | str) -> None:
        """Move the encoder to this rank's device."""
        self.representation.to(str(device))

    # --- encoding ------------------------------------------------------------------------------------------
    def start(self, rank: int, shards: list[Shard]) -> None:
        """Open the bar over the utterances of this rank's pending ``shards`` (a shard's dropped ones count as
        done)."""
        utterances = sum(s.stop - s.start for s in shards)
        self._progress = _EncodeProgress(f"{self.corpus.name}/{self.representation.name} rank {rank}", utterances,
                                         rank)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def run(self, shard: Shard, items: Loaded, rank: int) -> int:
        """Encode one shard (its file written whole); returns its utterance count."""
        self.encode_shard(shard, items)
        return len(items)

    def encode_shard(self, shard: Shard, items: Loaded) -> None:
        """Encode one shard's utterances (batched by similar duration) and write the shard file atomically."""
        if len(items) != shard.stop - shard.start:
            raise RuntimeError(f"{self.corpus.name} {shard.name}: corpus returned {len(items)} utterances for rows "
                               f"{shard.start}:{shard.stop}")
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigValueError(f"{self.corpus.name} {shard.name}: utterance id(s) {twice[:5]} occur "
                                   f"twice; ids must be "
                             "unique within a split (check the corpus's id column)")
        failed = {item.id: item.reason for item in items if isinstance(item, Unreadable)}
        readable = [item for item in items if not isinstance(item, Unreadable)]
        self._warn_if_long(shard, readable)
        tokens: dict[str, np.ndarray] = {}
        by_length = sorted(readable, key=lambda u: u.duration)
        for start in range(0, len(by_length), self.options.batch_size):
            self._encode_batch(by_length[start:start + self.options.batch_size], tokens, failed)
        if len(readable) > 1 and not tokens:
            first = readable[0].id
            raise RuntimeError(f"{self.representation.name} failed on every utterance of {self.corpus.name} "
                               f"{shard.name}, e.g. {first!r}: {failed[first]}. That is a broken encoder or a "
                               "representation that does not fit this corpus, not bad utterances; nothing was "
                               "dropped.")
        for uid, reason in failed.items():
            log.warning("%s %s: dropping utterance %r from every representation of %s: %s",
                        self.representation.name, shard.split, uid, self.corpus.name, reason)
        kept = [u for u in readable if u.id in tokens]
        record = ShardRecord.from_encoded(shard, kept, [tokens[u.id] for u in kept],
                                          dtype_for_vocab(self.representation.vocab_size), failed)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        record.save(self.shard_path(shard))
        if self._progress is not None:
            self._progress.update(float(record.seconds.sum()), len(items))

    def _warn_if_long(self, shard: Shard, utterances: list[Utterance]) -> None:
        """Say when a recording is long enough for its whole-recording encode to need gigabytes of RAM."""
        longest = max(utterances, key=lambda u: u.duration, default=None)
        if not self.representation.reads_blocks and longest is not None and longest.duration > LONG_RECORDING_SECONDS:
            log.warning("%s %s: %r lasts %.0f min; %s encodes each recording whole, so RAM grows with the longest "
                        "(mulaw: 35-160 bytes per input sample, 6-28 GB for 2 h at 24 kHz; docs/long_recordings.md). "
                        "Use mulaw_polyphase or codec2_<mode>_polyphase (read block by block), or cut long "
                        "recordings into utterances of a few minutes to bound it.",
                        self.corpus.name, shard.name, longest.id, longest.duration / 60, self.representation.name)

    def _encode_batch(self, batch: list[Utterance], tokens: dict[str, np.ndarray], failed: dict[str, str]) -> None:
        """Encode ``batch``; if it fails, encode its utterances one by one so only the bad one is dropped.

        UtteranceError (the representation's ``check`` inside ``encode``) is a verdict on the utterance; any other
        exception on a single utterance is logged with its traceback and counts as a failure too (a codec may crash
        on one odd input, but not on all of them)."""
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
            tokens[utterance.id] = ids.astype(dtype_for_vocab(vocab), copy=False)  # as the bins store them: 2 B/token

    def encode_pending(self, rank: int = 0, world_size: int = 1) -> None:
        """Encode this rank's unfinished shards in this process (the representation must already be on its device)."""
        run_here(self, rank, world_size, self.options.num_workers)
