"""The whole pipeline offline, in minutes on a CPU: ``audiobits demo [--out DIR] [--corpus FOLDER] [--size small]``.

1. Corpus: the packaged public-domain text (``audiobits/demo/resources/alice.txt``, Alice in Wonderland ch. I–II) spoken
   by espeak-ng (one utterance per sentence or clause of up to 20 words, every 5th to the validation split), written
   as an ``AudioFolder`` (FLAC + metadata.csv) — or your own ``AudioFolder`` (``--corpus``).
2. Bins: representations that need no downloaded weights — by default espeak-ng phonemes of the transcript
   (``phonemes``), 8-bit μ-law PCM at 8 kHz (``mulaw``, 64 kbit/s) and the Codec 2 speech codec at 3200 and
   700 bit/s (``codec2_3200``, ``codec2_700c``); GPT-2 BPE of the transcript (``text``) on request
   (``--representations``: a few minutes of speech are too few tokens for its vocabulary) — through the same
   encoder as every corpus (:func:`audiobits.prepare.prepare.prepare_bins`, iso-data drops included).
3. Training: one TinyGPT per representation, one epoch, through the real ``audiobits fit`` (LightningCLI) with a
   generated config (``<out>/configs/<representation>.yaml``, reusable as is). Streams too short for 80 steps at
   the size's context and batch (the transcript ones) get a shorter context and a smaller batch.
4. Quality: the first 8 validation utterances of each audio representation (μ-law, Codec 2) decoded and scored
   against the originals (:mod:`audiobits.quality.quality`), for the report's quality columns and frontier figure.
5. Compression: each run's validation split range-coded with its final weights, decoded and checked
   (``audiobits compress``; the report's coded bits/sec and zstd / xz / FLAC baselines). The longest split is
   fitted first (on torch's default threads) and coded in a background process while the other runs fit and code
   in this one, each process on one torch thread.
6. Conditional: Codec 2 700C given the phonemes (`audiobits.demo.demo_conditional`; a speaker prompt too on recordings
   with speakers) — H(A), H(A|T), I(A;T) and the words / rest decomposition beside the seed's subtraction
   (docs/conditional.md), in ``<out>/report/conditional.md``.
7. Report: the table, sanity checks and figures in ``<out>/report/``. Each fit ends with the final evaluation
   (sliding windows at stride ``seq_len // 4``; its time is in the log); the table gives each run's context in
   seconds and the non-overlapping figure beside it, ``context.png`` bits against seconds of context.

Synthetic speech from one rule-based voice and a model of a few thousand parameters: the numbers show the
pipeline working, they are not the study's numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import soundfile as sf

from audiobits.analysis import conditional_report
from audiobits.bins import TokenBins
from audiobits.compress.compress import compress_run, torch_threads
from audiobits.corpora import AudioFolder
from audiobits.data import num_windows
from audiobits.demo.background import BackgroundCompress
from audiobits.demo.demo_conditional import PAIR, conditional_config
from audiobits.demo.stages import Laps, fit_run, run_dir, write_bins
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, write_atomic, write_csv_atomic, write_text_atomic
from audiobits.quality.quality import score_bins
from audiobits.analysis.plots import write_figures
from audiobits.analysis.report import build_table, write_report
from audiobits.representations import Representation, build, can_decode
from audiobits.representations.base import Utterance
from audiobits.analysis.runs import load_runs

# Chapters I and II of Lewis Carroll, *Alice's Adventures in Wonderland* (1865), public domain: the body text of
# Project Gutenberg eBook #11 (https://www.gutenberg.org/ebooks/11) without the Project Gutenberg header, footer and
# licence, the asterisk dividers and the underscores that mark italics.
TEXT_RESOURCE = "resources/alice.txt"
SOURCE = "Lewis Carroll, Alice's Adventures in Wonderland (1865), ch. I-II; Project Gutenberg eBook #11"
VAL_EVERY = 5  # every 5th spoken utterance goes to the validation split
MAX_WORDS = 20  # longer sentences are left out of the spoken corpus: many short utterances, as in speech corpora
MIN_STEPS = 80  # short streams (the transcript ones) get a shorter context, then a smaller batch, for this many steps
MIN_SEQ_LEN = 32  # ... but never a context shorter than this
VALIDATIONS = 4  # validation passes per run (loss curves), the last one on the final step
WEIGHT_FREE = ("text", "phonemes", "mulaw", "codec2_3200", "codec2_700c")  # no downloaded weights needed
# GPT-2 BPE (`text`) is left out by default: a few minutes of speech hold a few hundred of its 50257 ids, too few
# for any model to beat the split's own unigram entropy, and the sanity check rightly fails it (docs/demo.md).
DEFAULT_REPRESENTATIONS = ("phonemes", "mulaw", "codec2_3200", "codec2_700c")
QUALITY_UTTERANCES = 8  # validation utterances decoded and scored per audio representation (the frontier figure)
# The default demo (3 minutes of speech, four representations) took 99–109 s of wall time on an unloaded 2-core CPU
# (2026-12-08, three runs): most of its work grows with the minutes of speech, so `--corpus` estimates its time from
# the slowest run's rate.
SECONDS_PER_SPEECH_MINUTE = 109 / 3


@dataclass(frozen=True)
class DemoSize:
    """How much speech to synthesize and how big a model to fit on each representation."""

    seconds: float  # speech taken from the demo text, in reading order
    n_layer: int
    n_embd: int
    n_head: int
    seq_len: int
    batch_size: int


SIZES = {
    "tiny": DemoSize(seconds=30, n_layer=1, n_embd=32, n_head=2, seq_len=64, batch_size=32),
    "small": DemoSize(seconds=180, n_layer=2, n_embd=64, n_head=4, seq_len=128, batch_size=32),
}
SIZE_NAMES = tuple(SIZES)


def demo_text() -> str:
    """The demo's public-domain text (package data)."""
    return resources.files("audiobits.demo").joinpath(TEXT_RESOURCE).read_text(encoding="utf-8")


