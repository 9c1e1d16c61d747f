"""``audiobits report --by language``: one row per (run, language) from results.json ``languages``, and the figure
of bits/s per language per representation beside the cross-language speech information rate (Coupé et al. 2019).

A row's numbers condition on its run's model and evaluation pass and on that language's validation utterances only
(:mod:`audiobits.analysis.languages`); ``parallel`` results (the same prompts in every language) come from the caller.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.figure import Figure

from audiobits.errors import AudiobitsError
from audiobits.files import write_figure, write_text_atomic
from audiobits.analysis.plots import SPEECH_INFORMATION_RATE, _figure, _log, significant
from audiobits.analysis.runs import Run


@dataclass(frozen=True)
class LanguageRow:
    """One run's numbers on one language's validation utterances."""

    run: str
    representation: str
    language: str
    utterances: int
    seconds: float
    bits_per_token: float
    tokens_per_sec: float
    bits_per_sec: float
    ci_low: float
    ci_high: float
    ci_kind: str


def language_rows(runs: list[Run]) -> list[LanguageRow]:
    """A row per (run, language) of every run whose results.json records languages, by language then run order."""
    rows = [LanguageRow(run.label, run.representation, language, s.utterances, s.seconds, s.bits_per_token,
                        s.tokens_per_sec, s.bits_per_sec, *s.bits_per_sec_ci95, s.ci_kind)
            for run in runs for language, s in run.results.languages.items()]
    order = {run.label: i for i, run in enumerate(runs)}
    return sorted(rows, key=lambda r: (r.language, order[r.run]))


HEADERS = ("language", "run", "representation", "utterances", "seconds", "bits/token", "tokens/s",
           "bits/s [95% CI]")


def _cells(row: LanguageRow) -> list[str]:
    interval = f"[{significant(row.ci_low)}, {significant(row.ci_high)}] {row.ci_kind[:3]}"
    return [row.language, row.run, row.representation, str(row.utterances), significant(row.seconds),
            significant(row.bits_per_token), significant(row.tokens_per_sec),
            f"{significant(row.bits_per_sec)} {interval}"]


def render_languages(rows: list[LanguageRow], fmt: str) -> str:
    """The per-language table as ``table`` (aligned text), ``markdown``, ``csv`` (raw numbers) or ``json``."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(LanguageRow.__dataclass_fields__), lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
        return buffer.getvalue()
    lines = [list(HEADERS), *(_cells(r) for r in rows)]
    note = ("Each row: that language's validation utterances under the run's model and pass; interval: bootstrap "
            "over that language's speakers (spe) when it has two or more, else its utterances (utt).")
    if fmt == "markdown":
        body = ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join([body[0], "|" + "---|" * len(HEADERS), *body[1:], "", note]) + "\n"
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(HEADERS))]
    text = ["  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in lines]
    return "\n".join([text[0], "  ".join("-" * w for w in widths), *text[1:], "", note]) + "\n"


def languages_figure(rows: list[LanguageRow], title: str = "Bits per second by language") -> Figure | None:
    """bits/s with its interval per language (x) and representation (one color each, log y), over the band of
    the speech information rate across languages; None when no run records languages."""
    if not rows:
        return None
    languages = sorted({r.language for r in rows})
    representations = list(dict.fromkeys(r.representation for r in rows))
    fig, [ax] = _figure(1.6 + 0.9 * len(languages), 4.2)
    mean, sd = SPEECH_INFORMATION_RATE
    ax.axhspan(mean - sd, mean + sd, color="0.85", zorder=0,
               label=f"speech information rate {mean:.0f} ± {sd:.0f} bits/s (Coupé et al. 2019)")
    width = 0.8 / len(representations)
    for k, name in enumerate(representations):
        mine = [r for r in rows if r.representation == name]
        xs = [languages.index(r.language) - 0.4 + width * (k + 0.5) for r in mine]
        ys = [r.bits_per_sec for r in mine]
        ax.errorbar(xs, ys, yerr=[[y - r.ci_low for y, r in zip(ys, mine)], [r.ci_high - y for y, r in zip(ys, mine)]],
                    fmt="o", capsize=3, label=name)
    _log(ax, "y")
    ax.set_xticks(range(len(languages)), languages)
    ax.set_xlim(-0.6, len(languages) - 0.4)
    ax.set_ylabel("bits per second (validation, 95 % interval)")
    ax.set_title(title)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.legend(fontsize=7, loc="outside lower center", ncol=3)
    return fig


def report_by_language(runs: list[Run], fmt: str, out: Path | None = None) -> list[Path]:
    """Print the per-language table in ``fmt``; with ``out`` also write languages.md/.csv/.json and the figure
    (languages.png/.svg) there. Returns the files written."""
    rows = language_rows(runs)
    if not rows:
        raise AudiobitsError(f"none of the {len(runs)} runs records languages (results.json 'languages' is empty): "
                             "the corpus needs a language per utterance (an AudioFolder's language column), then "
                             "prepare and fit again (or `audiobits validate` on the new bins)")
    print(render_languages(rows, fmt), end="")
    if out is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, form in (("languages.md", "markdown"), ("languages.csv", "csv"), ("languages.json", "json")):
        write_text_atomic(out / name, render_languages(rows, form))
        written.append(out / name)
    figure = languages_figure(rows)
    for suffix in ("png", "svg"):
        write_figure(figure, out / f"languages.{suffix}")
        written.append(out / f"languages.{suffix}")
    return written
