"""``mulaw``: 8-bit μ-law PCM at 8 kHz, the raw-waveform baseline (one token per sample, 64 kbit/s nominal).

No model and no weights: the waveform is resampled to 8 kHz and companded with μ = 255 into 256 levels, as ITU-T
G.711 does in its continuous form (the same curve as ``torchaudio.functional.mu_law_encoding``).

Two resamplers, two representations (their ids differ, so each has its own name and bins):

- ``mulaw`` (``resampler="fft"``, the default, what every μ-law number so far measured): band-limited through one
  FFT of the whole recording, so memory grows with the recording (docs/long_recordings.md).
- ``mulaw_polyphase`` (``resampler="polyphase"``): :mod:`audiobits.representations.polyphase`, read and encoded
  block by block (``reads_blocks``), the same ids whatever the block size.
"""

from __future__ import annotations

from importlib import metadata

import numpy as np

from audiobits.bins import Codebook
from audiobits.errors import ConfigValueError
from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.representations.polyphase import PolyphaseResampler

MU = 255
RESAMPLERS = ("fft", "polyphase")
BLOCK_SAMPLES = 1 << 20  # samples companded per step: bounds the temporaries of `mu_law_encode` on long recordings


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling of a 1-D signal from ``rate`` to ``target`` Hz: ``round(len · target / rate)``
    samples, spectrum above the lower Nyquist frequency removed (FFT method)."""
    if rate == target:
        return np.asarray(audio, dtype=np.float64)
    n, length = len(audio), round(len(audio) * target / rate)
    spectrum = np.fft.rfft(np.asarray(audio, dtype=np.float64))  # the float64 copy is freed as soon as it is read
    spectrum = spectrum[: length // 2 + 1].copy()  # keep only the band below the lower Nyquist frequency
    out = np.fft.irfft(spectrum, length)
    del spectrum
    out *= length / n
    return out


def mu_law_encode(audio: np.ndarray, mu: int = MU) -> np.ndarray:
    """Samples in [-1, 1] → integer levels 0..mu (values outside are clipped)."""
    x = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.floor((y + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def mu_law_encode_blocks(audio: np.ndarray, block: int = BLOCK_SAMPLES) -> np.ndarray:
    """`mu_law_encode` of a long signal ``block`` samples at a time: the same levels (companding is sample-local),
    with temporaries of one block instead of several copies of the whole signal."""
    out = np.empty(len(audio), dtype=np.int64)
    for start in range(0, len(audio), block):
        out[start:start + block] = mu_law_encode(audio[start:start + block])
    return out


def mu_law_decode(levels: np.ndarray, mu: int = MU) -> np.ndarray:
    """Integer levels 0..mu → samples in [-1, 1] (the inverse curve of :func:`mu_law_encode`)."""
    y = 2.0 * np.asarray(levels, dtype=np.float64) / mu - 1.0
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


class MuLawRepresentation(Representation):
    """8 kHz, 8-bit μ-law samples as tokens 0..255; id 256 ends an utterance."""

    flattening = "none"
    tokens_per_frame = 1
    weights = "none"
    package = "numpy"

    def __init__(self, sample_rate: int = 8000, resampler: str = "fft") -> None:
        """
        Args:
            sample_rate: the rate the samples are companded at.
            resampler: "fft" (``mulaw``: whole-recording FFT) or "polyphase" (``mulaw_polyphase``: block by block).
        """
        if resampler not in RESAMPLERS:
            raise ConfigValueError(f"mulaw resampler must be one of {list(RESAMPLERS)}, got {resampler!r}")
        self.sample_rate, self.resampler = sample_rate, resampler
        self.name = "mulaw" if resampler == "fft" else f"mulaw_{resampler}"
        self.reads_blocks = resampler == "polyphase"
        self.vocab_size = MU + 2
        self.eos_id = MU + 1
        self.codebooks = [Codebook(size=MU + 1, frame_rate=float(sample_rate))]

    def encoder_info(self) -> dict:
        resampler = "" if self.resampler == "fft" else f", {self.resampler} resampler"
        return {"name": f"mu-law {MU + 1} levels @ {self.sample_rate} Hz{resampler}", "package": self.package,
                "version": metadata.version(self.package), "weights": self.weights}

    def check(self, utterance: Utterance) -> None:
        if (utterance.audio is None and utterance.source is None) or not utterance.sample_rate:
            raise UtteranceError(utterance.id, "mulaw encodes audio, but the utterance has no audio/sample_rate")
        if utterance.audio is None:
            return  # a lazy source: its blocks are checked as they are read (Utterance.blocks)
        audio = np.asarray(utterance.audio)
        if audio.ndim != 1 or audio.size == 0 or not np.isfinite(audio).all():
            raise UtteranceError(utterance.id, f"audio must be non-empty, finite and 1-D, got shape {audio.shape}")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        out = []
        for utterance in batch:
            self.check(utterance)
            if self.reads_blocks:
                out.append(self._encode_blocks(utterance))
                continue
            if round(len(utterance.audio) * self.sample_rate / utterance.sample_rate) == 0:
                raise UtteranceError(utterance.id, f"shorter than one sample at {self.sample_rate} Hz")
            audio = utterance.audio
            if utterance.sample_rate != self.sample_rate:  # the FFT sees the whole recording (docs/performance.md)
                audio = resample(audio, utterance.sample_rate, self.sample_rate)
            out.append(mu_law_encode_blocks(audio))
        return out

    def _encode_blocks(self, utterance: Utterance) -> np.ndarray:
        """Levels of one utterance read, resampled and companded block by block (only its ids are whole)."""
        resampler = PolyphaseResampler(int(utterance.sample_rate), self.sample_rate)
        out = np.empty(resampler.output_length(utterance.num_samples), dtype=np.int64)
        start = 0
        for block in resampler.stream(utterance.blocks()):
            out[start:start + len(block)] = mu_law_encode_blocks(block)
            start += len(block)
        if start == 0:
            raise UtteranceError(utterance.id, f"shorter than one sample at {self.sample_rate} Hz")
        return out[:start]

    @property
    def decoded_sample_rate(self) -> int:
        return self.sample_rate

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """The μ-law reconstruction of one utterance's ids (no EOS): float32 samples at ``sample_rate``."""
        return mu_law_decode(ids).astype(np.float32)
