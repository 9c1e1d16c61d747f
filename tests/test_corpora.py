"""Corpora: local files in the upstream formats go through the same loading code as the hub ones."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from corpus_builders import encoded, speech_rows, tone, write_audio_folder, write_hub_dataset

from audiobits.corpora import AudioFolder, EmiliaNeuCodec, HFCorpus, LibriTTSR, Unreadable, read_audio
from audiobits.errors import AudiobitsError
from audiobits.representations.base import Utterance


def libritts_columns(ids: list[str], texts: list[str], audio: list[bytes | None]) -> dict[str, list]:
    """Rows in parler-tts/libritts_r_filtered's column layout."""
    return {"id": ids, "text_normalized": texts, "text_original": [t.upper() for t in texts],
            "speaker_id": ["84"] * len(ids), "chapter_id": ["121123"] * len(ids),
            "path": [f"{i}.wav" for i in ids],
            "audio": [{"bytes": a, "path": f"{i}.wav"} for i, a in zip(ids, audio)]}


@pytest.fixture(scope="module")
def libritts_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("libritts_r_filtered")
    signals = {f"84_121123_{i:06d}": tone(0.1 + 0.05 * i, 24000, seed=i) for i in range(5)}
    ids = list(signals)
    texts = ["Chapter one.", "“Naïve café”, he said — twice.", "日本語のテキスト", "Short.", "The end."]
    audio = [encoded(s, 24000, "FLAC") for s in signals.values()]
    audio[3] = b"RIFF\x00\x00garbage, not a wav"
    write_hub_dataset(root, "clean", {
        "train.clean.100": libritts_columns(ids[:2], texts[:2], audio[:2]),
        "train.clean.360": libritts_columns(ids[2:4], texts[2:4], audio[2:4]),
        "dev.clean": libritts_columns(ids[4:], texts[4:], audio[4:]),
    })
    return root, signals, dict(zip(ids, texts))


def test_local_libritts_goes_through_load_dataset_like_the_hub(libritts_dir):
    root, signals, texts = libritts_dir
    corpus = LibriTTSR(path=str(root))  # same call as the hub default: load_dataset(path, "clean", split=...)
    assert corpus.size("train") == 4 and corpus.size("val") == 1
    train = corpus.load("train", 0, 4)
    # train.clean.100 then train.clean.360, rows in file order
    assert [u.id for u in train] == list(signals)[:4]
    broken = train[3]
    assert isinstance(broken, Unreadable) and "84_121123_000003.wav" in broken.reason
    for utterance in train[:3]:
        assert isinstance(utterance, Utterance)
        expected = signals[utterance.id]
        assert utterance.sample_rate == 24000 and utterance.audio.dtype == np.float32
        np.testing.assert_allclose(utterance.audio, expected, atol=2 / 32768)  # 16-bit FLAC of the signal
        assert utterance.seconds == len(expected) / 24000 == utterance.duration
        assert utterance.text == texts[utterance.id]
        assert utterance.text_bytes == len(texts[utterance.id].encode("utf-8"))
    assert train[2].text_bytes == 24  # 8 CJK characters, 3 bytes each
    # without audio (text representations): durations from the header, identical to the decoded ones
    headers = corpus.load("train", 0, 3, audio=False)
    assert [u.audio for u in headers] == [None] * 3
    assert [u.seconds for u in headers] == [u.seconds for u in train[:3]]
    # for representations that read blocks: the file's bytes, read later; the same samples, the same broken file
    lazy = corpus.load("train", 0, 4, audio="blocks")
    assert isinstance(lazy[3], Unreadable) and "84_121123_000003.wav" in lazy[3].reason
    for utterance, decoded in zip(lazy[:3], train[:3]):
        assert utterance.audio is None and isinstance(utterance.source.source, bytes)
        assert (utterance.sample_rate, utterance.duration) == (24000, decoded.duration)
        assert np.concatenate(list(utterance.blocks(1000))).tobytes() == decoded.audio.tobytes()
    val = corpus.load("val", 0, 1)
    assert [u.id for u in val] == ["84_121123_000004"]
    assert corpus.describe()["splits"] == {"train": ["train.clean.100", "train.clean.360"], "val": ["dev.clean"]}


