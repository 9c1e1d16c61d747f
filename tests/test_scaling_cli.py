"""`audiobits scaling` over run directories of a known law: the floor lands in its interval, figures are written."""

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from disk_checks import error_line

from audiobits.bins import TokenBins
from audiobits.cli import main
from audiobits.results import UTTERANCES_FILE
from audiobits.scaling.law import LawFit
from audiobits.scaling.sweep import LadderSize, write_sweep
from audiobits.scaling.sweep_records import main_run_dir
from audiobits.scaling.scaling_file import read_scaling
from run_dirs import make_run

SIZES = (2e4, 8e4, 3.2e5, 1.28e6)
TOKENS = (2.5e5, 5e5, 1e6, 2e6, 4e6)


@pytest.mark.slow
def test_scaling_recovers_a_known_floor_from_run_directories(tmp_path, capsys):
    """20 runs whose per-utterance losses are a source of rate 2 bits/token (utterances of varying difficulty)
    plus an excess that falls with N and D: E's bootstrap interval over utterances covers 2, the fit is trusted,
    and the floor in bits/sec is E × the runs' tokens/sec."""
    rate, excess = 2.0, LawFit(E=0.0, A=10.0, B=80.0, alpha=0.35, beta=0.3, objective=0.0, points=0)
    rng = np.random.default_rng(0)
    difficulty = None
    for i, n in enumerate(SIZES):
        for j, d in enumerate(TOKENS):
            name = f"n{i}d{j}"
            run = make_run(tmp_path / "sweep", name, representation="mimi_sem", curve=False,
                           non_embedding_params=int(n), results_overrides={"train_tokens": int(d)})
            val = TokenBins(tmp_path / "sweep" / "bins" / "demo" / name).split("val")
            scored = np.diff(val.offsets)
            scored[0] -= 1
            if difficulty is None:
                difficulty = rng.gamma(40.0, rate / 40.0, len(scored))
                difficulty *= rate * scored.sum() / (difficulty * scored).sum()
            bits = difficulty + excess.predict(n, d) + rng.normal(0.0, 0.003, len(scored))
            nats = bits * scored * math.log(2.0)
            np.savez(run / UTTERANCES_FILE, ids=np.asarray(val.ids, dtype=str), nats=nats, tokens=scored,
                     seconds=np.full(len(scored), 2.0), text_bytes=np.full(len(scored), 30.0),
                     speakers=np.full(len(scored), ""))
            results = json.loads((run / "results.json").read_text())
            results["bits_per_token"] = float(nats.sum() / scored.sum() / math.log(2.0))
            (run / "results.json").write_text(json.dumps(results))
    main(["scaling", str(tmp_path / "sweep" / "runs"), "--out", str(tmp_path / "out"), "--resamples", "30"])
    [record] = read_scaling(tmp_path / "out")
    low, high = record["E_ci95"]
    assert low <= rate <= high and low <= record["E_bits_per_token"] <= high, record
    assert not record["unreliable"] and record["interval_kind"] == "utterances"
    assert record["withheld"] == [] and record["E_interval"][0] <= rate <= record["E_interval"][1]
    assert record["E_interval"][0] <= low and high <= record["E_interval"][1]  # wider than validation noise alone
    assert record["points"] == 20 and record["model_sizes"] == [int(n) for n in SIZES]
    assert record["measured"]["run"].endswith("n3d4/version_0")  # no sweep.json: the largest N at the most data
    assert record["floor_bits_per_sec"] == pytest.approx(record["E_bits_per_token"] * record["tokens_per_sec"])
    assert record["distance_bits_per_token"] == pytest.approx(record["measured"]["bits_per_token"]
                                                              - record["E_bits_per_token"])
    assert (tmp_path / "out" / "scaling_mimi_sem.png").is_file()
    assert (tmp_path / "out" / "headline_floor.svg").is_file()
    assert "checks passed" in capsys.readouterr().out


LADDER = [LadderSize(name, 1, width, 1, 1e-3, 1e-4) for name, width in (("a", 16), ("b", 32), ("c", 64), ("d", 128))]


