"""A synthetic paired corpus whose conditional entropies are exact: a "transcript" T and an "audio" stream A.

Each utterance has a speaker ``s`` (balanced over ``speakers``) and a transcript of ``symbols`` ids drawn uniformly
from ``alphabet``. Its audio is the speaker's voice token ``v_s`` followed by ``frames_per_symbol`` frames per
transcript symbol ``t``, frame id ``t · W + n`` with ``n`` i.i.d. noise of distribution ``noise`` (W values), then
EOS. Given T and S only the noise is left; T alone leaves the voice token (log2 S bits); without T the first frame
of each symbol also carries log2 |alphabet| bits (the rest of its frames repeat ``t``, readable as ``id // W``).
So per utterance, exactly:

    H(A|T,S) = m·r·h(noise)      H(A|T) = log2 S + m·r·h(noise)      I(A;T) = m·log2 |alphabet|
    H(A) = log2 S + m·log2 |alphabet| + m·r·h(noise)                   I(A;S|T) = log2 S

(m symbols, r frames each; EOS and utterance length are fixed, so free).

    audiobits synthetic --paired true --out data/synthetic/paired    # writes <out>/audio and <out>/transcript
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobits.bins import BinMeta, BinWriter, Codebook
from audiobits.analysis.conditional import PAIRED, SPEAKER

FRAME_RATE = 50.0  # audio tokens per second, so bits/sec is defined
NOISE = (0.5, 0.25, 0.125, 0.125)  # h = 1.75 bits


@dataclass(frozen=True)
class PairedSource:
    """The generating process and its exact entropies (bits per utterance, per token, per second)."""

    alphabet: int = 16
    symbols: int = 1
    frames_per_symbol: int = 8
    speakers: int = 8
    noise: tuple[float, ...] = NOISE

    @property
    def noise_bits(self) -> float:
        p = np.asarray(self.noise)
        return float(-(p * np.log2(p)).sum())

    @property
    def audio_vocab(self) -> int:
        """Frame ids, voice tokens, EOS."""
        return self.alphabet * len(self.noise) + self.speakers + 1

    @property
    def tokens_per_utterance(self) -> int:
        """Audio tokens per utterance: voice token, frames, EOS."""
        return self.symbols * self.frames_per_symbol + 2

    def bits_per_utterance(self, mode: tuple[str, ...]) -> float:
        """H(A | the conditions of ``mode``) of one utterance, exactly."""
        bits = self.symbols * self.frames_per_symbol * self.noise_bits
        bits += 0.0 if SPEAKER in mode else np.log2(self.speakers)
        return bits + (0.0 if PAIRED in mode else self.symbols * np.log2(self.alphabet))

    def bits_per_token(self, mode: tuple[str, ...]) -> float:
        return self.bits_per_utterance(mode) / self.tokens_per_utterance

    def bits_per_sec(self, mode: tuple[str, ...]) -> float:
        return self.bits_per_utterance(mode) * FRAME_RATE / self.tokens_per_utterance

    def utterance(self, rng: np.random.Generator, speaker: int) -> tuple[np.ndarray, np.ndarray]:
        """One utterance's transcript and audio tokens (neither with its EOS)."""
        transcript = rng.integers(0, self.alphabet, self.symbols)
        noise = rng.choice(len(self.noise), size=self.symbols * self.frames_per_symbol, p=self.noise)
        frames = np.repeat(transcript, self.frames_per_symbol) * len(self.noise) + noise
        return transcript, np.concatenate([[self.alphabet * len(self.noise) + speaker], frames])

    def oracle_bits(self, audio: np.ndarray, mode: tuple[str, ...]) -> float:
        """Bits the true source assigns to an audio split (utterances with EOS, back to back) given ``mode``, over
        every token but the split's first (as the model scores it), per scored token."""
        width, per = len(self.noise), self.tokens_per_utterance
        utterances = audio.reshape(-1, per)
        frames = utterances[:, 1:-1]
        bits = -np.log2(np.asarray(self.noise)[frames % width]).sum()
        if PAIRED not in mode:
            bits += frames[:, ::self.frames_per_symbol].size * np.log2(self.alphabet)
        if SPEAKER not in mode:
            bits += (len(utterances) - 1) * np.log2(self.speakers)  # the split's first token is not scored
        return float(bits / (audio.size - 1))


def write_paired_bins(out: str | Path, source: PairedSource = PairedSource(), train_utterances: int = 4000,
                      val_utterances: int = 400, seed: int = 0) -> PairedSource:
    """Write ``<out>/audio`` and ``<out>/transcript``: bin directories of the same utterances (ids, speakers)."""
    out, rng = Path(out), np.random.default_rng(seed)
    common = {"corpus": "synthetic_paired", "flattening": "none"}
    encoder = {"package": "audiobits", "version": "0", "weights": "synthetic"}
    audio_meta = BinMeta(representation="audio", encoder={"name": "paired_audio", **encoder},
                         vocab_size=source.audio_vocab, eos_id=source.audio_vocab - 1,
                         codebooks=[Codebook(source.audio_vocab - 1, FRAME_RATE)], **common)
    text_meta = BinMeta(representation="transcript", encoder={"name": "paired_transcript", **encoder},
                        vocab_size=source.alphabet + 1, eos_id=source.alphabet,
                        codebooks=[Codebook(source.alphabet, None)], **common)
    seconds = source.tokens_per_utterance / FRAME_RATE
    with BinWriter(out / "audio", audio_meta) as audio, BinWriter(out / "transcript", text_meta) as text:
        for split, count in (("train", train_utterances), ("val", val_utterances)):
            speakers = rng.permutation(np.arange(count) % source.speakers)
            for i, speaker in enumerate(speakers.tolist()):
                transcript, tokens = source.utterance(rng, speaker)
                uid, who = f"{split}-{i:06d}", f"speaker{speaker}"
                audio.add(split, uid, tokens, seconds=seconds, text_bytes=source.symbols, speaker=who)
                text.add(split, uid, transcript, seconds=seconds, text_bytes=source.symbols, speaker=who)
    return source
