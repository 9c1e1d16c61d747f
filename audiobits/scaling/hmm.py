"""A token source of exactly computable per-token score with long-range structure: a sparse hidden Markov model.

``states`` hidden states, each staying put with probability ``stay`` or moving to one of ``successors`` others, and
emitting one of ``emissions`` symbols of its own (Dirichlet weights). The symbol stream hides the state: knowing
where the chain is takes many tokens of history, so a model needs long context to approach the source. Utterances
cut the continuous chain at lengths drawn iid from a given distribution; an end-of-utterance token follows each.
The true conditional probability of every token, EOS included, is exact: the forward algorithm (scaled, its log
normalisers summed) for symbols, and the length distribution's hazard for EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG2 = np.log(2.0)


@dataclass
class HiddenMarkovSource:
    """Transition [S, S], emission [S, V] (rows sum to 1) and the distribution of utterance lengths (content
    tokens; ``length_probs[n]`` = P(length = n))."""

    transition: np.ndarray
    emission: np.ndarray
    length_probs: np.ndarray

    @property
    def vocab(self) -> int:
        """Content symbols; the end-of-utterance id is ``vocab``."""
        return self.emission.shape[1]

    @property
    def stationary(self) -> np.ndarray:
        values, vectors = np.linalg.eig(self.transition.T)
        pi = np.abs(np.real(vectors[:, np.argmin(np.abs(values - 1.0))]))
        return pi / pi.sum()

    def eos_hazard(self) -> np.ndarray:
        """P(EOS after n content tokens | the utterance reached n), for n = 0 … max length."""
        survival = np.cumsum(self.length_probs[::-1])[::-1]  # P(length ≥ n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(survival > 0, self.length_probs / np.maximum(survival, 1e-300), 1.0)


def random_source(states: int, vocab: int, length_probs: np.ndarray, emissions: int = 8, successors: int = 4,
                  stay: float = 0.9, seed: int = 0) -> HiddenMarkovSource:
    """A random sparse HMM: sticky states, ``successors`` next states each (the ring's next one and random others),
    ``emissions`` random symbols each (Dirichlet(1) weights)."""
    if emissions > vocab or successors >= states:
        raise ValueError(f"need emissions ≤ vocab ({emissions} > {vocab}?) and successors < states "
                         f"({successors} ≥ {states}?)")
    rng = np.random.default_rng(seed)
    transition = np.zeros((states, states))
    emission = np.zeros((states, vocab))
    for s in range(states):
        ring = (s + 1) % states  # a ring through every state keeps the chain irreducible (one stationary law)
        pool = np.setdiff1d(np.arange(states), [s, ring])
        others = np.append(ring, rng.choice(pool, successors - 1, replace=False))
        transition[s, others] = (1.0 - stay) * rng.dirichlet(np.ones(successors))
        transition[s, s] = stay
        emission[s, rng.choice(vocab, emissions, replace=False)] = rng.dirichlet(np.ones(emissions))
    lengths = np.asarray(length_probs, float)
    return HiddenMarkovSource(transition, emission, lengths / lengths.sum())


def sample_states(source: HiddenMarkovSource, length: int, rng: np.random.Generator, start: int) -> np.ndarray:
    """``length`` consecutive hidden states after state ``start``."""
    cumulative = np.cumsum(source.transition, axis=1)
    uniforms = rng.random(length)
    out = np.empty(length, dtype=np.int64)
    state = start
    last = source.transition.shape[0] - 1
    for i in range(length):
        state = min(int(np.searchsorted(cumulative[state], uniforms[i], side="right")), last)
        out[i] = state
    return out


def sample_symbols(source: HiddenMarkovSource, states: np.ndarray, rng: np.random.Generator,
                   chunk: int = 1 << 16) -> np.ndarray:
    """One emitted symbol per hidden state (vectorised over the emission supports)."""
    order = np.argsort(-source.emission, axis=1)
    width = int((source.emission > 0).sum(axis=1).max())
    support = order[:, :width]
    cumulative = np.cumsum(np.take_along_axis(source.emission, support, axis=1), axis=1)
    out = np.empty(len(states), dtype=np.int64)
    for start in range(0, len(states), chunk):
        s = states[start:start + chunk]
        picks = (rng.random(len(s))[:, None] >= cumulative[s]).sum(axis=1)
        out[start:start + chunk] = support[s, np.minimum(picks, width - 1)]
    return out


def forward_bits(source: HiddenMarkovSource, symbols: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """−log2 p(x_t | x_<t) of each content symbol of a continuous chain (EOS tokens removed), by the scaled
    forward algorithm; the first symbol is predicted from ``prior`` over the state before it (stationary)."""
    belief = source.stationary if prior is None else np.asarray(prior, float)
    transition, emission_t = source.transition, np.ascontiguousarray(source.emission.T)
    bits = np.empty(len(symbols))
    for t, x in enumerate(symbols):
        joint = (belief @ transition) * emission_t[x]
        total = joint.sum()
        bits[t] = -np.log(total) / LOG2
        belief = joint / total
    return bits


def stream_bits(source: HiddenMarkovSource, lengths: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """The true source's bits for every token of a stream of utterances (content ``lengths`` each, ``symbols``
    concatenated without EOS), in stream order with one EOS after each utterance."""
    hazard = source.eos_hazard()
    content = forward_bits(source, symbols)
    out = np.empty(len(symbols) + len(lengths))
    at, used = 0, 0
    for n in lengths:
        position = np.arange(n)
        out[at:at + n] = content[used:used + n] - np.log2(1.0 - hazard[position])
        out[at + n] = -np.log2(hazard[n])
        at, used = at + n + 1, used + n
    return out
