"""The report's columns, declared once: each one's row key, header (with its unit), the views it belongs to, how a
cell prints and what it means. The terminal, Markdown, LaTeX and HTML tables and the page's column definitions are
all read from :data:`COLUMNS`; the CSV/JSON exports keep every row key unformatted.

Adding a column is one :class:`Column` entry (and its value in :func:`audiobits.analysis.report.row`); a view named in
an entry's ``views`` that no other entry names becomes a new ``--view`` by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from audiobits.analysis.plots import significant

EVERY_VIEW = "*"  # identity and comparability: first in every view
DEFAULT_VIEW = "default"
ALL_VIEW = "all"
HEADLINE_KEY = "bits_per_sec"
CI_MARKS = {"speakers": "spk", "utterances": "utt"}  # which units the bootstrap resampled


def sci(x: float | None) -> str:
    """Three significant digits in exponent form ('–' for missing): FLOP counts."""
    return "–" if x is None else f"{x:.3g}"


def pct(x: float | None) -> str:
    """A fraction as a percentage with one decimal ('–' for missing)."""
    return "–" if x is None else f"{x:.1%}"


def number(key: str, digits: int = 4) -> Callable[[dict], str]:
    """The row's ``key`` with ``digits`` significant digits."""
    return lambda r: significant(r.get(key), digits)


def marked(key: str, form: str, flag: str, mark: str, when: bool = True) -> Callable[[dict], str]:
    """The row's ``key`` in ``form``, followed by ``mark`` when the row's ``flag`` is ``when`` ('–' for missing)."""
    return lambda r: "–" if r[key] is None else form.format(r[key]) + (f" {mark}" if bool(r[flag]) is when else "")


def comparability(r: dict) -> str:
    """Sanity summary and how many comparability flags the row has (the flags themselves are listed under the
    table)."""
    flagged = len(r["flags"])
    return r["sanity"] + (f" +{flagged} flag{'s' * (flagged > 1)}" if flagged else "")


def headline(r: dict) -> str:
    """bits/s with its 95 % interval and what the bootstrap resampled."""
    return (f"{significant(r['bits_per_sec'])} [{significant(r['bits_per_sec_lo'])}, "
            f"{significant(r['bits_per_sec_hi'])}] {CI_MARKS.get(r['ci_kind'], '')}").rstrip()


@dataclass(frozen=True)
class Column:
    """One report column: ``key`` of the row (the export's column name, unit in it), ``header`` for the tables
    (unit included), the ``views`` that show it (``*``: every view), the cell formatter and a one-line
    ``definition`` (the page's column glossary)."""

    key: str
    header: str
    views: tuple[str, ...]
    show: Callable[[dict], str]
    definition: str


