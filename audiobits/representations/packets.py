"""Classical speech codecs whose packets are the tokens: Opus (libopus) and LC3 (Google's liblc3), no weights.

Both run at a constant bitrate (Opus in hard CBR, speech mode: ``voip`` application, voice signal; LC3 is CBR by
design), so every frame of ``frame_samples`` samples gives one packet of exactly ``packet_bytes`` bytes. The tokens
are those bytes (ids 0..255), packets back to back: a fixed-rate byte stream whose frame boundaries fall every
``packet_bytes`` tokens (``tokens_per_frame``), one codebook of 256 at ``packet_bytes × packets/s`` — so the nominal
bitrate Σ log2(size) × rate is 8 × the packets' bytes per second, the codec's bitrate read off its packets. The
packets are entropy-coded (range coder): a model should find almost no structure left in them.

An utterance is resampled to the codec's rate (band-limited, as `mulaw`) and gets ``n // frame_samples`` whole
frames, each encoded with a fresh codec state per utterance. ``decode`` runs the codec's decoder over the packets
and removes its algorithmic delay (Opus's lookahead, LC3's delay samples), zero-padding the last few milliseconds,
so the reconstruction lines up with the original for the quality scores.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from importlib import import_module

import numpy as np

from audiobits.bins import Codebook
from audiobits.errors import ConfigValueError
from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.representations.mulaw import resample

BYTE_VALUES = 256
OPUS_BITRATES = (6000, 8000, 12000, 16000, 24000)  # bit/s, registered as opus_<k>kbps
LC3_BITRATES = (16000, 24000, 32000)  # 16 kbit/s is LC3's least at 16 kHz, 10 ms (20 bytes per frame)


def _package(module: str, extra: str = "classical"):
    try:
        return import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is missing: pip install 'audiobits[{extra}]'") from e


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16 PCM (rounded, clipped), what the codecs read."""
    return (np.asarray(audio, np.float64) * 32768.0).round().clip(-32768, 32767).astype(np.int16)


