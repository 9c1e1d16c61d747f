"""``report.html``: the report as one self-contained page to share (no network, no server): every view as a tab
with a table sortable by any column, the figures, a few validation utterances per audio representation (original
beside decoded), bits/sec per speaker, each run's provenance and config, and the column definitions."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import yaml

from audiobits.analysis.per_speaker import per_speaker, read_utterances
from audiobits.analysis.plots import FIGURES, significant
from audiobits.quality.quality_file import read_quality_file
from audiobits.analysis.report_columns import COLUMNS, DEFAULT_VIEW, VIEWS, Column, view_columns
from audiobits.analysis.runs import Run
from audiobits.quality.samples import read_samples

PAGE_FILE = "report.html"
PROVENANCE_KEYS = ("audiobits_version", "git_commit", "torch_version", "lightning_version", "codec_package", "device",
                   "seed", "config_sha256")

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 3px 8px; border-bottom: 1px solid #eee; }
td { text-align: right; white-space: nowrap; } td:nth-child(-n+3) { text-align: left; }
th { background: #f4f4f4; cursor: pointer; text-align: left; position: sticky; top: 0; }
th[data-dir=asc]::after { content: " \\25B2"; } th[data-dir=desc]::after { content: " \\25BC"; }
th.headline, td.headline { background: #fff6d6; font-weight: 600; }
nav button { font: inherit; padding: 4px 12px; margin-right: 4px; border: 1px solid #bbb; background: #fafafa; }
nav button.active { background: #333; color: #fff; }
.view-table { overflow-x: auto; } figure { margin: 1em 0; }
figure img { max-width: min(100%, 1000px); border: 1px solid #eee; }
figcaption { color: #555; } dt { font-weight: 600; } dd { margin: 0 0 0.4em 1.5em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; } .notes li { margin-bottom: 0.3em; }
"""

SCRIPT = """
function sortBy(th) {
  const table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
  const dir = th.dataset.dir === "asc" ? "desc" : "asc";
  table.querySelectorAll("th").forEach(h => delete h.dataset.dir);
  th.dataset.dir = dir;
  const key = row => { const v = row.cells[i].dataset.sort, n = Number(v); return v === "" ? null : isNaN(n) ? v : n; };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);  // missing values last either way
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return dir === "asc" ? order : -order;
  });
  rows.forEach(r => body.appendChild(r));
}
function showView(name) {
  document.querySelectorAll("section.view").forEach(s => s.hidden = s.dataset.view !== name);
  document.querySelectorAll("nav button").forEach(b => b.classList.toggle("active", b.dataset.view === name));
}
document.querySelectorAll("table.sortable th").forEach(th => th.addEventListener("click", () => sortBy(th)));
document.querySelectorAll("nav button").forEach(b => b.addEventListener("click", () => showView(b.dataset.view)));
showView("default");
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _sort_value(value: object) -> str:
    """What a cell sorts by: the raw number, else the text ('' for missing: sorted last)."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    return repr(value) if isinstance(value, (int, float)) else str(value)


def _cell(column: Column, row: dict) -> str:
    css = ' class="headline"' if column.key == "bits_per_sec" else ""
    return f'<td{css} data-sort="{_e(_sort_value(row.get(column.key)))}">{_e(column.show(row))}</td>'