def utterance_texts(text: str | None = None) -> list[str]:
    """Sentences and clauses of ``text`` (default: `demo_text`): paragraphs joined into lines, cut after . ! ? ; :
    (and a closing quote)."""
    text = demo_text() if text is None else text
    pieces = []
    for paragraph in re.split(r"\n\s*\n", text):
        line = " ".join(paragraph.split())
        pieces += [p for p in re.split(r"(?<=[.!?;:])\s+|(?<=[.!?;:]['\")])\s+", line) if re.search("[A-Za-z]", p)]
    return pieces


def synthesize_corpus(root: Path, seconds: float, voice: str = "en-us") -> AudioFolder:
    """Speak the demo text's utterances of up to MAX_WORDS words with espeak-ng, in reading order, until
    ``seconds`` of speech; an AudioFolder under ``root`` (every VAL_EVERY-th utterance in val)."""
    from audiobits.representations.espeak import Espeak

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
        write_atomic(root / split / name, lambda f, a=audio: sf.write(f, a, espeak.sample_rate, format="FLAC",
                                                                      subtype="PCM_16"))
        rows[split].append((name, text))
        kept, total = kept + 1, total + len(audio) / espeak.sample_rate
    for split, items in rows.items():
        if not items:
            raise AudiobitsError(f"{seconds} s of speech gave no {split} utterance; ask for more seconds")
        write_csv_atomic(root / split / AudioFolder.METADATA, [("file_name", "text"), *items])
    write_text_atomic(root / "SOURCE.txt", f"{SOURCE}\nSpoken by espeak-ng (voice {voice}) through espeakng-loader.\n")
    return AudioFolder(str(root), name=root.name)


def representations(names: Sequence[str] = DEFAULT_REPRESENTATIONS, voice: str = "en-us") -> list[Representation]:
    """The weight-free representations by registry name (:data:`WEIGHT_FREE`); phonemes in ``voice``."""
    unknown = sorted(set(names) - set(WEIGHT_FREE))
    if unknown or not names:
        raise AudiobitsError(f"--representations {list(names)}: the demo runs {list(WEIGHT_FREE)} (no downloaded "
                             "weights); for codecs write a config (configs/*.yaml) and run `audiobits fit`")
    return [build(name, **({"voice": voice} if name == "phonemes" else {})) for name in names]


