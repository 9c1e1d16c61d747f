"""A run's results.json read through the typed record (`audiobits.results.read_results`) and handed back as the
object it writes, so a test checks the keys docs/results.md names, and that the record reads them."""

from __future__ import annotations

import os

from audiobits.results import read_results


def results_json(path: str | os.PathLike) -> dict:
    """The results.json of run directory (or file) ``path`` as `Results.as_json` writes it."""
    return read_results(path).as_json()
