"""What a sweep leaves on disk, read without the tool that wrote it: ``<out>/sweep.json`` and where each of its points
logs. `audiobits sweep` writes them and `audiobits scaling` reads them; the analysis imports this record, not the
training tool (torch, the model, the cool-down resume).

Layout: the main run of size ``<s>`` logs into ``<out>/runs/<s>/main``, its cool-down at fraction ``f`` of its steps
into ``<out>/runs/<s>/cooldown_<f>``, beside it, and with ``--seeds`` its repeat with each further seed ``k`` into
``<out>/runs/<s>/main_seed<k>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audiobits.errors import ConfigValueError
from audiobits.files import read_json

SWEEP_FILE = "sweep.json"


def main_run_dir(out: Path, name: str) -> Path:
    """The log dir of size ``name``'s main run in sweep folder ``out``."""
    return out / "runs" / name / "main"


def seed_run_dir(out: Path, name: str, seed: int) -> Path:
    """The log dir of size ``name``'s main run repeated with another ``seed`` (`audiobits sweep --seeds`)."""
    return out / "runs" / name / f"main_seed{seed}"


def cooldown_dir(run_dir: Path, fraction: float) -> Path:
    """``<run_dir>/../cooldown_<f>``: beside the main run's log dir, never inside it."""
    return run_dir.parent / f"cooldown_{fraction:g}"


@dataclass(frozen=True)
class Point:
    """One run a sweep plans: its cool-down fraction (None: the main run) and its log dir."""

    fraction: float | None
    path: Path


def read_sweep_record(out: Path) -> dict | None:
    """``<out>/sweep.json`` as `audiobits sweep` wrote it (None without one); a damaged one, or one without a ladder
    of named sizes and a list of fractions, raises `ConfigValueError` naming it."""
    path = out / SWEEP_FILE
    if not path.is_file():
        return None
    fix = f"Rewrite it with `audiobits sweep --config <config> --out {out} --plan_only true` (trained points are kept)."
    record = read_json(path, fix)
    if not _well_formed(record):
        raise ConfigValueError(f"{path}: not the record `audiobits sweep` writes (a \"ladder\" of sizes each with a "
                               f"\"name\", and a list of \"fractions\"); it was edited or overwritten. {fix}")
    return record


def _well_formed(record: object) -> bool:
    """``record`` has the keys `planned_points` and `audiobits scaling` read, of the kinds they read."""
    return (isinstance(record, dict) and isinstance(record.get("ladder"), list)
            and isinstance(record.get("fractions"), list)
            and all(isinstance(size, dict) and isinstance(size.get("name"), str) for size in record["ladder"]))


def planned_points(out: Path) -> list[Point]:
    """Every run ``<out>/sweep.json`` plans: per size its main run, its cool-downs, then its main run repeated with
    each further seed ([] without sweep.json)."""
    record = read_sweep_record(out)
    if record is None:
        return []
    points = []
    for size in record["ladder"]:
        run = main_run_dir(out, size["name"])
        points += [Point(None, run), *(Point(f, cooldown_dir(run, f)) for f in record["fractions"]),
                   *(Point(None, seed_run_dir(out, size["name"], s)) for s in record.get("seeds", [])[1:])]
    return points
