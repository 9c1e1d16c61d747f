"""Per-language results: the validation sums of one run split by each utterance's language (results.json
``languages``), and the cross-language reference they are read against.

Each language's numbers condition on the same model and the same evaluation pass as the run's headline; only the
utterances summed differ. Its interval resamples that language's speakers when it has at least two, else its
utterances (``ci_kind`` says which): one speaker per language leaves speaker variation out of the interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from audiobits import metrics
@dataclass(frozen=True)
class LanguageScore:
    """One language's share of a validation pass: how much was scored and the rates it gives."""

    language: str
    utterances: int
    speakers: int | None
    seconds: float
    tokens: int
    bits_per_token: float
    tokens_per_sec: float
    bits_per_sec: float
    bits_per_sec_ci95: list[float]
    ci_kind: str


def score_languages(languages: np.ndarray, nats: np.ndarray, tokens: np.ndarray, seconds: np.ndarray,
                    speakers: np.ndarray | None = None, resamples: int = 10_000, seed: int = 0
                    ) -> dict[str, LanguageScore]:
    """Per language (sorted), bits/token, tokens/s and bits/s of its scored utterances (``tokens > 0``) with a
    bootstrap 95 % interval; ``seconds`` are each utterance's scored seconds."""
    languages, nats, tokens, seconds = (np.asarray(a) for a in (languages, nats, tokens, seconds))
    out: dict[str, LanguageScore] = {}
    for language in sorted(set(languages[tokens > 0].tolist())):
        mine = (languages == language) & (tokens > 0)
        voices = None if speakers is None else np.asarray(speakers)[mine]
        clusters = voices if voices is not None and len(np.unique(voices)) >= 2 else None
        total_nats, total_tokens, total_seconds = float(nats[mine].sum()), int(tokens[mine].sum()), \
            float(seconds[mine].sum())
        out[language] = LanguageScore(
            language=language, utterances=int(mine.sum()),
            speakers=None if voices is None else int(len(np.unique(voices))), seconds=total_seconds,
            tokens=total_tokens, bits_per_token=metrics.bits_per_token(total_nats, total_tokens),
            tokens_per_sec=metrics.tokens_per_second(total_tokens, total_seconds),
            bits_per_sec=metrics.bits_per_second(total_nats, total_seconds),
            bits_per_sec_ci95=list(metrics.bootstrap_bits_per_second(nats[mine], seconds[mine], resamples=resamples,
                                                                     seed=seed, clusters=clusters)),
            ci_kind="speakers" if clusters is not None else "utterances")
    return out


def languages_block(scores: dict[str, LanguageScore]) -> dict[str, dict]:
    """results.json's ``languages``: language -> its `LanguageScore` fields."""
    return {language: asdict(score) for language, score in scores.items()}
