"""`audiobits scaling` over run directories of a known law: the floor lands in its interval, figures are written."""

import json
import math

import numpy as np
import pytest

from audiobits.bins import TokenBins
from audiobits.cli import main
from audiobits.results import UTTERANCES_FILE
from audiobits.scaling_law import LawFit
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
                           results_overrides={"train_tokens": int(d), "model": {"non_embedding_params": int(n)}})
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
    [record] = json.loads((tmp_path / "out" / "scaling.json").read_text())
    low, high = record["E_ci95"]
    assert low <= rate <= high and low <= record["E_bits_per_token"] <= high, record
    assert not record["unreliable"] and record["interval_kind"] == "utterances"
    assert record["points"] == 20 and record["model_sizes"] == [int(n) for n in SIZES]
    assert record["measured"]["run"].endswith("n3d4/version_0")  # no sweep.json: the largest N at the most data
    assert record["floor_bits_per_sec"] == pytest.approx(record["E_bits_per_token"] * record["tokens_per_sec"])
    assert record["distance_bits_per_token"] == pytest.approx(record["measured"]["bits_per_token"]
                                                              - record["E_bits_per_token"])
    assert (tmp_path / "out" / "scaling_mimi_sem.png").is_file()
    assert (tmp_path / "out" / "headline_floor.svg").is_file()
    assert "checks passed" in capsys.readouterr().out
