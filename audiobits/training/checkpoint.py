"""A checkpoint the user points at, checked before anything is created: it is there, it is a file, it loads, and
it is one Lightning saved.

A run killed while saving, a copy cut short or a file of another kind would otherwise surface as torch's traceback
after a run directory was already made; here it is one `AudiobitsError` naming the file and the fix.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from audiobits.errors import AudiobitsError, MissingFileError

# What torch.load raises on a truncated or foreign file: the zip reader and mmap (RuntimeError), the legacy
# unpickler (EOFError, UnpicklingError), or the file system (OSError, e.g. permission denied).
UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, OSError)
LIGHTNING_KEYS = ("state_dict", "pytorch-lightning_version")  # what Lightning and `compress` read from every one


def read_checkpoint(path: str | os.PathLike, fix: str) -> dict[str, Any]:
    """The checkpoint at ``path`` (memory-mapped, on the CPU); a missing, non-file or unloadable one raises an
    `AudiobitsError` naming it, followed by ``fix`` (what the caller's user should do instead)."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such checkpoint. {fix}")
    if not path.is_file():
        raise AudiobitsError(f"{path} is not a regular file (a folder?), so no checkpoint. {fix}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except UNREADABLE as error:  # torch's own words stay in the chained traceback; they suggest re-saving
        raise AudiobitsError(f"{path} ({path.stat().st_size:,} bytes) does not load as a checkpoint: it is "
                             f"truncated (a run killed while saving it, a copy cut short) or not a checkpoint. "
                             f"{fix}") from error
    if not (isinstance(checkpoint, dict) and all(key in checkpoint for key in LIGHTNING_KEYS)):
        raise AudiobitsError(f"{path} loads, but is not a checkpoint Lightning saved (it lacks "
                             f"{' / '.join(LIGHTNING_KEYS)}). {fix}")
    return checkpoint
