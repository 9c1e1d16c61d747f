"""A synthetic token corpus of exactly known entropy rate, for checking the whole measuring path end to end.

A random first-order Markov chain over ``vocab`` symbols runs continuously; after every ``utterance_len`` symbols
one end-of-utterance token is written (it is predictable from position, so it adds no information). The stream's
entropy rate is therefore ``H_chain · L / (L + 1)`` bits per token. A model that reports less is leaking the future.

    audiobits synthetic --out data/synthetic/markov
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jsonargparse import auto_cli

from audiobits.bins import BinMeta, BinWriter, Codebook
from audiobits.metrics import markov_entropy_rate

FRAME_RATE = 50.0  # pretend tokens are frames of a 50 Hz codec, so bits/sec is defined


@dataclass
class MarkovSource:
    transition: np.ndarray  # [vocab, vocab], rows sum to 1
    utterance_len: int

    @property
    def entropy_rate(self) -> float:
        """Bits per token of the stream with its end-of-utterance tokens."""
        length = self.utterance_len
        return markov_entropy_rate(self.transition) * length / (length + 1)

    def oracle_bits(self, stream: np.ndarray) -> float:
        """Bits/token the true source assigns to ``stream`` (symbols and EOS tokens, first token not scored)."""
        eos = len(self.transition)
        symbols = stream[stream != eos]
        log_p = np.log2(self.transition[symbols[:-1], symbols[1:]])
        return float(-log_p.sum() / (len(stream) - 1))


def random_source(vocab: int, utterance_len: int, concentration: float, seed: int) -> MarkovSource:
    """Rows drawn from a symmetric Dirichlet: small ``concentration`` → peaked rows → low entropy."""
    rng = np.random.default_rng(seed)
    return MarkovSource(rng.dirichlet(np.full(vocab, concentration), size=vocab), utterance_len)


def sample_chain(source: MarkovSource, length: int, rng: np.random.Generator, start: int = 0) -> np.ndarray:
    """``length`` consecutive symbols of the chain, starting after symbol ``start``."""
    cumulative = np.cumsum(source.transition, axis=1)
    uniforms = rng.random(length)
    out = np.empty(length, dtype=np.int64)
    state = start
    for i in range(length):
        state = min(int(np.searchsorted(cumulative[state], uniforms[i], side="right")), len(cumulative) - 1)
        out[i] = state
    return out


def write_markov_bins(out: str | Path, vocab: int = 32, utterance_len: int = 100, train_utterances: int = 400,
                      val_utterances: int = 100, concentration: float = 0.3, seed: int = 0) -> MarkovSource:
    """Write a complete bin directory of the synthetic source and return the source (with its entropy rate)."""
    source = random_source(vocab, utterance_len, concentration, seed)
    rng = np.random.default_rng(seed + 1)
    meta = BinMeta(representation="markov", corpus="synthetic",
                   encoder={"name": "markov", "package": "audiobits", "version": "0", "weights": "synthetic",
                            "entropy_rate_bits_per_token": source.entropy_rate},
                   vocab_size=vocab + 1, eos_id=vocab, codebooks=[Codebook(vocab, FRAME_RATE)], flattening="none")
    state = 0
    with BinWriter(out, meta) as writer:
        for split, count in (("train", train_utterances), ("val", val_utterances)):
            for i in range(count):
                symbols = sample_chain(source, utterance_len, rng, state)
                state = int(symbols[-1])
                writer.add(split, f"{split}-{i:06d}", symbols, seconds=(utterance_len + 1) / FRAME_RATE,
                           text_bytes=utterance_len)
    return source


def main(argv: list[str] | None = None) -> None:
    """`audiobits synthetic --out DIR`: write the synthetic Markov corpus and print its entropy rate."""
    def synthetic(out: str = "data/synthetic/markov", vocab: int = 32, utterance_len: int = 100,
                  train_utterances: int = 400, val_utterances: int = 100, concentration: float = 0.3,
                  seed: int = 0) -> None:
        """Write token bins of a random Markov chain with known entropy rate.

        Args:
            out: bin directory to write.
            vocab: chain symbols (the EOS id is ``vocab``).
            utterance_len: symbols per utterance.
            train_utterances: utterances in train.bin.
            val_utterances: utterances in val.bin.
            concentration: Dirichlet concentration of the transition rows.
            seed: random seed.
        """
        source = write_markov_bins(out, vocab, utterance_len, train_utterances, val_utterances, concentration, seed)
        print(f"wrote {out}: true entropy rate {source.entropy_rate:.4f} bits/token")

    auto_cli(synthetic, args=argv, prog="audiobits synthetic")