def test_loose_parquet_files_take_the_same_path(libritts_dir):
    root, signals, _ = libritts_dir
    files = {"train": sorted(str(p) for p in root.glob("clean/train.*.parquet")),
             "val": [str(root / "clean" / "dev.clean-00000-of-00001.parquet")]}
    loose = HFCorpus("parquet", "mine", splits={"train": ["train"], "val": ["val"]}, data_files=files,
                     text_column="text_normalized")
    hub = LibriTTSR(path=str(root))
    for split in ("train", "val"):
        n = hub.size(split)
        assert loose.size(split) == n
        assert [u.id for u in loose.load(split, 0, n)] == [u.id for u in hub.load(split, 0, n)]


def test_missing_columns_name_the_fix(libritts_dir):
    corpus = HFCorpus(str(libritts_dir[0]), "x", config="clean", splits={"train": ["dev.clean"],
                                                                          "val": ["dev.clean"]},
                      text_column="transcript")
    with pytest.raises(AudiobitsError, match=r"no column\(s\) \['transcript'\].*text_column"):
        corpus.size("train")


def test_split_arguments_are_checked():
    with pytest.raises(AudiobitsError, match="not both"):
        HFCorpus("x", "x", splits={"train": ["a"], "val": ["b"]}, val_fraction=0.1)
    with pytest.raises(AudiobitsError, match="not neither"):
        HFCorpus("x", "x", splits={"train": ["a"]})
    with pytest.raises(AudiobitsError, match="codes_frame_rate"):
        HFCorpus("x", "x", val_fraction=0.1, audio_column=None, codes_column="codes")


@pytest.fixture(scope="module")
def emilia_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("emilia")
    rng = np.random.default_rng(0)
    keys = [f"EN_B{i:05d}_S{i % 7:05d}_W000000" for i in range(40)]
    codes = [rng.integers(0, 65536, size=int(rng.integers(20, 120))).tolist() for _ in keys]
    texts = [f"Utterance {i} — with ünïcode." for i in range(40)]
    write_hub_dataset(root, "data", {"train": {"__key__": keys, "text": texts, "codes": codes}}, audio_column=None,
                      readme=False)
    return root, keys, codes, texts


def test_emilia_codes_and_deterministic_holdout(emilia_dir):
    root, keys, codes, texts = emilia_dir
    corpus = EmiliaNeuCodec(path=str(root), val_fraction=0.25)
    assert not corpus.has_audio and corpus.codes_representation == "neucodec"
    train = corpus.load("train", 0, corpus.size("train"))
    val = corpus.load("val", 0, corpus.size("val"))
    train_ids, val_ids = [u.id for u in train], [u.id for u in val]
    assert sorted(train_ids + val_ids) == sorted(keys) and not set(train_ids) & set(val_ids)
    assert 3 <= len(val_ids) <= 18  # about a quarter of 40
    assert train_ids == [k for k in keys if k in set(train_ids)]  # upstream order kept
    assert val_ids == [u.id for u in EmiliaNeuCodec(path=str(root), val_fraction=0.25).load("val", 0, len(val))]
    by_key = dict(zip(keys, zip(codes, texts)))
    for u in train + val:
        np.testing.assert_array_equal(u.codes, by_key[u.id][0])
        assert u.audio is None and u.seconds == len(by_key[u.id][0]) / 50 == u.duration
        assert u.text == by_key[u.id][1]


