"""Where precomputed tokens come from: a `datasets` dataset (hub id, local hub-layout folder, or parquet files) or a
folder of ``.npy``/``.npz`` files, one per utterance. Each serves, by utterance key, the stored codes and, where
the source has them, the duration, transcript and speaker.

`TokenColumns` maps the source's names onto those fields (``codes`` may name one column per level). A source may
also know its splits (our "train"/"val" -> its upstream split names or subfolders): a `TokenCorpus` needs them, an
import matched against another corpus does not.
"""

from __future__ import annotations

import csv
from collections import Counter
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiobits.errors import AudiobitsError, ConfigValueError

SPLITS = ("train", "val")


@dataclass(frozen=True)
class TokenColumns:
    """The source's name for each field: ``key`` (the utterance id matched to the corpus), ``codes`` (one column,
    or one per level in stored order), and optional ``seconds``, ``text`` and ``speaker``."""

    key: str = "id"
    codes: str | list[str] = "codes"
    seconds: str | None = None
    text: str | None = None
    speaker: str | None = None

    @property
    def code_columns(self) -> list[str]:
        """The codes column(s) as a list."""
        return [self.codes] if isinstance(self.codes, str) else list(self.codes)

    def stack(self, row: dict[str, Any]) -> Any:
        """One row's codes: the single column's value, or the per-level columns stacked (levels × frames)."""
        columns = self.code_columns
        return row[columns[0]] if len(columns) == 1 else np.stack([np.asarray(row[c]) for c in columns])


@dataclass(frozen=True)
class SourceRow:
    """What a source holds for one utterance: its stored codes and, when the source has them, duration (seconds),
    transcript and speaker."""

    key: str
    codes: Any
    seconds: float | None = None
    text: str | None = None
    speaker: str | None = None