COLUMNS: tuple[Column, ...] = (
    Column("run", "run", (EVERY_VIEW,), lambda r: r["run"], "the run's label (its folder name, made unique)"),
    Column("representation", "representation", (DEFAULT_VIEW,), lambda r: r["representation"],
           "the token stream the model was trained on (the other views name the run only)"),
    Column("sanity", "checks", (EVERY_VIEW,), comparability,
           "sanity checks (ok, or how many warn/fail) and comparability flags: a flagged row may not be compared "
           "with the others; the flags are listed under the table"),
    Column("bits_per_token", "bits/token", (DEFAULT_VIEW, "rates", "scaling"), number("bits_per_token"),
           "validation cross-entropy in bits per target token (EOS included), headline pass"),
    Column("tokens_per_sec", "tok/s", (DEFAULT_VIEW, "rates"), number("tokens_per_sec"),
           "scored target tokens per second of true audio"),
    Column(HEADLINE_KEY, "bits/s [95% CI] HEADLINE",
           (DEFAULT_VIEW, "rates", "context", "capacity", "compression", "quality"), headline,
           "the headline: Σ bits ÷ true audio seconds of the validation utterances, final sliding-window "
           "evaluation; 95 % bootstrap interval over speakers (spk) or utterances (utt)"),
    Column("nominal_bits_per_sec", "nominal b/s", (DEFAULT_VIEW, "capacity"), number("nominal_bits_per_sec"),
           "nominal bitrate: Σ log2(codebook size) × frame rate"),
    Column("utilization_nominal", "of nominal", (DEFAULT_VIEW, "capacity"), lambda r: pct(r["utilization_nominal"]),
           "headline bits/s ÷ nominal bitrate"),
    Column("context_seconds", "context s", (DEFAULT_VIEW, "context"), number("context_seconds", 3),
           "seconds of audio in one evaluation window (context tokens ÷ tokens/s)"),
    Column("context_tokens", "context tok", ("context",), lambda r: str(r["context_tokens"] or "–"),
           "tokens in one evaluation window (seq_len)"),
    Column("eval_stride", "stride tok", ("context",), lambda r: str(r["eval_stride"] or "–"),
           "tokens scored per sliding window: each target sees at least context − stride tokens of history"),
    Column("bits_per_sec_non_overlapping", "non-overlap b/s", ("context",), number("bits_per_sec_non_overlapping"),
           "bits/s of the non-overlapping pass (the seed's way: 512 tokens of history on average)"),
    Column("bits_per_sec_utterance_reset", "utt-reset b/s", ("context",), number("bits_per_sec_utterance_reset"),
           "bits/s with the context cut at every utterance start (an entropy coder on one utterance alone)"),
    Column("seed_convention_bits_per_sec", "b/s at nominal rate", ("rates",), number("seed_convention_bits_per_sec"),
           "content bits/token × nominal token rate (the original study's convention)"),
    Column("bits_per_byte", "bits/byte", ("rates",), number("bits_per_byte"),
           "Σ bits ÷ UTF-8 bytes of the transcripts"),
    Column("flat_capacity_bits_per_sec", "flat cap b/s", ("capacity",), number("flat_capacity_bits_per_sec"),
           "flat capacity: log2(content vocab) × content frame-token rate"),
    Column("utilization_flat", "of flat", ("capacity",), lambda r: pct(r["utilization_flat"]),
           "headline bits/s ÷ flat capacity"),
    Column("info_per_storage", "info/storage", ("capacity",), lambda r: pct(r["info_per_storage"]),
           "bits/token ÷ storage bits per token (storage_bits: 16 or 32)"),
    Column("storage_bits", "storage bits", ("capacity",), lambda r: str(r["storage_bits"]),
           "bits each token takes in the bins (uint16 or uint32)"),
    Column("train_tokens", "train tokens", ("compute", "scaling"), lambda r: f"{r['train_tokens']:,}",
           "tokens trained on (one epoch)"),
    Column("non_embedding_params", "params N", ("compute", "scaling"), lambda r: f"{r['non_embedding_params']:,}",
           "non-embedding parameters of the model"),
    Column("train_pflops_trunk", "train PFLOPs 6NT", ("compute",), lambda r: sci(r["train_pflops_trunk"]),
           "training compute, trunk: 6 · N · tokens, in PFLOPs"),
    Column("train_pflops_full", "train PFLOPs full", ("compute",), lambda r: sci(r["train_pflops_full"]),
           "training compute with the embedding/output head and attention, in PFLOPs"),
    Column("inference_flops_per_bit_trunk", "FLOPs/bit 2N", ("compute",),
           lambda r: sci(r["inference_flops_per_bit_trunk"]),
           "inference FLOPs per bit of information: 2N ÷ bits/token"),
    Column("inference_flops_per_bit_full", "FLOPs/bit full", ("compute",),
           lambda r: sci(r["inference_flops_per_bit_full"]),
           "inference FLOPs per bit with the output head and attention"),
    Column("coded_utterance_reset_bits_per_sec", "utt-reset CE b/s", ("compression",),
           number("coded_utterance_reset_bits_per_sec"),
           "the model's cross-entropy of exactly the coded utterances, each alone (utterance-reset): what the coded "
           "file is measured against"),
    Column("compressed_bits_per_sec", "coded b/s", ("compression",), number("compressed_bits_per_sec"),
           "bits/s of the range-coded validation file (`audiobits compress`)"),
    Column("compression_overhead", "coded vs CE", ("compression",),
           lambda r: "–" if r["compression_overhead"] is None else f"{r['compression_overhead']:+.1%}",
           "the coded file's excess over the cross-entropy of the coded tokens"),
    Column("zstd_bits_per_sec", "zstd b/s", ("compression",), number("zstd_bits_per_sec"),
           "zstd baseline on the same tokens"),
    Column("xz_bits_per_sec", "xz b/s", ("compression",), number("xz_bits_per_sec"), "xz baseline on the same tokens"),
    Column("flac_bits_per_sec", "FLAC b/s", ("compression",), number("flac_bits_per_sec"),
           "FLAC baseline on the waveform (waveform streams only)"),
    Column("stoi", "STOI", ("quality",), number("stoi", 3), "short-time objective intelligibility of the decoded "
                                                             "audio (0–1, mean over scored utterances)"),
    Column("pesq_wb", "PESQ-wb", ("quality",), number("pesq_wb", 3), "wideband PESQ (MOS-LQO 1–4.6)"),
    Column("si_sdr_db", "SI-SDR dB", ("quality",), number("si_sdr_db", 3), "scale-invariant SDR in dB"),
    Column("log_mel_distance", "log-mel dist", ("quality",), number("log_mel_distance", 3),
           "log-mel spectrogram distance (lower is better)"),
    Column("wer", "WER", ("quality",), lambda r: pct(r["wer"]), "Whisper word error rate of the decoded audio"),
    Column("wer_original", "WER orig", ("quality",), lambda r: pct(r["wer_original"]),
           "Whisper word error rate of the original audio"),
    Column("speaker_similarity", "spk sim", ("quality",), number("speaker_similarity", 3),
           "WavLM speaker-embedding cosine, original vs decoded"),
    Column("kgram_bits_per_sec", "k-gram b/s", ("baselines",), number("kgram_bits_per_sec"),
           "the best interpolated Kneser-Ney k-gram model fitted on the train split, on the headline's targets"),
    Column("kgram_order", "k", ("baselines",), lambda r: str(r["kgram_order"] or "–"),
           "the order k of that best k-gram model"),
    Column("kgram_gain_bits_per_sec", "gain over k-gram b/s", ("baselines",),
           marked("kgram_gain_bits_per_sec", "{:+.3g}", "kgram_beaten", "NOT BEYOND", when=False),
           "best k-gram bits/s − headline bits/s (paired); NOT BEYOND when its 95 % interval does not lie above 0"),
    Column("tail_drop_relative", "drop last 10%", ("baselines",),
           marked("tail_drop_relative", "{:.2%}", "still_learning", "STILL LEARNING"),
           "relative fall of validation bits/token over the last tenth of training (STILL LEARNING above 1 %)"),
    Column("truth_ratio", "× truth", ("baselines",),
           marked("truth_ratio", "{:.3f}", "below_truth", "BELOW TRUTH"),
           "bits/token ÷ the true score of the same targets, on sources of known entropy (below 1: a leak)"),
    Column("seed_mean_bits_per_sec", "seeds b/s mean ± std (n)", ("baselines",),
           lambda r: "–" if r["seed_mean_bits_per_sec"] is None else
           f"{significant(r['seed_mean_bits_per_sec'])} ± {significant(r['seed_std_bits_per_sec'], 2)} "
           f"({r['seed_runs']})",
           "runs that differ only in seed (`fit --seeds`): mean headline bits/s ± standard deviation"),
    Column("seed_spread_larger", "larger spread", ("baselines",), lambda r: r["seed_spread_larger"] or "–",
           "which is larger: the seed standard deviation or the bootstrap's standard error (95 % half-width ÷ 1.96)"),
    Column("calibration_slack", "slack b/tok", ("scaling",),
           lambda r: "–" if r["calibration_slack"] is None else f"{r['calibration_slack']:+.3f}",
           "diagnostic: the recipe's excess over the true entropy of a matched synthetic source (`audiobits "
           "calibrate`)"),
    Column("weights", "weights", (ALL_VIEW,), lambda r: r["weights"], "the encoder's weights (random is flagged)"),
    Column("corpus", "corpus", (ALL_VIEW,), lambda r: r["corpus"], "the corpus of the bins"),
)

GROUPS = ("rates", "context", "capacity", "compute", "compression", "quality", "baselines", "scaling")  # --view order
VIEWS: tuple[str, ...] = tuple(dict.fromkeys(
    [DEFAULT_VIEW, *GROUPS, *(v for c in COLUMNS for v in c.views if v not in (EVERY_VIEW, DEFAULT_VIEW, ALL_VIEW)),
     ALL_VIEW]))


def view_columns(view: str) -> list[Column]:
    """The columns of ``view`` in registry order: the run and its comparability first, then the view's own."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {list(VIEWS)}")
    return [c for c in COLUMNS if view == ALL_VIEW or EVERY_VIEW in c.views or view in c.views]