def test_audio_folder(tmp_path):
    stereo = np.stack([tone(0.3, 22050, 1), tone(0.3, 22050, 2)], axis=1)
    rows = speech_rows(2) + [
        ("sub/stereo.flac", 'Commas, "quotes" and\nnewlines', encoded(stereo, 22050, "FLAC")),
        ("broken.wav", "unreadable", b"RIFF....WAVEfmt definitely not audio"),
        ("missing.wav", "no such file", b""),
    ]
    root = write_audio_folder(tmp_path / "mine", {"train": rows, "val": speech_rows(1, prefix="v")})
    (root / "train" / "missing.wav").unlink()
    corpus = AudioFolder(str(root))
    assert corpus.name == "mine" and corpus.size("train") == 5 and corpus.size("val") == 1
    items = corpus.load("train", 0, 5)
    assert [i.id for i in items] == [r[0] for r in rows]
    first = items[0]
    assert first.sample_rate == 16000 and first.seconds == 3200 / 16000 and first.text == rows[0][1]
    mixed = items[2]
    assert mixed.text == 'Commas, "quotes" and\nnewlines'
    back = sf.read(io.BytesIO(rows[2][2]), dtype="float32")[0]
    np.testing.assert_array_equal(mixed.audio, back.mean(axis=1, dtype=np.float32))  # averaged to mono
    assert mixed.sample_rate == 22050 and mixed.seconds == len(back) / 22050
    assert isinstance(items[3], Unreadable) and str(root / "train" / "broken.wav") in items[3].reason
    assert isinstance(items[4], Unreadable) and "missing.wav" in items[4].reason
    assert [u.seconds for u in corpus.load("train", 0, 3, audio=False)] == [u.seconds for u in items[:3]]


def test_audio_folder_layout_errors(tmp_path):
    with pytest.raises(AudiobitsError, match="train/metadata.csv"):
        AudioFolder(str(tmp_path)).size("train")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metadata.csv").write_text("path,transcript\na.wav,hi\n")
    with pytest.raises(AudiobitsError, match="columns file_name,text"):
        AudioFolder(str(tmp_path)).size("train")
    (tmp_path / "train" / "metadata.csv").write_text("file_name,text\na.wav,hi\na.wav,again\n")
    with pytest.raises(AudiobitsError, match="line 3: a duplicate"):
        AudioFolder(str(tmp_path)).size("train")


def test_read_audio_of_empty_file_is_an_utterance_error(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(ValueError, match="holds no samples"):
        read_audio("e", path, str(path))


def test_emilia_holds_out_whole_recordings_so_no_val_speaker_is_trained_on(tmp_path):
    keys = [f"EN_vid_{r:02d}x_S{s:05d}_W{w:06d}" for r in range(30) for s in range(2) for w in range(3)]
    write_hub_dataset(tmp_path, "data", {"train": {"__key__": keys, "text": ["t"] * len(keys),
                                                   "codes": [[1, 2, 3]] * len(keys)}}, audio_column=None, readme=False)
    corpus = EmiliaNeuCodec(path=str(tmp_path), val_fraction=0.3)
    splits = {s: [u.id for u in corpus.load(s, 0, corpus.size(s))] for s in ("train", "val")}
    recordings = {s: {k.rsplit("_", 2)[0] for k in ids} for s, ids in splits.items()}
    assert splits["val"] and not recordings["train"] & recordings["val"]
    speakers = {s: {corpus.speaker_of(s, k) for k in ids} for s, ids in splits.items()}
    assert not speakers["train"] & speakers["val"]
    assert corpus.speaker_of("val", "EN_a_b_S00003_W000001") == "EN_a_b_S00003"
    assert corpus.speaker_of("val", "odd-key") == "odd-key"


def test_speakers_of_librittsr_ids_and_an_audio_folder_column(tmp_path):
    assert LibriTTSR().speaker_of("val", "84_121123_000007_000001") == "84"
    root = write_audio_folder(tmp_path / "mine", {"train": speech_rows(2), "val": speech_rows(2, prefix="v")})
    corpus = AudioFolder(str(root))
    assert corpus.speaker_of("val", "v000.wav") is None  # no speaker column: unknown
    (root / "val" / "metadata.csv").write_text("\ufefffile_name,text,speaker\nv000.wav,hi,ann\nv001.wav,ho,bob\n",
                                               encoding="utf-8")
    corpus = AudioFolder(str(root))
    assert [corpus.speaker_of("val", f"v00{i}.wav") for i in range(2)] == ["ann", "bob"]
