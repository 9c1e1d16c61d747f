"""Speech corpora: each serves `Utterance`s of its "train" and "val" splits in a fixed order, by index range.

Corpora are small classes meant for YAML (``corpus: {class_path: audiobits.corpora.LibriTTSR}``):

- `HFCorpus`: any `datasets` dataset, loaded with ``datasets.load_dataset(path, config, split=...)`` — a hub name
  or a local folder in the hub layout (parquet files + a README.md whose ``configs:`` name the splits) take the
  same code path. Audio is read as raw bytes (``datasets.Audio(decode=False)``) and decoded here with soundfile.
- `LibriTTSR`: ``parler-tts/libritts_r_filtered`` (24 kHz; its train.clean.* splits as train, dev.clean as val).
- `EmiliaNeuCodec`: ``neuphonic/emilia-yodas-english-neucodec`` (transcripts + precomputed NeuCodec codes, no
  audio); a fixed hash of the recording part of each key holds out the val split (no val speaker is trained on).
- `AudioFolder`: your own recordings, ``<root>/<split>/metadata.csv`` (columns ``file_name,text``) + the audio
  files it names.
- Multilingual hub corpora, one language per config (:mod:`audiobits.multilingual`): Multilingual LibriSpeech,
  FLEURS and Emilia's language subsets.

An utterance that cannot be read comes back as `Unreadable` (its id and a reason naming the file) in its place in
the list, so the encoder drops it (from every representation of the corpus) and goes on with the rest.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from audiobits.errors import AudiobitsError
from audiobits.representations.base import Utterance, UtteranceError
from audiobits.representations.lazy_audio import LazyAudio

SPLITS = ("train", "val")


@dataclass(frozen=True)
class Unreadable:
    """An utterance the corpus cannot serve (broken or missing audio, bad transcript): its id and why, with the file."""

    id: str
    reason: str


Loaded = list[Utterance | Unreadable]


def read_audio(utterance_id: str, source: bytes | str | Path, label: str, decode: bool | str = True
               ) -> tuple[np.ndarray | LazyAudio | None, int, float]:
    """Decode ``source`` (file bytes or a path) to float32 mono with soundfile, with ``decode=False`` only read
    its header, with ``decode="blocks"`` read its header into a `LazyAudio` that reads the samples later, block by
    block; returns (the samples, the LazyAudio or None; sample rate; true seconds). Unreadable audio raises
    UtteranceError naming ``label`` (the file)."""
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise UtteranceError(utterance_id, f"audio file {label} does not exist")
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        if decode == "blocks":
            audio = LazyAudio.open(source, label)
            rate, frames = audio.sample_rate, audio.frames
        elif decode:
            data, rate = sf.read(handle, dtype="float32", always_2d=True)
            audio, frames = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0], len(data)
        else:
            info = sf.info(handle)
            audio, rate, frames = None, info.samplerate, info.frames
    except (RuntimeError, OSError, TypeError) as e:  # soundfile.LibsndfileError is a RuntimeError
        raise UtteranceError(utterance_id, f"cannot read audio file {label}: {e}") from e
    if frames <= 0:
        raise UtteranceError(utterance_id, f"audio file {label} holds no samples")
    return audio, int(rate), frames / rate


def read_utterance(utterance_id: str, text: str, source: bytes | str | Path, label: str, decode: bool | str,
                   language: str | None) -> Utterance:
    """The `Utterance` of one audio file, its samples decoded (``decode=True``), left to read block by block
    (``"blocks"``: `Utterance.source`) or not read (False; header only). Raises UtteranceError as `read_audio`."""
    audio, rate, seconds = read_audio(utterance_id, source, label, decode)
    lazy = audio if isinstance(audio, LazyAudio) else None
    return Utterance(utterance_id, text, audio=None if lazy else audio, sample_rate=rate, seconds=seconds,
                     language=language, source=lazy)


class Corpus(ABC):
    """A speech corpus: per split a fixed-order list of utterances, loaded by index range.

    ``name`` is the directory under the bins root that every representation of this corpus shares. ``kind`` is the
    class's declared, stable name in the records of a corpus directory (corpus.json, plan.json), so moving or
    renaming the class keeps every prepared corpus valid. ``has_audio`` is False for corpora that ship codes instead
    of audio; ``codes_representation`` names the representation those codes belong to.
    """

    kind: ClassVar[str]
    name: str
    has_audio: bool = True
    codes_representation: str | None = None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What selects this corpus's utterances (`identity` and init arguments); bins built from a different
        description are not iso-data with these."""

    def identity(self) -> dict[str, str]:
        """``{"kind": ...}``, the head of `describe`; a class must declare its own ``kind``."""
        if "kind" not in vars(type(self)):
            raise TypeError(f"{type(self).__qualname__} must declare its own `kind = \"...\"`, the stable name "
                            f"corpus.json records (it would inherit {getattr(self, 'kind', None)!r})")
        return {"kind": self.kind}

    @abstractmethod
    def size(self, split: str) -> int:
        """Number of utterances in ``split`` (before any drop)."""

    @abstractmethod
    def load(self, split: str, start: int, stop: int, audio: bool | str = True) -> Loaded:
        """Utterances ``start:stop`` of ``split`` in corpus order; with ``audio=False`` only transcripts and true
        durations (for representations that do not read audio); with ``audio="blocks"`` the audio as a `LazyAudio`
        in `Utterance.source` where the corpus can read it later (decoded samples where it cannot). A bad item is
        `Unreadable` in its place."""

    def download(self) -> None:
        """Fetch whatever the corpus needs locally (the datasets cache), so later loads are offline."""
        for split in SPLITS:
            self.size(split)

    def speaker_of(self, split: str, utterance_id: str) -> str | None:
        """The speaker of an utterance when the corpus knows it (None otherwise): intervals then resample speakers."""
        return None

    def language_of(self, split: str, utterance_id: str) -> str | None:
        """The language code of an utterance when the corpus knows it (None otherwise), for per-language results."""
        return None

    @staticmethod
    def _check_split(split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; corpora have {SPLITS}")


def upgrade_description(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded `Corpus.describe` in today's form: records written before corpora declared their ``kind`` name the
    class instead (``"class": "audiobits.corpora.AudioFolder"``); they still match the same corpus."""
    if "class" not in recorded or "kind" in recorded:
        return recorded
    kinds, pending = {}, [Corpus]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if "kind" in vars(cls):
            kinds[cls.__qualname__] = cls.kind
    qualname = str(recorded["class"]).rsplit(".", 1)[-1]
    if qualname not in kinds:
        return recorded
    return {"kind": kinds[qualname], **{k: v for k, v in recorded.items() if k != "class"}}


class HFCorpus(Corpus):
    """A `datasets` dataset: ``load_dataset(path, config, split=s, data_files=..., revision=...)`` per upstream
    split ``s``, concatenated in the order given per our split.

    ``splits`` maps "train"/"val" to upstream split names. Without a "val" entry, ``val_fraction`` of the train
    rows (chosen by a CRC32 of the utterance id, so the choice never depends on row order or on the machine) is
    held out as val. Audio is decoded here with soundfile; ``codes_column`` instead reads precomputed codec codes
    whose duration is ``len(codes) / codes_frame_rate`` seconds.

    Loose local files take the same path through datasets' packaged builders, e.g. ``path="parquet",
    data_files={"train": [...], "val": [...]}, splits={"train": ["train"], "val": ["val"]}`` (a dataset saved
    with ``save_to_disk`` is not loadable this way: write it with ``Dataset.to_parquet`` instead).
    """

    kind = "hf_dataset"

    def __init__(self, path: str, name: str, config: str | None = None,
                 splits: dict[str, list[str]] | None = None, val_fraction: float = 0.0,
                 data_files: str | list[str] | dict[str, Any] | None = None, revision: str | None = None,
                 text_column: str = "text", id_column: str = "id", audio_column: str | None = "audio",
                 codes_column: str | None = None, codes_frame_rate: float | None = None,
                 language: str | None = None) -> None:
        """
        Args:
            path: hub dataset name (``org/name``) or a local folder in the same layout.
            name: directory name of this corpus under the bins root.
            config: the dataset's config (subset) name, e.g. "clean".
            splits: our split ("train", "val") -> list of upstream split names, concatenated in that order.
            val_fraction: when ``splits`` has no "val": share of train rows held out as val, by id hash.
            data_files: passed to load_dataset to pick a subset of the upstream files.
            revision: dataset revision (commit) to pin.
            text_column: transcript column (``json.text``: the field ``text`` of the struct column ``json``).
            id_column: utterance id column (unique within a split).
            audio_column: audio column (read undecoded, decoded with soundfile); None when there is no audio.
            codes_column: column of precomputed codec codes (1-D ints), for corpora without audio.
            codes_frame_rate: frames per second of those codes, giving each utterance's duration.
            language: the language code of every utterance (``fr``), for per-language results; None: unknown.
        """
        splits = splits or {"train": ["train"]}
        unknown = set(splits) - set(SPLITS)
        if unknown or "train" not in splits:
            raise AudiobitsError(f"{type(self).__name__}.splits must map 'train' (and optionally 'val') to upstream "
                                 f"splits; got keys {sorted(splits)}")
        if ("val" in splits) == (val_fraction > 0):
            raise AudiobitsError(f"{type(self).__name__}: give either splits['val'] or val_fraction > 0 (a held-out "
                                 f"share of train), not {'both' if 'val' in splits else 'neither'}")
        if not 0 <= val_fraction < 1:
            raise AudiobitsError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        if (audio_column is None) == (codes_column is None):
            raise AudiobitsError(f"{type(self).__name__}: set exactly one of audio_column and codes_column")
        if codes_column is not None and not codes_frame_rate:
            raise AudiobitsError(f"{type(self).__name__}: codes_column needs codes_frame_rate (frames per second) to "
                                 "know each utterance's duration")
        self.path, self.name, self.config, self.revision, self.data_files = path, name, config, revision, data_files
        self.splits = {k: list(v) for k, v in splits.items()}
        self.val_fraction = val_fraction
        self.text_column, self.id_column = text_column, id_column
        self.audio_column, self.codes_column, self.codes_frame_rate = audio_column, codes_column, codes_frame_rate
        self.has_audio = audio_column is not None
        self.language = language
        self._cache: dict[str, tuple[Any, np.ndarray | None]] = {}

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "path": self.path,
                "config": self.config, "splits": self.splits, "val_fraction": self.val_fraction,
                "data_files": self.data_files, "revision": self.revision, "text_column": self.text_column,
                "id_column": self.id_column, "audio_column": self.audio_column, "codes_column": self.codes_column,
                "codes_frame_rate": self.codes_frame_rate, **({"language": self.language} if self.language else {})}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}  # datasets reopen their memory-mapped cache in each process

    def _upstream(self, split: str) -> Any:
        import datasets

        names = self.splits["train" if split == "val" and "val" not in self.splits else split]
        parts = [datasets.load_dataset(self.path, self.config, split=s, data_files=self.data_files,
                                       revision=self.revision, features=self.upstream_features()) for s in names]
        ds = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        wanted = [c for c in (self.text_column, self.id_column, self.audio_column, self.codes_column) if c]
        if any("." in c for c in wanted):  # a struct column's field, e.g. a WebDataset json member's "json.text"
            ds = ds.flatten()
        missing = [c for c in wanted if c not in ds.column_names]
        if missing:
            raise AudiobitsError(f"dataset {self.path!r} (config {self.config!r}, splits {names}) has no column(s) "
                                 f"{missing}; it has {ds.column_names}. Set text_column/id_column/audio_column/"
                                 "codes_column to the dataset's names.")
        ds = ds.select_columns(wanted)
        if self.audio_column:
            ds = ds.cast_column(self.audio_column, datasets.Audio(decode=False))
        return ds

    def upstream_features(self) -> Any:
        """The `datasets.Features` to load the upstream files with; None lets datasets infer them."""
        return None

    def _split(self, split: str) -> tuple[Any, np.ndarray | None]:
        """The dataset behind ``split`` and, when val is carved out of train, the row indices it keeps."""
        self._check_split(split)
        if split not in self._cache:
            ds = self._upstream(split)
            rows = None
            if self.val_fraction > 0:
                threshold = self.val_fraction * 2 ** 32
                held_out = np.fromiter((zlib.crc32(self.holdout_key(str(i)).encode("utf-8")) < threshold
                                        for i in ds[self.id_column]), dtype=bool, count=len(ds))
                rows = np.flatnonzero(held_out if split == "val" else ~held_out)
            self._cache[split] = (ds, rows)
        return self._cache[split]

    def language_of(self, split: str, utterance_id: str) -> str | None:
        return self.language

    def holdout_key(self, utterance_id: str) -> str:
        """What the val hash sees: the whole id here; a corpus with speakers hashes the speaker or recording part so
        that no val speaker is also trained on."""
        return utterance_id

    def size(self, split: str) -> int:
        ds, rows = self._split(split)
        return len(ds) if rows is None else len(rows)

    def load(self, split: str, start: int, stop: int, audio: bool | str = True) -> Loaded:
        ds, rows = self._split(split)
        batch = ds[start:stop] if rows is None else ds[rows[start:stop].tolist()]
        return [self._utterance(dict(zip(batch, values)), audio) for values in zip(*batch.values())]

    def _utterance(self, row: dict[str, Any], decode: bool | str) -> Utterance | Unreadable:
        uid, text = str(row[self.id_column]), row[self.text_column]
        if not isinstance(text, str):
            return Unreadable(uid, f"{self.text_column!r} is {text!r}, not a transcript string")
        if self.codes_column:
            codes = np.asarray(row[self.codes_column], dtype=np.int64).reshape(-1)
            return Utterance(uid, text, codes=codes, seconds=len(codes) / self.codes_frame_rate,
                             language=self.language)
        stored = row[self.audio_column] or {}
        label = f"{stored.get('path') or uid!r} of {self.path}"
        source = stored.get("bytes") or stored.get("path")
        if source is None:
            return Unreadable(uid, f"audio of {label} is empty (neither bytes nor a path)")
        try:
            return read_utterance(uid, text, source, label, decode, self.language)
        except UtteranceError as e:
            return Unreadable(uid, e.reason)


class EmiliaKeys:
    """For HFCorpus classes keyed by Emilia keys: the val hash sees the recording (no val recording is trained on)
    and the speaker is the key's speaker part (:func:`emilia_key_parts`)."""

    def holdout_key(self, utterance_id: str) -> str:
        return emilia_key_parts(utterance_id)[0]

    def speaker_of(self, split: str, utterance_id: str) -> str | None:
        return emilia_key_parts(utterance_id)[1]


class LibriTTSR(HFCorpus):
    """LibriTTS-R filtered (``parler-tts/libritts_r_filtered``): 24 kHz read English, its own train/dev splits.

    Configs "clean" (dev.clean, test.clean, train.clean.100, train.clean.360) and "other" (dev.other, test.other,
    train.other.500); columns audio, text_normalized, text_original, speaker_id, path, chapter_id, id.
    """

    kind = "libritts_r"

    def __init__(self, path: str = "parler-tts/libritts_r_filtered", config: str = "clean",
                 train_splits: tuple[str, ...] = ("train.clean.100", "train.clean.360"),
                 val_splits: tuple[str, ...] = ("dev.clean",),
                 text_column: str = "text_normalized", name: str = "libritts_r_filtered",
                 revision: str | None = None) -> None:
        """
        Args:
            path: hub name, or a local folder in the same layout (parquet + README.md configs).
            config: "clean" or "other".
            train_splits: upstream splits used as train, in this order.
            val_splits: upstream splits used as val, in this order.
            text_column: "text_normalized" (numbers spelled out) or "text_original".
            name: directory name of this corpus under the bins root.
            revision: dataset commit to pin.
        """
        super().__init__(path, name, config=config,
                         splits={"train": list(train_splits), "val": list(val_splits)},
                         revision=revision, text_column=text_column, id_column="id", audio_column="audio")

    def speaker_of(self, split: str, utterance_id: str) -> str | None:
        """LibriTTS ids are ``<speaker>_<chapter>_<paragraph>_<sentence>``: the prefix is the ``speaker_id``."""
        return utterance_id.split("_", 1)[0]


class EmiliaNeuCodec(EmiliaKeys, HFCorpus):
    """Emilia-YODAS English with NeuCodec codes already computed (``neuphonic/emilia-yodas-english-neucodec``).

    Columns ``text``, ``codes`` (50 Hz NeuCodec FSQ ids, a flat list per row) and ``__key__``; one upstream split,
    "train". There is no audio, so an utterance lasts ``len(codes) / 50`` seconds: upstream ``NeuCodec.encode_code``
    returns ``n // 320`` codes for ``n`` samples at 16 kHz (it pads to the next multiple of 320, but its w2v-bert
    branch yields one frame fewer and the shorter branch wins), so this is up to 20 ms less than the true duration.
    Only the text and neucodec (``weights="precomputed"``) representations apply.
    """

    kind = "emilia_neucodec"
    codes_representation = "neucodec"

    def __init__(self, path: str = "neuphonic/emilia-yodas-english-neucodec", val_fraction: float = 0.01,
                 data_files: str | list[str] | None = None, name: str = "emilia_yodas_en_neucodec",
                 revision: str | None = None) -> None:
        """
        Args:
            path: hub name, or a local folder holding the same parquet files.
            val_fraction: share of utterances held out as val, chosen by a hash of the recording part of
                ``__key__`` (:func:`emilia_key_parts`), so every val speaker is unseen in training.
            data_files: a subset of the upstream parquet files (e.g. "data/train-0000*.parquet") for a smaller run.
            name: directory name of this corpus under the bins root.
            revision: dataset commit to pin.
        """
        super().__init__(path, name, splits={"train": ["train"]}, val_fraction=val_fraction,
                         data_files=data_files, revision=revision, text_column="text", id_column="__key__",
                         audio_column=None, codes_column="codes", codes_frame_rate=50.0)


_EMILIA_KEY = re.compile(r"^(?P<speaker>(?P<recording>.+)_S\d+)_W\d+$")


def emilia_key_parts(key: str) -> tuple[str, str]:
    """(recording, speaker) of an Emilia key ``<lang>_<recording>_S<speaker>_W<segment>`` (the recording id may
    hold underscores); a key of another shape is its own recording and speaker."""
    match = _EMILIA_KEY.match(key)
    return (match["recording"], match["speaker"]) if match else (key, key)


class AudioFolder(Corpus):
    """Your own recordings: ``<root>/train/`` and ``<root>/val/``, each with a ``metadata.csv`` (UTF-8, with or
    without the BOM spreadsheet programs write; header ``file_name,text``; the layout of `datasets`' audiofolder)
    naming audio files relative to that folder. An optional ``speaker`` column names each utterance's speaker
    (intervals then resample speakers), an optional ``language`` column its language (a code such as ``en`` or
    ``pt-br``: phonemes, Whisper and the per-language report use it).

    Any format soundfile reads (wav, flac, ogg, mp3); multi-channel audio is averaged to mono. Utterances keep
    the row order of metadata.csv; an utterance's id is its ``file_name``.
    """

    kind = "audio_folder"
    METADATA = "metadata.csv"

    def __init__(self, root: str, name: str | None = None) -> None:
        """
        Args:
            root: folder holding ``train/metadata.csv`` and ``val/metadata.csv`` with the audio files.
            name: directory name of this corpus under the bins root (default: the folder's name).
        """
        self.root = Path(root).expanduser().resolve()
        self.name = name or self.root.name
        self._rows: dict[str, list[tuple[str, str]]] = {}
        self._columns: dict[tuple[str, str], dict[str, str | None]] = {}

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "root": str(self.root)}

    def _metadata(self, split: str) -> list[tuple[str, str]]:
        self._check_split(split)
        if split not in self._rows:
            path = self.root / split / self.METADATA
            if not path.is_file():
                raise AudiobitsError(f"{path} not found: an AudioFolder needs <root>/train/{self.METADATA} and "
                                     f"<root>/val/{self.METADATA} (header file_name,text) beside the audio.")
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8-sig")  # spreadsheet programs write a byte-order mark first
            except UnicodeDecodeError as e:
                line = raw[:e.start].count(b"\n") + 1
                raise AudiobitsError(f"{path}, line {line}: not UTF-8 text (byte {raw[e.start]:#04x}: {e.reason}). "
                                     "Save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`, or 'CSV UTF-8' in a "
                                     "spreadsheet program.") from e
            try:
                reader = csv.DictReader(io.StringIO(text, newline=""))
                missing = sorted({"file_name", "text"} - set(reader.fieldnames or ()))
                rows = [(r["file_name"], r["text"]) for r in reader] if not missing else []
            except csv.Error as e:
                raise AudiobitsError(f"{path}: not a CSV file ({e}).") from e
            if missing:
                raise AudiobitsError(f"{path}: header is {reader.fieldnames}, without the column(s) {missing}; its "
                                     "first line must name the columns file_name,text.")
            if not rows:
                raise AudiobitsError(f"{path} names no audio file (a header only); the {split} split needs at least "
                                     "one row file_name,text.")
            seen: set[str] = set()
            for line, (file_name, text) in enumerate(rows, start=2):
                if not file_name or text is None or file_name in seen:
                    problem = "a duplicate" if file_name in seen else "an empty/short"
                    raise AudiobitsError(f"{path}, line {line}: {problem} row {file_name!r}; each row names one "
                                         "audio file once and gives its transcript.")
                seen.add(file_name)
            self._rows[split] = rows
        return self._rows[split]

    def size(self, split: str) -> int:
        return len(self._metadata(split))

    def _column(self, split: str, column: str) -> dict[str, str | None]:
        """file_name -> the value of an optional column of ``split``'s metadata.csv (None where absent or empty)."""
        if (split, column) not in self._columns:
            with open(self.root / split / self.METADATA, encoding="utf-8-sig", newline="") as f:
                self._columns[split, column] = {r["file_name"]: r.get(column) or None for r in csv.DictReader(f)}
        return self._columns[split, column]

    def speaker_of(self, split: str, utterance_id: str) -> str | None:
        return self._column(split, "speaker").get(utterance_id)

    def language_of(self, split: str, utterance_id: str) -> str | None:
        return self._column(split, "language").get(utterance_id)

    def load(self, split: str, start: int, stop: int, audio: bool | str = True) -> Loaded:
        out: Loaded = []
        for file_name, text in self._metadata(split)[start:stop]:
            path = self.root / split / file_name
            try:
                out.append(read_utterance(file_name, text, path, f"{path} (named in {self.METADATA})", audio,
                                          self.language_of(split, file_name)))
            except UtteranceError as e:
                out.append(Unreadable(file_name, e.reason))
        return out