def corpus_line(corpus: AudioFolder) -> str:
    """What ``--corpus`` found (utterances and minutes per split, from the files' headers) and roughly how long the
    demo will take on it."""
    found = {split: [u for u in corpus.load(split, 0, corpus.size(split), audio=False) if isinstance(u, Utterance)]
             for split in ("train", "val")}
    minutes = sum(u.duration for utterances in found.values() for u in utterances) / 60
    splits = ", ".join(f"{len(us)} {split} utterances ({sum(u.duration for u in us) / 60:.1f} min)"
                       for split, us in found.items())
    estimate = minutes * SECONDS_PER_SPEECH_MINUTE / 60
    return (f"[demo] {corpus.root}: {splits}; roughly {max(estimate, 1):.0f} min on an unloaded 2-core CPU "
            f"(the default demo's {SECONDS_PER_SPEECH_MINUTE:.0f} s per minute of speech), less on more cores.")


def closing_line(seconds: float, synthetic: bool) -> str:
    """What the numbers are: synthetic speech, or ``seconds`` of the user's own recordings, and a tiny model."""
    speech = "Synthetic speech" if synthetic else f"{seconds / 60:.1f} minutes of your recordings"
    return f"{speech} and a tiny model: these numbers show the pipeline working; they are not the study's numbers."


