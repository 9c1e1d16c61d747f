"""bits/sec broken down per speaker and per utterance, from a run's ``val_utterances.npz`` (the headline pass's
per-utterance nats and seconds, :func:`audiobits.results.write_val_utterances`): where each stream's bits go."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobits import metrics
from audiobits.results import UTTERANCES_FILE

NO_SPEAKER = ""  # val_utterances.npz's speaker when the corpus records none


@dataclass(frozen=True)
class Share:
    """One speaker's or utterance's part of the headline pass: its summed cross-entropy, seconds and bits/sec."""

    name: str
    speaker: str
    utterances: int
    nats: float
    seconds: float

    @property
    def bits_per_sec(self) -> float:
        return metrics.bits_per_second(self.nats, self.seconds)


def read_utterances(run_dir: Path) -> dict[str, np.ndarray] | None:
    """The arrays of ``run_dir/val_utterances.npz`` (None when the run has none: written before it was)."""
    path = Path(run_dir) / UTTERANCES_FILE
    if not path.is_file():
        return None
    with np.load(path) as found:
        return {key: found[key] for key in found.files}


def per_utterance(utterances: dict[str, np.ndarray]) -> list[Share]:
    """Every scored utterance (at least one scored target) with its bits/sec, in split order."""
    scored = utterances["tokens"] > 0
    return [Share(str(uid), str(spk), 1, float(nats), float(sec))
            for uid, spk, nats, sec in zip(utterances["ids"][scored], utterances["speakers"][scored],
                                           utterances["nats"][scored], utterances["seconds"][scored])]


def per_speaker(utterances: dict[str, np.ndarray]) -> list[Share]:
    """Each speaker's Σ bits ÷ Σ seconds over their scored utterances, in order of first appearance; empty when the
    corpus records no speakers."""
    shares = per_utterance(utterances)
    if all(s.speaker == NO_SPEAKER for s in shares):
        return []
    order = list(dict.fromkeys(s.speaker for s in shares))
    return [Share(spk, spk, sum(1 for s in shares if s.speaker == spk),
                  sum(s.nats for s in shares if s.speaker == spk), sum(s.seconds for s in shares if s.speaker == spk))
            for spk in order]


def per_utterance_csv(run_dirs: dict[str, Path]) -> str:
    """``per_utterance.csv``: one line per run and scored utterance (run, utterance, speaker, nats, seconds,
    bits_per_sec); runs without val_utterances.npz are left out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", "utterance", "speaker", "nats", "seconds", "bits_per_sec"])
    for label, run_dir in run_dirs.items():
        found = read_utterances(run_dir)
        for s in per_utterance(found) if found is not None else []:
            writer.writerow([label, s.name, s.speaker, s.nats, s.seconds, s.bits_per_sec])
    return buffer.getvalue()
