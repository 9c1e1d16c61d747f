"""Every failure a user meets ends in one clear ``audiobits: error: ...`` line and leaves their files as they were.

Each test makes one failure happen for real (a rewritten bin directory, a full disk, a broken metadata.csv, ...),
asserts the message names the file/field and the fix, and compares a listing + sha256 of every file before and
after: a refusal must not have written, moved or deleted anything.
"""

import hashlib
import json
from pathlib import Path

import pytest

from audiobits.bins import BinFormatError, TokenBins
from audiobits.synthetic import write_markov_bins


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with each file's sha256: equal snapshots mean nothing was written there."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(Path(root).rglob("*"))}


def error_line(exit_info: pytest.ExceptionInfo) -> str:
    """The message `audiobits.cli.main` exits with: one line, prefixed as the CLI prints it."""
    message = str(exit_info.value.code)
    assert message.startswith("audiobits: error: ") and "\n" not in message, message
    return message


# --- token bins ----------------------------------------------------------------------------------------------
def test_a_meta_json_dtype_that_is_no_numpy_type_names_the_file_and_field(tmp_path):
    out = tmp_path / "bins"
    write_markov_bins(out, train_utterances=4, val_utterances=2)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "dtype": "uint17"}))
    before = snapshot(tmp_path)
    with pytest.raises(BinFormatError, match=r"meta.json: field dtype is 'uint17', not a numpy type.*prepare it "):
        TokenBins(out)
    assert snapshot(tmp_path) == before
