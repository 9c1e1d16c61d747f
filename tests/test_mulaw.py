"""μ-law baseline: companding round trip, band-limited resampling, and the representation's bin contract."""

import math

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations.base import Utterance, UtteranceError
from audiobits.representations.mulaw import MU, MuLawRepresentation, mu_law_decode, mu_law_encode, resample


def test_levels_round_trip_exactly():
    levels = np.arange(MU + 1)
    assert np.array_equal(mu_law_encode(mu_law_decode(levels)), levels)


def test_samples_round_trip_within_half_a_step():
    x = np.linspace(-1, 1, 20001)
    decoded = mu_law_decode(mu_law_encode(x))
    error = np.abs(decoded - x)
    # Half a quantization step in the companded domain (1/MU) times the expander's steepest slope in between.
    steepest = math.log1p(MU) * (1.0 + MU * np.maximum(np.abs(x), np.abs(decoded))) / MU
    assert np.all(error <= steepest / MU)
    assert error[np.abs(x) < 0.01].max() < 0.1 * (1.0 / MU)  # near zero: >10× finer than linear 8-bit PCM


def test_encode_spans_levels_and_clips():
    assert mu_law_encode(np.array([-1.0, 0.0, 1.0, 3.0, -7.0])).tolist() == [0, 128, MU, MU, 0]


def test_resample_keeps_a_tone_and_removes_what_is_above_nyquist():
    rate, seconds = 22050, 1.0
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)  # 6 kHz > 4 kHz Nyquist
    out = resample(tone, rate, 8000)
    assert len(out) == 8000
    spectrum = np.abs(np.fft.rfft(out)) / len(out) * 2  # 1 Hz bins
    assert spectrum[440] == pytest.approx(0.5, abs=0.01)
    assert spectrum[1000:].max() < 0.01


def test_representation_tokens_rate_and_meta():
    rep = MuLawRepresentation()
    rate = 22050
    audio = (0.4 * np.sin(np.linspace(0, 300, 33075))).astype(np.float32)  # 1.5 s
    [ids] = rep.encode([Utterance("u", "hi", audio, rate)])
    assert len(ids) == 12000 and ids.dtype == np.int64 and 0 <= ids.min() and ids.max() <= MU
    meta = rep.bin_meta("demo")
    assert (meta.vocab_size, meta.eos_id, meta.dtype) == (257, 256, "uint16")
    assert metrics.nominal_bitrate(meta.codebooks) == 64000.0
    assert meta.encoder["weights"] == "none"


def test_rejects_utterances_without_audio():
    with pytest.raises(UtteranceError, match="no audio"):
        MuLawRepresentation().encode([Utterance("t", "text only")])


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
def test_blockwise_encoding_gives_the_whole_recording_ids_byte_for_byte(rate, monkeypatch):
    """The bounded-memory path (companding in blocks, the resampler's temporaries freed early) gives exactly the
    ids of the whole-array formula it replaced, on a recording of many blocks (block made small)."""
    from audiobits.representations import mulaw

    monkeypatch.setattr(mulaw, "BLOCK_SAMPLES", 997)  # prime: blocks never line up with anything
    audio = np.random.default_rng(rate).uniform(-1, 1, 3 * rate + 123).astype(np.float32) * 0.8
    x = np.asarray(audio, dtype=np.float64)
    length = round(len(x) * 8000 / rate)
    old_resampled = x if rate == 8000 else np.fft.irfft(np.fft.rfft(x)[: length // 2 + 1], length) * (length / len(x))
    old_ids = mu_law_encode(old_resampled)  # the whole-recording formula of the previous release
    ids = MuLawRepresentation().encode([Utterance("long", "", audio, rate)])[0]
    assert len(ids) == length > 20 * mulaw.BLOCK_SAMPLES
    assert ids.tobytes() == old_ids.tobytes()
    assert mulaw.mu_law_encode_blocks(old_resampled, 5).tobytes() == old_ids.tobytes()
