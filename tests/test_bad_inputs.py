"""Every subcommand meets the same bad inputs the same way: exit non-zero with one ``audiobits: error:`` line, no
traceback, and no file created, changed or removed.

The inputs: a path that does not exist, an empty directory, a directory or file of the wrong kind, JSON and YAML
cut off mid-write, random bytes, and an output that cannot be created. The process runs as root in CI, which
ignores permission bits, so "cannot be created" is a path below a regular file (mkdir/open fail with ENOTDIR
whoever runs them).
"""

from __future__ import annotations

import os

import pytest
from disk_checks import error_line, snapshot

from audiobits.cli import main
from run_dirs import make_run

INPUTS = {  # name: what the fixture lays out under tmp_path
    "missing": "nothing at all",
    "empty_dir": "an empty directory",
    "plain": "a text file that is neither YAML mapping, JSON nor a run",
    "cut_yaml": "YAML cut off mid-list",
    "cut_run": "a run dir whose results.json is cut off",
    "random_run": "a run dir whose results.json is random bytes",
    "random_file": "random bytes",
    "under_file": "a path below a regular file (cannot be created)",
}

# {run} has results but no checkpoint, so compress and decompress stop at their inputs: their --out checks are
# tested on real runs in tests/test_compress.py.
CASES = [  # subcommand arguments, with {name} for the paths above; {run}: a finished run
    *[[sub, "--config", "{%s}" % bad] for sub in ("fit", "validate", "test", "prepare", "quality", "sweep", "synthetic")
      for bad in ("missing", "empty_dir", "plain", "cut_yaml")],
    *[[sub, "{%s}" % bad] for sub in ("report", "sanity", "scaling", "compress")
      for bad in ("missing", "empty_dir", "plain", "cut_run", "random_run")],
    *[["calibrate", "--like", "{%s}" % bad] for bad in ("missing", "empty_dir", "plain", "cut_run", "random_run")],
    *[["decompress", "{%s}" % bad, "{run}"] for bad in ("missing", "empty_dir", "plain", "random_file")],
    ["report", "{run}", "--out", "{under_file}"],
    ["synthetic", "--out", "{under_file}", "--train_utterances", "2", "--val_utterances", "1"],
    ["calibrate", "--like", "{run}", "--out", "{under_file}"],
    ["sweep", "--config", "{run}/config.yaml", "--out", "{under_file}"],
    ["demo", "--out", "{under_file}", "--size", "tiny"],
    ["nosuch"],
    ["report", "--format", "xml", "{run}"],
]


@pytest.fixture
def inputs(tmp_path, monkeypatch) -> dict[str, str]:
    """The bad inputs of `INPUTS` and one finished run, laid out under ``tmp_path`` (also the working directory,
    so a default output folder would show in the snapshot)."""
    monkeypatch.chdir(tmp_path)
    run = make_run(tmp_path, "mimi_sem", curve=False)
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "plain.txt").write_text("hello\n")
    (tmp_path / "cut.yaml").write_text("model:\n  n_layer: [1, 2\n")
    for name, text in (("cut_run", (run / "results.json").read_text()[:100]), ("random_run", None)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text((run / "config.yaml").read_text())
        if text is None:
            (tmp_path / name / "results.json").write_bytes(os.urandom(300) + b"\xff\xfe")
        else:
            (tmp_path / name / "results.json").write_text(text)
    (tmp_path / "random.bin").write_bytes(b"\x8f\xff" + os.urandom(300))
    return {"missing": str(tmp_path / "nope"), "empty_dir": str(tmp_path / "empty_dir"),
            "plain": str(tmp_path / "plain.txt"), "cut_yaml": str(tmp_path / "cut.yaml"),
            "cut_run": str(tmp_path / "cut_run"), "random_run": str(tmp_path / "random_run"),
            "random_file": str(tmp_path / "random.bin"), "under_file": str(tmp_path / "plain.txt" / "out"),
            "run": str(run)}


@pytest.mark.parametrize("case", CASES, ids=[" ".join(c) for c in CASES])
def test_a_bad_input_is_one_error_line_and_writes_nothing(case, inputs, tmp_path, capsys):
    args = [a.format(**inputs) for a in case]
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    line = error_line(exit_info)  # one line, "audiobits: error: ..."
    assert "Traceback" not in capsys.readouterr().err
    assert snapshot(tmp_path) == before, f"{args} wrote files: {line}"
    named = [inputs[key] for key in INPUTS if "{%s}" % key in case] or [case[0] if len(case) == 1 else case[2]]
    assert all(what in line for what in named), f"{line!r} does not name {named}"  # the bad input, or the value
    assert "--out" in case or not line.startswith("audiobits: error: --out"), f"{line!r}: --out was not given"
