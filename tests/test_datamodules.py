"""Per-representation DataModules: prepare_data builds, refreshes or leaves bins alone; YAML through the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml
from corpus_builders import encoded, speech_rows, tone, write_audio_folder, write_hub_dataset

from audiobits.bins import BinFormatError, TokenBins
from audiobits.cli import main
from audiobits.corpora import AudioFolder, EmiliaNeuCodec
from audiobits.datamodules import (CodecDataModule, MimiDataModule, NeuCodecDataModule, SnacDataModule,
                                   TextDataModule)
from audiobits.prepare.encode import EncodeOptions
from audiobits.errors import AudiobitsError
from results_file import results_json

ENCODE = EncodeOptions(shard_size=4, batch_size=4, num_workers=0, accelerator="cpu", devices=1)


@pytest.fixture
def corpus(tmp_path):
    nan_wav = encoded(np.concatenate([tone(0.3, 16000), [np.nan]]).astype(np.float32), 16000, subtype="FLOAT")
    rows = speech_rows(6)
    rows.insert(2, ("nan.wav", "readable header, unusable samples", nan_wav))
    return AudioFolder(str(write_audio_folder(tmp_path / "mine", {"train": rows, "val": speech_rows(3, prefix="v")})))


def snapshot(directory):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_vocab_size_before_and_after_the_bins_exist(corpus, tmp_path):
    data = TextDataModule(corpus, root=str(tmp_path / "data"), encode=ENCODE)
    assert data.bins_dir == tmp_path / "data" / "mine" / "text"
    assert data.vocab_size == 50257 and data.tokens_per_frame == 1  # from the representation: no bins yet
    data.prepare_data()
    again = TextDataModule(corpus, root=str(tmp_path / "data"))
    assert again.vocab_size == 50257 and again._representation is None  # from meta.json, nothing built


def test_prepare_data_is_a_noop_on_complete_bins(corpus, tmp_path):
    TextDataModule(corpus, root=str(tmp_path), encode=ENCODE).prepare_data()
    bins_dir = tmp_path / "mine" / "text"
    before, corpus_files = snapshot(bins_dir), snapshot(tmp_path / "mine")
    data = TextDataModule(corpus, root=str(tmp_path), encode=ENCODE)
    data.prepare_data()
    assert snapshot(bins_dir) == before and snapshot(tmp_path / "mine") == corpus_files
    assert data._representation is None  # the encoder was never even built
    data.setup("fit")
    assert data.split("train").ids.tolist() == [r.id for r in corpus.load("train", 0, 7)]


def test_a_later_drop_makes_other_bins_stale_until_prepared(corpus, tmp_path):
    text = TextDataModule(corpus, root=str(tmp_path), encode=ENCODE)
    text.prepare_data()
    mulaw = CodecDataModule(corpus, representation_name="mulaw", root=str(tmp_path), encode=ENCODE)
    mulaw.prepare_data()  # μ-law refuses nan.wav: dropped for the whole corpus
    stale = TextDataModule(corpus, root=str(tmp_path), encode=ENCODE)
    with pytest.raises(BinFormatError, match=r"still holds 1 utterance.*nan\.wav.*audiobits prepare"):
        stale.setup("fit")
    stale.prepare_data()
    stale.setup("fit")
    mulaw.setup("fit")
    for split in ("train", "val"):
        assert stale.split(split).ids.tolist() == mulaw.split(split).ids.tolist()
    assert "nan.wav" not in stale.split("train").ids.tolist()


def test_bins_from_other_weights_are_refused(corpus, tmp_path):
    CodecDataModule(corpus, representation_name="mulaw", root=str(tmp_path), encode=ENCODE).prepare_data()
    other = CodecDataModule(corpus, representation_name="mulaw", weights="random", root=str(tmp_path))
    with pytest.raises(BinFormatError, match="encoded with weights 'none'.*asks for 'random'"):
        other.prepare_data()


@pytest.fixture
def emilia(tmp_path):
    rng = np.random.default_rng(1)
    keys = [f"EN_B{i:05d}_S00000_W{i:06d}" for i in range(24)]
    codes = [rng.integers(0, 65536, size=int(rng.integers(10, 60))).tolist() for _ in keys]
    texts = [f"Line {i}, spoken." for i in range(24)]
    root = write_hub_dataset(tmp_path / "emilia", "data", {"train": {"__key__": keys, "text": texts, "codes": codes}},
                             audio_column=None, readme=False)
    return EmiliaNeuCodec(path=str(root), val_fraction=0.2), dict(zip(keys, codes))


def test_codec_modules_name_their_bins_without_loading_weights(corpus, emilia, tmp_path):
    root = str(tmp_path)
    assert MimiDataModule(corpus, codebooks=1, root=root).bins_dir.name == "mimi_sem"
    mimi_all = MimiDataModule(corpus, root=root)
    assert mimi_all.bins_dir.name == "mimi_all" and mimi_all._representation is None
    assert SnacDataModule(corpus, root=root).bins_dir.name == "snac_orpheus"
    assert SnacDataModule(corpus, offsets="position", root=root).bins_dir.name == "snac_orpheus_pos"
    assert NeuCodecDataModule(corpus, root=root).weights == "pretrained"
    assert NeuCodecDataModule(emilia[0], root=root).weights == "precomputed"
    with pytest.raises(AudiobitsError, match="has no audio"):
        MimiDataModule(emilia[0], root=root)
    with pytest.raises(AudiobitsError, match="does not fit corpus"):
        NeuCodecDataModule(emilia[0], weights="pretrained", root=root)
    with pytest.raises(AudiobitsError, match="offsets must be one of"):
        SnacDataModule(corpus, offsets="frame")


def test_emilia_text_and_precomputed_neucodec_bins_hold_the_same_utterances(emilia, tmp_path):
    corpus, codes = emilia
    neucodec = NeuCodecDataModule(corpus, root=str(tmp_path), encode=ENCODE)
    text = TextDataModule(corpus, root=str(tmp_path), encode=ENCODE)
    for data in (neucodec, text):
        data.prepare_data()
        data.setup("fit")
    assert neucodec.vocab_size == 65537 and neucodec.meta.dtype == "uint32"
    for split in ("train", "val"):
        part = neucodec.split(split)
        assert part.ids.tolist() == text.split(split).ids.tolist()
        for i, uid in enumerate(part.ids):
            np.testing.assert_array_equal(part.tokens[part.offsets[i]:part.offsets[i + 1] - 1], codes[uid])
            assert part.seconds[i] == len(codes[uid]) / 50
    assert neucodec.split("val").ids.size + neucodec.split("train").ids.size == 24


def test_yaml_prepare_then_fit_through_the_cli(corpus, tmp_path):
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False,
                    "enable_model_summary": False,
                    "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                               "init_args": {"save_dir": str(tmp_path / "runs"), "name": "text"}}},
        "model": {"n_layer": 1, "n_embd": 32, "n_head": 2},
        "data": {"class_path": "audiobits.datamodules.TextDataModule",
                 "init_args": {"corpus": {"class_path": "audiobits.corpora.AudioFolder",
                                          "init_args": {"root": corpus.root.as_posix()}},
                               "root": str(tmp_path / "data"), "seq_len": 8, "batch_size": 4, "num_workers": 0,
                               "encode": {"shard_size": 3, "batch_size": 2, "num_workers": 0,
                                          "accelerator": "cpu"}}},
    }
    path = tmp_path / "text.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["prepare", "--config", str(path), "--data.init_args.root", str(tmp_path / "prepared")])
    prepared = TokenBins(tmp_path / "prepared" / "mine" / "text")
    assert prepared.meta.splits["train"].utterances == 7 and prepared.meta.splits["val"].utterances == 3
    main(["fit", "--config", str(path)])  # no bins under data/ yet: fit's prepare_data encodes in-process first
    bins = TokenBins(tmp_path / "data" / "mine" / "text")
    assert bins.meta.splits == prepared.meta.splits
    run = sorted((tmp_path / "runs" / "text").glob("version_*"))[-1]
    results = results_json(run)
    assert results["finished"] and results["val_scored_fraction"] == 1.0
    assert results["val_tokens"] == bins.meta.splits["val"].tokens - 1 and results["representation"] == "text"


@pytest.mark.slow
@pytest.mark.needs("moshi", "torchaudio")
def test_mimi_sem_bins_from_random_weights(corpus, tmp_path):
    data = MimiDataModule(corpus, codebooks=1, weights="random", root=str(tmp_path), encode=ENCODE)
    assert data.vocab_size == 2049  # before any bins: from the (now built) representation
    data.prepare_data()  # mimi refuses nan.wav too (non-finite audio): dropped from the corpus
    data.setup("fit")
    meta = data.meta
    assert meta.representation == "mimi_sem" and meta.encoder["weights"] == "random" and meta.eos_id == 2048
    for split in ("train", "val"):
        part = data.split(split)
        assert "nan.wav" not in part.ids.tolist()
        frames = np.diff(part.offsets) - 1
        assert np.all(frames == np.floor(part.seconds * 12.5))  # whole 80 ms frames only, no padding frame
        assert int(np.asarray(part.tokens).max()) == 2048 and len(np.unique(part.tokens)) > 5


@pytest.mark.slow
def test_cli_prepare_on_two_processes(corpus, tmp_path):
    """`audiobits prepare` with encode.devices=2: Lightning re-launches the command per rank, rank 0 merges."""
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1},
        "model": {"n_layer": 1, "n_embd": 32, "n_head": 2},
        "data": {"class_path": "audiobits.datamodules.CodecDataModule",
                 "init_args": {"representation_name": "mulaw",
                               "corpus": {"class_path": "audiobits.corpora.AudioFolder",
                                          "init_args": {"root": corpus.root.as_posix()}},
                               "root": str(tmp_path / "ddp"),
                               "encode": {"shard_size": 2, "batch_size": 2, "num_workers": 0,
                                          "accelerator": "cpu", "devices": 2, "strategy": "ddp"}}},
    }
    path = tmp_path / "mulaw.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "audiobits.cli", "prepare", "--config", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 1" in done.stderr and "nan.wav" in done.stderr  # both ranks encoded; the NaN file was dropped
    reference = CodecDataModule(corpus, representation_name="mulaw", root=str(tmp_path / "single"), encode=ENCODE)
    reference.prepare_data()
    two = TokenBins(tmp_path / "ddp" / "mine" / "mulaw")
    assert {k: v.sha256 for k, v in two.meta.splits.items()} == {k: v.sha256 for k, v in reference.meta.splits.items()}