def schedule(train_tokens: int, size: DemoSize) -> tuple[int, int, int]:
    """Context, batch size and validation interval (steps) for one stream: at least MIN_STEPS optimizer steps where
    the data allow — a short stream's context halves (down to MIN_SEQ_LEN), then its batch shrinks — and about
    VALIDATIONS validation passes (the results writer adds the final one after the last step). One epoch either
    way: a transcript stream of a few thousand tokens learns its unigram statistics from 80 small steps, not 20."""
    seq_len = size.seq_len
    while seq_len // 2 >= MIN_SEQ_LEN and num_windows(train_tokens, seq_len, partial=False) < MIN_STEPS:
        seq_len //= 2
    windows = num_windows(train_tokens, seq_len, partial=False)
    if windows == 0:
        raise AudiobitsError(f"{train_tokens} training tokens do not fill one window of {seq_len + 1}; give the "
                             "demo more speech")
    batch = max(1, min(size.batch_size, windows // MIN_STEPS))
    return seq_len, batch, max(1, math.ceil(windows / batch) // VALIDATIONS)


def fit_config(bins_dir: Path, runs_dir: Path, name: str, size: DemoSize) -> dict:
    """A LightningCLI config for `audiobits fit`: a TinyGPT of ``size`` on ``bins_dir``, logged to runs_dir/name."""
    seq_len, batch, every = schedule(TokenBins(bins_dir).meta.splits["train"].tokens, size)
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
                 "init_args": {"bins_dir": str(bins_dir), "seq_len": seq_len, "batch_size": batch,
                               "num_workers": 0}},
        "checkpoint": {"every_n_train_steps": 1000},
    }


def longest_first(bins: dict[str, Path]) -> list[str]:
    """The representations by validation tokens, most first: the first one's compress is the demo's longest stage
    (one model step per token of its longest utterance, encode and decode), so it is fitted first and coded in a
    background process while the others fit (`BackgroundCompress`)."""
    return sorted(bins, key=lambda name: -TokenBins(bins[name]).meta.splits["val"].tokens)


def make_bins(source: AudioFolder, names: Sequence[str], voice: str, out: Path, lap: Laps) -> dict[str, Path]:
    """Each representation's bins (`write_bins`) and the audio ones' decoded quality, for the report's frontier
    figure."""
    reps = representations(names, voice)
    bins = write_bins(source, reps, out)
    lap("bins")
    for rep in reps:
        if can_decode(rep):
            score_bins(source, rep, bins[rep.name], max_utterances=QUALITY_UTTERANCES)
    lap("quality")
    return bins


def fit_and_code(out: Path, bins: dict[str, Path], names: list[str], spec: DemoSize, lap: Laps) -> list[str]:
    """Fit ``names``, and the conditional row where its pair is among the bins, then prove each of ``names`` by
    compression (its val split coded with its weights, decoded and checked); the conditional runs' names."""
    for name in names:
        fit_run(out, name, fit_config(bins[name], out / "runs", name, spec), lap)
    paired = [f"{PAIR[1]}_given_{PAIR[0]}"] if set(PAIR) <= set(bins) else []
    for name in paired:
        single = fit_config(bins[PAIR[1]], out / "runs", name, spec)
        fit_run(out, name, conditional_config(bins[PAIR[1]], bins[PAIR[0]], out / "runs", name, single["model"],
                                              single["data"]["init_args"]["seq_len"], spec.batch_size), lap)
    for name in names:
        compress_run(run_dir(out, name), log=lambda *args: None)
    if names:
        lap(f"compress {', '.join(names)}")
    return paired


def run_demo(out: str | Path = "audiobits-demo", corpus: str | Path | None = None, size: str = "small",
             voice: str = "en-us", names: Sequence[str] = DEFAULT_REPRESENTATIONS) -> Path:
    """Synthesize (or read) the corpus, write the bins, fit one model per representation, report; returns the
    report folder."""
    if size not in SIZES:
        raise AudiobitsError(f"unknown demo size {size!r}; choose one of {sorted(SIZES)}")
    spec, out, lap = SIZES[size], Path(out).resolve(), Laps()
    with BackgroundCompress() as coding:  # it imports while the corpus, bins and first fit are made
        if corpus is None:
            source = synthesize_corpus(out / "corpus" / f"alice-{size}", spec.seconds, voice)
        else:
            source = AudioFolder(str(corpus))
            print(corpus_line(source), flush=True)
        lap("corpus")
        bins = make_bins(source, names, voice, out, lap)
        first, *rest = longest_first(bins)
        first_run = fit_run(out, first, fit_config(bins[first], out / "runs", first, spec), lap)
        coding.start(first_run, first_run / "compress.log")
        # The other fits and compresses on one torch thread, beside the background one: two threads on a core that
        # the other process keeps busy stall each other (benchmarks/demo_threads.py)
        with torch_threads(1):
            paired = fit_and_code(out, bins, rest, spec, lap)
        runs = load_runs([out / "runs" / name for name in bins])
        report = out / "report"
        figures = write_figures(runs, report)  # they need no compress.json: drawn while the last one is coded
        lap("figures")
        lap(f"compress {first}, the wait for it (it took {coding.wait():.1f} s in the background from the end of "
            "its fit)")
    table = build_table(runs)
    written = write_report(table, runs, report, figures)
    conditional = runs + load_runs([out / "runs" / name for name in paired]) if paired else []
    written += conditional_report.write(conditional, report) if paired else []
    lap("report")
    print("\n" + table.render("table"))
    if paired:
        print("\n" + conditional_report.markdown(conditional))
    print(f"Wrote {len(written)} files to {report} (open {report / 'report.html'} in a browser; headline figure: "
          f"{report / 'headline.png'}).")
    seconds = sum(split.seconds for split in TokenBins(next(iter(bins.values()))).meta.splits.values())
    print(f"Demo took {lap.total:.0f} s. {closing_line(seconds, synthetic=corpus is None)}")
    return report


def main(out: str = "audiobits-demo", corpus: str | None = None, size: Literal[SIZE_NAMES] = "small",
         voice: str = "en-us", representations: list[str] = list(DEFAULT_REPRESENTATIONS), languages: bool = False,
         prompts: int | None = None) -> None:
    """The whole pipeline offline on synthetic speech (or --corpus).

    Args:
        out: folder for the corpus, bins, runs and report.
        corpus: your own AudioFolder (train/ and val/ with metadata.csv: file_name,text) instead of the synthesized
            text.
        size: tiny: 30 s of speech and a 1-layer model (about a minute); small: 3 minutes of speech and a 2-layer
            model (a few minutes). With --corpus only the model size applies.
        voice: espeak-ng voice for speech and phonemes.
        representations: which weight-free representations to fit (audiobits.demo.demo.WEIGHT_FREE names them),
            e.g. '[text,phonemes,mulaw]'; text (GPT-2 BPE) is off by default: the demo's few hundred transcript
            tokens are too few for its 50257-id vocabulary (see docs/demo.md).
        languages: instead: real recorded prompts in five languages (Debian's asterisk-core-sounds-*-wav),
            phonemes/utf8/mulaw/codec2 scored per language (docs/languages.md).
        prompts: with --languages: prompts per language (default 12 tiny, 60 small; 0: all, ~25 min each).
    """
    check_output_dir(out, "--out")
    if languages:
        from audiobits.demo.language_demo import run_language_demo

        run_language_demo(out, size, SIZES[size], fit_config, prompts)
        return
    run_demo(out, corpus, size, voice, representations)
