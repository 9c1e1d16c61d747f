"""`audiobits scaling SWEEP_DIR...`: fit L(N, D) per representation over a sweep's points; report the floor.

Each point is a run directory of the sweep (main runs and cool-downs): N = its non-embedding parameters, D = the
tokens it trained, L = its bits/token (results.json) and its per-utterance nats (val_utterances.npz) for the
bootstrap. The fit (:mod:`audiobits.scaling.law`) gives E in bits/token; E × tokens/sec is the bits/sec floor,
an estimate of what the stream carries; the measured point (the sweep's reference size at the full epoch) is
reported beside it with its distance. Writes ``scaling.json``, a loss-vs-data figure per representation and the
headline figure with the floors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobits import metrics
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, write_figure, write_text_atomic
from audiobits.scaling.floor import floor_interval, kgram_reason, law_form_floors, next_steps, runs_bootstrap
from audiobits.results import RESULTS_FILE, UTTERANCES_FILE
from audiobits.analysis.runs import Run, load_runs, note_printer
from audiobits.scaling.law import (LAW_PARAMETERS, MIN_POINTS, LawFit, bootstrap_floor, fit_law, leave_one_out,
                                   leave_one_out_reason)
from audiobits.scaling.sweep_records import Point, planned_points, read_sweep_record
from audiobits.scaling.scaling_file import SCALING_FILE



@dataclass
class Points:
    """One representation's sweep points and, when every point has them, per-utterance sums for the bootstrap."""

    runs: list[Run]
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray  # bits/token
    nats: np.ndarray | None  # [points, utterances]
    scored: np.ndarray | None  # [points, utterances]
    groups: np.ndarray | None  # cluster label per utterance: speaker, or the utterance itself
    interval_kind: str


def collect_points(runs: list[Run]) -> Points:
    """Points of one representation; the bootstrap arrays only when every point wrote val_utterances.npz over the
    same utterances."""
    params = np.array([r.results.model.non_embedding_params for r in runs], dtype=float)
    tokens = np.array([r.results.train_tokens for r in runs], dtype=float)
    loss = np.array([r.results.headline.bits_per_token for r in runs], dtype=float)
    files = [r.path / UTTERANCES_FILE for r in runs]
    if not all(f.is_file() for f in files):
        return Points(runs, params, tokens, loss, None, None, None, "none (no val_utterances.npz)")
    arrays = [np.load(f) for f in files]
    ids = arrays[0]["ids"]
    if any(a["ids"].shape != ids.shape or (a["ids"] != ids).any() for a in arrays):
        raise AudiobitsError(f"{files[0].parent}: the sweep's points scored different val utterances; every point of "
                             "one representation must be evaluated on the same val split.")
    nats = np.stack([a["nats"] for a in arrays])
    scored = np.stack([a["tokens"] for a in arrays]).astype(float)
    speakers = arrays[0]["speakers"] if "speakers" in arrays[0].files else None
    if speakers is not None and (speakers != "").all():
        groups, kind = speakers, "speakers"
    else:
        groups, kind = np.arange(len(ids)), "utterances"
    return Points(runs, params, tokens, loss, nats, scored, groups, kind)


def gap(point: Point, run: Run | None) -> str | None:
    """Why a point the sweep planned is not fitted (None: it is): never started, crashed or still running, or a
    main run stopped before its epoch ended (a cool-down ends at its max_steps by design, so records finished:
    false). A results.json that is there but damaged was already noted by `load_runs`."""
    if run is not None:
        return (None if point.fraction is not None or run.results.finished else
                "its results.json records finished: false (stopped before the end of its epoch); move the run "
                "aside and run the sweep again to train it anew")
    if not point.path.is_dir():
        return "not run (no directory): run the sweep again to train it (finished points are kept)"
    if not (point.path / RESULTS_FILE).is_file():
        return (f"no {RESULTS_FILE}: it crashed or is still running; once it is not running, run the sweep again to "
                "resume it (finished points are kept)")
    return None


