"""Multilingual hub corpora (MLS, FLEURS) read offline from local copies in the hub's parquet layout; each
utterance carries its language into the bins."""

from pathlib import Path

import numpy as np
import pytest
from corpus_builders import encoded, tone, write_hub_dataset

from audiobits.bins import TokenBins
from audiobits.prepare.encode import EncodeOptions
from audiobits.multilingual import Fleurs, MultilingualLibriSpeech
from audiobits.prepare.prepare import prepare_bins
from audiobits.representations import build

RATE = 16000


def audio_cells(names: list[str]) -> list[dict]:
    return [{"bytes": encoded(tone(0.3 + 0.1 * i, RATE, seed=i), RATE), "path": name} for i, name in enumerate(names)]


def mls_columns(ids: list[str], texts: list[str]) -> dict[str, list]:
    """Rows in facebook/multilingual_librispeech's parquet column layout."""
    return {"audio": audio_cells([f"{i}.flac" for i in ids]), "original_path": [f"http://x/{i}.mp3" for i in ids],
            "begin_time": ["0.0"] * len(ids), "end_time": ["1.0"] * len(ids), "transcript": texts,
            "audio_duration": ["1.0"] * len(ids), "speaker_id": [i.split("_")[0] for i in ids],
            "chapter_id": [i.split("_")[1] for i in ids], "file": [f"{i}.opus" for i in ids], "id": ids}


TRAIN_IDS, DEV_IDS = ["10087_10388_000000", "10087_10388_000001", "1840_1889_000000"], ["2223_1745_000003"]


@pytest.fixture
def mls_french(tmp_path):
    root = tmp_path / "mls"
    write_hub_dataset(root, "french", {"train": mls_columns(TRAIN_IDS, ["bonjour à tous", "ça va", "merci"]),
                                       "dev": mls_columns(DEV_IDS, ["au revoir"])}, sampling_rate=RATE)
    return root


def test_mls_reads_one_language_with_speakers_and_writes_its_language_into_the_bins(tmp_path, mls_french):
    train_ids, dev_ids, root = TRAIN_IDS, DEV_IDS, mls_french
    corpus = MultilingualLibriSpeech("french", path=str(root))
    assert (corpus.name, corpus.size("train"), corpus.size("val")) == ("mls_french", 3, 1)
    train = corpus.load("train", 0, 3)
    assert [u.id for u in train] == train_ids and [u.language for u in train] == ["fr"] * 3
    assert train[1].text == "ça va" and train[0].sample_rate == RATE
    assert corpus.speaker_of("train", train_ids[2]) == "1840" and corpus.language_of("val", dev_ids[0]) == "fr"
    bins = prepare_bins(corpus, build("utf8"), tmp_path / "data", EncodeOptions(accelerator="cpu", num_workers=0),
                        device="cpu")
    split = TokenBins(bins).split("train")
    assert list(split.languages) == ["fr"] * 3 and list(split.speakers) == ["10087", "10087", "1840"]
    assert bytes(split.tokens[:6].astype(np.uint8)).decode() == "bonjo" + "u"


def fleurs_columns(sentence_ids: list[int], paths: list[str], texts: list[str], language: str) -> dict[str, list]:
    """Rows in google/fleurs' parquet column layout (two readers may share a sentence id)."""
    return {"id": [str(i) for i in sentence_ids], "num_samples": ["16000"] * len(paths), "path": paths,
            "audio": audio_cells(paths), "transcription": [t.lower() for t in texts], "raw_transcription": texts,
            "gender": ["1"] * len(paths), "lang_id": ["26"] * len(paths), "language": [language] * len(paths),
            "lang_group_id": ["0"] * len(paths)}


def test_fleurs_ids_are_paths_and_the_language_comes_from_the_config(tmp_path):
    root = tmp_path / "fleurs"
    paths = ["1001.wav", "1002.wav", "1003.wav"]
    write_hub_dataset(root, "cmn_hans_cn", {
        "train": fleurs_columns([7, 7, 9], paths, ["再见。", "再见。", "你好。"], "Mandarin Chinese"),
        "validation": fleurs_columns([11], ["2001.wav"], ["谢谢。"], "Mandarin Chinese")}, sampling_rate=RATE)
    corpus = Fleurs("cmn_hans_cn", path=str(root))
    train = corpus.load("train", 0, corpus.size("train"))
    # one sentence (id 7) read twice: two utterances, told apart by their audio path
    assert [u.id for u in train] == paths and [u.text for u in train] == ["再见。", "再见。", "你好。"]
    assert {u.language for u in train} == {"cmn"} and corpus.name == "fleurs_cmn_hans_cn"
    assert corpus.speaker_of("train", paths[0]) is None
    assert corpus.describe()["language"] == "cmn"


def test_the_shipped_mls_phoneme_config_prepares_the_local_copy(tmp_path, mls_french):
    """configs/phonemes_mls.yaml with only the corpus path and the bins root overridden: French phonemes."""
    from audiobits.cli import main

    config = Path(__file__).resolve().parents[1] / "configs" / "phonemes_mls.yaml"
    main(["prepare", "--config", str(config), "--data.init_args.corpus.init_args.path", str(mls_french),
          "--data.init_args.root", str(tmp_path / "data"), "--data.init_args.encode.accelerator", "cpu",
          "--data.init_args.encode.num_workers", "0"])
    bins = TokenBins(tmp_path / "data" / "mls_french" / "phonemes")
    assert bins.meta.encoder["weights"] == "espeak-ng rules (fr: fr)" and bins.meta.splits["val"].utterances == 1
    assert list(bins.split("val").languages) == ["fr"]
