"""The results table: one row per run, ``audiobits report RUN_DIR... [--out DIR] [--format table|markdown|csv|json]``.

Every number is read from the run's results.json, which :func:`audiobits.results.compute_results` fills with the
docs/metrics.md definitions; the report only changes units (FLOPs → PFLOPs). Runs that cannot be compared with the
rest — another corpus or validation utterance set than the reference (the most common pair), random codec
weights, an unfinished run, a partial validation pass or trainer options apart from the study's
(`audiobits.trainer_options`) — are flagged in the ``flags`` column, never mixed in silently. The sanity checks
of :mod:`audiobits.sanity` run on every row.

Notebook API: ``runs = load_runs(paths)``, ``table = build_table(runs)``, ``table.markdown()``, ``table.rows``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from audiobits.arguments import argument_parser
from audiobits.calibrate import calibration_slack
from audiobits.compressed_file import COMPRESS_FILE
from audiobits.plots import significant, write_figures
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, read_json, write_text_atomic
from audiobits.runs import Run, flags, load_runs, note_printer, reference_group, skipping
from audiobits.quality_file import read_quality
from audiobits.sanity import Check, check_run, summary

FORMATS = ("table", "markdown", "csv", "json")
PETA = 1e15
CI_MARKS = {"speakers": " spk", "utterances": " utt"}  # which units the bootstrap resampled
COMPRESS_FIX = "Run `audiobits compress` on the run again to rewrite it, or delete it."


def _sci(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header, and how the terminal/Markdown views print it."""

    key: str
    header: str
    show: Callable[[dict], str]


COLUMNS = (
    Column("run", "run", lambda r: r["run"]),
    Column("representation", "representation", lambda r: r["representation"]),
    Column("corpus", "corpus", lambda r: r["corpus"]),
    Column("bits_per_token", "bits/token", lambda r: significant(r["bits_per_token"])),
    Column("tokens_per_sec", "tokens/s", lambda r: significant(r["tokens_per_sec"])),
    Column("bits_per_sec", "bits/s [95% CI]", lambda r: f"{significant(r['bits_per_sec'])} "
                                                        f"[{significant(r['bits_per_sec_ci95_low'])}, "
                                                        f"{significant(r['bits_per_sec_ci95_high'])}]"
                                                        f"{CI_MARKS.get(r['ci_kind'], '')}"),
    Column("context_seconds", "context", lambda r: f"{significant(r['context_seconds'], 3)} s / "
                                                   f"{r['context_tokens']} tok, stride {r['eval_stride']}"
                                                   if r["context_seconds"] else "–"),
    Column("bits_per_sec_non_overlapping", "non-overlap b/s", lambda r: significant(r["bits_per_sec_non_overlapping"])),
    Column("bits_per_sec_utterance_reset", "utt-reset b/s", lambda r: significant(r["bits_per_sec_utterance_reset"])),
    Column("seed_convention_bits_per_sec", "seed-conv b/s", lambda r: significant(r["seed_convention_bits_per_sec"])),
    Column("bits_per_byte", "bits/byte", lambda r: significant(r["bits_per_byte"])),
    Column("nominal_bitrate", "nominal b/s", lambda r: significant(r["nominal_bitrate"])),
    Column("utilization_nominal", "of nominal", lambda r: _pct(r["utilization_nominal"])),
    Column("flat_capacity", "flat capacity b/s", lambda r: significant(r["flat_capacity"])),
    Column("utilization_flat", "of flat", lambda r: _pct(r["utilization_flat"])),
    Column("info_per_storage", "info/storage", lambda r: f"{_pct(r['info_per_storage'])} of {r['storage_bits']}b"),
    Column("train_tokens", "train tokens", lambda r: f"{r['train_tokens']:,}"),
    Column("train_pflops_trunk", "train PFLOPs 6NT", lambda r: _sci(r["train_pflops_trunk"])),
    Column("train_pflops_full", "train PFLOPs full", lambda r: _sci(r["train_pflops_full"])),
    Column("inference_flops_per_bit_trunk", "FLOPs/bit 2N", lambda r: _sci(r["inference_flops_per_bit_trunk"])),
    Column("inference_flops_per_bit_full", "FLOPs/bit full", lambda r: _sci(r["inference_flops_per_bit_full"])),
    Column("compressed_bits_per_sec", "coded b/s [vs CE]",
           lambda r: "–" if r["compressed_bits_per_sec"] is None else
           f"{significant(r['compressed_bits_per_sec'])} [{r['compression_overhead']:+.1%}]"),
    Column("zstd_bits_per_sec", "zstd b/s", lambda r: significant(r["zstd_bits_per_sec"])),
    Column("xz_bits_per_sec", "xz b/s", lambda r: significant(r["xz_bits_per_sec"])),
    Column("flac_bits_per_sec", "FLAC b/s", lambda r: significant(r["flac_bits_per_sec"])),
    Column("stoi", "STOI", lambda r: significant(r["stoi"], 3)),
    Column("pesq_wb", "PESQ-wb", lambda r: significant(r["pesq_wb"], 3)),
    Column("si_sdr", "SI-SDR dB", lambda r: significant(r["si_sdr"], 3)),
    Column("log_mel_distance", "log-mel dist", lambda r: significant(r["log_mel_distance"], 3)),
    Column("wer", "WER", lambda r: _pct(r["wer"])),
    Column("wer_original", "WER orig", lambda r: _pct(r["wer_original"])),
    Column("speaker_similarity", "spk sim", lambda r: significant(r["speaker_similarity"], 3)),
    Column("weights", "weights", lambda r: r["weights"]),
    Column("sanity", "sanity", lambda r: r["sanity"]),
    Column("flags", "flags", lambda r: "; ".join(r["flags"]) or "–"),
    Column("calibration_slack", "slack b/tok (diagnostic)",
           lambda r: "–" if r["calibration_slack"] is None else f"{r['calibration_slack']:+.3f}"),
)


