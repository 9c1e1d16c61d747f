"""A synthetic token corpus of exactly known entropy rate, for checking the whole measuring path end to end.

A random Markov chain of order k (default 1: each symbol depends on the one before; ``--order 2``: on the two
before) over ``vocab`` symbols runs continuously; after every ``utterance_len`` symbols one end-of-utterance token is
written (it is predictable from position, so it adds no information). The stream's entropy rate is therefore
``H_chain · L / (L + 1)`` bits per token; meta.json also records the true score of the val targets themselves. A
model that reports less is leaking the future. `CopySource` is its long-range counterpart (a symbol repeats the one
``distance`` back): it shows what a longer evaluation context buys.

    audiobits synthetic --out data/synthetic/markov
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobits.bins import BinMeta, BinWriter, Codebook
from audiobits.files import check_output_dir
from audiobits.analysis.kgram import gram_keys
from audiobits.analysis.known_truth import ENTROPY_RATE_KEY, TRUE_VAL_KEY
from audiobits.metrics import markov_entropy_rate
from audiobits.analysis.conditional import CONDITIONS, condition_modes
from audiobits.demo.synthetic_paired import PairedSource, write_paired_bins

FRAME_RATE = 50.0  # pretend tokens are frames of a 50 Hz codec, so bits/sec is defined


@dataclass
class MarkovSource:
    """A Markov chain of order k over ``vocab`` symbols: row ``h`` of ``transition`` [vocab^k, vocab] is the next
    symbol's law after the k symbols whose :func:`gram_keys` key is ``h`` (oldest most significant)."""

    transition: np.ndarray  # [vocab ** order, vocab], rows sum to 1
    utterance_len: int

    @property
    def vocab(self) -> int:
        return self.transition.shape[1]

    @property
    def order(self) -> int:
        return int(round(np.log(len(self.transition)) / np.log(self.vocab)))

    def history_state(self, symbols: np.ndarray) -> int:
        """The row of the chain after ``symbols`` (at least ``order`` of them)."""
        return int(gram_keys(np.asarray(symbols)[-self.order:], self.order, self.vocab)[0])

    def history_chain(self) -> np.ndarray:
        """The first-order chain on histories [vocab^k, vocab^k]: history h moves to (h · vocab + x) mod vocab^k."""
        rows = len(self.transition)
        chain = np.zeros((rows, rows))
        following = (np.arange(rows)[:, None] * self.vocab + np.arange(self.vocab)) % rows
        np.add.at(chain, (np.repeat(np.arange(rows), self.vocab), following.ravel()), self.transition.ravel())
        return chain

    @property
    def entropy_rate(self) -> float:
        """Bits per token of the stream with its end-of-utterance tokens."""
        length = self.utterance_len
        return markov_entropy_rate(self.history_chain()) * length / (length + 1)

    def oracle_bits(self, stream: np.ndarray, before: np.ndarray | None = None) -> float:
        """Bits/token the true source assigns to ``stream`` (symbols and EOS tokens, first token not scored; EOS
        tokens are free). ``before``: the order − 1 symbols before the stream (the chain runs on from the train
        split), without which a higher-order chain leaves its first symbols unscored."""
        before = np.zeros(0, np.int64) if before is None else np.asarray(before, np.int64)
        k = self.order
        symbols = np.concatenate([before, np.asarray(stream, np.int64)[stream != self.vocab]])
        histories = gram_keys(symbols[:-1], k, self.vocab)
        log_p = np.log2(self.transition[histories, symbols[k:]])
        target = np.arange(k, len(symbols)) >= len(before) + 1  # every symbol of the stream but its first
        return float(-log_p[target].sum() / (len(stream) - 1))


def random_source(vocab: int, utterance_len: int, concentration: float, seed: int, order: int = 1) -> MarkovSource:
    """Rows drawn from a symmetric Dirichlet: small ``concentration`` → peaked rows → low entropy."""
    rng = np.random.default_rng(seed)
    return MarkovSource(rng.dirichlet(np.full(vocab, concentration), size=vocab ** order), utterance_len)


