"""``codec2_<mode>``: David Rowe's Codec 2, a classical parametric speech codec (8 kHz, 3200 … 700 bit/s, no weights).

Encoding runs libcodec2 through ``pycodec2`` (which bundles it), one frame per call, a fresh codec state per
utterance (the encoder and decoder keep state across frames, so an utterance never depends on its neighbours).
Audio at other rates is resampled to 8 kHz by torchaudio over the whole recording (``codec2_<mode>``, the default),
or by :mod:`audiobits.representations.polyphase` block by block (``codec2_<mode>_polyphase``: read, resampled and
encoded a block at a time, frames carried across blocks, the same ids whatever the block size; other ids than
torchaudio's, hence the name).

Tokens: each frame's ``bits_per_frame`` bits (libcodec2 packs them most significant bit first) are cut into
fields of 8 bits from the front; the last field keeps the remainder (700C: 28 bits -> 8, 8, 8, 4). Field k is
one codebook level of ``2 ** width`` codes at the frame rate, and gets its own id range (``offset_k = Σ sizes of
the fields before it``), frame-major as Mimi. So the nominal bitrate Σ log2(size) × frame_rate is exactly the mode's
bitrate (no padding bits are counted), and ``unflatten`` gives back the exact bytes libcodec2 decodes.

| mode | frame | bits/frame | fields | tokens/s | vocab (with EOS) |
|---|---|---|---|---|---|
| 3200 | 20 ms | 64 | 8 × 256 | 400 | 2049 |
| 2400 | 20 ms | 48 | 6 × 256 | 300 | 1537 |
| 1600 | 40 ms | 64 | 8 × 256 | 200 | 2049 |
| 1400 | 40 ms | 56 | 7 × 256 | 175 | 1793 |
| 1300 | 40 ms | 52 | 6 × 256 + 16 | 175 | 1553 |
| 1200 | 40 ms | 48 | 6 × 256 | 150 | 1537 |
| 700C | 40 ms | 28 | 3 × 256 + 16 | 100 | 785 |
"""

from __future__ import annotations

from importlib import import_module

import numpy as np
import torch

from audiobits.bins import Codebook
from audiobits.representations.base import Utterance, UtteranceError
from audiobits.representations.codec import FrameMajorLevels, FramedRepresentation
from audiobits.representations.polyphase import PolyphaseResampler
from audiobits.errors import ConfigValueError

MODES = (3200, 2400, 1600, 1400, 1300, 1200, 700)  # pycodec2's mode keys; 700 is 700C
FIELD_BITS = 8
NAMES = {mode: f"codec2_{mode}" if mode != 700 else "codec2_700c" for mode in MODES}
RESAMPLERS = ("torchaudio", "polyphase")