def view_table(view: str, rows: list[dict]) -> str:
    """One view's table, sortable by clicking a header (the header's title is the column's definition)."""
    columns = view_columns(view)
    head = "".join(f'<th{" class=headline" if c.key == "bits_per_sec" else ""} title="{_e(c.definition)}">'
                   f"{_e(c.header)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(c, r) for c in columns) + "</tr>" for r in rows)
    return (f'<div class="view-table"><table class="sortable" id="table-{view}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def figures_section(figures: list[Path]) -> str:
    """Each PNG figure embedded, captioned with what it plots."""
    items = []
    for path in (p for p in figures if p.suffix == ".png"):
        draw = FIGURES.get(path.stem)
        caption = draw.__doc__.strip().splitlines()[0] if draw is not None and draw.__doc__ else path.stem
        items.append(f'<figure id="figure-{_e(path.stem)}"><img alt="{_e(path.stem)}" '
                     f'src="{_data_uri(path, "image/png")}"><figcaption>{_e(caption)}</figcaption></figure>')
    return "".join(items) or "<p>No figure had data to draw.</p>"


def listening_section(runs: list[Run]) -> str:
    """Per audio representation, its sample utterances as two players each: the original and the decoded."""
    parts = []
    for run in runs:
        scored = read_quality_file(run.bins_dir())
        ids = [row["id"] for row in (scored or {}).get("per_utterance", [])]
        samples = read_samples(run.bins_dir(), ids)
        if not samples:
            continue
        rows = "".join(f"<tr><td>{_e(s.utterance)}</td><td><audio controls preload=none "
                       f'src="{_data_uri(s.original, "audio/wav")}"></audio></td><td><audio controls preload=none '
                       f'src="{_data_uri(s.decoded, "audio/wav")}"></audio></td></tr>' for s in samples)
        parts.append(f"<h3>{_e(run.label)} ({_e(run.representation)})</h3><table class=listen><thead><tr>"
                     f"<th>utterance</th><th>original</th><th>decoded</th></tr></thead><tbody>{rows}</tbody></table>")
    return "".join(parts) or ("<p>No samples: <code>audiobits quality</code> writes a few decoded validation "
                              "utterances per audio representation beside its bins.</p>")


def speakers_section(runs: list[Run]) -> str:
    """Headline bits/sec per validation speaker (rows) and run (columns): Σ bits ÷ Σ seconds of their
    utterances."""
    shares = {run.label: {s.name: s for s in per_speaker(found)} for run in runs
              if (found := read_utterances(run.path)) is not None}
    speakers = list(dict.fromkeys(name for by_speaker in shares.values() for name in by_speaker))
    if not speakers:
        return ("<p>The corpus records no speakers: bits/sec per utterance is in <code>per_utterance.csv</code> "
                "beside this page.</p>")
    head = "<th>speaker</th>" + "".join(f"<th>{_e(label)} bits/s</th>" for label in shares)
    body = ""
    for name in speakers:
        cells = [shares[label].get(name) for label in shares]
        body += f"<tr><td>{_e(name)}</td>" + "".join(
            f'<td data-sort="{"" if s is None else repr(s.bits_per_sec)}">'
            f'{"–" if s is None else significant(s.bits_per_sec)}</td>' for s in cells) + "</tr>"
    return (f'<table class="sortable" id="table-speakers"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            "<p>Per utterance: <code>per_utterance.csv</code> beside this page.</p>")


def runs_section(rows: list[dict], runs: list[Run]) -> str:
    """Each run's provenance and resolved config (config.yaml), folded."""
    configs = {run.label: run.config for run in runs}
    parts = []
    for r in rows:
        provenance = "".join(f"<tr><td>{_e(k)}</td><td>{_e(r.get(k) if r.get(k) is not None else 'not recorded')}"
                             "</td></tr>" for k in PROVENANCE_KEYS)
        config = yaml.safe_dump(configs.get(r["run"]) or {}, sort_keys=False) or "(no config.yaml)"
        parts.append(f'<details class="run"><summary>{_e(r["run"])} — {_e(r["path"])}</summary>'
                     f"<table>{provenance}</table><pre>{_e(config)}</pre></details>")
    return "".join(parts)


def definitions_section() -> str:
    """Every column's header and definition."""
    return "<dl>" + "".join(f"<dt>{_e(c.header)} <code>{_e(c.key)}</code></dt><dd>{_e(c.definition)}</dd>"
                            for c in COLUMNS) + "</dl>"


def page(rows: list[dict], notes: list[str], runs: list[Run], figures: list[Path]) -> str:
    """The whole page as one HTML string."""
    nav = "".join(f'<button data-view="{v}">{_e(v)}</button>' for v in VIEWS)
    views = "".join(f'<section class="view" data-view="{v}"{" hidden" if v != DEFAULT_VIEW else ""}>'
                    f"{view_table(v, rows)}</section>" for v in VIEWS)
    notes_html = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>audiobits report</title>'
            f"<style>{STYLE}</style></head><body><h1>audiobits report</h1>"
            f"<p>{len(rows)} runs. Click a column header to sort; hover it for its definition.</p>"
            f"<h2>Tables</h2><nav>{nav}</nav>{views}<ul class=notes>{notes_html}</ul>"
            f'<h2 id="figures">Figures</h2>{figures_section(figures)}'
            f'<h2 id="listen">Listen: original and decoded</h2>{listening_section(runs)}'
            f'<h2 id="speakers">Bits per second per speaker</h2>{speakers_section(runs)}'
            f'<h2 id="runs">Runs: provenance and config</h2>{runs_section(rows, runs)}'
            f'<h2 id="definitions">Column definitions</h2>{definitions_section()}'
            f"<script>{SCRIPT}</script></body></html>\n")