@dataclass
class Table:
    """The report: one row dict per run (raw numbers), the comparison reference and each run's sanity checks."""

    rows: list[dict]
    reference: dict
    checks: dict[str, list[Check]] = field(default_factory=dict)

    def _cells(self) -> list[list[str]]:
        return [[c.show(r) for c in COLUMNS] for r in self.rows]

    def _notes(self) -> list[str]:
        ref = self.reference
        notes = [f"Reference for comparison: corpus {ref['corpus']!r}, validation utterance set "
                 f"{ref['val_utterance_set']} ({ref['runs']} of {len(self.rows)} runs). Utilization: bits/s ÷ "
                 "nominal bitrate (Σ log2(codebook size) × frame rate) and ÷ flat capacity (log2(content vocab) × "
                 "content frame-token rate).",
                 "bits/s: the final sliding-window evaluation (each target sees at least context − stride tokens, "
                 "history runs on across utterances); non-overlap b/s: non-overlapping windows (the seed's way); "
                 "utt-reset b/s: context cut at every utterance start; seed-conv b/s: content bits/token × nominal "
                 "token rate. CI: bootstrap over speakers (spk) when the corpus knows them, else utterances (utt)."]
        for label, checks in self.checks.items():
            notes += [f"{label}: {c}" for c in checks if c.status in ("warn", "fail")]
        return notes

    def text(self) -> str:
        """Aligned plain-text table for a terminal, then the notes."""
        cells = [[c.header for c in COLUMNS], *self._cells()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + [""] + self._notes()) + "\n"

    def markdown(self) -> str:
        """GitHub Markdown table, then the notes as a list."""
        header = "| " + " | ".join(c.header for c in COLUMNS) + " |"
        rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
        body = ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in self._cells()]
        return "\n".join([header, rule, *body, "", *(f"- {n}" for n in self._notes())]) + "\n"

    def csv(self) -> str:
        """One line per run, raw numbers (full precision); flags and failed checks joined by ';'."""
        buffer = io.StringIO()
        keys = list(self.rows[0])
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()})
        return buffer.getvalue()

    def json(self) -> str:
        """Rows, reference and every check, machine-readable."""
        checks = {label: [vars(c) for c in cs] for label, cs in self.checks.items()}
        return json.dumps({"reference": self.reference, "rows": self.rows, "sanity": checks}, indent=2) + "\n"

    def render(self, fmt: str) -> str:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
        return {"table": self.text, "markdown": self.markdown, "csv": self.csv, "json": self.json}[fmt]()


