"""What keeps every representation of a corpus on the same utterances: two records in ``<root>/<corpus.name>/``.

- ``corpus.json``: `Corpus.describe()` of the corpus the first representation was built from. Every
  representation must come from the same description (else they would not hold the same utterances).
- ``dropped.jsonl``: one JSON line ``{"split", "id", "representation", "reason"}`` per utterance that failed in
  some representation. Every representation leaves all of them out, so all bins of a corpus hold exactly the same
  utterances in the same (corpus) order. Bins that still list an utterance the log names (it failed later, in
  another representation) are stale: `stale_utterances` finds them.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from audiobits.bins import SPLITS
from audiobits.corpora import Corpus, upgrade_description
from audiobits.files import read_json, write_text_atomic
from audiobits.errors import ConfigValueError

log = logging.getLogger(__name__)

CORPUS_RECORD = "corpus.json"
DROPPED_LOG = "dropped.jsonl"


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
                raise ConfigValueError(f"{path}, line {number}: not a drop record ({e}); each line is a JSON object "
                                       "with split, id, representation and reason. Fix or delete the line.") from e
    return records


def add_dropped(corpus_dir: str | os.PathLike, records: list[dict]) -> None:
    """Append new drop records (an utterance already dropped keeps its first reason); rewritten atomically."""
    existing = read_dropped(corpus_dir)
    new = [r for r in records if (r["split"], r["id"]) not in existing]
    if new:
        lines = [json.dumps(r, ensure_ascii=False) for r in [*existing.values(), *new]]
        write_text_atomic(Path(corpus_dir) / DROPPED_LOG, "\n".join(lines) + "\n")


def note_kept_drops(corpus_dir: Path) -> None:
    """Say how many utterances the drop log keeps out of every representation, and how to retry them."""
    dropped = read_dropped(corpus_dir)
    if dropped:
        (split, uid), record = next(iter(dropped.items()))
        log.warning("%d utterance(s) stay dropped from every representation of %s as %s lists (e.g. %s %r: %s). To "
                    "retry them once their files are fixed, delete %s and prepare every representation again.",
                    len(dropped), corpus_dir.name, corpus_dir / DROPPED_LOG, split, uid, record["reason"], corpus_dir)


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
        recorded = read_json(path, fix=f"Restore it, or delete {corpus_dir} to rebuild every representation.")
        if not isinstance(recorded, dict):
            raise ConfigValueError(f"{path}: holds a JSON {type(recorded).__name__}, not the corpus description "
                                   f"audiobits records. Restore it, or delete {corpus_dir} to rebuild every "
                                   "representation.")
        recorded = upgrade_description(recorded)
        if recorded != description:
            raise ConfigValueError(f"{path} records corpus {recorded}, but this config describes "
                                   f"{description}. Bins of "
                             f"one corpus directory must come from the same utterances: give the corpus another "
                             f"name (init arg `name`), or delete {corpus_dir} to rebuild every representation.")
        return
    corpus_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(description, indent=2) + "\n")
