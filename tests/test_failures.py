"""Every failure a user meets ends in one clear ``audiobits: error: ...`` line and leaves their files as they were.

Each test makes one failure happen for real (a rewritten bin directory, a full disk, a broken metadata.csv, ...),
asserts the message names the file/field and the fix, and compares a listing + sha256 of every file before and
after: a refusal must not have written, moved or deleted anything.
"""

import builtins
import hashlib
import json
import os
from pathlib import Path

import pytest

from audiobits import bins as bins_module
from audiobits.bins import BinFormatError, TokenBins
from audiobits.cli import main
from audiobits.synthetic import write_markov_bins
from run_dirs import make_run


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


def fill_the_disk(monkeypatch) -> None:
    """From now on writes to any ``val.bin`` go to /dev/full, which fails them with ENOSPC as a full disk does."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux) to fail writes with ENOSPC")

    def open_on_full_disk(path, mode="r", *args, **kwargs):
        if Path(path).name == "val.bin" and "w" in mode:
            return builtins.open("/dev/full", mode, *args, **kwargs)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(bins_module, "open", open_on_full_disk, raising=False)


@pytest.mark.parametrize("val_utterances", [200, 2], ids=["fails-while-adding", "fails-when-flushed-at-close"])
def test_a_full_disk_while_writing_bins_names_the_path_and_keeps_the_old_bins(tmp_path, monkeypatch, val_utterances):
    out = tmp_path / "data" / "markov"
    write_markov_bins(out, train_utterances=4, val_utterances=2, seed=1)  # bins from an earlier run: kept
    before = snapshot(tmp_path)
    fill_the_disk(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        main(["synthetic", "--out", str(out), "--train_utterances", "20", "--val_utterances", str(val_utterances)])
    message = error_line(exit_info)
    assert f"cannot write the token bins {out}: No space left on device" in message
    assert f"{out.name}.tmp-{os.getpid()}" in message and "free space" in message
    assert snapshot(tmp_path) == before  # no <dir>.tmp-<pid> left behind, the earlier bins untouched
    monkeypatch.undo()
    TokenBins(out, verify_checksum=True)


# --- audiobits report over a glob that meets unfinished runs -------------------------------------------------
def test_report_over_a_glob_skips_crashed_running_and_empty_run_dirs_with_one_line_each(tmp_path, capsys):
    finished = make_run(tmp_path, "mimi_sem", curve=False)
    crashed = finished.parent / "version_1"  # config and a checkpoint, no results.json
    (crashed / "checkpoints").mkdir(parents=True)
    (crashed / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (crashed / "config.yaml").write_text((finished / "config.yaml").read_text())
    empty = finished.parent / "version_2"
    empty.mkdir()
    cut_off = finished.parent / "version_3"  # results.json cut off mid-write (not by audiobits' atomic writer)
    cut_off.mkdir()
    (cut_off / "results.json").write_text((finished / "results.json").read_text()[:100])
    before = snapshot(tmp_path)
    main(["report", *map(str, sorted(finished.parent.glob("version_*"))), "--sanity", "false"])
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[2:3]] == ["mimi_sem"] and "version_1" not in out
    notes = err.splitlines()
    assert len(notes) == 3 and all(n.startswith("audiobits report: skipped ") for n in notes), err
    assert f"{crashed}: no results.json in it or below it: the run crashed, is still running" in notes[0]
    assert f"{empty}: no results.json" in notes[1]
    assert f"{cut_off}: results.json or config.yaml is not readable" in notes[2]
    main(["sanity", *map(str, sorted(finished.parent.glob("version_*")))])  # the same glob, the same notes
    out, err = capsys.readouterr()
    assert out.startswith("mimi_sem (") and [n.split(":")[0] for n in err.splitlines()] == ["audiobits sanity"] * 3
    assert snapshot(tmp_path) == before
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(crashed), str(empty)])
    assert f"no finished run among ['{crashed}', '{empty}']" in error_line(exit_info)
