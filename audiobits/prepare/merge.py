"""Bins from encoded shards, and bins kept current with the corpus drop log (no re-encoding).

`merge_shards` writes ``<root>/<corpus>/<rep>/`` from the finished `ShardRecord`s of an `EncodeJob` with
`bins.BinWriter` (meta.json last), leaving out every utterance of the drop log
(:mod:`audiobits.prepare.common_utterances`), then removes the shards. `refresh` rewrites complete bins that still hold
an utterance dropped since they were written.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from audiobits.bins import SPLITS, BinMeta, BinWriter, TokenBins, is_complete
from audiobits.corpora import Corpus
from audiobits.prepare.encode import EncodeJob
from audiobits.prepare.common_utterances import (
    DROPPED_LOG, add_dropped, check_corpus_record, note_kept_drops, read_dropped, stale_utterances,
)
from audiobits.prepare.shards import ShardRecord
from audiobits.errors import AudiobitsError, ConfigValueError

log = logging.getLogger(__name__)

Utterances = Callable[[str], Iterator[tuple[str, np.ndarray, float, int]]]  # split -> (id, tokens, seconds, bytes)


def merge_shards(job: EncodeJob) -> None:
    """Write the job's bins from its finished shards, leaving out every utterance in the corpus drop log."""
    shards = job.shards()
    missing = [s.name for s in shards if not job.shard_path(s).is_file()]
    if missing:
        raise RuntimeError(f"{job.shard_dir}: shards {missing[:5]}{'...' if len(missing) > 5 else ''} are not "
                           "encoded yet; run the encode again (finished shards are kept)")
    new_drops = []
    for shard in shards:
        record = ShardRecord.load(job.shard_path(shard))
        if (record.start, record.stop) != (shard.start, shard.stop):
            raise RuntimeError(f"{job.shard_path(shard)} covers rows {record.start}:{record.stop}, the plan "
                               f"{shard.start}:{shard.stop}; delete {job.shard_dir} and encode again")
        new_drops += [{"split": shard.split, "id": uid, "representation": job.representation.name, "reason": reason}
                      for uid, reason in record.failed.items()]
    add_dropped(job.corpus_dir, new_drops)
    dropped = read_dropped(job.corpus_dir)

    def utterances(split: str) -> Iterator[tuple[str, np.ndarray, float, int]]:
        for shard in (s for s in shards if s.split == split):
            for utterance in ShardRecord.load(job.shard_path(shard)).utterances():
                if (split, utterance[0]) not in dropped:
                    yield utterance

    write_bins(job.bins_dir, job.representation.bin_meta(job.corpus.name), job.corpus, dropped, utterances)
    shutil.rmtree(job.shard_dir, ignore_errors=True)


def write_bins(bins_dir: Path, meta: BinMeta, corpus: Corpus, dropped: dict[tuple[str, str], dict],
               utterances: Utterances) -> None:
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
                    raise ConfigValueError(f"{corpus.name}: utterance id {uid!r} occurs twice in split "
                                           f"{split!r}; ids must "
                                     "be unique within a split (check the corpus's id column)")
                seen.add(uid)
                writer.add(split, uid, tokens, seconds, text_bytes, speaker=corpus.speaker_of(split, uid),
                           language=corpus.language_of(split, uid))
            if not seen:
                drops = meta.extra["dropped_utterances"][split]
                raise AudiobitsError(f"{corpus.name}: split {split!r} has no utterances left (after {drops} drops, "
                                     f"see {corpus_dir / DROPPED_LOG}); nothing to write to {bins_dir}")


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


def refresh(corpus: Corpus, bins_dir: str | os.PathLike) -> bool:
    """True when ``bins_dir`` is complete (after rewriting it without newly dropped utterances); False: encode it.
    The caller holds the bins' lock (`audiobits.prepare.prepare.refresh_bins` takes it)."""
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