def sweep_with_gaps(tmp_path: Path) -> Path:
    """A sweep folder planning 4 sizes × (main + cool-downs at 0.25 and 0.5): size d never ran, c's cool-down at 0.5
    crashed (a checkpoint, no results.json), b's main run stopped early (finished: false); the 7 others finished."""
    out = tmp_path / "sweep"
    (tmp_path / "fit.yaml").write_text("model: {}\n")
    write_sweep(tmp_path / "fit.yaml", LADDER, out, [0.25, 0.5], ["audiobits", "sweep"])
    for i, size in enumerate(LADDER[:3]):
        for fraction, tokens in ((None, 4e6), (0.25, 1e6), (0.5, 2e6)):
            run = main_run_dir(out, size.name).parent / (f"cooldown_{fraction:g}" if fraction else "main")
            if (size.name, fraction) == ("c", 0.5):
                (run / "checkpoints").mkdir(parents=True)
                (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
                continue
            finished = (size.name, fraction) != ("b", None)
            made = make_run(tmp_path / "made", f"{size.name}{fraction}", representation="mimi_sem", curve=False,
                            bits_per_token=2.0 + 10 / (i + 1) + 1e6 / tokens,
                            non_embedding_params=10 ** (4 + i),
                            results_overrides={"train_tokens": int(tokens), "finished": finished})
            run.parent.mkdir(parents=True, exist_ok=True)
            made.rename(run)
    return out


def listing(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def test_scaling_names_each_missing_crashed_unfinished_or_damaged_sweep_point_and_fits_the_rest(tmp_path, capsys):
    out = sweep_with_gaps(tmp_path)
    damaged = out / "runs" / "a" / "cooldown_0.25" / "results.json"  # cut off by another tool: skipped, noted once
    damaged.write_text(damaged.read_text()[:150])
    before = listing(out)
    main(["scaling", str(out), "--out", str(tmp_path / "fit"), "--resamples", "0"])
    captured = capsys.readouterr()
    notes = captured.err.splitlines()
    assert notes.pop(0).startswith(f"audiobits scaling: skipped {damaged}: not valid JSON (truncated?)")
    prefix = "audiobits scaling: sweep point "
    assert notes == [
        f"{prefix}{out}/runs/b/main left out of the fit: its results.json records finished: false (stopped before "
        "the end of its epoch); move the run aside and run the sweep again to train it anew",
        f"{prefix}{out}/runs/c/cooldown_0.5 left out of the fit: no results.json: it crashed or is still running; once "
        "it is not running, run the sweep again to resume it (finished points are kept)",
        *(f"{prefix}{out}/runs/d/{name} left out of the fit: not run (no directory): run the sweep again to train it "
          "(finished points are kept)" for name in ("main", "cooldown_0.25", "cooldown_0.5"))], captured.err
    [record] = read_scaling(tmp_path / "fit")
    assert record["points"] == 6 and record["measured"]["run"] == str(out / "runs" / "c" / "main")
    assert listing(out) == before  # the sweep folder as it was
    shutil.rmtree(out / "runs" / "a")  # 4 points left: too few for five parameters
    before = listing(out)
    with pytest.raises(SystemExit) as exit_info:
        main(["scaling", str(out), "--out", str(tmp_path / "fit2"), "--resamples", "0"])
    assert str(exit_info.value.code) == ("audiobits: error: mimi_sem: 4 finished point(s) left, but L(N, D) has 5 "
                                         "parameters to fit: finish the points named above (run the sweep again), "
                                         "or add sizes to the ladder.")
    assert listing(out) == before and not (tmp_path / "fit2").exists()
    assert len(capsys.readouterr().err.splitlines()) == 8  # a's three points are named now, each once


def test_a_sweep_json_without_its_ladder_is_one_error_line_naming_it(tmp_path):
    out = sweep_with_gaps(tmp_path)
    record = out / "sweep.json"
    record.write_text(json.dumps({k: v for k, v in json.loads(record.read_text()).items() if k != "ladder"}))
    before = listing(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["scaling", str(out), "--out", str(tmp_path / "fit"), "--resamples", "0"])
    assert error_line(exit_info) == (
        f"audiobits: error: {record}: not the record `audiobits sweep` writes (a \"ladder\" of sizes each with a "
        "\"name\", and a list of \"fractions\"); it was edited or overwritten. Rewrite it with `audiobits sweep "
        f"--config <config> --out {out} --plan_only true` (trained points are kept).")
    assert listing(tmp_path) == before
