"""Opus and LC3 as constant-bitrate packet streams: the tokens are libopus's / liblc3's own packets byte for byte,
the nominal bitrate is the codec's bitrate exactly, decode lines up with the original, and on real speech a model
finds almost no structure left in the entropy-coded bytes."""

import math

import numpy as np
import pytest
import yaml

from audiobits import metrics
from audiobits.errors import ConfigValueError
from audiobits.representations import REGISTRY, Utterance, UtteranceError, build
from audiobits.representations.codec import probe_signal
from audiobits.representations.mulaw import resample

opuslib_next = pytest.importorskip("opuslib_next", reason="opuslib-next-bundled (audiobits[classical]) is missing")
lc3 = pytest.importorskip("lc3", reason="lc3py (audiobits[classical]) is missing")

PACKET_CODECS = sorted(name for name in REGISTRY if name.startswith(("opus_", "lc3_")))


def speech(seconds: float = 1.23, rate: int = 24000, seed: int = 0) -> Utterance:
    return Utterance(f"u{seed}", "", probe_signal(seconds, rate, seed), rate)


@pytest.mark.parametrize("name", PACKET_CODECS)
def test_nominal_bitrate_is_the_codecs_bitrate_from_its_packets(name):
    codec = build(name)
    bitrate = float(name.split("_")[1].removesuffix("kbps")) * 1000
    ids = codec.encode([speech()])[0]
    frames = round(1.23 * 16000) // codec.frame_samples
    assert ids.size == frames * codec.packet_bytes and ids.max() < 256
    assert metrics.nominal_bitrate(codec.codebooks) == bitrate == 8 * codec.packet_bytes * codec.frame_rate
    assert (codec.vocab_size, codec.eos_id, codec.tokens_per_frame) == (257, 256, codec.packet_bytes)


def test_opus_tokens_are_libopus_packets_in_speech_mode():
    codec, utterance = build("opus_12kbps"), speech()
    encoder = opuslib_next.Encoder(16000, 1, "voip")
    encoder.signal, encoder.vbr, encoder.bitrate = opuslib_next.SIGNAL_VOICE, 0, 12000
    pcm = (resample(utterance.audio, 24000, 16000) * 32768).round().clip(-32768, 32767).astype(np.int16)
    expected = b"".join(encoder.encode(pcm[i:i + 320].tobytes(), 320) for i in range(0, len(pcm) - 319, 320))
    ids = codec.encode([utterance])[0]
    assert ids.astype(np.uint8).tobytes() == expected
    assert codec.packets(ids) == [expected[i:i + 30] for i in range(0, len(expected), 30)]
    assert encoder.application == opuslib_next.APPLICATION_VOIP


@pytest.mark.parametrize("name", ["opus_24kbps", "lc3_32kbps"])
def test_decode_lines_up_with_the_original_on_real_speech(name, tmp_path):
    """The codec's delay is removed: the reconstruction correlates best with the original at lag 0."""
    from real_speech import asterisk_audiofolder

    import soundfile as sf

    wav = next((asterisk_audiofolder(tmp_path, limit=4) / "train").rglob("*.wav"))
    audio, rate = sf.read(wav, dtype="float32")
    codec = build(name)
    ids = codec.encode([Utterance("x", "", audio, rate)])[0]
    decoded = codec.decode(ids)
    assert decoded.dtype == np.float32 and len(decoded) == len(ids) // codec.packet_bytes * codec.frame_samples
    original = resample(audio, rate, 16000)[:len(decoded)]
    lags = {lag: np.corrcoef(decoded[200:-200], original[200 + lag:len(decoded) - 200 + lag])[0, 1]
            for lag in range(-8, 9)}
    assert abs(max(lags, key=lags.get)) <= 1 and lags[0] > 0.9, lags  # SILK's resampler delay is fractional


def test_fresh_state_per_utterance_and_bad_input():
    codec = build("lc3_16kbps")
    a, b = speech(0.5, seed=1), speech(0.7, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(codec.encode([a, b]), codec.encode([a]) + codec.encode([b])))
    with pytest.raises(UtteranceError, match="shorter than one lc3_16kbps frame"):
        codec.check(Utterance("short", "", np.zeros(100, np.float32), 16000))
    with pytest.raises(ConfigValueError, match="whole number of bytes"):
        build("lc3_16kbps", bitrate=16100)
    with pytest.raises(ConfigValueError, match="not whole opus_12kbps packets"):
        build("opus_12kbps").packets(np.arange(31))


@pytest.mark.slow
def test_a_model_finds_almost_no_structure_in_opus_packets_of_real_speech(tmp_path):
    """Opus's packets are range-coded: on real recorded speech (Debian's Asterisk prompts) the TinyGPT's bits/s stay
    close to the packets' rate, and the bytes inside a packet score 8 bits each (no structure left); what it does
    find is in each packet's first bytes (the TOC byte and the range coder's first symbols) and its last byte."""
    from real_speech import asterisk_audiofolder

    from audiobits.cli import main
    from results_file import results_json

    folder = asterisk_audiofolder(tmp_path / "en", limit=25)
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False,
                    "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                               "init_args": {"save_dir": str(tmp_path / "runs"), "name": "opus"}}},
        "model": {"n_layer": 2, "n_embd": 64, "n_head": 4, "lr": 0.003, "min_lr": 0.0003},
        "data": {"class_path": "audiobits.datamodules.RepresentationDataModule",
                 "init_args": {"corpus": {"class_path": "audiobits.corpora.AudioFolder",
                                          "init_args": {"root": str(folder)}},
                               "representation": {"class_path": "audiobits.representations.packets.OpusRepresentation",
                                                  "init_args": {"bitrate": 6000}},
                               "root": str(tmp_path / "data"), "seq_len": 64, "batch_size": 8, "num_workers": 0,
                               "eval_stride": 64, "encode": {"num_workers": 0, "accelerator": "cpu"}}},
    }
    path = tmp_path / "opus.yaml"
    path.write_text(yaml.safe_dump(config))
    main(["fit", "--config", str(path)])
    results = results_json(next((tmp_path / "runs" / "opus").glob("version_*")))
    assert results["nominal_bitrate"] == 6000.0 and results["tokens_per_frame"] == 15
    assert 0.8 < results["utilization_nominal"] < 1.02, results["utilization_nominal"]
    payload = results["bits_per_position"][4:13]  # the packet's inside: positions 4..12 of 15
    assert min(payload) > 7.85 and max(payload) < 8.2, payload
    assert results["bits_per_position"][0] < 4  # the TOC byte: the same mode in every packet
    assert math.isclose(results["bits_per_sec"] / results["nominal_bitrate"], results["utilization_nominal"])