class PacketCodec(Representation):
    """A constant-bitrate codec: each frame of ``frame_samples`` samples at ``sample_rate`` is one packet of
    ``packet_bytes`` bytes; the tokens are the bytes (0..255), EOS 256."""

    flattening = "packet_bytes"
    weights = "none"
    vocab_size = BYTE_VALUES + 1
    eos_id = BYTE_VALUES

    def __init__(self, bitrate: int, sample_rate: int, frame_samples: int) -> None:
        self.bitrate, self.sample_rate, self.frame_samples = int(bitrate), int(sample_rate), int(frame_samples)
        self.packet_bytes = self._packet_bytes()
        self.tokens_per_frame = self.packet_bytes
        self.codebooks = [Codebook(BYTE_VALUES, self.packet_bytes * self.sample_rate / self.frame_samples)]

    @abstractmethod
    def _packet_bytes(self) -> int:
        """Bytes of every packet at ``bitrate``."""

    @abstractmethod
    def _encoder(self) -> Callable[[np.ndarray], bytes]:
        """A fresh encoder: one frame of int16 PCM -> its packet."""

    @abstractmethod
    def _decoder(self) -> tuple[Callable[[bytes], np.ndarray], int]:
        """A fresh decoder (one packet -> int16 PCM of one frame) and the codec's delay in samples."""

    def encoder_info(self) -> dict:
        return {"name": f"{self.codec} {self.bitrate} bit/s CBR, {self.sample_rate} Hz, "
                        f"{1000 * self.frame_samples // self.sample_rate} ms", "package": self.package,
                "version": self._package_version(), "weights": self.weights}

    @property
    def frame_rate(self) -> float:
        """Packets per second."""
        return self.sample_rate / self.frame_samples

    def check(self, utterance: Utterance) -> None:
        if utterance.audio is None or not utterance.sample_rate:
            raise UtteranceError(utterance.id, f"{self.name} encodes audio, but the utterance has none")
        audio = np.asarray(utterance.audio)
        if audio.ndim != 1 or not np.isfinite(audio).all():
            raise UtteranceError(utterance.id, f"audio must be finite and 1-D, got shape {audio.shape}")
        if round(len(audio) * self.sample_rate / utterance.sample_rate) < self.frame_samples:
            raise UtteranceError(utterance.id, f"{len(audio) / utterance.sample_rate:.4f} s is shorter than one "
                                               f"{self.name} frame ({self.frame_samples / self.sample_rate:.4f} s)")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        out = []
        for utterance in batch:
            self.check(utterance)
            pcm = to_pcm16(resample(utterance.audio, utterance.sample_rate, self.sample_rate))
            encode, n = self._encoder(), self.frame_samples
            packets = [encode(pcm[t * n:(t + 1) * n]) for t in range(len(pcm) // n)]
            if any(len(p) != self.packet_bytes for p in packets):
                raise RuntimeError(f"{self.name}: packets of {sorted({len(p) for p in packets})} bytes for utterance "
                                   f"{utterance.id!r}, not the constant {self.packet_bytes}")
            out.append(np.frombuffer(b"".join(packets), np.uint8).astype(np.int64))
        return out

    def packets(self, ids: np.ndarray) -> list[bytes]:
        """One utterance's ids (no EOS) cut back into its packets."""
        ids = np.asarray(ids, np.int64)
        if ids.size % self.packet_bytes or (ids.size and (ids.min() < 0 or ids.max() >= BYTE_VALUES)):
            raise ConfigValueError(f"{ids.size} ids are not whole {self.name} packets of {self.packet_bytes} bytes")
        data = ids.astype(np.uint8).tobytes()
        return [data[i:i + self.packet_bytes] for i in range(0, len(data), self.packet_bytes)]

    @property
    def decoded_sample_rate(self) -> int:
        return self.sample_rate

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """The codec's reconstruction of one utterance (float32 at ``sample_rate``, frames × frame_samples long),
        its delay removed."""
        packets = self.packets(ids)
        decode, delay = self._decoder()
        pcm = np.concatenate([decode(p) for p in packets] or [np.zeros(0, np.int16)])
        length = len(packets) * self.frame_samples
        audio = pcm[delay:].astype(np.float32) / 32768.0
        return np.pad(audio, (0, length - len(audio)))


class OpusRepresentation(PacketCodec):
    """Opus (libopus through ``opuslib-next-bundled``) in speech mode at a constant bitrate, 20 ms packets."""

    codec = "opus"
    package = "opuslib-next-bundled"

    def __init__(self, bitrate: int = 6000, sample_rate: int = 16000, frame_ms: int = 20) -> None:
        if sample_rate not in (8000, 12000, 16000, 24000, 48000) or frame_ms not in (10, 20, 40, 60):
            raise ConfigValueError(f"opus: sample_rate {sample_rate} / frame_ms {frame_ms} not supported; use 8000, "
                                   "12000, 16000, 24000 or 48000 Hz and 10, 20, 40 or 60 ms")
        super().__init__(bitrate, sample_rate, sample_rate * frame_ms // 1000)
        self.name = f"opus_{self.bitrate / 1000:g}kbps"

    def _packet_bytes(self) -> int:
        if not 6000 <= self.bitrate <= 510000 or (self.bitrate * self.frame_samples) % (8 * self.sample_rate):
            raise ConfigValueError(f"opus: bitrate {self.bitrate} bit/s must lie in [6000, 510000] and give whole "
                                   f"bytes per {self.frame_samples}-sample packet")
        return self.bitrate * self.frame_samples // (8 * self.sample_rate)

    def _encoder(self) -> Callable[[np.ndarray], bytes]:
        opus = _package("opuslib_next")
        encoder = opus.Encoder(self.sample_rate, 1, "voip")
        encoder.signal, encoder.vbr, encoder.bitrate = opus.SIGNAL_VOICE, 0, self.bitrate
        return lambda frame: encoder.encode(frame.tobytes(), len(frame))

    def _decoder(self) -> tuple[Callable[[bytes], np.ndarray], int]:
        opus = _package("opuslib_next")
        decoder = opus.Decoder(self.sample_rate, 1)
        delay = opus.Encoder(self.sample_rate, 1, "voip").lookahead
        return (lambda packet: np.frombuffer(decoder.decode(packet, self.frame_samples), np.int16)), delay


class LC3Representation(PacketCodec):
    """LC3, Bluetooth LE Audio's codec (Google's liblc3 through ``lc3py``), 10 ms frames."""

    codec = "lc3"
    package = "lc3py"
    FRAME_US = 10000

    def __init__(self, bitrate: int = 16000, sample_rate: int = 16000) -> None:
        super().__init__(bitrate, sample_rate, sample_rate * self.FRAME_US // 1_000_000)
        self.name = f"lc3_{self.bitrate / 1000:g}kbps"

    def _packet_bytes(self) -> int:
        lc3 = _package("lc3")
        try:
            size = lc3.Encoder(self.FRAME_US, self.sample_rate).get_frame_bytes(self.bitrate)
        except lc3.BaseError as e:
            raise ConfigValueError(f"lc3: {self.sample_rate} Hz is not an LC3 rate (8000, 16000, 24000, 32000, "
                                   f"48000): {e}") from e
        if size * 8 * self.sample_rate != self.bitrate * self.frame_samples:
            raise ConfigValueError(f"lc3: {self.bitrate} bit/s is not a whole number of bytes per 10 ms frame within "
                                   f"LC3's range at {self.sample_rate} Hz (nearest: {size} bytes)")
        return size

    def _encoder(self) -> Callable[[np.ndarray], bytes]:
        encoder = _package("lc3").Encoder(self.FRAME_US, self.sample_rate)
        return lambda frame: encoder.encode(frame.tobytes(), self.packet_bytes, bit_depth=16)

    def _decoder(self) -> tuple[Callable[[bytes], np.ndarray], int]:
        decoder = _package("lc3").Decoder(self.FRAME_US, self.sample_rate)
        return (lambda packet: np.frombuffer(decoder.decode(packet, bit_depth=16), np.int16)), \
            decoder.get_delay_samples()
