"""Atomic writes: the target is whole or untouched; a full disk is the user's environment, anything else a bug."""

import os

import pytest

from audiobits.errors import AudiobitsError
from audiobits.files import write_atomic, write_text_atomic


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "record.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["record.json"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, the kernel's always-full device")
def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path):
    target = tmp_path / "record.json"
    target.write_text("old")
    (tmp_path / f"record.json.tmp-{os.getpid()}").symlink_to("/dev/full")  # the temporary file hits ENOSPC
    with pytest.raises(AudiobitsError, match=f"cannot write {target}: No space left on device. Free space"):
        write_text_atomic(target, "new" * 10_000)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["record.json"]


def test_a_bug_keeps_its_own_exception_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "record.json"

    def broken(f):
        f.write(b"half")
        raise ValueError("a bug in the writer")

    with pytest.raises(ValueError, match="a bug in the writer"):
        write_atomic(target, broken)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError):  # a missing folder is a caller's bug here, not a full disk
        write_text_atomic(tmp_path / "no" / "such" / "dir.json", "x")
