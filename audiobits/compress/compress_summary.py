"""Reading ``RUN_DIR/compress.json`` (written by `audiobits compress`, keys in docs/compress.md): what the range-coded
split measured, for the report, without importing the coder or the model."""

from __future__ import annotations

import os
from pathlib import Path

from audiobits.errors import ConfigValueError
from audiobits.files import read_json

COMPRESS_FILE = "compress.json"


def read_compress_summary(run_dir: str | os.PathLike) -> dict | None:
    """``RUN_DIR/compress.json`` as written, or None when the run was not compressed; a damaged file raises
    `ConfigValueError` naming it."""
    path = Path(run_dir) / COMPRESS_FILE
    if not path.is_file():
        return None
    fix = "Run `audiobits compress` on the run again to rewrite it, or delete it."
    summary = read_json(path, fix=fix)
    if not isinstance(summary, dict):
        raise ConfigValueError(f"{path}: holds a JSON {type(summary).__name__}, not the object audiobits compress "
                               f"writes. {fix}")
    return summary
