"""A synthetic token corpus of exactly known entropy rate, for checking the whole measuring path end to end.

A random first-order Markov chain over ``vocab`` symbols runs continuously; after every ``utterance_len`` symbols
one end-of-utterance token is written (it is predictable from position, so it adds no information). The stream's
entropy rate is therefore ``H_chain · L / (L + 1)`` bits per token. A model that reports less is leaking the future.
`CopySource` is its long-range counterpart (a symbol repeats the one ``distance`` back): it shows what a longer
evaluation context buys.

    audiobits synthetic --out data/synthetic/markov
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jsonargparse import auto_cli

from audiobits.arguments import PARSER_KWARGS
from audiobits.bins import BinMeta, BinWriter, Codebook
from audiobits.files import check_output_dir
from audiobits.metrics import markov_entropy_rate
from audiobits.paired_windows import CONDITIONS, condition_modes
from audiobits.synthetic_paired import PairedSource, write_paired_bins

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


@dataclass
class CopySource:
    """Long-range structure: the token at stream position ``t`` repeats the one at ``t − distance`` with probability
    ``copy`` (when that one is a symbol, not an end-of-utterance token), else it is uniform over ``vocab``; an EOS
    follows every ``utterance_len`` symbols. A model whose context does not reach ``distance`` tokens back sees
    uniform noise; one that does pays only the copy entropy."""

    vocab: int
    distance: int
    copy: float
    utterance_len: int

    def stream(self, utterances: int, rng: np.random.Generator) -> np.ndarray:
        """``utterances`` utterances of one split as a continuous stream, EOS (id ``vocab``) after each."""
        period = self.utterance_len + 1
        tokens = rng.integers(0, self.vocab, size=utterances * period)
        tokens[period - 1::period] = self.vocab
        copies = rng.random(len(tokens)) < self.copy
        for t in range(self.distance, len(tokens)):
            if copies[t] and tokens[t] != self.vocab and tokens[t - self.distance] != self.vocab:
                tokens[t] = tokens[t - self.distance]
        return tokens

    def oracle_bits(self, stream: np.ndarray) -> float:
        """Bits/token the true source assigns to ``stream`` (EOS tokens are free, first token not scored)."""
        k, eos = self.distance, self.vocab
        p = np.ones(len(stream))
        symbol = stream != eos
        p[symbol] = 1.0 / self.vocab
        can_copy = np.zeros(len(stream), dtype=bool)
        can_copy[k:] = symbol[k:] & (stream[:-k] != eos)
        hit = np.zeros(len(stream), dtype=bool)
        hit[k:] = stream[k:] == stream[:-k]
        p[can_copy] = self.copy * hit[can_copy] + (1 - self.copy) / self.vocab
        return float(-np.log2(p[1:]).sum() / (len(stream) - 1))


def write_copy_bins(out: str | Path, vocab: int = 16, distance: int = 32, copy: float = 0.8,
                    utterance_len: int = 200, train_utterances: int = 750, val_utterances: int = 40,
                    seed: int = 0) -> CopySource:
    """Write a complete bin directory of a :class:`CopySource` (each split one continuous stream) and return it."""
    source = CopySource(vocab, distance, copy, utterance_len)
    rng = np.random.default_rng(seed)
    meta = BinMeta(representation="copy", corpus="synthetic",
                   encoder={"name": "copy", "package": "audiobits", "version": "0", "weights": "synthetic",
                            "copy_distance": distance, "copy_probability": copy},
                   vocab_size=vocab + 1, eos_id=vocab, codebooks=[Codebook(vocab, FRAME_RATE)], flattening="none")
    with BinWriter(out, meta) as writer:
        for split, count in (("train", train_utterances), ("val", val_utterances)):
            utterances = source.stream(count, rng).reshape(count, utterance_len + 1)
            for i, tokens in enumerate(utterances):
                writer.add(split, f"{split}-{i:06d}", tokens[:-1], seconds=(utterance_len + 1) / FRAME_RATE,
                           text_bytes=utterance_len)
    return source


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
    """`audiobits synthetic --out DIR`: write the synthetic Markov corpus and print its entropy rate (``--paired
    true``: the paired corpus of `audiobits.synthetic_paired` and its exact conditional entropies)."""
    def synthetic(out: str = "data/synthetic/markov", vocab: int = 32, utterance_len: int = 100,
                  train_utterances: int | None = None, val_utterances: int | None = None, concentration: float = 0.3,
                  seed: int = 0, paired: bool = False) -> None:
        """Write token bins of a random Markov chain with known entropy rate.

        Args:
            out: bin directory to write (with --paired: the folder of its audio/ and transcript/ bins).
            vocab: chain symbols (the EOS id is ``vocab``).
            utterance_len: symbols per utterance.
            train_utterances: utterances in train.bin (default 400; paired 12000).
            val_utterances: utterances in val.bin (default 100; paired 400).
            concentration: Dirichlet concentration of the transition rows.
            seed: random seed.
            paired: write the paired audio/transcript corpus of exact conditional entropies instead (vocab,
                utterance_len and concentration do not apply).
        """
        check_output_dir(out, "--out")
        if paired:
            source = write_paired_bins(out, PairedSource(), train_utterances or 12_000, val_utterances or 400, seed)
            print(f"wrote {out}/audio and {out}/transcript: exact bits/token (bits/sec) "
                  + ", ".join(f"H(A{'|' + ','.join(m) if m else ''}) {source.bits_per_token(m):.4f} "
                              f"({source.bits_per_sec(m):.2f})" for m in condition_modes(CONDITIONS)))
            return
        source = write_markov_bins(out, vocab, utterance_len, train_utterances or 400, val_utterances or 100,
                                   concentration, seed)
        print(f"wrote {out}: true entropy rate {source.entropy_rate:.4f} bits/token")

    auto_cli(synthetic, args=argv, prog="audiobits synthetic", **PARSER_KWARGS)
