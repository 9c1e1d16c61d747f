"""The results table: one row per run, ``audiobits report RUN_DIR... [--view VIEW] [--out DIR] [--format FMT]``
(``--by language``: one row per run and language, :mod:`audiobits.analysis.language_report`).

Every number is read from the run's results.json, which :func:`audiobits.results.compute_results` fills with the
docs/metrics.md definitions; the report only changes units (FLOPs → PFLOPs). Runs that cannot be compared with the
rest — another corpus or validation utterance set than the reference (the most common pair), random codec
weights, an unfinished run, a partial validation pass or trainer options apart from the study's
(`audiobits.training.trainer_options`) — are flagged (counted in the ``checks`` column, listed under the table, a list
in each row's ``flags``), never mixed in silently. The sanity checks of :mod:`audiobits.analysis.sanity` run on every
row. The columns and views are declared in :mod:`audiobits.analysis.report_columns`; docs/report.md says how to read and
extend them.

Notebook API: ``runs = load_runs(paths)``, ``table = build_table(runs)``, ``table.markdown(view)``, ``table.rows``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Literal
from pathlib import Path


from audiobits.analysis import conditional_report
from audiobits.scaling.calibration_file import calibration_slack
from audiobits.compress.compress_summary import read_compress_summary
from audiobits.analysis import report_formats
from audiobits.analysis.per_speaker import per_utterance_csv
from audiobits.analysis.plots import write_figures
from audiobits.analysis.report_columns import DEFAULT_VIEW, VIEWS, view_columns
from audiobits.analysis.report_page import PAGE_FILE, page
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, write_text_atomic
from audiobits.analysis.language_report import report_by_language
from audiobits.analysis.runs import Run, flags, load_runs, note_printer, reference_group, skipping
from audiobits.quality.quality_file import read_quality
from audiobits.results import Provenance, Results
from audiobits.analysis.sanity import Check, check_run, summary
from audiobits.analysis.seed_spread import SeedSpread, seed_spreads

FORMATS = ("table", "markdown", "csv", "json", "latex")
PETA = 1e15
CONDITIONAL_VIEW = "conditional"  # paired runs: a table of its own (audiobits.analysis.conditional_report)
VIEW_CHOICES = (*VIEWS, CONDITIONAL_VIEW)
LEGEND = ("HEADLINE bits/s = Σ bits ÷ true audio seconds of the validation utterances, from the final sliding-window "
          "evaluation: each target conditions on at least context − stride tokens of history, which runs on across "
          "utterances (same corpus, same utterances, one epoch of the same model per row). 95% CI: bootstrap over "
          "speakers (spk) when the corpus knows them, else utterances (utt).")


@dataclass
class Table:
    """The report: one row dict per run (raw numbers), the comparison reference and each run's sanity checks."""

    rows: list[dict]
    reference: dict
    checks: dict[str, list[Check]] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """The lines under the table: the legend, the comparison reference, each flagged run's flags, the
        provenance and the sanity checks that warned or failed."""
        ref = self.reference
        notes = [LEGEND,
                 f"Reference for comparison: corpus {ref['corpus']!r}, validation utterance set "
                 f"{ref['val_utterance_set']} ({ref['runs']} of {len(self.rows)} runs). Utilization: bits/s ÷ "
                 "nominal bitrate (Σ log2(codebook size) × frame rate) and ÷ flat capacity (log2(content vocab) × "
                 "content frame-token rate)."]
        notes += [f"Not comparable — {r['run']}: {'; '.join(r['flags'])}" for r in self.rows if r["flags"]]
        notes += provenance_notes(self.rows)
        for label, checks in self.checks.items():
            notes += [f"{label}: {c}" for c in checks if c.status in ("warn", "fail")]
        return notes

    def text(self, view: str = DEFAULT_VIEW) -> str:
        """Aligned plain-text table of ``view`` for a terminal (wide cells wrap), then the notes."""
        return report_formats.text(view_columns(view), self.rows, self.notes())

    def markdown(self, view: str = DEFAULT_VIEW) -> str:
        """GitHub Markdown table of ``view``, then the notes as a list."""
        return report_formats.markdown(view_columns(view), self.rows, self.notes())

    def markdown_views(self) -> str:
        """Every view as a Markdown section, then the notes once (report.md)."""
        sections = [f"## {view}\n\n" + report_formats.markdown(view_columns(view), self.rows, []) for view in VIEWS]
        return "\n".join(sections) + "\n" + "".join(f"- {n}\n" for n in self.notes())

    def latex(self, view: str = DEFAULT_VIEW) -> str:
        """A booktabs LaTeX table of ``view``, the legend as its caption."""
        return report_formats.latex(view_columns(view), self.rows, LEGEND)

    def csv(self) -> str:
        """One line per run, every row key (full precision, one value per cell); flags joined by '; '."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()})
        return buffer.getvalue()

    def json(self) -> str:
        """Rows, reference and every check, machine-readable."""
        checks = {label: [vars(c) for c in cs] for label, cs in self.checks.items()}
        return json.dumps({"reference": self.reference, "rows": self.rows, "sanity": checks}, indent=2) + "\n"

    def render(self, fmt: str, view: str = DEFAULT_VIEW) -> str:
        """``fmt`` of FORMATS; ``view`` applies to the table, Markdown and LaTeX (the exports keep every column)."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
        if fmt in ("csv", "json"):
            return getattr(self, fmt)()
        return {"table": self.text, "markdown": self.markdown, "latex": self.latex}[fmt](view)


