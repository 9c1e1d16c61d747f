"""Finished runs on disk: a run directory's results.json, its resolved config and its TensorBoard scalars, and
which runs of a set can be compared (`reference_group`, `flags`).

A run directory is Lightning's log dir (``runs/<name>/version_<n>/``): ``results.json`` (written at the end of
fit, see :mod:`audiobits.results`), ``config.yaml`` (the resolved LightningCLI config) and the event files.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from audiobits.errors import AudiobitsError
from audiobits.files import read_yaml
from audiobits.results import RESULTS_FILE, Results, read_results

CONFIG_FILE = "config.yaml"


@dataclass
class Run:
    """One finished (or stopped) run: where it lives, what it measured and how it was configured."""

    path: Path
    results: Results
    config: dict = field(default_factory=dict)
    label: str = ""

    @property
    def representation(self) -> str:
        return self.results.representation

    def bins_dir(self) -> Path | None:
        """The bin directory the run trained on, from config.yaml's ``data.init_args`` (None when not found).

        ``bins_dir`` for the plain datamodule; ``root`` + corpus + representation (docs/bins.md layout) for the
        per-codec ones. Relative paths are taken from the working directory, as at fit time.
        """
        data = self.config.get("data") or {}
        init = data.get("init_args", data) if isinstance(data, dict) else {}
        if init.get("bins_dir"):
            path = Path(init["bins_dir"])
        elif init.get("root"):
            path = Path(init["root"]) / self.results.corpus / self.results.representation
        else:
            return None
        return path if (path / "meta.json").is_file() else None

    @cached_property
    def _scalar_events(self) -> dict[str, list[tuple[int, float]]]:
        """Every TensorBoard scalar of the run as (step, value) pairs in file order: the event files are parsed once,
        however many tags the figures ask for."""
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        found: dict[str, list[tuple[int, float]]] = {}
        for events in sorted(self.path.glob("events.out.tfevents.*")):
            accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
            accumulator.Reload()
            for tag in accumulator.Tags()["scalars"]:
                found.setdefault(tag, []).extend((event.step, event.value) for event in accumulator.Scalars(tag))
        return found

    def scalars(self, tag: str) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of one TensorBoard scalar (e.g. ``val/bits_per_sec``); empty arrays when not logged."""
        pairs = self._scalar_events.get(tag, [])
        steps = np.asarray([step for step, _ in pairs], dtype=np.int64)
        values = np.asarray([value for _, value in pairs], dtype=np.float64)
        order = np.argsort(steps, kind="stable")
        return steps[order], values[order]


def find_run_dirs(path: str | os.PathLike) -> list[Path]:
    """``path`` itself when it holds results.json, else every directory below it that does (sorted)."""
    path = Path(path)
    if (path / RESULTS_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise AudiobitsError(f"{path}: no such run directory. Pass Lightning's log dir of a finished run "
                             f"(runs/<name>/version_<n>, holding {RESULTS_FILE}) or a folder above such dirs.")
    found = sorted(p.parent for p in path.rglob(RESULTS_FILE))
    if not found:
        raise AudiobitsError(f"{path}: no {RESULTS_FILE} in it or below it: the run crashed, is still running or "
                             f"never started ({RESULTS_FILE} is written when `audiobits fit` ends); finish it, or "
                             "resume it with --ckpt_path last.")
    return found


def read_config(path: Path) -> dict:
    """A run's config.yaml as a dict ({} when there is none or it is empty); a damaged one raises `ConfigValueError`
    naming it (`read_yaml`)."""
    return (read_yaml(path, dict) or {}) if path.is_file() else {}


def load_run(path: str | os.PathLike) -> Run:
    """Read one run directory (results.json required, config.yaml optional); a missing, damaged or foreign file
    raises `AudiobitsError` naming it (`read_results`)."""
    path = Path(path)
    return Run(path=path, results=read_results(path), config=read_config(path / CONFIG_FILE))


def load_runs(paths: Iterable[str | os.PathLike], on_skip: Callable[[str], None] | None = None,
              skipped: list[str] | None = None) -> list[Run]:
    """All runs under ``paths`` (run dirs or folders above them), each with a short unique ``label``.

    A path without results.json (a crashed, running or empty run) or a run whose files are damaged raises
    `AudiobitsError`; with ``on_skip`` that path or run is left out, the other runs under the same folder kept, and
    ``on_skip`` gets a one-line note saying why (``runs/*/version_*`` globs meet those); each one left out is added
    to ``skipped`` when given (`audiobits sanity --strict` fails on any). None left is an error.
    """
    runs, skipped = [], (skipped if skipped is not None else [])
    for path in paths:
        for run_dir in skipping(lambda: find_run_dirs(path), path, skipped, on_skip):
            runs += skipping(lambda: [load_run(run_dir)], run_dir, skipped, on_skip)
    if not runs:
        raise AudiobitsError(f"no finished run among {skipped}" if skipped else "no run directories given")
    unique = {r.path.resolve(): r for r in runs}  # a dir named twice (or under two given folders) counts once
    runs = list(unique.values())
    _label(runs)
    return runs


def note_printer(tool: str) -> Callable[[str], None]:
    """An ``on_skip`` for a tool: each note as one ``<tool>: <note>`` line on stderr."""
    return lambda note: print(f"{tool}: {note}", file=sys.stderr)


def skipping(read: Callable[[], list], where: str | os.PathLike, skipped: list[str],
              on_skip: Callable[[str], None] | None) -> list:
    """``read()``, or — when it raises `AudiobitsError` and ``on_skip`` is given — nothing, ``where`` added to
    ``skipped`` and the note passed to ``on_skip``."""
    try:
        return read()
    except AudiobitsError as e:
        if on_skip is None:
            raise
        skipped.append(str(where))
        on_skip(f"skipped {e}")
        return []


def _label(runs: list[Run]) -> None:
    """Shortest trailing path that tells runs apart: ``text`` for runs/text/version_0, longer when ambiguous."""
    for depth in range(1, 1 + max(len(r.path.resolve().parts) for r in runs)):
        labels = []
        for r in runs:
            parts = r.path.resolve().parts
            tail = parts[-depth:] if depth > 1 or not parts[-1].startswith("version_") else parts[-2:-1]
            labels.append("/".join(tail))
        if len(set(labels)) == len(labels):
            for r, label in zip(runs, labels):
                r.label = label
            return


def reference_group(runs: list[Run]) -> dict:
    """The (corpus, validation utterance set) most runs share — the first run's on a tie."""
    keys = [(r.results.corpus, r.results.val_utterance_set) for r in runs]
    (corpus, digest), count = max(Counter(keys).items(), key=lambda kv: (kv[1], -keys.index(kv[0])))
    return {"corpus": corpus, "val_utterance_set": digest, "runs": count}


def flags(results: Results, reference: dict) -> list[str]:
    """Why a run is not comparable with the reference group (empty list: comparable)."""
    found = []
    if results.corpus != reference["corpus"]:
        found.append(f"other corpus ({results.corpus})")
    elif results.val_utterance_set != reference["val_utterance_set"]:
        found.append(f"other val utterance set ({results.val_utterance_set})")
    if results.weights == "random":
        found.append("random weights")
    if not results.finished:
        found.append("unfinished")
    if results.val_scored_fraction < 1.0:
        found.append(f"partial validation ({results.val_scored_fraction:.1%} scored)")
    return found + (results.trainer_deviations() or [])
