"""Files written whole or not at all: a temporary name beside the target, then a rename.

A disk that is full, over quota, read-only or not ours is the user's environment, not a bug: it becomes an
`AudiobitsError` naming the file, and the partial temporary file is removed so the disk is not left fuller.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from audiobits.errors import AudiobitsError, ConfigValueError, MissingFileError

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


def read_yaml(path: str | os.PathLike, expected: type = object) -> Any:
    """A YAML file's content (None when empty); a missing file, a directory, text that is not YAML or a document
    that is not an ``expected`` (dict: a mapping, list: a list) is a user error naming the file."""
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise MissingFileError(f"{path}: no such file. Check the path (relative paths start from the current "
                               "directory).") from e
    except IsADirectoryError as e:
        raise ConfigValueError(f"{path}: is a directory; a YAML file is expected here.") from e
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigValueError(f"{path}: not valid YAML ({' '.join(str(e).split())}). Fix the file, or write it "
                               "anew from one in configs/.") from e
    if content is not None and not isinstance(content, expected):
        kind = {dict: "a mapping (key: value lines)", list: "a list (- item lines)"}.get(expected, expected.__name__)
        raise ConfigValueError(f"{path}: holds a YAML {type(content).__name__}, not {kind}. Is it the right file?")
    return content
