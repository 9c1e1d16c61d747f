"""Multilingual hub corpora, one language per config, each utterance tagged with its language code.

- `MultilingualLibriSpeech`: ``facebook/multilingual_librispeech`` (read audiobooks from LibriVox, 16 kHz; configs
  dutch, french, german, italian, polish, portuguese, spanish; splits train, dev, test, 9_hours, 1_hours; columns
  audio, original_path, begin_time, end_time, transcript, audio_duration, speaker_id, chapter_id, file, id).
  English, MLS's eighth language, is ``parler-tts/mls_eng`` (same columns, ``book_id`` for ``chapter_id``):
  ``MultilingualLibriSpeech(path="parler-tts/mls_eng", language="english", config=None)``. Not parallel: every
  language reads other books.
- `Fleurs`: ``google/fleurs`` (the parquet export of its configs, e.g. ``fr_fr``; splits train, validation, test;
  columns id, num_samples, path, audio, transcription, raw_transcription, gender, lang_id, language,
  lang_group_id; 16 kHz). Parallel: the same FLoRes sentences read in every language, ``id`` naming the sentence
  (several readers per sentence, so an utterance's id here is its ``path``).
- `Emilia`: one language subset of ``amphion/Emilia-Dataset`` (gated: accept its terms on the hub and log in),
  WebDataset tar shards ``Emilia/<LANG>/<LANG>-B<6 digits>.tar`` for LANG in DE, EN, FR, JA, KO, ZH, each
  utterance a ``<key>.mp3`` (24 kHz) and a ``<key>.json`` (id, wav, text, duration, speaker, language, dnsmos),
  key ``<LANG>_B<batch>_S<speaker>_W<segment>``. In-the-wild speech (talk shows, interviews, podcasts); not
  parallel.
"""

from __future__ import annotations

from typing import Any

from audiobits.corpora import EmiliaKeys, HFCorpus
from audiobits.errors import AudiobitsError

MLS_LANGUAGES = {"dutch": "nl", "english": "en", "french": "fr", "german": "de", "italian": "it", "polish": "pl",
                 "portuguese": "pt", "spanish": "es"}


class MultilingualLibriSpeech(HFCorpus):
    """One language of Multilingual LibriSpeech; speakers from the ``<speaker>_<chapter>_<segment>`` ids."""

    kind = "multilingual_librispeech"

    def __init__(self, language: str = "french", path: str = "facebook/multilingual_librispeech",
                 config: str | None = "", train_splits: tuple[str, ...] = ("train",),
                 val_splits: tuple[str, ...] = ("dev",), data_files: str | list[str] | None = None,
                 name: str | None = None, revision: str | None = None) -> None:
        """
        Args:
            language: MLS's language name (dutch, english, french, german, italian, polish, portuguese, spanish).
            path: hub name, or a local folder in the same layout (``<config>/<split>-*.parquet`` + README.md).
            config: the dataset config; "" (default) is the language name, None for a single-config repo (mls_eng).
            train_splits: upstream splits used as train (``9_hours`` or ``1_hours`` for a small run).
            val_splits: upstream splits used as val.
            data_files: a subset of the parquet files.
            name: directory name of this corpus under the bins root (default ``mls_<language>``).
            revision: dataset commit to pin.
        """
        if language not in MLS_LANGUAGES:
            raise AudiobitsError(f"MultilingualLibriSpeech.language {language!r} is not one of MLS's languages "
                                 f"{sorted(MLS_LANGUAGES)}")
        super().__init__(path, name or f"mls_{language}", config=language if config == "" else config,
                         splits={"train": list(train_splits), "val": list(val_splits)}, data_files=data_files,
                         revision=revision, text_column="transcript", id_column="id", audio_column="audio",
                         language=MLS_LANGUAGES[language])

    def speaker_of(self, split: str, utterance_id: str) -> str | None:
        return utterance_id.split("_", 1)[0]


class Fleurs(HFCorpus):
    """One language of FLEURS (``config`` such as ``fr_fr``, ``cmn_hans_cn``); its language code is the config's
    first part. FLEURS names no speaker, so intervals resample utterances."""

    kind = "fleurs"

    def __init__(self, config: str = "fr_fr", path: str = "google/fleurs",
                 train_splits: tuple[str, ...] = ("train",), val_splits: tuple[str, ...] = ("validation",),
                 text_column: str = "raw_transcription", data_files: str | list[str] | None = None,
                 name: str | None = None, revision: str | None = None) -> None:
        """
        Args:
            config: the FLEURS language config (``en_us``, ``fr_fr``, ``ru_ru``, ...).
            path: hub name, or a local folder in the same layout (``<config>/<split>-*.parquet`` + README.md).
            train_splits: upstream splits used as train.
            val_splits: upstream splits used as val (``test`` is the other held-out split).
            text_column: "raw_transcription" (cased, punctuated) or "transcription" (normalized).
            data_files: a subset of the parquet files.
            name: directory name of this corpus under the bins root (default ``fleurs_<config>``).
            revision: dataset commit to pin.
        """
        super().__init__(path, name or f"fleurs_{config}", config=config,
                         splits={"train": list(train_splits), "val": list(val_splits)}, data_files=data_files,
                         revision=revision, text_column=text_column, id_column="path", audio_column="audio",
                         language=config.split("_")[0])


EMILIA_LANGUAGES = ("DE", "EN", "FR", "JA", "KO", "ZH")


class Emilia(EmiliaKeys, HFCorpus):
    """One language subset of Emilia, read through datasets' WebDataset builder; speakers and the val holdout come
    from each key (:func:`audiobits.corpora.emilia_key_parts`), so no val recording is trained on."""

    kind = "emilia"

    def __init__(self, language: str = "DE", path: str = "amphion/Emilia-Dataset", val_fraction: float = 0.01,
                 data_files: str | list[str] | None = None, name: str | None = None,
                 revision: str | None = None) -> None:
        """
        Args:
            language: the subset, one of DE, EN, FR, JA, KO, ZH (any case); utterances carry its lower-case code.
            path: hub name, or a local folder in the same layout (``Emilia/<LANG>/*.tar``).
            val_fraction: share of utterances held out as val, by a hash of the recording part of the key.
            data_files: the tar shards to read (default ``Emilia/<LANG>/*.tar``, all of them; e.g.
                ``Emilia/DE/DE-B00000[0-4].tar`` for a smaller run).
            name: directory name of this corpus under the bins root (default ``emilia_<lang>``).
            revision: dataset commit to pin.
        """
        code = language.upper()
        if code not in EMILIA_LANGUAGES:
            raise AudiobitsError(f"Emilia.language {language!r} is not one of Emilia's subsets "
                                 f"{list(EMILIA_LANGUAGES)}")
        super().__init__(path, name or f"emilia_{code.lower()}", splits={"train": ["train"]},
                         val_fraction=val_fraction, data_files=data_files or f"Emilia/{code}/*.tar",
                         revision=revision, text_column="json.text", id_column="__key__", audio_column="mp3",
                         language=code.lower())

    def upstream_features(self) -> Any:
        """Members as stored: mp3 bytes (datasets would type them Audio, whose writer needs torchcodec; soundfile
        decodes them here) and the json's transcript (its other fields are not read)."""
        import datasets

        return datasets.Features({"__key__": datasets.Value("string"), "__url__": datasets.Value("string"),
                                  "mp3": datasets.Value("binary"), "json": {"text": datasets.Value("string")}})
