"""What every representation offers: an utterance goes in, a flat array of token ids comes out.

API (stable; the corpora / sharded-encoding / DataModule code relies on it)::

    @dataclass
    class Utterance:                         # one item of a corpus
        id: str
        text: str
        audio: np.ndarray | None = None      # float mono in [-1, 1] (1-D), or None (text-only / precomputed codes)
        sample_rate: int | None = None       # rate of ``audio``; any rate, codecs resample
        codes: np.ndarray | None = None      # precomputed codec codes, 1-D int (Emilia-YODAS NeuCodec)
        seconds: float | None = None         # true duration when audio is None
        language: str | None = None          # language code of the speech (``en``, ``fr``, ``pt-br``) where known
        source: LazyAudio | None = None      # the recording read block by block instead of ``audio`` (lazy_audio.py),
                                             # served only to representations whose ``reads_blocks`` is True
        duration -> float                    # property: len(audio) / sample_rate, else seconds
        text_bytes -> int                    # property: UTF-8 bytes of text
        num_samples -> int                   # property: samples of audio or source
        blocks(frames) -> Iterator[ndarray]  # the audio in blocks, from memory or from source; non-finite refused

    class UtteranceError(ValueError)         # one utterance cannot be encoded; .utterance_id, .reason

    class Representation(ABC):
        name: str                            # registry name = bin directory name
        vocab_size: int                      # ids incl. specials (EOS)
        eos_id: int                          # the last id
        codebooks: list[bins.Codebook]       # one per quantizer level (text: [Codebook(50257, None)])
        flattening: str                      # how levels become one stream, e.g. "frame_major_level_offsets"
        tokens_per_frame: int                # flat tokens per coarse frame (mimi_all 8, snac_orpheus 7)
        sample_rate: int | None              # audio rate it encodes at; None: text
        weights: str                         # "pretrained" | local path | "random" | "precomputed" (text: "gpt2")
        reads_blocks: bool                   # encode takes Utterance.source and holds a block at a time (not whole)
        encoder_info() -> dict               # {"name", "package", "version", "weights"[, "checkpoint", "seed"]}
        to(device) -> Self                   # move the model (no-op without one)
        check(utterance) -> None             # raise UtteranceError if this utterance cannot be encoded
        encode(batch: list[Utterance]) -> list[np.ndarray]   # flat int64 ids WITHOUT eos, trimmed to whole frames;
                                                             # raises UtteranceError for a bad utterance
        bin_meta(corpus: str) -> bins.BinMeta                # everything but splits

    Optional, where the tokens can be turned back into audio (codecs, mulaw; `audiobits.quality.quality` checks for
    both):
        decoded_sample_rate: int             # rate of decode's output (NeuCodec decodes to 24 kHz)
        decode(ids) -> np.ndarray            # one utterance's ids (no EOS) -> float32 mono audio

    class FramedRepresentation(Representation)  # codec.py; fixed frames of ``hop`` samples (codecs, Codec 2)
        decode(ids) -> np.ndarray               # exactly frames x hop samples' duration at decoded_sample_rate
    class CodecRepresentation(FramedRepresentation)   # codec.py; neural codecs with weights
        __init__(weights="pretrained", device="cpu", seed=0)
        hop: int                                # samples per coarse frame at sample_rate (1920, 2048, 320)
        frames_per_level: tuple[int, ...]       # codes per coarse frame per level (SNAC (1, 2, 4))
        frame_rate -> float                     # coarse frames per second
        num_frames(n) -> int                    # n // hop: frames an utterance of n samples (codec rate) gets
        resampled_length(n, sr) -> int          # ceil(n * sample_rate / sr)
        batch_key(n) -> int                     # utterances with equal keys share one padded batch (0: all)
        flatten(levels) / unflatten(ids)        # per-level code arrays <-> flat ids (inverse of each other)

    audiobits.representations.build(name, **kwargs) -> Representation
        names: text, mimi_sem, mimi_all (MimiRepresentation(num_codebooks=1|8)), snac_orpheus,
        snac_orpheus_pos (SnacRepresentation(offsets="level"|"position")), neucodec
        (NeuCodecRepresentation(weights="precomputed") takes Utterance.codes, loads no model), phonemes, mulaw,
        mulaw_polyphase and codec2_<mode>_polyphase (block by block, polyphase.py), utf8,
        tekken (multilingual BPE), mimi_2 ... mimi_32, codec2_<mode> (codec2.py), encodec_<kbps>kbps,
        dac_<khz>khz_<n>q, xcodec_<kbps>kbps (hf_codecs.py); any other subclass through
        datamodules.RepresentationDataModule (class_path)

``encode(batch)[i] == encode([batch[i]])[0]`` for any mix of lengths and rates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import TypeVar

import numpy as np

from audiobits.bins import BinMeta, Codebook
from audiobits.representations.lazy_audio import BLOCK_FRAMES, LazyAudio

Self = TypeVar("Self", bound="Representation")


@dataclass
class Utterance:
    """One item of a corpus: an id, its transcript and either its audio or precomputed codec codes."""

    id: str
    text: str
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    codes: np.ndarray | None = None
    seconds: float | None = None
    language: str | None = None
    source: LazyAudio | None = None

    @property
    def duration(self) -> float:
        """True duration in seconds: from the audio (or its lazy source) when present, else the recorded ``seconds``."""
        if (self.audio is not None or self.source is not None) and self.sample_rate:
            return self.num_samples / self.sample_rate
        if self.seconds is None:
            raise UtteranceError(self.id, "has neither audio with a sample_rate nor seconds; set Utterance.seconds "
                                          "to its true duration")
        return float(self.seconds)

    @property
    def text_bytes(self) -> int:
        """UTF-8 bytes of the transcript (the denominator of bits/byte)."""
        return len(self.text.encode("utf-8"))

    @property
    def num_samples(self) -> int:
        """Samples of the audio, in memory or in the lazy source (0 without either)."""
        if self.audio is not None:
            return len(self.audio)
        return self.source.frames if self.source is not None else 0

    def blocks(self, frames: int | None = None) -> Iterator[np.ndarray]:
        """The audio as consecutive 1-D blocks of ``frames`` (default `BLOCK_FRAMES`) samples, sliced from ``audio``
        or read from ``source``; a block with NaN/inf or a source that cannot be read raises UtteranceError."""
        frames = frames or BLOCK_FRAMES
        if self.audio is not None:
            audio = np.asarray(self.audio)
            if audio.ndim != 1:
                raise UtteranceError(self.id, f"audio must be 1-D mono, got shape {audio.shape}; mix it down first")
            chunks: Iterator[np.ndarray] = (audio[start:start + frames] for start in range(0, len(audio), frames))
        elif self.source is not None:
            chunks = self.source.blocks(frames)
        else:
            raise UtteranceError(self.id, "has no audio (neither samples nor a source to read them from)")
        try:
            for start, block in enumerate(chunks):
                if not np.isfinite(block).all():
                    raise UtteranceError(self.id, f"audio holds NaN or inf samples (block {start} of {frames})")
                yield block
        except (RuntimeError, OSError) as e:  # soundfile.LibsndfileError is a RuntimeError
            raise UtteranceError(self.id, f"cannot read audio {self.source.label if self.source else ''}: {e}") from e


class UtteranceError(ValueError):
    """One utterance cannot be encoded (empty, non-finite, wrong shape ...); the corpus drops it everywhere."""

    def __init__(self, utterance_id: str, reason: str) -> None:
        super().__init__(f"utterance {utterance_id!r}: {reason}")
        self.utterance_id = utterance_id
        self.reason = reason


def check_transcript(utterance: Utterance, use: str) -> None:
    """Refuse an utterance whose transcript is empty (``use``: what the stream makes of it), so the corpus drops it."""
    if not utterance.text.strip():
        raise UtteranceError(utterance.id, f"the transcript is empty; {use}")


class Representation(ABC):
    """A way to turn utterances into one flat stream of token ids (the registry: `audiobits.representations.build`)."""

    name: str
    vocab_size: int
    eos_id: int
    codebooks: list[Codebook]
    flattening: str
    tokens_per_frame: int = 1
    sample_rate: int | None = None
    weights: str = "pretrained"
    package: str = ""  # PyPI distribution whose version is recorded
    reads_blocks: bool = False  # True: encode reads Utterance.source block by block, memory bounded by the block

    @abstractmethod
    def encoder_info(self) -> dict:
        """Name, package, version and weights id of the encoder, as meta.json records them."""

    def _package_version(self) -> str | None:
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return None

    def to(self: Self, device: str) -> Self:
        """Move the encoder to ``device``; representations without a model ignore it."""
        return self

    def check(self, utterance: Utterance) -> None:
        """Raise UtteranceError when ``utterance`` cannot be encoded by this representation."""

    @abstractmethod
    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        """Flat int64 token ids per utterance, without the end-of-utterance token, trimmed to the true duration."""

    def bin_meta(self, corpus: str) -> BinMeta:
        """meta.json contents for a bin directory of this representation (splits are filled by the writer)."""
        return BinMeta(representation=self.name, corpus=corpus, encoder=self.encoder_info(),
                       vocab_size=self.vocab_size, eos_id=self.eos_id, codebooks=list(self.codebooks),
                       flattening=self.flattening, tokens_per_frame=self.tokens_per_frame)