def compression(run: Run) -> dict:
    """The row's compression columns from RUN_DIR/compress.json (``audiobits compress``); None where not run:
    the whole file's bits/sec, its excess over the cross-entropy of the coded tokens, and the baselines."""
    path = run.path / COMPRESS_FILE
    found = read_json(path, fix=COMPRESS_FIX) if path.is_file() else {}
    baselines = found.get("baselines", {})
    return {"compressed_bits_per_sec": found.get("compressed_bits_per_sec"),
            "compression_overhead": found.get("overhead"),
            **{f"{name}_bits_per_sec": baselines.get(name, {}).get("bits_per_sec") for name in ("zstd", "xz", "flac")}}


def row(run: Run, reference: dict, checks: list[Check]) -> dict:
    """A run's table row: results.json values, FLOPs in PFLOPs, the CI split in two, flags and sanity."""
    r = run.results
    low, high = r["bits_per_sec_ci95"]
    return {
        "run": run.label, "representation": r["representation"], "corpus": r["corpus"],
        "bits_per_token": r["bits_per_token"], "tokens_per_sec": r["tokens_per_sec"],
        "bits_per_sec": r["bits_per_sec"], "bits_per_sec_ci95_low": low, "bits_per_sec_ci95_high": high,
        "bits_per_byte": r["bits_per_byte"], "ci_kind": r.get("ci_kind", "utterances"),
        "context_tokens": r.get("context_tokens"), "context_seconds": r.get("context_seconds"),
        "eval_stride": r.get("eval_stride"),
        "bits_per_sec_non_overlapping": r.get("non_overlapping", {}).get("bits_per_sec"),
        "bits_per_sec_utterance_reset": r.get("utterance_reset", {}).get("bits_per_sec"),
        "seed_convention_bits_per_sec": r.get("seed_convention_bits_per_sec"),
        "nominal_bitrate": r["nominal_bitrate"], "utilization_nominal": r["utilization_nominal"],
        "flat_capacity": r["flat_capacity"], "utilization_flat": r["utilization_flat"],
        "info_per_storage": r["info_per_storage"], "storage_bits": r["storage_bits"],
        "train_tokens": r["train_tokens"],
        "train_pflops_trunk": r["train_flops_trunk"] / PETA, "train_pflops_full": r["train_flops_full"] / PETA,
        "inference_flops_per_bit_trunk": r["inference_flops_per_bit_trunk"],
        "inference_flops_per_bit_full": r["inference_flops_per_bit_full"], **compression(run),
        "weights": r["weights"], "val_seconds": r["val_seconds"], "val_utterances": r["val_utterances"],
        "val_utterance_set": r.get("val_utterance_set"), "finished": r.get("finished"),
        "sanity": summary(checks), "flags": flags(r, reference), "path": str(run.path),
        "calibration_slack": calibration_slack(run.path),
        **read_quality(run.bins_dir()),  # decoded quality (audiobits quality), None where not scored
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
    return Table([cells for cells, _ in built.values()], reference, checks)


def write_report(table: Table, out: Path) -> list[Path]:
    """report.md, report.csv and report.json in ``out`` (each written whole or not at all)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fmt in (("report.md", "markdown"), ("report.csv", "csv"), ("report.json", "json")):
        write_text_atomic(out / name, table.render(fmt))
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> None:
    """`audiobits report RUN_DIR... [--out DIR] [--format table|markdown|csv|json] [--sanity false]`."""
    parser = argument_parser("audiobits report", __doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (Lightning log dirs holding results.json) or "
                                                "folders above them")
    parser.add_argument("--out", type=str | None, default=None,
                        help="also write report.md/.csv/.json and every figure (PNG + SVG) into this folder")
    parser.add_argument("--format", default="table", choices=FORMATS, help="what to print")
    parser.add_argument("--sanity", type=bool, default=True, help="run the sanity checks (reads the val bins)")
    args = parser.parse_args(argv)
    if args.out:
        check_output_dir(args.out, "--out")
    note = note_printer("audiobits report")
    runs = load_runs(args.runs, on_skip=note)
    table = build_table(runs, sanity=args.sanity, on_skip=note)
    print(table.render(args.format), end="")
    if args.out:
        out = Path(args.out)
        shown = {cells["run"] for cells in table.rows}  # the figures leave out the runs the table skipped
        files = write_report(table, out) + write_figures([run for run in runs if run.label in shown], out)
        print(f"wrote {len(files)} files to {out}: " + ", ".join(p.name for p in files), file=sys.stderr)
