"""The whole pipeline offline, in minutes on a CPU: ``audiobits demo [--out DIR] [--corpus FOLDER] [--size small]``.

1. Corpus: the embedded public-domain text (:mod:`audiobits.demo_text`, Alice in Wonderland ch. I–II) spoken by
   espeak-ng (one utterance per sentence or clause of up to 20 words, every 5th to the validation split), written
   as an ``AudioFolder`` (FLAC + metadata.csv) — or your own ``AudioFolder`` (``--corpus``).
2. Bins: five representations that need no downloaded weights — GPT-2 BPE of the transcript (``text``),
   espeak-ng phonemes of the transcript (``phonemes``), 8-bit μ-law PCM at 8 kHz (``mulaw``, 64 kbit/s) and the
   Codec 2 speech codec at 3200 and 700 bit/s (``codec2_3200``, ``codec2_700c``) —
   through the same encoder as every corpus (:func:`audiobits.encode.prepare_bins`, iso-data drops included).
3. Training: one TinyGPT per representation, one epoch, through the real ``audiobits fit`` (LightningCLI) with a
   generated config (``<out>/configs/<representation>.yaml``, reusable as is). The batch shrinks for streams too
   short for 20 steps at the size's batch (the transcript ones).
4. Quality: the first 8 validation utterances of each audio representation (μ-law, Codec 2) decoded and scored
   against the originals (:mod:`audiobits.quality`), for the report's quality columns and frontier figure.
5. Report: the table, sanity checks and figures in ``<out>/report/``.

Synthetic speech from one rule-based voice and a model of a few thousand parameters: the numbers show the
pipeline working, they are not the study's numbers.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import yaml
from jsonargparse import ArgumentParser

from audiobits.bins import TokenBins
from audiobits.corpora import AudioFolder
from audiobits.data import num_windows
from audiobits.demo_text import SOURCE, TEXT
from audiobits.encode import EncodeOptions, prepare_bins, refresh_bins
from audiobits.errors import AudiobitsError
from audiobits.quality import can_decode, score_bins
from audiobits.report import build_table, write_report
from audiobits.representations.base import Representation
from audiobits.runs import load_runs

VAL_EVERY = 5  # every 5th spoken utterance goes to the validation split
MAX_WORDS = 20  # longer sentences are left out of the spoken corpus: many short utterances, as in speech corpora
MIN_STEPS = 20  # the batch shrinks on small streams (text) so every model gets this many optimizer steps
VALIDATIONS = 4  # validation passes per run (loss curves), the last one on the final step
QUALITY_UTTERANCES = 8  # validation utterances decoded and scored per audio representation (the frontier figure)


@dataclass(frozen=True)
class DemoSize:
    """How much speech to synthesize and how big a model to fit on each representation."""

    seconds: float  # speech taken from the embedded text, in reading order
    n_layer: int
    n_embd: int
    n_head: int
    seq_len: int
    batch_size: int


SIZES = {
    "tiny": DemoSize(seconds=30, n_layer=1, n_embd=32, n_head=2, seq_len=64, batch_size=32),
    "small": DemoSize(seconds=180, n_layer=2, n_embd=64, n_head=4, seq_len=128, batch_size=32),
}


def utterance_texts(text: str = TEXT) -> list[str]:
    """Sentences and clauses of ``text``: paragraphs joined into lines, cut after . ! ? ; : (and a closing quote)."""
    pieces = []
    for paragraph in re.split(r"\n\s*\n", text):
        line = " ".join(paragraph.split())
        pieces += [p for p in re.split(r"(?<=[.!?;:])\s+|(?<=[.!?;:]['\")])\s+", line) if re.search("[A-Za-z]", p)]
    return pieces


def synthesize_corpus(root: Path, seconds: float, voice: str = "en-us") -> AudioFolder:
    """Speak the embedded text's utterances of up to MAX_WORDS words with espeak-ng, in reading order, until
    ``seconds`` of speech; an AudioFolder under ``root`` (every VAL_EVERY-th utterance in val)."""
    from audiobits.speech import Espeak

    espeak = Espeak(voice)
    rows: dict[str, list[tuple[str, str]]] = {"train": [], "val": []}
    kept, total = 0, 0.0
    for i, text in enumerate(utterance_texts()):
        if total >= seconds:
            break
        if len(text.split()) > MAX_WORDS:
            continue
        audio = espeak.synthesize(text)
        split = "val" if kept % VAL_EVERY == VAL_EVERY - 1 else "train"
        name = f"alice-{i:04d}.flac"
        (root / split).mkdir(parents=True, exist_ok=True)
        sf.write(root / split / name, audio, espeak.sample_rate, format="FLAC", subtype="PCM_16")
        rows[split].append((name, text))
        kept, total = kept + 1, total + len(audio) / espeak.sample_rate
    for split, items in rows.items():
        if not items:
            raise AudiobitsError(f"{seconds} s of speech gave no {split} utterance; ask for more seconds")
        with open(root / split / AudioFolder.METADATA, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([("file_name", "text"), *items])
    (root / "SOURCE.txt").write_text(f"{SOURCE}\nSpoken by espeak-ng (voice {voice}) through espeakng-loader.\n")
    return AudioFolder(str(root), name=root.name)


def representations(voice: str = "en-us") -> list[Representation]:
    """The weight-free representations: GPT-2 BPE text, espeak phonemes, 8 kHz μ-law, Codec 2 at 3200 and 700C."""
    from audiobits.representations.codec2 import Codec2Representation
    from audiobits.representations.mulaw import MuLawRepresentation
    from audiobits.representations.phonemes import PhonemeRepresentation
    from audiobits.representations.text import TextRepresentation

    return [TextRepresentation(), PhonemeRepresentation(voice), MuLawRepresentation(), Codec2Representation(3200),
            Codec2Representation(700)]


def schedule(train_tokens: int, size: DemoSize) -> tuple[int, int]:
    """Batch size and validation interval (steps) for one stream: at least MIN_STEPS optimizer steps where the
    data allow (the batch shrinks for short streams) and about VALIDATIONS validation passes (the results writer
    adds the final one after the last step)."""
    windows = num_windows(train_tokens, size.seq_len, partial=False)
    if windows == 0:
        raise AudiobitsError(f"{train_tokens} training tokens do not fill one window of {size.seq_len + 1}; give the "
                             "demo more speech")
    batch = max(1, min(size.batch_size, windows // MIN_STEPS))
    return batch, max(1, math.ceil(windows / batch) // VALIDATIONS)


def fit_config(bins_dir: Path, runs_dir: Path, name: str, size: DemoSize) -> dict:
    """A LightningCLI config for `audiobits fit`: a TinyGPT of ``size`` on ``bins_dir``, logged to runs_dir/name."""
    batch, every = schedule(TokenBins(bins_dir).meta.splits["train"].tokens, size)
    return {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1, "val_check_interval": every,
            "enable_progress_bar": False, "enable_model_summary": False,
            "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                       "init_args": {"save_dir": str(runs_dir), "name": name}},
        },
        "model": {"n_layer": size.n_layer, "n_embd": size.n_embd, "n_head": size.n_head, "lr": 3e-3,
                  "min_lr": 3e-4},
        "data": {"class_path": "audiobits.data.TokenBinDataModule",
                 "init_args": {"bins_dir": str(bins_dir), "seq_len": size.seq_len, "batch_size": batch,
                               "num_workers": 0}},
        "checkpoint": {"every_n_train_steps": 1000},
    }


def run_demo(out: str | Path = "audiobits-demo", corpus: str | Path | None = None, size: str = "small",
             voice: str = "en-us") -> Path:
    """Synthesize (or read) the corpus, write the bins, fit one model per representation, report; returns the
    report folder."""
    from audiobits.cli import main as cli_main
    from audiobits.plots import write_figures

    if size not in SIZES:
        raise AudiobitsError(f"unknown demo size {size!r}; choose one of {sorted(SIZES)}")
    spec, out = SIZES[size], Path(out).resolve()
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(stage: str) -> None:
        timings[stage] = time.perf_counter() - started - sum(timings.values())
        print(f"[demo] {stage}: {timings[stage]:.1f} s", flush=True)

    if corpus is None:
        source = synthesize_corpus(out / "corpus" / f"alice-{size}", spec.seconds, voice)
    else:
        source = AudioFolder(str(corpus))
    lap("corpus")
    reps = representations(voice)
    options = EncodeOptions(batch_size=16, num_workers=0, accelerator="cpu", devices=1)
    bins = {rep.name: prepare_bins(source, rep, out / "bins", options, device="cpu") for rep in reps}
    for bins_dir in bins.values():  # an utterance a later representation dropped leaves the earlier bins too
        refresh_bins(source, bins_dir)
    lap("bins")
    for rep in reps:  # decoded quality of the audio representations, for the report's frontier figure
        if can_decode(rep):
            score_bins(source, rep, bins[rep.name], max_utterances=QUALITY_UTTERANCES)
    lap("quality")
    (out / "configs").mkdir(parents=True, exist_ok=True)
    for name, bins_dir in bins.items():
        shutil.rmtree(out / "runs" / name, ignore_errors=True)  # this demo's runs only, one version each
        config = out / "configs" / f"{name}.yaml"
        config.write_text(yaml.safe_dump(fit_config(bins_dir, out / "runs", name, spec), sort_keys=False))
        with warnings.catch_warnings():  # `audiobits demo` itself is on sys.argv; fit reads only these args
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
            cli_main(["fit", "--config", str(config)])
        lap(f"fit {name}")
    runs = load_runs([out / "runs" / name for name in bins])
    table = build_table(runs)
    report = out / "report"
    written = write_report(table, report) + write_figures(runs, report)
    lap("report")
    print("\n" + table.render("table"))
    print(f"Wrote {len(written)} files to {report} (headline figure: {report / 'headline.png'}).")
    print(f"Demo took {sum(timings.values()):.0f} s. Synthetic speech and a tiny model: these numbers show the "
          "pipeline working; they are not the study's numbers.")
    return report


def main(argv: list[str] | None = None) -> None:
    """`audiobits demo [--out DIR] [--corpus FOLDER] [--size tiny|small] [--voice en-us]`."""
    parser = ArgumentParser(prog="audiobits demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=str, default="audiobits-demo", help="folder for the corpus, bins, runs and "
                                                                          "report")
    parser.add_argument("--corpus", type=str | None, default=None,
                        help="your own AudioFolder (train/ and val/ with metadata.csv: file_name,text) instead of "
                             "the synthesized text")
    parser.add_argument("--size", default="small", choices=sorted(SIZES),
                        help="tiny: 30 s of speech and a 1-layer model (about a minute); small: 3 minutes of speech "
                             "and a 2-layer model (a few minutes). With --corpus only the model size applies")
    parser.add_argument("--voice", type=str, default="en-us", help="espeak-ng voice for speech and phonemes")
    args = parser.parse_args(argv)
    run_demo(args.out, args.corpus, args.size, args.voice)
