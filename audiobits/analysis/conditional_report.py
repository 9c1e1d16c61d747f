"""The conditional view of the report (``audiobits report --view conditional``): paired runs' conditional entropies and
information, the identity check I(A;T) from both sides, and the decomposition of H(A) into words / speaker / rest
beside the seed's subtraction of single-stream rates. Reads results.json records only (docs/conditional.md).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from audiobits.files import write_figure as write_figure_file, write_text_atomic
from audiobits.analysis.runs import Run

NONE, PAIRED, BOTH = "none", "paired", "paired+speaker"


@dataclass
class ConditionalRow:
    """One paired run: the target's conditional entropies (bits/sec; bits/token in brackets) and information."""

    run: str
    corpus: str
    target: str
    paired: str | None
    entropy: dict[str, tuple[float, float]]  # mode → (bits/token, bits/sec): upper bounds
    information: dict[str, dict]  # name → results.json ``information`` entry: estimates with paired intervals
    decomposition: dict | None


@dataclass
class DecompositionRow:
    """H(A) in bits/sec as words / speaker / rest from one paired run, beside the seed's subtraction: words = the
    paired stream's own single-stream rate, rest = the target's single-stream rate minus it (None without them)."""

    target: str
    total: float
    words: float
    speaker: float | None  # None: the run had no speaker condition (rest is then H(A|T))
    rest: float
    seed_words: float | None
    seed_rest: float | None


def conditional_rows(runs: list[Run]) -> list[ConditionalRow]:
    """A row per run holding a ``conditional`` block (others are single-stream runs)."""
    rows = []
    for run in runs:
        block = run.results.conditional
        if block is None:
            continue
        entropy = {mode: (m["bits_per_token"], m["bits_per_sec"]) for mode, m in block["modes"].items()}
        rows.append(ConditionalRow(run.label, run.results.corpus, block["target"], block["paired"], entropy,
                                   block["information"], block["decomposition"]))
    return rows


def identity_check(rows: list[ConditionalRow]) -> list[tuple[str, str, float, float]]:
    """(A, T, I(A;T) from A's side, from T's side) in bits/sec for each pair of runs A|T and T|A on one corpus: the
    same mutual information, estimated by two models; their gap is a check on both."""
    by_pair = {(r.corpus, r.target, r.paired): r for r in rows if "paired" in r.information}
    out = []
    for (corpus, a, t), row in sorted(by_pair.items()):
        other = by_pair.get((corpus, t, a))
        if other is not None and a < t:
            out.append((a, t, row.information["paired"]["bits_per_sec"], other.information["paired"]["bits_per_sec"]))
    return out


def single_stream_rates(runs: list[Run]) -> dict[tuple[str, str], float]:
    """(corpus, representation) → bits/sec of single-stream runs (the seed's numbers to subtract)."""
    return {(r.results.corpus, r.results.representation): r.results.headline.bits_per_sec for r in runs
            if r.results.conditional is None}


def decomposition_rows(runs: list[Run]) -> list[DecompositionRow]:
    """Each paired run as words / speaker / rest, beside the seed-style subtraction."""
    single = single_stream_rates(runs)
    out = []
    for row in conditional_rows(runs):
        d = row.decomposition
        if d is None:
            continue
        words, alone = single.get((row.corpus, row.paired)), single.get((row.corpus, row.target))
        out.append(DecompositionRow(row.target, d["total"], d["words"], d["speaker"], d["rest"], words,
                                    None if words is None or alone is None else alone - words))
    return out


def _num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _interval(term: dict | None) -> str:
    if term is None:
        return "—"
    low, high = term["ci95"]
    return f"{term['bits_per_sec']:.2f} [{low:.2f}, {high:.2f}]"


def _header(*names: str) -> str:
    """A Markdown table head (a ``|`` inside a name, as in H(A|T), escaped)."""
    cells = " | ".join(n.replace("|", "\\|") for n in names)
    return f"| {cells} |\n|" + "---|" * len(names)


def markdown(runs: list[Run]) -> str:
    """The view as Markdown: entropies, information, identity check, decomposition."""
    rows = conditional_rows(runs)
    lines = [_header("run", "target", "given", "H(A) b/s", "H(A|T) b/s", "H(A|T,S) b/s", "H(A) b/tok", "H(A|T) b/tok",
                     "H(A|T,S) b/tok", "I(A;T) b/s [95%]", "I(A;S|T) b/s [95%]")]
    for r in rows:
        def cell(mode: str, k: int) -> str:
            return _num(r.entropy[mode][k], 2 if k else 4) if mode in r.entropy else "—"
        lines.append(f"| {r.run} | {r.target} | {r.paired or '—'} | {cell(NONE, 1)} | {cell(PAIRED, 1)} | "
                     f"{cell(BOTH, 1)} | {cell(NONE, 0)} | {cell(PAIRED, 0)} | {cell(BOTH, 0)} | "
                     f"{_interval(r.information.get('paired'))} | "
                     f"{_interval(r.information.get('speaker_given_paired'))} |")
    checks = identity_check(rows)
    if checks:
        lines += ["", _header("A", "T", "I(A;T) from A: H(A) − H(A|T) b/s", "from T: H(T) − H(T|A) b/s")]
        lines += [f"| {a} | {t} | {x:.2f} | {y:.2f} |" for a, t, x, y in checks]
    decomposition = decomposition_rows(runs)
    if decomposition:
        lines += ["", _header("target", "H(A) b/s", "words I(A;T)", "speaker I(A;S|T)", "rest H(A|T,S) or H(A|T)",
                              "seed: words (paired stream alone)", "seed: rest (target alone − words)")]
        lines += [f"| {d.target} | {d.total:.2f} | {d.words:.2f} | {_num(d.speaker)} | {d.rest:.2f} | "
                  f"{_num(d.seed_words)} | {_num(d.seed_rest)} |" for d in decomposition]
    return "\n".join(lines) + "\n"


def write_figure(runs: list[Run], out: Path) -> list[Path]:
    """conditional.png/.svg: per target, H(A) in bits/sec stacked as words / speaker / rest (none without a
    decomposition)."""
    rows = decomposition_rows(runs)
    if not rows:
        return []
    fig = Figure(figsize=(6, 1.6 + 0.6 * len(rows)))
    ax = fig.subplots()
    names = [d.target for d in rows]
    left = [0.0] * len(rows)
    for label, values in (("rest", [d.rest for d in rows]), ("speaker I(A;S|T)", [d.speaker or 0.0 for d in rows]),
                          ("words I(A;T)", [d.words for d in rows])):
        ax.barh(names, values, left=left, label=label)
        left = [a + b for a, b in zip(left, values)]
    ax.set_xlabel("bits per second of speech (sums to H(A))")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize=8)
    fig.tight_layout()
    paths = [out / "conditional.png", out / "conditional.svg"]
    for path in paths:
        write_figure_file(fig, path, dpi=fig.dpi)  # savefig's own default: the figure's dpi
    return paths


def write(runs: list[Run], out: Path) -> list[Path]:
    """conditional.md and the figure in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "conditional.md", markdown(runs))
    return [out / "conditional.md", *write_figure(runs, out)]


def main(runs: list[Run], out: Path | None) -> None:
    """Print the view; with ``out`` also write conditional.md and the figure there."""
    print(markdown(runs), end="")
    if out is not None:
        files = write(runs, out)
        print(f"wrote {len(files)} files to {out}: " + ", ".join(p.name for p in files), file=sys.stderr)
