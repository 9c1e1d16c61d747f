"""`audiobits compare NEW_RUN --against RUN...`: a new tokenizer beside chosen references on the same utterances.

The codec author's loop: train on each checkpoint's tokens, then ask whether it carries more or fewer bits/s than
the references, and whether the difference is real. For each reference it prints bits/s with both 95 % intervals,
the difference new − reference with a *paired* bootstrap interval (the same validation utterances, or speakers,
drawn for both runs in every resample, from each run's val_utterances.npz), and whether the new value lies outside
the reference's interval. Runs on another corpus or another set of validation utterances are shown with the reason
and no paired interval: their difference is not a comparison on the same speech.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from audiobits import metrics
from audiobits.errors import AudiobitsError
from audiobits.results import UTTERANCES_FILE
from audiobits.analysis.runs import Run, flags, load_runs, note_printer

FORMATS = ("table", "json")


@dataclass(frozen=True)
class Comparison:
    """The new run against one reference: bits/s of each with its 95 % interval, the difference new − reference
    with its paired 95 % interval (None when they were not scored on the same utterances), and the verdicts."""

    reference: str
    representation: str
    bits_per_sec: float
    ci95: tuple[float, float]
    difference: float
    relative: float
    paired_ci95: tuple[float, float] | None
    interval_kind: str | None
    new_outside_reference_interval: bool
    not_comparable: list[str]

    @property
    def verdict(self) -> str:
        """In words: which is higher and whether the paired interval excludes no difference."""
        if self.paired_ci95 is None:
            return "not on the same utterances: " + "; ".join(self.not_comparable)
        low, high = self.paired_ci95
        if low > 0 or high < 0:
            return f"new is {'higher' if low > 0 else 'lower'} (paired 95% interval excludes 0)"
        return "no clear difference (paired 95% interval includes 0)"


def per_utterance(run: Run) -> dict[str, np.ndarray] | None:
    """A run's val_utterances.npz (ids, nats, seconds, speakers), None when the run did not write one."""
    path = run.path / UTTERANCES_FILE
    if not path.is_file():
        return None
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


def paired_interval(new: dict[str, np.ndarray], reference: dict[str, np.ndarray], resamples: int,
                    seed: int) -> tuple[tuple[float, float], str]:
    """The paired bootstrap interval of bits/s(new) − bits/s(reference) over their shared utterances, resampling
    speakers when both record every utterance's speaker, else utterances."""
    order = np.argsort(reference["ids"])
    rows = order[np.searchsorted(reference["ids"], new["ids"], sorter=order)]
    speakers = new.get("speakers")
    by_speaker = speakers is not None and (speakers != "").all()
    interval = metrics.bootstrap_bits_per_second_difference(
        new["nats"], new["seconds"], reference["nats"][rows], reference["seconds"][rows], resamples=resamples,
        seed=seed, clusters=speakers if by_speaker else None)
    return interval, "speakers" if by_speaker else "utterances"


def compare(new: Run, references: list[Run], resamples: int = 10_000, seed: int = 0) -> list[Comparison]:
    """The new run against each reference (see the module docstring)."""
    ours = per_utterance(new)
    out = []
    for ref in references:
        theirs = per_utterance(ref)
        reasons = flags(ref.results, {"corpus": new.results.corpus,
                                      "val_utterance_set": new.results.val_utterance_set})
        reasons = [r for r in reasons if r.startswith("other ")]
        if ours is None or theirs is None:
            reasons.append(f"no {UTTERANCES_FILE} in {(new if ours is None else ref).path}")
        elif not reasons and sorted(ours["ids"].tolist()) != sorted(theirs["ids"].tolist()):
            reasons.append("other val utterances")
        paired, kind = paired_interval(ours, theirs, resamples, seed) if not reasons else (None, None)
        new_bps, ref_bps = new.results.headline.bits_per_sec, ref.results.headline.bits_per_sec
        low, high = ref.results.headline.bits_per_sec_ci95
        out.append(Comparison(reference=ref.label, representation=ref.representation, bits_per_sec=ref_bps,
                              ci95=(low, high), difference=new_bps - ref_bps, relative=(new_bps - ref_bps) / ref_bps,
                              paired_ci95=paired, interval_kind=kind,
                              new_outside_reference_interval=not low <= new_bps <= high, not_comparable=reasons))
    return out


def render(new: Run, comparisons: list[Comparison]) -> str:
    """The terminal table: the new run's headline, then one line per reference."""
    low, high = new.results.headline.bits_per_sec_ci95
    lines = [f"new: {new.label} ({new.representation}, corpus {new.results.corpus}): "
             f"{new.results.headline.bits_per_sec:.4g} bits/s [{low:.4g}, {high:.4g}] ({new.results.headline.ci_kind})",
             "| reference | representation | bits/s [95% CI] | new − ref [paired 95% CI] | new outside ref CI | "
             "verdict |", "|---|---|---|---|---|---|"]
    for c in comparisons:
        paired = "–" if c.paired_ci95 is None else f"[{c.paired_ci95[0]:+.4g}, {c.paired_ci95[1]:+.4g}]"
        lines.append(f"| {c.reference} | {c.representation} | {c.bits_per_sec:.4g} [{c.ci95[0]:.4g}, "
                     f"{c.ci95[1]:.4g}] | {c.difference:+.4g} ({c.relative:+.1%}) {paired} | "
                     f"{'yes' if c.new_outside_reference_interval else 'no'} | {c.verdict} |")
    return "\n".join(lines) + "\n"


def main(new: str, *, against: list[str], format: Literal[FORMATS] = "table", resamples: int = 10_000) -> None:
    """A new tokenizer's run beside reference runs on the same utterances, differences and intervals.

    Args:
        new: the new tokenizer's run directory (holding results.json).
        against: reference run directories, or folders above them.
        format: what to print.
        resamples: bootstrap resamples of the paired interval.
    """
    runs = load_runs([new, *against], on_skip=note_printer("audiobits compare"))
    new_path = Path(new).resolve()
    new_run = next((r for r in runs if r.path.resolve() == new_path), None)
    if new_run is None:
        raise AudiobitsError(f"{new}: not one finished run directory (results.json in it); name the new run's "
                             "runs/<name>/version_<n> itself")
    references = [r for r in runs if r is not new_run]
    if not references:
        raise AudiobitsError("--against names no other finished run than the new one")
    comparisons = compare(new_run, references, resamples=resamples)
    if format == "json":
        print(json.dumps({"new": new_run.label, "comparisons": [{**asdict(c), "verdict": c.verdict}
                                                          for c in comparisons]}, indent=2))
    else:
        print(render(new_run, comparisons), end="")
