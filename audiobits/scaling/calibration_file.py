"""Reading ``calibration.json`` (written by `audiobits calibrate` into ``--out`` and beside the run's results.json):
the recipe's slack on a matched source of known entropy, for the report, without importing the calibration tool
(its training run, the hidden Markov source)."""

from __future__ import annotations

import os
from pathlib import Path

from audiobits.errors import ConfigValueError
from audiobits.files import read_json

CALIBRATION_FILE = "calibration.json"


def calibration_slack(run_dir: str | os.PathLike) -> float | None:
    """The slack (bits/token) `audiobits calibrate` recorded beside a run's results.json; None when it was not
    calibrated. A damaged file, or one without ``slack_bits_per_token``, raises `ConfigValueError` naming it."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    fix = f"Run `audiobits calibrate --like {Path(run_dir)}` again, or delete it."
    record = read_json(path, fix=fix)
    if not isinstance(record, dict) or "slack_bits_per_token" not in record:
        raise ConfigValueError(f"{path}: lacks the field `slack_bits_per_token`, which audiobits calibrate writes. "
                               f"{fix}")
    return record["slack_bits_per_token"]
