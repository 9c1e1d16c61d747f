"""The floor's envelope (law form, choice of points, validation noise) and when `audiobits scaling` withholds it."""

from types import SimpleNamespace

import numpy as np
import pytest

from audiobits.scaling.floor import (axis_floor, floor_interval, kgram_reason, law_form_floors, next_steps,
                             runs_bootstrap)
from audiobits.scaling.scaling import render
from audiobits.scaling.law import LawFit, fit_law

LAW = LawFit(E=2.0, A=10.0, B=80.0, alpha=0.35, beta=0.3, objective=0.0, points=0)


def grid(noise: float = 0.0, seed: int = 0):
    params, tokens = (np.array(x, float).ravel() for x in np.meshgrid([2e4, 8e4, 3.2e5, 1.28e6],
                                                                       [2.5e5, 1e6, 4e6]))
    loss = LAW.predict(params, tokens) * (1 + np.random.default_rng(seed).normal(0, noise, params.size))
    return params, tokens, loss


def test_a_one_axis_law_recovers_its_floor_and_needs_three_points():
    x = np.array([1e5, 4e5, 1.6e6, 6.4e6])
    assert axis_floor(x, 1.5 + 30.0 / x ** 0.4) == pytest.approx(1.5, rel=1e-4)
    assert axis_floor(x[:2], (1.5 + 30.0 / x ** 0.4)[:2]) is None


def test_one_axis_laws_on_the_two_term_law_sit_above_its_floor_by_the_other_term():
    params, tokens, loss = grid()
    along_data, along_models = law_form_floors(params, tokens, loss)
    assert along_data == pytest.approx(2.0 + 10.0 / 1.28e6 ** 0.35, rel=1e-3)  # the model term stays in at the top N
    assert along_models == pytest.approx(2.0 + 80.0 / 4e6 ** 0.3, rel=1e-3)


def test_the_runs_bootstrap_brackets_the_floor_of_noisy_runs_and_the_envelope_holds_every_part():
    params, tokens, loss = grid(noise=0.003)
    fit = fit_law(params, tokens, loss)
    runs = runs_bootstrap(params, tokens, loss, fit, resamples=40)
    assert runs[0] <= 2.0 <= runs[1] and runs[1] - runs[0] < 0.5
    assert runs_bootstrap(params[:5], tokens[:5], loss[:5], fit) is None  # no more runs than parameters
    envelope = floor_interval(fit, (1.99, 2.01), np.array([1.9, 2.05]), runs, [2.1])
    assert envelope.low == min(1.9, runs[0], fit.E) and envelope.high == max(2.1, runs[1])
    assert set(envelope.parts) == {"fit", "validation bootstrap", "leave one run out", "runs bootstrap",
                                   "one-axis laws"}


def test_a_run_at_its_k_gram_baseline_withholds_the_floor_and_says_what_to_run():
    def measured(bits_per_token: float, kgram: SimpleNamespace | None) -> SimpleNamespace:
        """The fields of a `Results` the floor reads."""
        return SimpleNamespace(headline=SimpleNamespace(bits_per_token=bits_per_token), kgram=kgram)

    reason = kgram_reason(measured(5.5, SimpleNamespace(beats_best=False, best_order=3, best_bits_per_token=4.2)))
    assert "has not learned beyond k-gram statistics" in reason and "order 3" in reason and "5.5000" in reason
    assert kgram_reason(measured(3.0, SimpleNamespace(beats_best=True))) is None
    assert kgram_reason(measured(3.0, None)) is None  # recorded before the baselines: nothing to say
    steps = next_steps([reason, "too few points: 6 points, 3 model sizes, 2 data sizes"], [1000, 4000])
    assert any("4× and 16× the largest (N = 4,000)" in s for s in steps) and any("3 data sizes" in s for s in steps)


def test_a_withheld_floor_prints_no_number_only_why_and_what_next():
    record = {"representation": "markov", "points": 6, "model_sizes": [1, 2, 3],
              "measured": {"bits_per_token": 5.5, "bits_per_sec": 270.0, "non_embedding_params": 3000,
                           "train_tokens": 10_000},
              "withheld": ["E at its upper bound (the lowest measured loss 5.4): the curves have not bent"],
              "next": ["bigger models and more data"], "E_bits_per_token": 5.4, "floor_bits_per_sec": None}
    printed = render(record)
    assert "floor WITHHELD: E at its upper bound" in printed and "next: bigger models" in printed
    assert "5.4000" not in printed and "floor E" not in printed
