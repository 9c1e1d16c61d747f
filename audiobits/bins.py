"""Token bins: the on-disk contract between encoding and training (docs/bins.md).

One directory per (corpus, representation) holds, per split, ``<split>.bin`` (raw little-endian ids,
utterances concatenated, each followed by one end-of-utterance token), ``<split>.idx.npz`` (int64 start
offsets plus each utterance's id, true audio seconds and transcript UTF-8 bytes; optionally its speaker, for
intervals that resample speakers, and its language, for per-language results) and, written last,
``meta.json``. Its presence means the directory is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiobits.errors import AudiobitsError
from audiobits.files import atomic_directory, read_json

FORMAT_VERSION = 1
META_FILE = "meta.json"
SPLITS = ("train", "val")
_REQUIRED_META = ("format_version", "representation", "corpus", "encoder", "vocab_size", "dtype", "eos_id",
                  "codebooks", "flattening", "splits")
_REQUIRED_SPLIT = ("tokens", "utterances", "seconds", "text_bytes", "sha256")


class BinFormatError(AudiobitsError, ValueError):
    """A token-bin directory is missing, incomplete or inconsistent; the message names the file and the fix."""


@dataclass(frozen=True)
class Codebook:
    """One quantizer level: ``size`` codes emitted at ``frame_rate`` frames per second (None: variable, text)."""

    size: int
    frame_rate: float | None


@dataclass
class SplitMeta:
    """Totals of one split, as recorded in meta.json; ``ids_checked``: every id was checked against the vocab and
    every utterance's EOS against the index when the split was written (absent in older directories)."""

    tokens: int
    utterances: int
    seconds: float
    text_bytes: int
    sha256: str
    ids_checked: bool = False


@dataclass
class BinMeta:
    """Everything meta.json records about a bin directory."""

    representation: str
    corpus: str
    encoder: dict
    vocab_size: int
    eos_id: int
    codebooks: list[Codebook]
    flattening: str
    splits: dict[str, SplitMeta] = field(default_factory=dict)
    tokens_per_frame: int = 1  # flat tokens per coarse frame (8 mimi_all, 7 snac_orpheus), for per-position loss
    dtype: str = ""
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dtype = self.dtype or dtype_for_vocab(self.vocab_size).name
        self.codebooks = [c if isinstance(c, Codebook) else Codebook(**c) for c in self.codebooks]
        self.splits = {k: v if isinstance(v, SplitMeta) else SplitMeta(**v) for k, v in self.splits.items()}

    @property
    def storage_bits(self) -> int:
        """Bits used to store one token on disk (16 or 32)."""
        return np.dtype(self.dtype).itemsize * 8

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict, path: Path) -> BinMeta:
        if not isinstance(data, dict):
            raise BinFormatError(f"{path}: holds a JSON {type(data).__name__}, not the object audiobits writes. Delete "
                                 f"{path.parent} and prepare it again.")
        missing = [k for k in _REQUIRED_META if k not in data]
        if missing:
            raise BinFormatError(f"{path}: meta.json lacks field(s) {missing}; the directory was written by an "
                                 f"older or foreign tool. Delete {path.parent} and prepare it again.")
        if data["format_version"] != FORMAT_VERSION:
            raise BinFormatError(f"{path}: format_version {data['format_version']} but this audiobits reads "
                                 f"{FORMAT_VERSION}. Re-run `audiobits prepare` to rewrite {path.parent}.")
        for split, values in data["splits"].items():
            lacking = [k for k in _REQUIRED_SPLIT if k not in values]
            if lacking:
                raise BinFormatError(f"{path}: splits.{split} lacks {lacking}. Delete {path.parent} and prepare "
                                     "it again.")
        try:
            np.dtype(data["dtype"])
        except TypeError as e:
            raise BinFormatError(f"{path}: field dtype is {data['dtype']!r}, not a numpy type ({e}); bins are "
                                 f"written as uint16 or uint32. Delete {path.parent} and prepare it again.") from e
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when every id (specials included) fits in 16 bits, else uint32."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    return np.dtype("<u2") if vocab_size - 1 <= np.iinfo(np.uint16).max else np.dtype("<u4")