class TokenSource(ABC):
    """Precomputed tokens by utterance key."""

    columns: TokenColumns
    splits: dict[str, list[str]] | None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What identifies these tokens (recorded in meta.json and the corpus record)."""

    @abstractmethod
    def keys(self, split: str | None = None) -> list[str]:
        """Every key in source order (``split``: only those of our split, which needs ``splits``)."""

    @abstractmethod
    def row(self, key: str) -> SourceRow:
        """The row of ``key`` (KeyError when the source has none)."""

    def rows(self, split: str | None = None) -> Iterator[SourceRow]:
        """Every row (of ``split``) in source order."""
        for key in self.keys(split):
            yield self.row(key)

    def __contains__(self, key: str) -> bool:
        return key in self._index()

    @abstractmethod
    def _index(self) -> dict[str, Any]:
        """Key -> where its row is."""

    def _split_names(self, split: str | None) -> list[str] | None:
        """The upstream names behind our ``split`` (None: every one the source has)."""
        if split is None:
            return None
        if not self.splits or split not in self.splits:
            raise ConfigValueError(f"{self.label}: no upstream split is mapped to {split!r}; set splits, e.g. "
                                   "{train: [train], val: [validation]}")
        return list(self.splits[split])

    @property
    def label(self) -> str:
        """How messages name this source."""
        return f"{type(self).__name__} {self.describe().get('path') or self.describe().get('root')}"

    @staticmethod
    def check_unique(keys: list[str], where: str) -> None:
        """Refuse a source in which a key occurs twice (it could not be matched to one utterance)."""
        twice = sorted(key for key, count in Counter(keys).items() if count > 1)
        if twice:
            raise ConfigValueError(f"{where}: key(s) {twice[:5]} occur twice; keys must name one "
                                   "utterance each (set columns.key to the utterance id)")


class DatasetTokens(TokenSource):
    """A `datasets` dataset of tokens: ``load_dataset(path, config, split=..., data_files=..., revision=...)`` —
    a hub name, a local folder in the hub layout, or ``path: parquet`` with ``data_files``."""

    def __init__(self, path: str, columns: TokenColumns = TokenColumns(), config: str | None = None,
                 splits: dict[str, list[str]] | None = None,
                 data_files: str | list[str] | dict[str, Any] | None = None, revision: str | None = None) -> None:
        """
        Args:
            path: hub dataset name (``org/name``), a local folder in the same layout, or ``parquet``.
            columns: which column holds the key, the codes (one, or one per level), seconds, text and speaker.
            config: the dataset's config (subset) name.
            splits: our split ("train", "val") -> upstream split names; None: every upstream split, keys only.
            data_files: passed to load_dataset (parquet files, or a subset of the upstream files).
            revision: dataset revision (commit) to pin.
        """
        self.path, self.columns, self.config, self.splits = path, columns, config, splits
        self.data_files, self.revision = data_files, revision
        self._cache: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        return {"source": "datasets", "path": self.path, "config": self.config, "splits": self.splits,
                "data_files": self.data_files, "revision": self.revision, "columns": vars(self.columns)}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": None}  # datasets reopen their memory-mapped cache in each process

    def _load(self) -> dict[str, Any]:
        """Upstream split name -> its dataset (the wanted columns), loaded once."""
        if self._cache is None:
            import datasets

            loaded = datasets.load_dataset(self.path, self.config, data_files=self.data_files, revision=self.revision)
            wanted = [c for c in (self.columns.key, *self.columns.code_columns, self.columns.seconds,
                                  self.columns.text, self.columns.speaker) if c]
            for name, ds in loaded.items():
                missing = [c for c in wanted if c not in ds.column_names]
                if missing:
                    raise ConfigValueError(f"token dataset {self.path!r} (split {name!r}) has no column(s) {missing}; "
                                           f"it has {ds.column_names}. Set source.columns to the dataset's names.")
            self._cache = {"splits": {name: ds.select_columns(wanted) for name, ds in loaded.items()}}
            index: dict[str, tuple[str, int]] = {}
            for name, ds in self._cache["splits"].items():
                keys = [str(k) for k in ds[self.columns.key]]
                self.check_unique(list(index) + keys, f"token dataset {self.path!r}")
                index.update((key, (name, row)) for row, key in enumerate(keys))
            self._cache["index"] = index
        return self._cache

    def _index(self) -> dict[str, tuple[str, int]]:
        return self._load()["index"]

    def keys(self, split: str | None = None) -> list[str]:
        names = self._split_names(split)
        available = self._load()["splits"]
        unknown = [n for n in names or () if n not in available]
        if unknown:
            raise ConfigValueError(f"token dataset {self.path!r} has no split(s) {unknown}; it has "
                                   f"{sorted(available)}. Fix source.splits.")
        return [key for key, (name, _) in self._index().items() if names is None or name in names]

    def row(self, key: str) -> SourceRow:
        name, row = self._index()[key]
        return self._row(self._load()["splits"][name][row])

    def rows(self, split: str | None = None) -> Iterator[SourceRow]:
        """Every row (of ``split``) in source order, read in batches (much faster than row by row)."""
        names = self._split_names(split)
        for name, ds in self._load()["splits"].items():
            if names is None or name in names:
                for batch in ds.iter(batch_size=1024):
                    yield from (self._row(dict(zip(batch, values))) for values in zip(*batch.values()))

    def _row(self, values: dict[str, Any]) -> SourceRow:
        c = self.columns
        return SourceRow(str(values[c.key]), c.stack(values),
                         seconds=None if c.seconds is None else float(values[c.seconds]),
                         text=None if c.text is None else values[c.text],
                         speaker=None if c.speaker is None else str(values[c.speaker]))


class NpyFolderTokens(TokenSource):
    """One ``.npy`` (the codes array) or ``.npz`` (holding an array named ``columns.codes``, or one per level) per
    utterance: ``<root>/<key>.npy``, the key being the path under the root (or under a split folder) without the
    suffix. An optional ``metadata.csv`` in the root (header ``columns.key`` and any of ``seconds``, ``text``,
    ``speaker`` as ``columns`` names them) gives durations, transcripts and speakers."""

    METADATA = "metadata.csv"
    SUFFIXES = (".npy", ".npz")

    def __init__(self, root: str, columns: TokenColumns = TokenColumns(), splits: dict[str, list[str]] | None = None
                 ) -> None:
        """
        Args:
            root: the folder holding the files.
            columns: the .npz array name(s) (``codes``) and metadata.csv's key/seconds/text/speaker column names.
            splits: our split ("train", "val") -> subfolders of ``root`` (keys then exclude the subfolder); None:
                every file under ``root``, keys only.
        """
        self.root, self.columns, self.splits = Path(root).expanduser().resolve(), columns, splits
        self._files: dict[str, tuple[str | None, Path]] | None = None
        self._metadata: dict[str, dict[str, str]] | None = None

    def describe(self) -> dict[str, Any]:
        return {"source": "npy_folder", "root": str(self.root), "splits": self.splits, "columns": vars(self.columns)}

    def _index(self) -> dict[str, tuple[str | None, Path]]:
        """Key -> (upstream split folder or None, file), in sorted path order."""
        if self._files is None:
            if not self.root.is_dir():
                raise ConfigValueError(f"{self.root}: no such folder of .npy/.npz token files (source.root)")
            folders = {None: self.root} if not self.splits else {
                name: self.root / name for names in self.splits.values() for name in names}
            files: list[tuple[str, str | None, Path]] = []
            for name, folder in folders.items():
                for path in sorted(p for p in folder.rglob("*") if p.suffix in self.SUFFIXES and p.is_file()):
                    files.append((path.relative_to(folder).with_suffix("").as_posix(), name, path))
            if not files:
                raise ConfigValueError(f"{self.root}: no .npy or .npz files under {sorted(map(str, folders.values()))}"
                                       "; write one per utterance, named <key>.npy")
            self.check_unique([key for key, _, _ in files], str(self.root))
            self._files = {key: (name, path) for key, name, path in files}
        return self._files

    def _meta(self) -> dict[str, dict[str, str]]:
        """metadata.csv rows by key (empty without the file)."""
        if self._metadata is None:
            path, self._metadata = self.root / self.METADATA, {}
            if path.is_file():
                with open(path, encoding="utf-8-sig", newline="") as f:
                    reader = csv.DictReader(f)
                    if self.columns.key not in (reader.fieldnames or ()):
                        raise ConfigValueError(f"{path}: header {reader.fieldnames} has no key column "
                                               f"{self.columns.key!r} (source.columns.key)")
                    self._metadata = {row[self.columns.key]: row for row in reader}
        return self._metadata

    def keys(self, split: str | None = None) -> list[str]:
        names = self._split_names(split)
        return [key for key, (name, _) in self._index().items() if names is None or name in names]

    def row(self, key: str) -> SourceRow:
        path = self._index()[key][1]
        try:
            if path.suffix == ".npy":
                codes = np.load(path, allow_pickle=False)
            else:
                with np.load(path, allow_pickle=False) as stored:
                    codes = np.asarray(self.columns.stack({name: stored[name] for name in self.columns.code_columns}))
        except (KeyError, ValueError, OSError) as e:
            raise AudiobitsError(f"{path}: cannot read the codes of utterance {key!r} ({e}); a .npz must hold the "
                                 f"array(s) {self.columns.code_columns} (source.columns.codes)") from e
        meta, c = self._meta().get(key, {}), self.columns
        seconds = meta.get(c.seconds) if c.seconds else None
        return SourceRow(key, codes, seconds=float(seconds) if seconds not in (None, "") else None,
                         text=meta.get(c.text) if c.text else None,
                         speaker=(meta.get(c.speaker) or None) if c.speaker else None)