def sample_chain(source: MarkovSource, length: int, rng: np.random.Generator, start: int = 0) -> np.ndarray:
    """``length`` consecutive symbols of the chain, starting from history row ``start`` (for order 1: after
    symbol ``start``)."""
    cumulative = np.cumsum(source.transition, axis=1)
    uniforms = rng.random(length)
    out = np.empty(length, dtype=np.int64)
    state, rows = start, len(cumulative)
    for i in range(length):
        symbol = min(int(np.searchsorted(cumulative[state], uniforms[i], side="right")), source.vocab - 1)
        out[i] = symbol
        state = (state * source.vocab + symbol) % rows
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
            stream = source.stream(count, rng)
            for i, tokens in enumerate(stream.reshape(count, utterance_len + 1)):
                writer.add(split, f"{split}-{i:06d}", tokens[:-1], seconds=(utterance_len + 1) / FRAME_RATE,
                           text_bytes=utterance_len)
        meta.encoder[TRUE_VAL_KEY] = source.oracle_bits(stream)  # meta.json is written when the block closes
    return source


def write_markov_bins(out: str | Path, vocab: int = 32, utterance_len: int = 100, train_utterances: int = 400,
                      val_utterances: int = 100, concentration: float = 0.3, seed: int = 0,
                      order: int = 1) -> MarkovSource:
    """Write a complete bin directory of the synthetic source and return the source (with its entropy rate)."""
    if utterance_len < order:
        raise ValueError(f"utterance_len {utterance_len} must be at least the order {order}")
    source = random_source(vocab, utterance_len, concentration, seed, order)
    rng = np.random.default_rng(seed + 1)
    meta = BinMeta(representation="markov", corpus="synthetic",
                   encoder={"name": "markov", "package": "audiobits", "version": "0", "weights": "synthetic",
                            "order": order, ENTROPY_RATE_KEY: source.entropy_rate},
                   vocab_size=vocab + 1, eos_id=vocab, codebooks=[Codebook(vocab, FRAME_RATE)], flattening="none")
    state, symbols = 0, np.zeros(order, np.int64)
    with BinWriter(out, meta) as writer:
        for split, count in (("train", train_utterances), ("val", val_utterances)):
            before, stream = symbols[len(symbols) - order + 1:], []  # the chain runs on from the split before
            for i in range(count):
                symbols = sample_chain(source, utterance_len, rng, state)
                state = source.history_state(symbols)
                writer.add(split, f"{split}-{i:06d}", symbols, seconds=(utterance_len + 1) / FRAME_RATE,
                           text_bytes=utterance_len)
                stream += [symbols, [vocab]]
        meta.encoder[TRUE_VAL_KEY] = source.oracle_bits(np.concatenate(stream), before)  # written on closing
    return source


def main(out: str = "data/synthetic/markov", vocab: int = 32, utterance_len: int = 100,
         train_utterances: int | None = None, val_utterances: int | None = None, concentration: float = 0.3,
         seed: int = 0, order: int = 1, paired: bool = False) -> None:
    """Token bins of a source of known entropy rate.

    A random Markov chain, or with --paired true the paired corpus of `audiobits.demo.synthetic_paired`; prints its
    exact entropy rate (its exact conditional entropies).

    Args:
        out: bin directory to write (with --paired: the folder of its audio/ and transcript/ bins).
        vocab: chain symbols (the EOS id is ``vocab``).
        utterance_len: symbols per utterance.
        train_utterances: utterances in train.bin (default 400; paired 12000).
        val_utterances: utterances in val.bin (default 100; paired 400).
        concentration: Dirichlet concentration of the transition rows.
        seed: random seed.
        order: symbols of history the next one depends on (1: a first-order chain).
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
                               concentration, seed, order)
    print(f"wrote {out}: true entropy rate {source.entropy_rate:.4f} bits/token")
