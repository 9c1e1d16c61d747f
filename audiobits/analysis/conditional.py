"""The conditional numbers of a paired run (results.json ``conditional``; docs/conditional.md).

One dropout-trained model scores the same validation utterances once per condition mode (nothing, the paired
stream, the speaker prompt, both). Each mode's cross-entropy is an upper bound on the target's conditional entropy
(``H(A)``, ``H(A|T)``, ``H(A|S)``, ``H(A|T,S)``, per token and per second of speech); a difference of two of them
(``I(A;T) = H(A) − H(A|T)``, ``I(A;S|T) = H(A|T) − H(A|T,S)``) is an estimate, not a bound, with a paired
bootstrap interval: the same resampled utterances (whole speakers when known) enter both terms.
"""

from __future__ import annotations

import itertools

from dataclasses import asdict, dataclass

import numpy as np

from audiobits import metrics
from audiobits.bins import BinMeta, SplitBins
from audiobits.results import ValidationSums, intervals, rates, scored_share


PAIRED, SPEAKER = "paired", "speaker"  # the conditions a target can be given
CONDITIONS = (PAIRED, SPEAKER)


def mode_name(mode: tuple[str, ...]) -> str:
    """``none``, ``paired``, ``speaker`` or ``paired+speaker``: a set of conditions as a results.json key."""
    return "+".join(mode) or "none"


def condition_modes(conditions: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every subset of ``conditions`` (in `CONDITIONS` order), smallest first: the modes one dropout model scores."""
    ordered = [c for c in CONDITIONS if c in conditions]
    return [mode for size in range(len(ordered) + 1) for mode in itertools.combinations(ordered, size)]

# information terms: name → (the mode without the condition, the mode with it)
INFORMATION_TERMS = {
    "paired": ((), (PAIRED,)),  # I(A;T)
    "speaker": ((), (SPEAKER,)),  # I(A;S)
    "speaker_given_paired": ((PAIRED,), (PAIRED, SPEAKER)),  # I(A;S|T)
    "paired_given_speaker": ((SPEAKER,), (PAIRED, SPEAKER)),  # I(A;T|S)
}


@dataclass
class Information:
    """A difference of two conditional entropies on the same utterances, in bits/sec and bits/utterance, with its
    paired 95 % bootstrap interval (``ci_kind``: speakers or utterances)."""

    bits_per_sec: float
    bits_per_utterance: float
    ci95: list[float]
    ci_kind: str


def information(nats_without: np.ndarray, nats_with: np.ndarray, seconds: np.ndarray,
                speakers: np.ndarray | None = None, resamples: int = 10_000, seed: int = 0) -> Information:
    """``Σ (nats_without − nats_with) / Σ seconds`` in bits/sec: per utterance the nats a condition saves. The
    bootstrap resamples utterances (whole ``speakers`` when given) once for both terms: a paired interval."""
    saved = np.asarray(nats_without, dtype=np.float64) - np.asarray(nats_with, dtype=np.float64)
    ci = metrics.bootstrap_bits_per_second(saved, seconds, resamples=resamples, seed=seed, clusters=speakers)
    return Information(metrics.bits_per_second(float(saved.sum()), float(np.sum(seconds))),
                       metrics.bits_per_token(float(saved.sum()), len(saved)), list(ci),
                       "utterances" if speakers is None else "speakers")


def mode_estimate(meta: BinMeta, val: SplitBins, sums: ValidationSums, resamples: int, seed: int) -> dict:
    """One mode's bits/token, bits/sec (an upper bound on that conditional entropy) and its bootstrap interval."""
    rate, ci = rates(meta, val, sums), intervals(val, sums, resamples, seed)
    keys = ("val_tokens", "val_utterances", "val_seconds", "bits_per_token", "tokens_per_sec", "bits_per_sec")
    return {**{k: rate[k] for k in keys}, "bits_per_sec_ci95": ci["bits_per_sec_ci95"], "ci_kind": ci["ci_kind"]}


def decomposition(modes: dict[str, dict], terms: dict[str, Information]) -> dict | None:
    """H(A) in bits/sec split into words I(A;T), speaker I(A;S|T) and rest H(A|T,S), which sum to H(A) exactly (without
    a speaker condition: words and rest H(A|T), speaker None); None unless the run has a paired stream."""
    if "paired" not in terms:
        return None
    speaker = terms.get("speaker_given_paired")
    rest = modes["paired+speaker" if speaker else "paired"]["bits_per_sec"]
    return {"total": modes["none"]["bits_per_sec"], "words": terms["paired"].bits_per_sec,
            "speaker": speaker.bits_per_sec if speaker else None, "rest": rest}


def conditional_results(meta: BinMeta, val: SplitBins, by_mode: dict[tuple[str, ...], ValidationSums],
                        target: str, paired: str | None, resamples: int = 10_000, seed: int = 0) -> dict:
    """results.json's ``conditional`` block from each mode's sums over the same val utterances of the target."""
    first = next(iter(by_mode.values()))
    scored = first.tokens_per_utterance > 0
    seconds = (val.seconds * scored_share(val, first))[scored]
    speakers = None if val.speakers is None else val.speakers[scored]
    modes = {mode_name(m): mode_estimate(meta, val, sums, resamples, seed) for m, sums in by_mode.items()}
    terms = {name: information(by_mode[without].nats_per_utterance[scored], by_mode[given].nats_per_utterance[scored],
                               seconds, speakers, resamples, seed)
             for name, (without, given) in INFORMATION_TERMS.items() if without in by_mode and given in by_mode}
    return {"target": target, "paired": paired, "modes": modes,
            "information": {name: asdict(term) for name, term in terms.items()},
            "decomposition": decomposition(modes, terms)}
