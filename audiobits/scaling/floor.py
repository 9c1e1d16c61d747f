"""The floor `audiobits scaling` may print, and when it must not: an interval on E that covers the law's form and the
choice of points, not only validation noise, and the reasons to withhold the number with what to run next.

The interval is the envelope (lowest low, highest high) of four sources of doubt about E:

- **validation noise**: the percentile bootstrap over val speakers/utterances (:func:`scaling_law.bootstrap_floor`);
- **choice of points**: the law refitted with each run left out (:func:`scaling_law.leave_one_out`) and on runs
  resampled with replacement (:func:`runs_bootstrap`: which sizes and cool-downs happened to be trained);
- **law form**: E of the one-axis law L = E + B/x^β along data at the largest model and along models at the most
  data (:func:`axis_floor`), which do not assume the two excesses add.

Checked through real tiny sweeps on sources of known entropy (order-1 and order-2 Markov, a hidden Markov model;
tests/test_sweep.py, docs/scaling.md): the truth lies inside the envelope, or the floor is withheld. The floor is
withheld — no number printed — when the fit is unreliable (:func:`scaling_law.check_fit`, leave-one-out spread) or
when the measured run has not learned beyond k-gram statistics (then the law extrapolates k-gram-level learning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from audiobits.results import Results
from audiobits.scaling.law import LAW_PARAMETERS, LawFit, fit_law, theta_of

AXIS_POINTS = 3  # a one-axis law has three parameters


@dataclass
class FloorInterval:
    """The envelope on E and what each source of doubt contributed ([low, high] each; absent when not computable)."""

    low: float
    high: float
    parts: dict[str, list[float]] = field(default_factory=dict)


def runs_bootstrap(params: np.ndarray, tokens: np.ndarray, loss: np.ndarray, fit: LawFit, resamples: int = 200,
                   confidence: float = 0.95, seed: int = 0) -> list[float] | None:
    """Percentile interval on E over refits on runs drawn with replacement (draws with fewer distinct runs than the
    law has parameters are redrawn); None with fewer runs than that."""
    params, tokens, loss = (np.asarray(x, float) for x in (params, tokens, loss))
    if loss.size <= LAW_PARAMETERS or resamples <= 0:
        return None
    rng = np.random.default_rng(seed)
    start, estimates = theta_of(fit), []
    while len(estimates) < resamples:
        pick = rng.integers(0, loss.size, loss.size)
        if len(np.unique(pick)) >= LAW_PARAMETERS:
            estimates.append(fit_law(params[pick], tokens[pick], loss[pick], start=start).E)
    tail = (1.0 - confidence) / 2.0 * 100.0
    return [float(x) for x in np.percentile(estimates, [tail, 100.0 - tail])]


def axis_floor(x: np.ndarray, loss: np.ndarray) -> float | None:
    """E of L = E + B/x^β fitted (least squares on log L, E in (0, min L]) to points along one axis; None with fewer
    than three distinct x."""
    x, loss = np.asarray(x, float), np.asarray(loss, float)
    if len(np.unique(x)) < AXIS_POINTS:
        return None
    scale, top = np.median(x), float(loss.min())

    def residual(theta: np.ndarray) -> np.ndarray:
        e, log_b, beta = theta
        return np.log(e + np.exp(log_b) * (x / scale) ** -beta) - np.log(loss)

    start = np.array([0.5 * top, np.log(max(float(np.median(loss)) - 0.5 * top, 1e-6)), 0.3])
    result = least_squares(residual, start, bounds=([1e-4 * top, -30.0, 0.0], [top, 30.0, 3.0]))
    return float(result.x[0])


def law_form_floors(params: np.ndarray, tokens: np.ndarray, loss: np.ndarray) -> list[float]:
    """E of the one-axis laws: along data at the largest model, along models at the most data (where computable)."""
    params, tokens, loss = (np.asarray(x, float) for x in (params, tokens, loss))
    largest, most = params == params.max(), np.isclose(tokens, tokens.max(), rtol=1e-3)
    found = [axis_floor(tokens[largest], loss[largest]), axis_floor(params[most], loss[most])]
    return [e for e in found if e is not None]


def floor_interval(fit: LawFit, validation: tuple[float, float] | None, loo: np.ndarray | None,
                   runs: list[float] | None, law_forms: list[float]) -> FloorInterval:
    """The envelope of E, its validation interval, the leave-one-out range, the runs bootstrap and the law forms."""
    parts = {"fit": [fit.E, fit.E]}
    if validation is not None:
        parts["validation bootstrap"] = list(validation)
    if loo is not None:
        parts["leave one run out"] = [float(loo.min()), float(loo.max())]
    if runs is not None:
        parts["runs bootstrap"] = list(runs)
    if law_forms:
        parts["one-axis laws"] = [min(law_forms), max(law_forms)]
    return FloorInterval(min(p[0] for p in parts.values()), max(p[1] for p in parts.values()), parts)


def kgram_reason(measured: Results) -> str | None:
    """Why the floor is withheld when the measured run does not beat its best k-gram baseline (None: it does, or
    results.json predates the baselines)."""
    kgram = measured.kgram
    if kgram is None or kgram.beats_best is not False:
        return None
    return (f"the measured run ({measured.headline.bits_per_token:.4f} bits/token) has not learned beyond k-gram "
            f"statistics (best: order {kgram.best_order}, {kgram.best_bits_per_token:.4f} bits/token): the law would "
            "extrapolate k-gram-level learning")


def next_steps(reasons: list[str], sizes: list[int]) -> list[str]:
    """What to run so that a withheld floor can be printed, one line per kind of reason."""
    steps = []
    text = " ".join(reasons)
    if "too few points" in text:
        steps.append("more points: at least 3 model sizes and 3 data sizes (cool-down fractions, e.g. --fractions "
                     "'[0.25, 0.5]'), 8 runs in all")
    if "k-gram" in text or "not bent" in text or "upper bound" in text:
        steps.append(f"bigger models and more data: sizes 4× and 16× the largest (N = {max(sizes):,}), trained on more "
                     "tokens, until runs beat their k-gram baselines and the curves bend")
    if "left out" in text or "bootstrap interval" in text or "outside the plausible" in text:
        steps.append("more sizes between and beyond the present ones, so that no single run decides E")
    return steps or ["a larger ladder (more sizes, more data)"]
