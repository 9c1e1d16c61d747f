"""Reading ``scaling.json`` (written by `audiobits scaling`, one record per representation, keys in docs/scaling.md),
without importing the fit or the figures."""

from __future__ import annotations

import os
from pathlib import Path

from audiobits.errors import ConfigValueError, MissingFileError
from audiobits.files import read_json

SCALING_FILE = "scaling.json"


def read_scaling(path: str | os.PathLike) -> list[dict]:
    """The records of ``path`` (scaling.json, or the folder holding it); a missing or damaged file, or one that is
    not a list of records each naming its representation, raises `AudiobitsError` naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / SCALING_FILE
    fix = "Run `audiobits scaling` on the sweep again to rewrite it."
    if not path.is_file():
        raise MissingFileError(f"{path} not found: `audiobits scaling SWEEP_DIR... --out DIR` writes it. {fix}")
    records = read_json(path, fix=fix)
    if not isinstance(records, list) or not all(isinstance(r, dict) and "representation" in r for r in records):
        raise ConfigValueError(f"{path}: not the list of records (one per representation) audiobits scaling writes. "
                               f"{fix}")
    return records
