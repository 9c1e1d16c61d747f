"""Files written whole or not at all: a temporary name beside the target, then a rename; and read back whole or
refused in one line.

A disk that is full, over quota, read-only or not ours is the user's environment, not a bug: it becomes an
`AudiobitsError` naming the file, and the partial temporary file is removed so the disk is not left fuller. Tools
check where they will write (`check_output_file`, `check_output_dir`) before any long work, creating nothing: a
file the user names goes into a folder that exists; a folder the user names is created, with its parents, when the
first output is written. `read_yaml` reads a YAML file the user names, with the same kind of error. A JSON
record cut off mid-write by another tool, or overwritten with other bytes, is a `ConfigValueError` naming the file.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import yaml

from audiobits.errors import AudiobitsError, ConfigValueError, MissingFileError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG}


def unwritable(path: str | os.PathLike, error: BaseException) -> AudiobitsError | None:
    """What to raise when writing ``path`` failed with ``error``: an AudiobitsError naming the file and the fix when
    the disk or its permissions are at fault; None for anything else (a bug keeps its own traceback)."""
    if not isinstance(error, OSError) or error.errno not in ENVIRONMENT_ERRNOS:
        return None
    return AudiobitsError(f"cannot write {path}: {error.strerror or error}. Free space on that disk (or fix its "
                          "permissions / quota), then run the same command again: finished work is kept.")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path ``<name>.tmp-<pid>`` beside ``path`` for a writer that needs a path (a copy, a library's
    ``save(path)``), renamed onto ``path`` when the block ends; on any failure it is removed, ``path`` is left as it
    was, and a full disk (or a read-only one) is the one `unwritable` error naming ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        error = unwritable(path, e)
        if error is not None:
            raise error from e
        raise


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder ``<name>.tmp-<pid>`` beside ``path`` to fill; when the block ends it takes ``path``'s place
    (a folder already there is swapped out only then, and put back if the swap fails). On any failure the temporary
    folder is removed, ``path`` is left as it was, and a full disk is the one `unwritable` error naming the file
    that failed."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        _swap_into_place(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        error = unwritable(e.filename if isinstance(e, OSError) and e.filename else tmp, e)
        if error is not None:
            raise error from e
        raise


def _swap_into_place(new: Path, path: Path) -> None:
    """Rename the folder ``new`` to ``path``; a folder at ``path`` is moved aside first and removed after, or put
    back when the rename fails."""
    if not path.exists():
        new.rename(path)
        return
    old = path.with_name(f"{path.name}.old-{os.getpid()}")
    path.rename(old)
    try:
        new.rename(path)
    except OSError:
        old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(file)`` into `atomic_path`'s temporary file, then rename it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`write_atomic` of UTF-8 text."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def copy_atomic(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy ``source`` to ``target`` through `atomic_path`: a copy cut off half-way never stands at ``target``."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_csv_atomic(path: str | os.PathLike, rows: Iterable[Sequence]) -> None:
    """`write_text_atomic` of ``rows`` as CSV (the csv module's dialect: quoted where needed, CRLF line ends)."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    write_text_atomic(path, text.getvalue())


def write_json_lines(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """``rows`` as JSON lines in ``path``, written whole (`write_atomic`): a reader never meets half a row. Writers
    of resumable rows give each batch its own file, so adding rows costs only their own bytes; nothing is written
    when there are none."""
    data = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
    if data:
        write_atomic(path, lambda f: f.write(data))


def read_json_lines(path: str | os.PathLike) -> list:
    """The JSON value of every line of ``path``, in order; a line that is not JSON (torn: releases before 2026-12-07
    appended in place) is skipped."""
    values = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return values


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


def write_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> None:
    """`write_atomic` of a matplotlib figure in the format its suffix names (``.png``, ``.svg``): a save cut off
    half-way never replaces a good figure."""
    path = Path(path)
    write_atomic(path, lambda f: fig.savefig(f, format=path.suffix.lstrip("."), dpi=dpi))


def check_output_file(path: str | os.PathLike, option: str) -> None:
    """Refuse an output file (given as ``option``) whose folder is missing or not writable, or that is a folder,
    before the work that produces it: nothing is created here."""
    path = Path(path)
    if path.is_dir():
        raise AudiobitsError(f"{option} {path} is a folder: name a file to write, e.g. {path / 'out'}.")
    if not path.parent.is_dir():
        raise AudiobitsError(f"{option} {path}: the folder {path.parent} does not exist. Create it first (mkdir -p "
                             f"{path.parent}) or name a file in an existing folder.")
    _check_writable(path.parent, option, path)


def check_output_dir(path: str | os.PathLike, option: str) -> None:
    """Refuse an output folder (given as ``option``) that cannot be created or written, before the work that fills
    it: its nearest existing ancestor must be a writable folder. Nothing is created here."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise AudiobitsError(f"{option} {path}: {existing} is a file, not a folder. Name another folder.")
    _check_writable(existing, option, path)


def _check_writable(folder: Path, option: str, path: Path) -> None:
    """Refuse ``path`` when this user cannot create files in ``folder``."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AudiobitsError(f"{option} {path}: cannot write into {folder} (read-only or not yours). Name a "
                             f"location you can write to, or make it writable (chmod u+w {folder}).")


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
