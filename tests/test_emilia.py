"""Emilia's language subsets read offline from a local copy in the hub's layout: WebDataset tar shards
``Emilia/<LANG>/<LANG>-B<6 digits>.tar`` of ``<key>.mp3`` + ``<key>.json``, through datasets' webdataset builder."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus_builders import tone

from audiobits.bins import TokenBins
from audiobits.corpora import emilia_key_parts
from audiobits.errors import AudiobitsError
from audiobits.multilingual import Emilia

RATE = 24000  # Emilia's mp3s are 24 kHz mono
GERMAN = {"DE_B00000_S00000_W000000": "Guten Morgen.", "DE_B00000_S00000_W000001": "Wie geht es dir?",
          "DE_B00000_S00001_W000002": "Danke, gut.", "DE_B00001_S00000_W000000": "Das Wetter ist schön.",
          "DE_B00002_S00003_W000000": "Bis später.", "DE_B00003_S00000_W000000": "Grüß Gott.",
          "DE_B00004_S00002_W000005": "Auf Wiedersehen.", "DE_B00005_S00000_W000000": "Ich weiß es nicht."}


def mp3(seconds: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, tone(seconds, RATE, seed=seed), RATE, format="MP3")
    return buffer.getvalue()


def write_shard(path: Path, transcripts: dict[str, str], language: str) -> None:
    """One tar shard as Emilia stores it: per key an mp3 and a json with the card's fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for i, (key, text) in enumerate(transcripts.items()):
            meta = {"id": key, "wav": f"{key[:9]}/{key[:16]}/mp3/{key}.mp3", "text": text, "duration": 1.0,
                    "speaker": emilia_key_parts(key)[1], "language": language, "dnsmos": 3.3}
            for member, data in ((f"{key}.mp3", mp3(1.0, i)), (f"{key}.json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def emilia_copy(tmp_path_factory) -> Path:
    """German in two shards, and an English shard the German corpus must not read."""
    root = tmp_path_factory.mktemp("emilia")
    keys = list(GERMAN)
    write_shard(root / "Emilia" / "DE" / "DE-B000000.tar", {k: GERMAN[k] for k in keys[:5]}, "de")
    write_shard(root / "Emilia" / "DE" / "DE-B000001.tar", {k: GERMAN[k] for k in keys[5:]}, "de")
    write_shard(root / "Emilia" / "EN" / "EN-B000000.tar", {"EN_B00000_S00000_W000000": "Hello."}, "en")
    return root


def test_emilia_reads_one_language_with_speakers_from_keys_and_holds_out_whole_recordings(emilia_copy):
    corpus = Emilia("de", path=str(emilia_copy), val_fraction=0.5)
    assert corpus.name == "emilia_de" and corpus.describe()["data_files"] == "Emilia/DE/*.tar"
    train = corpus.load("train", 0, corpus.size("train"))
    val = corpus.load("val", 0, corpus.size("val"))
    assert train and val and len(train) + len(val) == len(GERMAN)  # the English shard is not read
    for u in train + val:
        assert u.text == GERMAN[u.id] and u.language == "de" and u.sample_rate == RATE
        assert u.audio.shape == (u.audio.size,) and abs(u.seconds - 1.0) < 0.06  # mp3 decoded to ~1 s of mono
    recordings = {split: {emilia_key_parts(u.id)[0] for u in part} for split, part in (("train", train), ("val", val))}
    assert not recordings["train"] & recordings["val"]
    assert corpus.speaker_of("train", "DE_B00000_S00001_W000002") == "DE_B00000_S00001"
    assert corpus.language_of("val", val[0].id) == "de"


def test_emilia_names_its_subsets_on_a_wrong_language():
    with pytest.raises(AudiobitsError, match=r"Emilia.language 'es' is not one of Emilia's subsets"):
        Emilia("es")


def test_the_shipped_emilia_config_prepares_german_phonemes_from_the_local_copy(tmp_path, emilia_copy):
    """configs/phonemes_emilia_de.yaml with the corpus path, val share and bins root overridden."""
    from audiobits.cli import main

    config = Path(__file__).resolve().parents[1] / "configs" / "phonemes_emilia_de.yaml"
    main(["prepare", "--config", str(config), "--data.init_args.corpus.init_args.path", str(emilia_copy),
          "--data.init_args.corpus.init_args.val_fraction", "0.5", "--data.init_args.root", str(tmp_path / "data"),
          "--data.init_args.encode.accelerator", "cpu", "--data.init_args.encode.num_workers", "0"])
    bins = TokenBins(tmp_path / "data" / "emilia_de" / "phonemes")
    assert bins.meta.encoder["weights"] == "espeak-ng rules (de: de)"
    train, val = bins.split("train"), bins.split("val")
    assert len(train.ids) + len(val.ids) == len(GERMAN)
    assert set(train.languages) | set(val.languages) == {"de"}
    assert [str(s) for s in train.speakers] == [emilia_key_parts(str(i))[1] for i in train.ids]
    assert np.all(train.seconds > 0.9)
