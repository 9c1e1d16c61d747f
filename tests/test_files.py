"""Atomic writes: the target is whole or untouched; a full disk is the user's environment, anything else a bug.
Output locations are checked before the work, creating nothing."""

import os

import pytest

from audiobits.errors import AudiobitsError
from audiobits.files import (
    check_output_dir, check_output_file, copy_atomic, write_atomic, write_csv_atomic, write_figure, write_json_lines,
    write_text_atomic,
)


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


def test_a_figure_is_written_in_its_suffixs_format_and_a_failed_save_keeps_the_old_one(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    write_figure(fig, tmp_path / "curve.png")
    write_figure(fig, tmp_path / "curve.svg")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG" and b"<svg" in (tmp_path / "curve.svg").read_bytes()
    before = (tmp_path / "curve.png").read_bytes()

    def interrupted(f, **kwargs):
        f.write(b"half a png")
        raise KeyboardInterrupt

    fig.savefig = interrupted
    with pytest.raises(KeyboardInterrupt):
        write_figure(fig, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes() == before and sorted(os.listdir(tmp_path)) == ["curve.png",
                                                                                                "curve.svg"]


def test_output_locations_are_checked_without_creating_anything(tmp_path):
    (tmp_path / "a_file").write_text("x")
    check_output_dir(tmp_path / "new" / "deeper", "--out")  # created later, by the first write
    check_output_file(tmp_path / "ids.npz", "--out")
    with pytest.raises(AudiobitsError, match=r"--out .*a_file/sub: .*a_file is a file, not a folder"):
        check_output_dir(tmp_path / "a_file" / "sub", "--out")
    with pytest.raises(AudiobitsError, match=r"--out .*new/ids.npz: the folder .*new does not exist. Create it first"):
        check_output_file(tmp_path / "new" / "ids.npz", "--out")
    with pytest.raises(AudiobitsError, match=r"--out .* is a folder: name a file to write"):
        check_output_file(tmp_path, "--out")
    assert os.listdir(tmp_path) == ["a_file"]


def _shard(target):
    import numpy as np

    from audiobits.prepare.shards import ShardRecord

    ShardRecord(0, 2, np.arange(40_000, dtype=np.uint16), np.array([20_000, 20_000]), ["a", "b"],
                np.array([1.0, 1.0]), np.array([3, 3])).save(target)


def _sample(target):
    import numpy as np

    from audiobits.quality.samples import write_sample

    write_sample(target.parent.parent, 0, np.zeros(16_000, np.float32), np.zeros(16_000, np.float32))


def _figure(target):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    write_figure(fig, target)


def _copy(target):
    source = target.parent.parent / "source.bpe"
    source.write_bytes(b"merges " * 20_000)
    copy_atomic(source, target)


WRITERS = {  # every way the project writes a file, with a file name it writes that way
    "text: results, records, configs": ("record.json", lambda t: write_text_atomic(t, "new" * 10_000)),
    "csv: a corpus's metadata.csv": ("metadata.csv", lambda t: write_csv_atomic(t, [("file_name", "text")] * 5000)),
    "copy: tiktoken's cache, asterisk's recordings": ("vocab.bpe", _copy),
    "json lines: a rank's partial file, heard originals": (
        "quality.partial.rank0.00000000.jsonl", lambda t: write_json_lines(t, [{"id": "u1", "pad": "x" * 20_000}])),
    "figure": ("curve.png", _figure),
    "npz: an encode shard": ("train-000000.npz", _shard),
    "wav: a listening sample": ("000.original.wav", _sample),
}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, the kernel's always-full device")
@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_meets_a_full_disk_with_the_one_message_and_keeps_the_old_file(tmp_path, writer):
    name, write = WRITERS[writer]
    target = tmp_path / "samples" / name  # samples/: where write_sample puts its files under a bins folder
    target.parent.mkdir()
    target.write_bytes(b'{"id": "u0"}\n')
    (target.parent / f"{name}.tmp-{os.getpid()}").symlink_to("/dev/full")  # the temporary file hits ENOSPC
    with pytest.raises(AudiobitsError) as error:
        write(target)
    assert str(error.value) == (f"cannot write {target}: No space left on device. Free space on that disk (or fix "
                                "its permissions / quota), then run the same command again: finished work is kept.")
    assert target.read_bytes() == b'{"id": "u0"}\n' and os.listdir(target.parent) == [name]
