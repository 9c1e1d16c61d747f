"""Files written whole or not at all: a temporary name beside the target, then a rename; and read back whole or
refused in one line.

A disk that is full, over quota, read-only or not ours is the user's environment, not a bug: it becomes an
`AudiobitsError` naming the file, and the partial temporary file is removed so the disk is not left fuller. A JSON
record cut off mid-write by another tool, or overwritten with other bytes, is a `ConfigValueError` naming the file.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from audiobits.errors import AudiobitsError, ConfigValueError

ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG}


def unwritable(path: str | os.PathLike, error: BaseException) -> AudiobitsError | None:
    """What to raise when writing ``path`` failed with ``error``: an AudiobitsError naming the file and the fix when
    the disk or its permissions are at fault; None for anything else (a bug keeps its own traceback)."""
    if not isinstance(error, OSError) or error.errno not in ENVIRONMENT_ERRNOS:
        return None
    return AudiobitsError(f"cannot write {path}: {error.strerror or error}. Free space on that disk (or fix its "
                          "permissions / quota), then run the same command again: finished work is kept.")


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(file)`` into ``<name>.tmp-<pid>`` beside it, then rename it into place; on any
    failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        error = unwritable(path, e)
        if error is not None:
            raise error from e
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`write_atomic` of UTF-8 text."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """The JSON value in ``path``; a file that is not UTF-8 or not JSON (truncated, overwritten) raises
    `ConfigValueError` naming it, why, and ``fix`` (what the user can do about that file)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        why = f"not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}: overwritten with other data?)"
    except json.JSONDecodeError as e:
        why = f"not valid JSON (truncated?): {e.msg} at line {e.lineno} column {e.colno}"
    raise ConfigValueError(f"{path}: {why}. {fix}")