def provenance_notes(rows: list[dict]) -> list[str]:
    """One line per distinct code/package/device setup naming its runs, then each run's seed, codec package and
    config hash; runs written before provenance was recorded are named as such."""
    setups: dict[str, list[str]] = {}
    for r in rows:
        if r["audiobits_version"] is None:
            setups.setdefault("not recorded (results.json written before provenance was)", []).append(r["run"])
            continue
        setup = (f"audiobits {r['audiobits_version']} (git {r['git_commit'] or 'unknown'}), "
                 f"torch {r['torch_version']}, lightning {r['lightning_version']}, device {r['device']}")
        setups.setdefault(setup, []).append(r["run"])
    lines = [f"Provenance: {setup} — {', '.join(runs)}" for setup, runs in setups.items()]
    recorded = [r for r in rows if r["audiobits_version"] is not None]
    if recorded:
        lines.append("Seed, codec package, config sha256: " + "; ".join(
            f"{r['run']} seed {r['seed']}, {r['codec_package'] or 'no codec package'}, "
            f"{(r['config_sha256'] or 'no config')[:12]}" for r in recorded))
    return lines


def compression(run: Run) -> dict:
    """The row's compression columns from RUN_DIR/compress.json (``audiobits compress``); None where not run:
    the cross-entropy of the coded tokens (each utterance alone: utterance-reset), the file's bits/sec and its excess
    over that cross-entropy, and the general-purpose compressors."""
    found = read_compress_summary(run.path) or {}
    baselines = found.get("baselines", {})
    return {"coded_utterance_reset_bits_per_sec": found.get("utterance_reset_bits_per_sec"),
            "compressed_bits_per_sec": found.get("compressed_bits_per_sec"),
            "compression_overhead": found.get("overhead"),
            **{f"{name}_bits_per_sec": baselines.get(name, {}).get("bits_per_sec") for name in ("zstd", "xz", "flac")}}


def distance_cells(results: Results) -> dict:
    """The row's k-gram, still-learning and truth cells from results.json's blocks (None where not recorded)."""
    kgram, learning, truth = results.kgram, results.still_learning, results.truth
    return {"kgram_bits_per_sec": kgram and kgram.best_bits_per_sec, "kgram_order": kgram and kgram.best_order,
            "kgram_gain_bits_per_sec": kgram and kgram.gain_bits_per_sec,
            "kgram_beaten": kgram and kgram.beats_best, "tail_drop_relative": learning and learning.drop_relative,
            "still_learning": learning and learning.still_learning, "truth_ratio": truth and truth.ratio,
            "below_truth": truth and truth.below_truth}


def row(run: Run, reference: dict, checks: list[Check]) -> dict:
    """A run's table row: results.json values, FLOPs in PFLOPs, the CI split in two, flags and sanity."""
    r = run.results
    h = r.headline
    low, high = h.bits_per_sec_ci95
    quality = read_quality(run.bins_dir())  # decoded quality (audiobits quality), None where not scored
    quality["si_sdr_db"] = quality.pop("si_sdr")
    provenance = asdict(r.provenance) if r.provenance else {f.name: None for f in fields(Provenance)}
    return {
        "run": run.label, "representation": r.representation, "corpus": r.corpus,
        "sanity": summary(checks), "flags": flags(r, reference),
        "bits_per_token": h.bits_per_token, "tokens_per_sec": h.tokens_per_sec,
        "bits_per_sec": h.bits_per_sec, "bits_per_sec_lo": low, "bits_per_sec_hi": high,
        "bits_per_byte": h.bits_per_byte, "ci_kind": h.ci_kind,
        "context_tokens": r.context_tokens, "context_seconds": r.context_seconds, "eval_stride": r.eval_stride,
        "bits_per_sec_non_overlapping": r.non_overlapping.bits_per_sec,
        "bits_per_sec_utterance_reset": r.utterance_reset and r.utterance_reset.bits_per_sec,
        "seed_convention_bits_per_sec": h.seed_convention_bits_per_sec,
        "nominal_bits_per_sec": h.nominal_bitrate, "utilization_nominal": h.utilization_nominal,
        "flat_capacity_bits_per_sec": h.flat_capacity, "utilization_flat": h.utilization_flat,
        "info_per_storage": r.info_per_storage, "storage_bits": r.storage_bits,
        "train_tokens": r.train_tokens, "non_embedding_params": r.model.non_embedding_params,
        "train_pflops_trunk": r.train_flops_trunk / PETA, "train_pflops_full": r.train_flops_full / PETA,
        "inference_flops_per_bit_trunk": r.inference_flops_per_bit_trunk,
        "inference_flops_per_bit_full": r.inference_flops_per_bit_full, **compression(run), **distance_cells(r),
        "weights": r.weights, "val_seconds": h.val_seconds, "val_utterances": h.val_utterances,
        "val_utterance_set": r.val_utterance_set, "finished": r.finished, "path": str(run.path),
        "calibration_slack": calibration_slack(run.path), **quality, **provenance,
    }


