"""``audiobits demo --languages``: the offline pipeline on real recorded speech in five languages, per language.

1. Corpus: Debian's Asterisk prompts (:mod:`audiobits.demo.asterisk`; ``apt-get install
   asterisk-core-sounds-{en,es,fr,it,ru}-wav``), ``--prompts`` per language, the prompts every language has first,
   as one AudioFolder with language, speaker and prompt columns; a prompt is in val in every language or in none.
2. Bins: espeak-ng phonemes in each utterance's language, the transcript's UTF-8 bytes, 8 kHz μ-law and Codec 2
   (3200 and 700 bit/s), through the same encoder as every corpus.
3. Training: one TinyGPT per representation on all languages' training prompts together (the config the demo
   writes for its size, ``audiobits.demo.demo.fit_config``), so every language is scored by the same model.
4. Report: ``audiobits report --by language`` (rows per language, the figure with the Coupé band) in
   ``<out>/report/``, and the same rows on the parallel subset (val prompts every language has) in
   ``languages_parallel.md``.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiobits.demo import asterisk
from audiobits.demo.stages import Laps, fit_run, write_bins
from audiobits.corpora import AudioFolder
from audiobits.files import write_figure, write_text_atomic
from audiobits.analysis.language_report import LanguageRow, languages_figure, language_rows, render_languages
from audiobits.results import score_languages
from audiobits.representations import Representation, build
from audiobits.results import UTTERANCES_FILE
from audiobits.analysis.runs import Run, load_runs

REPRESENTATIONS = ("phonemes", "utf8", "mulaw", "codec2_3200", "codec2_700c")
PROMPTS = {"tiny": 12, "small": 60}  # prompts per language by demo size (all: ~25 min per language)


def representations(languages: Sequence[str], names: Sequence[str] = REPRESENTATIONS) -> list[Representation]:
    """The language demo's streams by name (:data:`REPRESENTATIONS`); phonemes read in each utterance's language."""
    return [build(name, **({"languages": list(languages)} if name == "phonemes" else {})) for name in names]


def parallel_files(folder: Path, languages: Sequence[str]) -> set[str]:
    """The val files of the AudioFolder whose prompt every one of ``languages`` has in val (parallel content)."""
    with open(folder / "val" / AudioFolder.METADATA, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    shared = set.intersection(*({r["prompt"] for r in rows if r["language"] == lang} for lang in languages))
    return {r["file_name"] for r in rows if r["prompt"] in shared}


def parallel_rows(runs: list[Run], folder: Path, languages: Sequence[str]) -> list[LanguageRow]:
    """`language_rows` of each run restricted to the parallel val prompts (from its val_utterances.npz)."""
    shared = parallel_files(folder, languages)
    rows = []
    for run in runs:
        with np.load(run.path / UTTERANCES_FILE) as u:
            keep = np.isin(u["ids"], sorted(shared))
            scores = score_languages(u["languages"][keep], u["nats"][keep], u["tokens"][keep], u["seconds"][keep],
                                     u["speakers"][keep])
        rows += [LanguageRow(run.label, run.representation, s.language, s.utterances, s.seconds, s.bits_per_token,
                             s.tokens_per_sec, s.bits_per_sec, *s.bits_per_sec_ci95, s.ci_kind)
                 for s in scores.values()]
    return sorted(rows, key=lambda r: (r.language, REPRESENTATIONS.index(r.representation)))


def run_language_demo(out: str | Path, size: str, spec: Any, fit_config: Callable[..., dict],
                      prompts: int | None = None, languages: Sequence[str] = asterisk.LANGUAGES,
                      names: Sequence[str] = REPRESENTATIONS) -> Path:
    """Lay out the prompts, write the bins, fit one model per representation with ``fit_config(bins_dir, runs_dir,
    name, spec)`` (the demo's, for its ``size`` named ``size``), report per language; returns the report folder."""
    out, lap = Path(out).resolve(), Laps()
    folder = out / "corpus" / "asterisk"
    shutil.rmtree(folder, ignore_errors=True)
    count = PROMPTS[size] if prompts is None else (prompts or None)
    source = AudioFolder(str(asterisk.write_audiofolder(folder, languages, limit=count)), name="asterisk")
    bins = write_bins(source, representations(languages, names), out)
    lap("bins")
    for name, bins_dir in bins.items():
        fit_run(out, name, fit_config(bins_dir, out / "runs", name, spec), lap)
    runs = load_runs([out / "runs" / name for name in bins])
    rows, parallel = language_rows(runs), parallel_rows(runs, folder, languages)
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    for name, table in (("languages.md", rows), ("languages_parallel.md", parallel)):
        write_text_atomic(report / name, render_languages(table, "markdown"))
    for name, table, title in (("languages", rows, "all val prompts"), ("languages_parallel", parallel,
                                                                          "parallel val prompts")):
        for suffix in ("png", "svg"):
            write_figure(languages_figure(table, f"Bits per second by language ({title})"), report / f"{name}.{suffix}")
    print("\n" + render_languages(rows, "table"))
    print(f"Parallel subset ({len(parallel_files(folder, languages))} val files, prompts every language has):\n")
    print(render_languages(parallel, "table"))
    print(f"Wrote {report} in {lap.total:.0f} s. Real speech, one speaker per language and a "
          "tiny model: per-language differences mix language, speaker, recording and prompt length.")
    return report