def without_gaps(sweeps: list[str], runs: list[Run], note: Callable[[str], None]) -> list[Run]:
    """``runs`` less the unfinished main runs of the sweep folders given, with one note per point their sweep.json
    plans that will not be fitted: a size that crashed must not vanish from the fit without a word."""
    loaded = {run.path.resolve(): run for run in runs}
    left_out = set()
    for folder in sweeps:
        for point in planned_points(Path(folder)):
            why = gap(point, loaded.get(point.path.resolve()))
            if why is not None:
                note(f"sweep point {point.path} left out of the fit: {why}")
                left_out.add(point.path.resolve())
    return [run for run in runs if run.path.resolve() not in left_out]


def measured_run(points: Points) -> Run:
    """The point a study reports: the sweep's reference size (sweep.json) at its full epoch, else the largest
    model's main run, else the point with the most N·D."""
    mains = [r for r in points.runs if r.path.name == "main"]
    for run in mains:
        record = read_sweep_record(run.path.parent.parent.parent) or {}  # <sweep>/runs/<size>/main
        if record.get("reference") == run.path.parent.name:
            return run
    candidates = mains or points.runs
    return max(candidates, key=lambda r: (r.results.model.non_embedding_params, r.results.train_tokens))


def summarize(points: Points, resamples: int, seed: int = 0) -> tuple[dict, LawFit]:
    """The fit, its interval and the floor in bits/sec next to the measured point (a JSON-ready dict)."""
    fit = fit_law(points.params, points.tokens, points.loss)
    interval = None
    if points.nats is not None and resamples > 0:
        interval = bootstrap_floor(points.params, points.tokens, points.nats, points.scored, points.groups, fit,
                                   resamples=resamples, seed=seed)
        if not interval[0] <= fit.E <= interval[1]:
            fit.reasons.append("E outside its own bootstrap interval: the fit is unstable under resampling")
    loo = leave_one_out(points.params, points.tokens, points.loss) if len(points.loss) >= MIN_POINTS else None
    reason = leave_one_out_reason(fit, loo) if loo is not None else None
    if reason:
        fit.reasons.append(reason)
    reported = measured_run(points)
    measured = reported.results
    headline = measured.headline
    tps = headline.tokens_per_sec
    floor = metrics.rate_floor_bits_per_second(fit.E, tps)
    envelope = floor_interval(fit, interval, loo, runs_bootstrap(points.params, points.tokens, points.loss, fit,
                                                                  resamples, seed),
                              law_form_floors(points.params, points.tokens, points.loss))
    withheld = fit.reasons + [r for r in [kgram_reason(measured)] if r]
    shown = not withheld
    record = {
        "representation": measured.representation,
        "points": len(points.runs),
        "model_sizes": sorted({int(n) for n in points.params}),
        "E_bits_per_token": fit.E,  # the fit's parameter; a floor only when nothing is withheld
        "E_ci95": list(interval) if interval else None,
        "E_leave_one_out": [float(loo.min()), float(loo.max())] if loo is not None else None,
        "E_interval": [envelope.low, envelope.high],
        "E_interval_parts": envelope.parts,
        "interval_kind": points.interval_kind if interval else "none",
        "bootstrap_resamples": resamples if interval else 0,
        "withheld": withheld,
        "next": next_steps(withheld, sorted({int(n) for n in points.params})) if withheld else [],
        "floor_bits_per_sec": floor if shown else None,
        "floor_bits_per_sec_ci95": ([metrics.rate_floor_bits_per_second(x, tps) for x in interval]
                                    if interval and shown else None),
        "floor_interval_bits_per_sec": ([metrics.rate_floor_bits_per_second(x, tps) for x in
                                         (envelope.low, envelope.high)] if shown else None),
        "tokens_per_sec": tps,
        "A": fit.A, "alpha": fit.alpha, "B": fit.B, "beta": fit.beta,
        "measured": {"run": str(reported.path), "bits_per_token": headline.bits_per_token,
                     "bits_per_sec": headline.bits_per_sec, "non_embedding_params": measured.model.non_embedding_params,
                     "train_tokens": measured.train_tokens},
        "distance_bits_per_token": headline.bits_per_token - fit.E if shown else None,
        "distance_bits_per_sec": headline.bits_per_sec - floor if shown else None,
        "distance_relative": (headline.bits_per_token - fit.E) / fit.E if shown else None,
        "unreliable": fit.unreliable,
        "reasons": fit.reasons,
    }
    return record, fit


