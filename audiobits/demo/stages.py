"""The steps both demos are made of: their stage lines, the bins of a corpus and one `audiobits fit` each."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from audiobits.corpora import AudioFolder
from audiobits.files import write_text_atomic
from audiobits.prepare.encode import EncodeOptions
from audiobits.prepare.prepare import prepare_bins, refresh_bins
from audiobits.representations import Representation


class Laps:
    """A demo's stage lines: as each stage ends, ``[demo] <stage>: <seconds since the previous line> s``."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str) -> None:
        self.seconds[stage] = time.perf_counter() - self.started - self.total
        print(f"[demo] {stage}: {self.seconds[stage]:.1f} s", flush=True)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def write_bins(source: AudioFolder, reps: Sequence[Representation], out: Path) -> dict[str, Path]:
    """Each representation's bins of ``source`` under ``out/bins`` (on the CPU, in this process); an utterance one
    of them drops leaves all of them."""
    options = EncodeOptions(batch_size=16, num_workers=0, accelerator="cpu", devices=1)
    bins = {rep.name: prepare_bins(source, rep, out / "bins", options, device="cpu") for rep in reps}
    for bins_dir in bins.values():
        refresh_bins(source, bins_dir)
    return bins


def run_dir(out: Path, name: str) -> Path:
    """The demo's one run of ``name`` (Lightning's version folder)."""
    return next((out / "runs" / name).glob("version_*"))


def fit_run(out: Path, name: str, config: dict, lap: Laps) -> Path:
    """`audiobits fit` on ``config``, written to ``out/configs/<name>.yaml`` (reusable as is), in place of this
    demo's earlier run of ``name``; the run's folder."""
    from audiobits.training.trainer_cli import run_fit

    shutil.rmtree(out / "runs" / name, ignore_errors=True)
    path = out / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(config, sort_keys=False))
    run_fit(["--config", str(path)])
    lap(f"fit {name}")
    return run_dir(out, name)
