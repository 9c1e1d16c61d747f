"""Listening samples: the first few validation utterances of an audio representation, original beside decoded, as
16 kHz WAV files in ``<bins>/samples/`` (written by ``audiobits quality``, played by the report's page)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audiobits.files import write_atomic

SAMPLES_DIR = "samples"
SAMPLE_UTTERANCES = 3  # per representation: enough to hear a codec, small enough for a self-contained page
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Sample:
    """One utterance's original and decoded recordings (paths) and its id."""

    utterance: str
    original: Path
    decoded: Path


def sample_paths(bins_dir: Path, position: int) -> tuple[Path, Path]:
    """The original and decoded WAV of the ``position``-th scored utterance."""
    folder = Path(bins_dir) / SAMPLES_DIR
    return folder / f"{position:03d}.original.wav", folder / f"{position:03d}.decoded.wav"


def write_sample(bins_dir: Path, position: int, original: np.ndarray, decoded: np.ndarray) -> None:
    """Both recordings (16 kHz float audio) of the ``position``-th utterance, each written whole or not at all."""
    (Path(bins_dir) / SAMPLES_DIR).mkdir(exist_ok=True)
    for path, audio in zip(sample_paths(bins_dir, position), (original, decoded)):
        write_atomic(path, lambda f, a=audio: sf.write(f, np.asarray(a, dtype=np.float32), SAMPLE_RATE,
                                                       format="WAV", subtype="PCM_16"))


def read_samples(bins_dir: Path | None, utterance_ids: list[str]) -> list[Sample]:
    """The samples written for the utterances scored in ``utterance_ids`` order (quality.json's), both files
    present."""
    if bins_dir is None:
        return []
    found = [Sample(uid, *sample_paths(bins_dir, i)) for i, uid in enumerate(utterance_ids[:SAMPLE_UTTERANCES])]
    return [s for s in found if s.original.is_file() and s.decoded.is_file()]