def render(record: dict) -> str:
    """A few plain lines per representation: the floor with its interval, or, withheld, why and what to run next."""
    m = record["measured"]
    head = (f"{record['representation']}: {record['points']} points, {len(record['model_sizes'])} model sizes; "
            f"measured {m['bits_per_token']:.4f} bits/token = {m['bits_per_sec']:.2f} bits/sec "
            f"(N {m['non_embedding_params'] / 1e6:.2f} M, D {m['train_tokens']:,})")
    if record["withheld"]:
        return "\n".join([head, "  floor WITHHELD: " + "; ".join(record["withheld"]),
                          *(f"  next: {step}" for step in record["next"])])
    low, high = record["E_interval"]
    flow, fhigh = record["floor_interval_bits_per_sec"]
    ci = record["E_ci95"]
    noise = f"; validation noise alone [{ci[0]:.4f}, {ci[1]:.4f}] ({record['interval_kind']})" if ci else ""
    return "\n".join([
        head,
        f"  floor E = {record['E_bits_per_token']:.4f} bits/token, interval [{low:.4f}, {high:.4f}] (law form, "
        f"choice of points and validation noise{noise})",
        f"  floor   = {record['floor_bits_per_sec']:.2f} bits/sec [{flow:.2f}, {fhigh:.2f}] "
        f"(E × {record['tokens_per_sec']:.2f} tok/s)",
        f"  measured is {record['distance_bits_per_token']:+.4f} bits/token ({100 * record['distance_relative']:+.1f} "
        f"%), {record['distance_bits_per_sec']:+.2f} bits/sec above the floor",
        f"  L = E + {record['A']:.3g}/N^{record['alpha']:.3f} + {record['B']:.3g}/D^{record['beta']:.3f}; "
        "checks passed"])


def main(sweeps: list[str], out: str | None = None, resamples: int = 200) -> None:
    """Fit L(N, D) to sweeps: the floor of each stream.

    Args:
        sweeps: sweep folders (`audiobits sweep --out`) or run dirs.
        out: where scaling.json and figures go (default: the first sweep folder).
        resamples: bootstrap refits for the interval on E.
    """
    from audiobits.analysis.plots import headline, scaling_curves

    folder = Path(out or sweeps[0])
    if out:  # the default, the first sweep folder, is checked once the runs in it have been read
        check_output_dir(folder, "--out")
    note = note_printer("audiobits scaling")
    runs = without_gaps(sweeps, load_runs(sweeps, on_skip=note), note)
    if not out:
        check_output_dir(folder, "the output folder (the first sweep; --out names another)")
    by_rep: dict[str, list[Run]] = {}
    for run in runs:
        by_rep.setdefault(run.representation, []).append(run)
    for name, rep_runs in sorted(by_rep.items()):
        if len(rep_runs) < LAW_PARAMETERS:
            raise AudiobitsError(f"{name}: {len(rep_runs)} finished point(s) left, but L(N, D) has {LAW_PARAMETERS} "
                                 "parameters to fit: finish the points named above (run the sweep again), or add "
                                 "sizes to the ladder.")
    records, floors, measured = [], {}, []
    folder.mkdir(parents=True, exist_ok=True)
    for name, rep_runs in sorted(by_rep.items()):
        points = collect_points(rep_runs)
        record, fit = summarize(points, resamples)
        records.append(record)
        print(render(record), flush=True)
        if not record["withheld"]:  # a withheld floor is not drawn either
            floors[name] = (record["floor_bits_per_sec"], record["floor_interval_bits_per_sec"], False)
        measured.append(measured_run(points))
        _save(scaling_curves(points.params, points.tokens, points.loss, fit, name), folder / f"scaling_{name}")
    _save(headline(measured, floors), folder / "headline_floor")
    path = folder / SCALING_FILE
    write_text_atomic(path, json.dumps(records, indent=2) + "\n")
    print(f"wrote {path}, scaling_<representation>.png and headline_floor.png in {folder}. The floor extrapolates the "
          "fitted law to infinite model and data: an estimate of the stream's information rate, not a measurement.")


def _save(fig, stem: Path) -> None:
    for suffix in ("png", "svg"):
        write_figure(fig, stem.with_suffix(f".{suffix}"))
