"""Reading ``<bins>/quality.json`` (written by `audiobits quality`): its scores and listeners, for the report and the
figures, without importing the scoring stack (torch, Lightning, the listeners)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from audiobits.files import read_json

QUALITY_FILE = "quality.json"
METRICS = ("si_sdr", "stoi", "pesq_wb", "log_mel_distance", "wer", "wer_original", "speaker_similarity")
HIGHER_IS_BETTER = {"si_sdr": True, "stoi": True, "pesq_wb": True, "log_mel_distance": False, "wer": False,
                    "wer_original": False, "speaker_similarity": True}

LISTENED_BY = {"wer": "asr_model", "wer_original": "asr_model", "speaker_similarity": "speaker_model"}


def other_listeners(heard_by: dict[str, dict | None], metric: str) -> dict[str, str]:
    """Runs (by label) whose ``metric`` came from another listener than most runs' (another Whisper or WavLM, or
    another language), given each run's quality.json ``listeners``: label -> that listener; empty for the signal
    scores, which need no model."""
    if metric not in LISTENED_BY:
        return {}
    heard = {label: f"{(listeners or {}).get(LISTENED_BY[metric])} ({(listeners or {}).get('language')})"
             for label, listeners in heard_by.items()}
    counts = Counter(heard.values())  # the most common listener; on a tie the first in sorted order (stable)
    common = min(counts, key=lambda who: (-counts[who], who)) if heard else None
    return {label: who for label, who in heard.items() if who != common}


def read_quality_file(bins_dir: str | os.PathLike | None) -> dict | None:
    """``<bins_dir>/quality.json`` as written, or None when there is none (a damaged one raises `ConfigValueError`)."""
    path = Path(bins_dir) / QUALITY_FILE if bins_dir is not None else None
    if path is None or not path.is_file():
        return None
    return read_json(path, fix="Delete it and run `audiobits quality` again to rescore.")


def quality_means(result: dict | None) -> dict[str, float | None]:
    """The mean of every score of a quality.json (None for each when there is none)."""
    summary = result["metrics"] if result is not None else {}
    return {name: summary.get(name, {}).get("mean") for name in METRICS}


def read_quality(bins_dir: str | os.PathLike | None) -> dict[str, float | None]:
    """The mean of every score in ``<bins_dir>/quality.json`` (None for each when there is none)."""
    return quality_means(read_quality_file(bins_dir))
