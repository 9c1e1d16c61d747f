"""What every refusal test asserts: the files under a folder are as they were, and the CLI exited with one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with each file's sha256: equal snapshots mean nothing was written there."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(Path(root).rglob("*"))}


def error_line(exit_info: pytest.ExceptionInfo) -> str:
    """The message `audiobits.cli.main` exits with: one line, prefixed as the CLI prints it."""
    message = str(exit_info.value.code)
    assert message.startswith("audiobits: error: ") and "\n" not in message, message
    return message