def field_widths(bits_per_frame: int) -> list[int]:
    """Widths of the fields a frame's bits are cut into: 8 bits each, the remainder last."""
    widths = [FIELD_BITS] * (bits_per_frame // FIELD_BITS)
    return widths + [bits_per_frame % FIELD_BITS] if bits_per_frame % FIELD_BITS else widths


def frame_fields(frame: bytes, widths: list[int]) -> np.ndarray:
    """One frame's packed bytes (MSB first) -> its field values, e.g. a 4-bit last field is the top nibble."""
    return np.array([b >> (8 - w) for b, w in zip(frame, widths)], dtype=np.int64)


def fields_frame(fields: np.ndarray, widths: list[int]) -> bytes:
    """Field values -> the packed bytes libcodec2 reads (inverse of :func:`frame_fields`; padding bits zero)."""
    return bytes(int(v) << (8 - w) for v, w in zip(fields, widths))


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> the 16-bit PCM libcodec2 reads (rounded, clipped)."""
    return (audio * 32768.0).round().clip(-32768, 32767).astype(np.int16)


def _pycodec2():
    try:
        return import_module("pycodec2")
    except ImportError as e:
        raise ImportError("codec2 needs pycodec2 (it bundles libcodec2): pip install 'audiobits[codec2]'") from e


class Codec2Representation(FrameMajorLevels, FramedRepresentation):
    """Codec 2 frames as 8-bit fields (the last one narrower), each field position with its own id range."""

    sample_rate = 8000
    package = "pycodec2"
    weights = "none"
    flattening = "frame_major_field_offsets"

    def __init__(self, mode: int = 3200, resampler: str = "torchaudio") -> None:
        """
        Args:
            mode: bit/s (700 is 700C).
            resampler: "torchaudio" (``codec2_<mode>``, whole recording) or "polyphase" (``codec2_<mode>_polyphase``,
                block by block).
        """
        if mode not in MODES:
            raise ConfigValueError(f"codec2 mode must be one of {list(MODES)} (bit/s; 700 is 700C), got {mode!r}")
        if resampler not in RESAMPLERS:
            raise ConfigValueError(f"codec2 resampler must be one of {list(RESAMPLERS)}, got {resampler!r}")
        self.mode, self.resampler, self.reads_blocks = mode, resampler, resampler == "polyphase"
        self.name = NAMES[mode] if resampler == "torchaudio" else f"{NAMES[mode]}_{resampler}"
        probe = _pycodec2().Codec2(mode)
        self.hop = probe.samples_per_frame()
        self.bits_per_frame = probe.bits_per_frame()
        self.bytes_per_frame = probe.bytes_per_frame()
        self.widths = field_widths(self.bits_per_frame)
        sizes = np.array([1 << w for w in self.widths])
        self.codebooks = [Codebook(int(size), self.sample_rate / self.hop) for size in sizes]
        self.frames_per_level = (1,) * len(self.widths)
        self.tokens_per_frame = len(self.widths)
        self.eos_id = int(sizes.sum())
        self.vocab_size = self.eos_id + 1

    def encoder_info(self) -> dict:
        resampler = "" if self.resampler == "torchaudio" else f", {self.resampler} resampler"
        return {"name": f"codec2 {self.mode if self.mode != 700 else '700C'}{resampler}", "package": self.package,
                "version": self._package_version(), "weights": self.weights}

    def batch_key(self, num_samples: int) -> int:
        return num_samples  # one padded length per group: no utterance is ever encoded with extra zeros

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        audio = x[:, 0].cpu().numpy()
        frames = audio.shape[1] // self.hop
        codes = np.empty((len(audio), frames, len(self.widths)), dtype=np.int64)
        for row, samples in enumerate(audio):
            codec = _pycodec2().Codec2(self.mode)  # fresh state per utterance, carried from frame to frame
            self._encode_frames(codec, samples, codes[row])
        return [torch.from_numpy(codes[:, :, k]) for k in range(len(self.widths))]

    def _encode_frames(self, codec, samples: np.ndarray, codes: np.ndarray) -> None:
        """Encode the first ``len(codes)`` whole frames of ``samples`` into the rows of ``codes`` (fields per frame)."""
        for t in range(len(codes)):
            pcm = pcm16(samples[t * self.hop:(t + 1) * self.hop])  # per frame: no int16 copy of the recording
            codes[t] = frame_fields(codec.encode(pcm), self.widths)

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        if not self.reads_blocks:
            return super().encode(batch)
        for utterance in batch:
            self.check(utterance)
        return [self._encode_blocks(utterance) for utterance in batch]

    def _encode_blocks(self, utterance: Utterance) -> np.ndarray:
        """Flat ids of one utterance read, resampled and encoded block by block; the frame cut at a block's end
        carries over to the next, and libcodec2's state runs on, so the ids do not depend on the block size."""
        resampler = PolyphaseResampler(int(utterance.sample_rate), self.sample_rate)
        frames = self.num_frames(resampler.output_length(utterance.num_samples))
        codes = np.empty((frames, len(self.widths)), dtype=np.int64)
        codec, done, carry = _pycodec2().Codec2(self.mode), 0, np.zeros(0)
        for block in resampler.stream(utterance.blocks()):
            samples = np.concatenate([carry, block])
            whole = min(len(samples) // self.hop, frames - done)
            self._encode_frames(codec, samples, codes[done:done + whole])
            done, carry = done + whole, samples[whole * self.hop:]
        if done != frames:
            raise UtteranceError(utterance.id, f"gave {done} Codec 2 frames, expected {frames}")
        return self.flatten([codes[:, k] for k in range(len(self.widths))])

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        codec = _pycodec2().Codec2(self.mode)
        frames = np.stack(levels, axis=1)
        pcm = [codec.decode(fields_frame(fields, self.widths)) for fields in frames]
        return np.concatenate(pcm or [np.zeros(0, np.int16)]).astype(np.float32) / 32768.0