def _row_and_checks(run: Run, reference: dict, sanity: bool) -> list[tuple[dict, list[Check]]]:
    """[(the run's row, its checks)]: reads the files beside the run and its bins, which may be damaged."""
    checks = check_run(run) if sanity else []
    return [(row(run, reference, checks), checks)]


def build_table(runs: list[Run], sanity: bool = True, on_skip: Callable[[str], None] | None = None) -> Table:
    """The report table of ``runs`` in the given order; ``sanity=False`` skips the checks (no bins read). A run
    whose extra files (compress.json, calibration, quality.json, bins) are damaged raises `AudiobitsError`; with
    ``on_skip`` it is left out with a one-line note, as :func:`load_runs` does, and none left is an error."""
    if not runs:
        raise ValueError("build_table needs at least one run")
    reference = reference_group(runs)
    skipped: list[str] = []
    built = {run.label: entry for run in runs
             for entry in skipping(lambda: _row_and_checks(run, reference, sanity), run.path, skipped, on_skip)}
    if not built:
        raise AudiobitsError(f"no run left to report among {skipped}")
    checks = {label: run_checks for label, (_, run_checks) in built.items()} if sanity else {}
    spreads = seed_spreads([run for run in runs if run.label in built])
    rows = [{**cells, **seed_cells(spreads.get(label))} for label, (cells, _) in built.items()]
    return Table(rows, reference, checks)


def seed_cells(spread: SeedSpread | None) -> dict:
    """The row's seed-spread cells (None where the run has no other seed beside it)."""
    return {"seed_runs": spread and spread.runs, "seed_mean_bits_per_sec": spread and spread.mean,
            "seed_std_bits_per_sec": spread and spread.std, "seed_bootstrap_se": spread and spread.bootstrap_se,
            "seed_spread_larger": spread and spread.larger}


def write_report(table: Table, runs: list[Run], out: Path, figures: list[Path] | None = None) -> list[Path]:
    """Into ``out``: report.md (every view), report.csv, report.json, per_utterance.csv, every figure (PNG + SVG) of
    the runs the table kept, and report.html holding them all (each file written whole or not at all). ``figures``:
    already written into ``out`` by `write_figures` for ``runs`` (figures need no compress.json, so the demo draws
    them while its last compress runs); drawn again if the table left a run out."""
    out.mkdir(parents=True, exist_ok=True)
    shown = [run for run in runs if run.label in {r["run"] for r in table.rows}]
    texts = {"report.md": table.markdown_views(),
             "report.csv": table.csv(), "report.json": table.json(),
             "per_utterance.csv": per_utterance_csv({run.label: run.path for run in shown})}
    for name, text in texts.items():
        write_text_atomic(out / name, text)
    if figures is None or len(shown) < len(runs):
        drawn, figures = figures or [], write_figures(shown, out)
        for stale in set(drawn) - set(figures):  # a figure that has no data without the runs left out
            stale.unlink(missing_ok=True)
    write_text_atomic(out / PAGE_FILE, page(table.rows, table.notes(), shown, figures))
    return [out / name for name in texts] + figures + [out / PAGE_FILE]


def main(runs: list[str], out: str | None = None, format: Literal[FORMATS] = "table",
         view: Literal[VIEW_CHOICES] = DEFAULT_VIEW, sanity: bool = True, by: Literal["run", "language"] = "run"
         ) -> None:
    """The table, files and figures of finished runs.

    Args:
        runs: run directories (Lightning log dirs holding results.json) or folders above them.
        out: also write report.md/.csv/.json, per_utterance.csv, every figure (PNG + SVG) and the self-contained
            report.html into this folder.
        format: what to print: the view as a table, Markdown or booktabs LaTeX; csv/json: every column.
        view: which columns: default (the answer at a glance), one group, or all; conditional: paired runs' H(A),
            H(A|T), I(A;T), ... and the words/speaker/rest decomposition (Markdown; with --out also conditional.md and
            its figure).
        sanity: run the sanity checks (reads the val bins).
        by: language: one row per run and validation language (docs/languages.md).
    """
    if out:
        check_output_dir(out, "--out")
    note = note_printer("audiobits report")
    loaded = load_runs(runs, on_skip=note)
    if view == CONDITIONAL_VIEW:
        return conditional_report.main(loaded, Path(out) if out else None)
    if by == "language":
        report_by_language(loaded, format, Path(out) if out else None)
        return
    table = build_table(loaded, sanity=sanity, on_skip=note)
    print(table.render(format, view), end="")
    if out:
        files = write_report(table, loaded, Path(out))
        print(f"wrote {len(files)} files to {out}: " + ", ".join(p.name for p in files), file=sys.stderr)