def is_complete(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds a finished bin set (meta.json is written last)."""
    return (Path(directory) / META_FILE).is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


class _SplitWriter:
    """Appends utterances of one split to ``<split>.bin`` and collects its index."""

    def __init__(self, directory: Path, split: str, dtype: np.dtype, vocab_size: int, eos_id: int) -> None:
        self.path = directory / f"{split}.bin"
        self.split, self.dtype, self.vocab_size, self.eos_id = split, dtype, vocab_size, eos_id
        self._file = open(self.path, "wb")
        self._offsets: list[int] = [0]
        self._ids: list[str] = []
        self._seconds: list[float] = []
        self._text_bytes: list[int] = []
        self._labels: dict[str, list[str | None]] = {"speakers": [], "languages": []}

    def add(self, utterance_id: str, tokens: np.ndarray, seconds: float, text_bytes: int,
            speaker: str | None = None, language: str | None = None) -> None:
        """Append one utterance's tokens (without EOS; it is added here)."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 1:
            raise ValueError(f"utterance {utterance_id!r}: tokens must be 1-D, got shape {tokens.shape}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"utterance {utterance_id!r}: ids must lie in [0, {self.vocab_size}), got "
                             f"[{tokens.min()}, {tokens.max()}]")
        self._file.write(np.append(tokens, self.eos_id).astype(self.dtype).tobytes())
        self._offsets.append(self._offsets[-1] + tokens.size + 1)
        self._ids.append(str(utterance_id))
        self._seconds.append(float(seconds))
        self._text_bytes.append(int(text_bytes))
        for key, label in (("speakers", speaker), ("languages", language)):
            self._labels[key].append(None if label is None else str(label))

    def close(self) -> SplitMeta:
        self._file.close()
        # Speakers (languages) are recorded only when every utterance has one (a partial list would mis-cluster the
        # rest).
        labels = {key: np.asarray(values, dtype=str) for key, values in self._labels.items()
                  if values and all(v is not None for v in values)}
        np.savez(self.path.with_suffix(".idx.npz"), offsets=np.asarray(self._offsets, np.int64),
                 ids=np.asarray(self._ids, dtype=str), seconds=np.asarray(self._seconds, np.float64),
                 text_bytes=np.asarray(self._text_bytes, np.int64), **labels)
        # `add` checked every id against the vocab and wrote each EOS itself: the full scan, done once, here.
        return SplitMeta(tokens=self._offsets[-1], utterances=len(self._ids), seconds=float(sum(self._seconds)),
                         text_bytes=int(sum(self._text_bytes)), sha256=_sha256(self.path), ids_checked=True)


class BinWriter:
    """Writes a bin directory atomically (`files.atomic_directory`): everything goes to ``<dir>.tmp-<pid>``,
    meta.json last, then rename.

    >>> with BinWriter(out, meta) as w:
    ...     w.add("train", "utt1", tokens, seconds=2.5, text_bytes=31)
    An exception inside the block leaves no directory that looks complete; an existing complete directory is
    only replaced when the new one is finished.
    """

    def __init__(self, directory: str | os.PathLike, meta: BinMeta) -> None:
        self.directory = Path(directory)
        self.meta = meta
        self.meta.dtype = dtype_for_vocab(meta.vocab_size).name
        if not 0 <= meta.eos_id < meta.vocab_size:
            raise ValueError(f"eos_id {meta.eos_id} outside vocab [0, {meta.vocab_size})")
        self._writers: dict[str, _SplitWriter] = {}

    def __enter__(self) -> BinWriter:
        self._context = self._writing()
        return self._context.__enter__()

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        return self._context.__exit__(exc_type, exc, tb)

    @contextmanager
    def _writing(self) -> Iterator[BinWriter]:
        """The splits go into `files.atomic_directory`'s temporary folder, meta.json last; it takes the bins'
        place when all is written (a full disk: the one error naming the file, the old bins kept)."""
        with atomic_directory(self.directory) as self._tmp:
            try:
                yield self
                self.meta.splits = {name: w.close() for name, w in self._writers.items()}
                (self._tmp / META_FILE).write_text(json.dumps(self.meta.to_json(), indent=2) + "\n")
            except BaseException:
                self._close_quietly()
                raise

    def add(self, split: str, utterance_id: str, tokens: np.ndarray, seconds: float, text_bytes: int,
            speaker: str | None = None, language: str | None = None) -> None:
        try:
            if split not in self._writers:
                self._writers[split] = _SplitWriter(self._tmp, split, np.dtype(self.meta.dtype),
                                                    self.meta.vocab_size, self.meta.eos_id)
            self._writers[split].add(utterance_id, tokens, seconds, text_bytes, speaker, language)
        except OSError as e:  # a full disk, a quota, a vanished mount: name the file it failed on
            e.filename = e.filename or str(self._tmp / f"{split}.bin")
            raise

    def _close_quietly(self) -> None:
        """Close every split file; one that cannot flush its buffer (full disk) must not stop the clean-up."""
        for w in self._writers.values():
            with contextlib.suppress(OSError):
                w._file.close()


@dataclass
class SplitBins:
    """One split of a bin directory: lazily memory-mapped tokens plus the per-utterance index."""

    path: Path
    dtype: np.dtype
    vocab_size: int  # meta.json's: every id read is checked below it (`read`)
    offsets: np.ndarray  # int64, utterances + 1 entries; offsets[-1] == tokens
    ids: np.ndarray
    seconds: np.ndarray
    text_bytes: np.ndarray
    speakers: np.ndarray | None = None  # per-utterance speaker ids when the corpus knows them
    languages: np.ndarray | None = None  # per-utterance language codes when the corpus knows them
    _tokens: np.memmap | None = field(default=None, repr=False)

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def tokens(self) -> np.memmap:
        """The token memmap, opened on first use so the object pickles cheaply into dataloader workers."""
        if self._tokens is None:
            self._tokens = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.num_tokens,))
        return self._tokens

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tokens": None}

    def utterance_of(self, positions: np.ndarray) -> np.ndarray:
        """Index of the utterance holding each absolute token position."""
        return np.searchsorted(self.offsets, positions, side="right") - 1

    def read(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``[start, stop)``, every id checked below ``vocab_size``: bins another tool wrote may hold any id,
        which would index past the model's embedding. One max over tokens already in memory, so opening stays a
        metadata read and every reader (windows, decoding, compression) gets the check."""
        chunk = np.asarray(self.tokens[start:stop])
        if chunk.size and int(chunk.max()) >= self.vocab_size:
            where = int(np.argmax(chunk >= self.vocab_size))
            utterance = str(self.ids[int(self.utterance_of(start + where))])
            raise BinFormatError(f"{self.path}: utterance {utterance!r} holds token id {int(chunk[where])} (position "
                                 f"{start + where}), but meta.json's vocab_size is {self.vocab_size}: the bins were "
                                 "written by another tool or with another vocabulary. Fix the tool's ids or vocab_size "
                                 "in meta.json, or prepare the bins again with `audiobits prepare`.")
        return chunk


class TokenBins:
    """A validated, read-only view of a bin directory.

    Opening checks that meta.json exists and is complete, that each ``.bin`` has exactly ``tokens`` ids of
    ``dtype``, that the index agrees with meta.json and that sampled utterance ends hold the EOS: it reads the
    metadata and a few pages, not the tokens (the writer checked every id once and recorded ``ids_checked``; bins
    another tool wrote are checked where they are read, :meth:`SplitBins.read`).
    ``verify_checksum=True`` also scans every id against ``vocab_size``, every EOS, and re-hashes the bins.
    """

    def __init__(self, directory: str | os.PathLike, verify_checksum: bool = False) -> None:
        self.directory = Path(directory)
        meta_path = self.directory / META_FILE
        if not meta_path.is_file():
            hint = (" An interrupted prepare left " + ", ".join(p.name for p in self.directory.parent.glob(
                f"{self.directory.name}.tmp-*")) + ": it is ignored and redone.") if self.directory.parent.exists(
            ) and any(self.directory.parent.glob(f"{self.directory.name}.tmp-*")) else ""
            raise BinFormatError(f"{meta_path} not found: {self.directory} is not a finished token-bin directory."
                                 f" Run `audiobits prepare --config <config>` (or point data.bins_dir at a "
                                 f"prepared directory).{hint}")
        data = read_json(meta_path, fix=f"Delete {self.directory} and prepare it again.")
        self.meta = BinMeta.from_json(data, meta_path)
        expected = dtype_for_vocab(self.meta.vocab_size)
        if np.dtype(self.meta.dtype) != expected:
            raise BinFormatError(f"{meta_path}: dtype {self.meta.dtype!r} does not match vocab_size "
                                 f"{self.meta.vocab_size} (needs {expected.name}). The bins were written with the "
                                 "wrong width; prepare the directory again.")
        self._splits = {name: self._open_split(name, verify_checksum) for name in self.meta.splits}

    def _open_split(self, name: str, verify_checksum: bool) -> SplitBins:
        split_meta = self.meta.splits[name]
        dtype = np.dtype(self.meta.dtype)
        path = self.directory / f"{name}.bin"
        idx_path = path.with_suffix(".idx.npz")
        for p in (path, idx_path):
            if not p.is_file():
                raise BinFormatError(f"{p} is missing although meta.json lists split {name!r}. Prepare "
                                     f"{self.directory} again.")
        size = path.stat().st_size
        if size != split_meta.tokens * dtype.itemsize:
            raise BinFormatError(
                f"{path}: {size} bytes, but meta.json says {split_meta.tokens} tokens of {dtype.name} "
                f"({split_meta.tokens * dtype.itemsize} bytes). The file is truncated or was written with another "
                f"dtype; delete {self.directory} and prepare it again.")
        with np.load(idx_path) as idx:
            split = SplitBins(path, dtype, self.meta.vocab_size, idx["offsets"], idx["ids"], idx["seconds"],
                              idx["text_bytes"],
                              *(idx[key] if key in idx.files else None for key in ("speakers", "languages")))
        for key, labels in (("speakers", split.speakers), ("languages", split.languages)):
            if labels is not None and len(labels) != len(split.ids):
                raise BinFormatError(f"{idx_path}: {len(labels)} {key} for {len(split.ids)} utterances. "
                                     f"Prepare {self.directory} again.")
        if split.num_tokens != split_meta.tokens or len(split.ids) != split_meta.utterances:
            raise BinFormatError(f"{idx_path}: index holds {len(split.ids)} utterances / {split.num_tokens} tokens, "
                                 f"meta.json {split_meta.utterances} / {split_meta.tokens}. Prepare "
                                 f"{self.directory} again.")
        if not np.all(np.diff(split.offsets) > 0) or split.offsets[0] != 0:
            raise BinFormatError(f"{idx_path}: utterance offsets are not increasing from 0. Prepare "
                                 f"{self.directory} again.")
        self._check_eos(split, np.linspace(0, len(split.ids) - 1, min(len(split.ids), 64)).round().astype(int))
        if verify_checksum:
            self._check_ids(split)
            if _sha256(path) != split_meta.sha256:
                raise BinFormatError(f"{path}: sha256 differs from meta.json; the file changed after it was "
                                     f"written. Prepare {self.directory} again.")
        elif not split_meta.ids_checked:
            warnings.warn(f"{self.directory / META_FILE}: split {name!r} does not record `ids_checked` (written by "
                          "an older audiobits, whose writer checked ids too). To scan every id and re-hash the bins "
                          "once, run with --data.init_args.verify_checksum true.", stacklevel=3)
        split._tokens = None  # reopened lazily where it is used
        return split

    def _check_eos(self, split: SplitBins, utterances: np.ndarray) -> None:
        """The token before each listed utterance's next offset is the EOS: the index matches the bin."""
        ends = split.offsets[1:][utterances] - 1
        eos = split.tokens[ends] == self.meta.eos_id
        if not np.all(eos):
            bad = utterances[int(np.argmax(~eos))]
            raise BinFormatError(f"{split.path}: utterance {str(split.ids[bad])!r} does not end with eos_id "
                                 f"{self.meta.eos_id}; the index does not match the bin. Prepare "
                                 f"{self.directory} again.")

    def _check_ids(self, split: SplitBins, chunk: int = 1 << 26) -> None:
        """The full scan: every id below ``vocab_size`` and every utterance ending with the EOS."""
        for start in range(0, split.num_tokens, chunk):
            split.read(start, start + chunk)
        self._check_eos(split, np.arange(len(split.ids)))

    def split(self, name: str) -> SplitBins:
        if name not in self._splits:
            raise BinFormatError(f"{self.directory / META_FILE}: no split {name!r} (has {sorted(self._splits)}).")
        return self._splits[name]

    @property
    def splits(self) -> dict[str, SplitBins]:
        return dict(self._splits)
