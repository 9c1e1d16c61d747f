"""The Asterisk prompts as a multilingual AudioFolder of real speech (tests/real_speech.py), read by AudioFolder."""

import csv
import gzip

import numpy as np
import pytest

from audiobits.demo import asterisk
from audiobits.corpora import AudioFolder
from audiobits.errors import AudiobitsError
from real_speech import asterisk_audiofolder

FIVE = ("en", "es", "fr", "it", "ru")


def test_transcripts_skip_non_speech_and_empty_entries(tmp_path):
    folder = tmp_path / "asterisk-core-sounds-xx"
    folder.mkdir()
    lines = "\ufeff; Core sounds\n\nvm-goodbye: Au  revoir.\nbeep: [a beep]\ndir-welcome:\ndigits/7: sept\n"
    (folder / "core-sounds-xx.txt.gz").write_bytes(gzip.compress(lines.encode("utf-8")))
    assert asterisk.transcripts("xx", docs=tmp_path) == {"vm-goodbye": "Au revoir.", "digits/7": "sept"}
    with pytest.raises(AudiobitsError, match="apt-get install asterisk-core-sounds-yy-wav"):
        asterisk.transcripts("yy", docs=tmp_path)


def test_five_languages_lay_out_parallel_prompts_with_language_and_speaker(tmp_path):
    root = asterisk_audiofolder(tmp_path / "prompts", FIVE, limit=8)
    by_split = {}
    for split in ("train", "val"):
        with open(root / split / "metadata.csv", encoding="utf-8", newline="") as f:
            by_split[split] = list(csv.DictReader(f))
        assert list(by_split[split][0]) == list(asterisk.COLUMNS)
    rows = by_split["train"] + by_split["val"]
    assert {r["language"] for r in rows} == set(FIVE)
    prompts = {lang: {r["prompt"] for r in rows if r["language"] == lang} for lang in FIVE}
    assert all(len(p) == 8 for p in prompts.values())
    assert len({frozenset(p) for p in prompts.values()}) == 1  # parallel prompts come first: the same 8 everywhere
    val = {lang: {r["prompt"] for r in by_split["val"] if r["language"] == lang} for lang in FIVE}
    assert len({frozenset(p) for p in val.values()}) == 1 and val["en"]  # a prompt is val in every language or none
    speakers = {r["language"]: r["speaker"] for r in rows}
    assert speakers == {"en": "Allison", "es": "Allison", "fr": "June", "it": "Carlo", "ru": "IvrvoiceRU"}

    corpus = AudioFolder(str(root))
    loaded = corpus.load("val", 0, corpus.size("val"))
    assert [u.language for u in loaded] == [r["language"] for r in by_split["val"]]
    assert [u.text for u in loaded] == [r["text"] for r in by_split["val"]]
    assert all(u.sample_rate == 8000 and u.duration > 0.2 and np.abs(u.audio).max() > 0.05 for u in loaded)
    assert corpus.speaker_of("val", loaded[0].id) == speakers[loaded[0].language]


def test_audio_folder_without_a_language_column_leaves_it_unknown(tmp_path):
    root = asterisk_audiofolder(tmp_path / "en", limit=8)
    for split in ("train", "val"):
        path = root / split / "metadata.csv"
        with open(path, encoding="utf-8", newline="") as f:
            rows = [{k: v for k, v in r.items() if k != "language"} for r in csv.DictReader(f)]
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    assert {u.language for u in AudioFolder(str(root)).load("train", 0, 3)} == {None}
