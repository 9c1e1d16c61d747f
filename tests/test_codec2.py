"""Codec 2 through pycodec2: exact nominal bitrates, whole frames, the packed bits round-trip, batch == single."""

from pathlib import Path

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import Utterance, UtteranceError, build
from audiobits.representations.codec import probe_signal

pycodec2 = pytest.importorskip("pycodec2", reason="pycodec2 (audiobits[codec2]) is not installed")

from audiobits.representations.codec2 import (NAMES, Codec2Representation, field_widths,  # noqa: E402
                                              fields_frame, frame_fields)

# mode -> (samples per frame at 8 kHz, bits per frame, fields per frame, vocab incl. EOS)
EXPECTED = {3200: (160, 64, 8, 2049), 2400: (160, 48, 6, 1537), 1600: (320, 64, 8, 2049),
            1400: (320, 56, 7, 1793), 1300: (320, 52, 7, 1553), 1200: (320, 48, 6, 1537), 700: (320, 28, 4, 785)}


def speech(seconds: float, rate: int, seed: int) -> Utterance:
    audio = probe_signal(seconds, rate, seed)
    return Utterance(f"u{seed}-{len(audio)}@{rate}", "", audio, rate)


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_nominal_bitrate_is_the_modes_bitrate_exactly(mode):
    hop, bits, fields, vocab = EXPECTED[mode]
    rep = build(NAMES[mode])
    assert (rep.hop, rep.bits_per_frame, rep.tokens_per_frame, rep.vocab_size, rep.eos_id) == (
        hop, bits, fields, vocab, vocab - 1)
    assert metrics.nominal_bitrate(rep.codebooks) == mode
    meta = rep.bin_meta("demo")
    assert (meta.dtype, meta.encoder["weights"], meta.encoder["package"]) == ("uint16", "none", "pycodec2")
    ids = rep.encode([speech(1.0, 8000, seed=mode)])[0]
    assert len(ids) == 8000 // hop * fields  # 1 s: 50 or 25 whole frames
    assert 0 <= ids.min() and ids.max() < rep.eos_id


def test_fields_are_the_frames_bits_msb_first():
    assert field_widths(28) == [8, 8, 8, 4] and field_widths(64) == [8] * 8 and field_widths(52) == [8] * 6 + [4]
    frame = bytes([0x12, 0x34, 0x56, 0x70])  # 700C: the last byte's low nibble is padding
    fields = frame_fields(frame, [8, 8, 8, 4])
    assert fields.tolist() == [0x12, 0x34, 0x56, 0x7]
    assert fields_frame(fields, [8, 8, 8, 4]) == frame


@pytest.mark.parametrize("mode", [3200, 1300, 700])
def test_ids_hold_exactly_the_bytes_libcodec2_wrote(mode):
    """Unflattened ids repacked give the bytes pycodec2 encodes frame by frame with a fresh state."""
    rep = build(NAMES[mode])
    audio = probe_signal(0.5, 8000, seed=3)
    ids = rep.encode([Utterance("x", "", audio, 8000)])[0]
    codec = pycodec2.Codec2(mode)
    pcm = (audio * 32768).round().clip(-32768, 32767).astype(np.int16)
    want = [codec.encode(pcm[t * rep.hop:(t + 1) * rep.hop]) for t in range(len(pcm) // rep.hop)]
    got = [fields_frame(f, rep.widths) for f in np.stack(rep.unflatten(ids), axis=1)]
    assert got == want
    np.testing.assert_array_equal(rep.flatten(rep.unflatten(ids)), ids)
    assert len(np.unique(ids)) > len(ids) // 4


def test_whole_frames_after_resampling_and_too_short():
    rep = build("codec2_3200")
    batch = [Utterance(f"n{n}", "", probe_signal(1.0, 8000, n)[:n], 8000) for n in (479, 480, 481)]
    batch.append(speech(0.25, 44100, seed=5))  # 11025 samples -> ceil(11025 * 8000 / 44100) = 2000 -> 12 frames
    assert [len(ids) // 8 for ids in rep.encode(batch)] == [2, 3, 3, 12]
    with pytest.raises(UtteranceError, match="shorter than one codec2_3200 frame"):
        rep.check(Utterance("short", "", np.zeros(159, np.float32), 8000))


def test_batch_equals_one_at_a_time_and_is_deterministic():
    rep = build("codec2_1300")
    batch = [speech(0.7, 8000, 6), speech(1.1, 16000, 7), speech(0.7, 8000, 8), speech(0.4, 22050, 9)]
    together = rep.encode(batch)
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(Codec2Representation(1300).encode([utterance])[0], ids)


def test_decode_gives_the_frames_duration_at_8khz():
    rep = build("codec2_700c")
    ids = rep.encode([speech(1.03, 16000, seed=10)])[0]  # 16480 samples -> 8240 at 8 kHz -> 25 frames
    audio = rep.decode(ids)
    assert rep.decoded_sample_rate == 8000 and audio.dtype == np.float32 and len(audio) == 25 * 320
    assert 0 < np.abs(audio).max() <= 1.0
    with pytest.raises(ValueError, match="whole codec2_700c frames"):
        rep.decode(ids[:-1])
    with pytest.raises(ValueError, match="outside their level"):
        rep.unflatten(np.full(4, 784))


def test_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match=r"one of \[3200, 2400, 1600, 1400, 1300, 1200, 700\]"):
        Codec2Representation(450)


def test_shipped_config_prepares_a_local_folder(tmp_path):
    """configs/codec2_700c.yaml (the generic RepresentationDataModule) with only the corpus and root overridden."""
    from corpus_builders import speech_rows, write_audio_folder

    from audiobits.bins import TokenBins
    from audiobits.cli import main

    folder = write_audio_folder(tmp_path / "mine", {"train": speech_rows(4), "val": speech_rows(2, prefix="v")})
    main(["prepare", "--config", str(Path(__file__).resolve().parents[1] / "configs" / "codec2_700c.yaml"),
          "--data.init_args.corpus", "audiobits.corpora.AudioFolder", "--data.init_args.corpus.root", str(folder),
          "--data.init_args.root", str(tmp_path / "data"), "--data.init_args.encode.accelerator", "cpu",
          "--data.init_args.encode.num_workers", "0"])
    meta = TokenBins(tmp_path / "data" / "mine" / "codec2_700c").meta
    assert (meta.vocab_size, meta.tokens_per_frame, metrics.nominal_bitrate(meta.codebooks)) == (785, 4, 700)
