"""Sanity checks on a finished run: is each number physically plausible? ``audiobits sanity RUN_DIR...``

Each check gives pass / warn / fail (or skip, with the reason) and the numbers behind it:

- **frame rate**: codec and waveform streams emit a fixed number of tokens per second. Measured content
  tokens/sec (targets minus end-of-utterance tokens, over true seconds) vs Σ codebook frame rates: pass within
  3 %, warn within 10 %, else fail (padding frames counted, a wrong hop, a resampling slip).
- **bits/sec band**: per kind of stream (transcript, codec, waveform) a band where a trained model lands; warn
  outside it, fail far outside (below a quarter of its floor: a model leaking the future) or above the flat
  capacity (worse than guessing uniformly over the vocab).
- **unigram entropy**: the model's bits/token cannot exceed the unigram entropy of the same split by more than
  noise (docs/metrics.md). Noise = the Miller–Madow bias of the plug-in entropy, (K−1)/(2N ln 2), plus the half-width of
  the bootstrap interval in bits/token. Above that: fail (undertrained or broken).
- **vocab use**: distinct content ids in the split ÷ the most it could hold (min of vocab and tokens); a codec
  whose codebooks collapsed (untrained weights emit one code everywhere) fails.
- **transcript overlap**: val utterances whose exact transcript also occurs in train (LibriTTS books recur across
  readers), from the transcript bins — the run's own for a transcript stream, else the corpus's ``text`` bins
  beside the run's. Pass when none, warn otherwise (a fact to state: such utterances are partly memorizable).
- **k-gram baselines**: the model against the best interpolated Kneser–Ney k-gram of the same val targets
  (:mod:`audiobits.analysis.baselines`): pass when its paired gain's 95 % interval lies above zero, else warn "has not
  learned beyond k-gram statistics"; skip when results.json has no ``kgram`` block or the headline pass was partial.
- **still learning**: the validation curve's drop over the last 10 % of training
(:mod:`audiobits.analysis.learning_curve`):
  warn above 1 % of the final bits/token (the figure would still fall with more data or steps).
- **truth**: on bins of a source of known entropy (:mod:`audiobits.analysis.known_truth`) the ratio to the true score of
  the same targets; fail when the run lies below the truth by more than its noise (a leak of the future).
- **trainer options**: results.json's ``trainer`` block against the options the study fixes
  (`audiobits.training.trainer_options`): warn on each one set apart (a partial epoch, another global batch or
  precision: not comparable with the study's runs); skip when not recorded.

Token statistics come from the run's bins (found through its config.yaml) unless results.json carries
``val_token_stats`` (:func:`audiobits.results.token_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiobits import metrics
from audiobits.bins import Codebook, TokenBins
from audiobits.results import PassRates, Results, TokenStats, token_stats
from audiobits.analysis.runs import Run, load_runs, note_printer, skipping

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
FRAME_RATE_TOLERANCE = (0.03, 0.10)  # pass, warn (relative deviation)
BITS_PER_SEC_BANDS = {"transcript": (2.0, 200.0), "codec": (10.0, None), "waveform": (500.0, None)}  # None: nominal
VOCAB_USE = (0.2, 0.02)  # pass at or above, fail below
WAVEFORM_RATE = 1000.0  # frame rates at or above this are samples, not codec frames


@dataclass
class Check:
    """The outcome of one check on one run."""

    name: str
    status: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status.upper():4}  {self.name}: {self.detail}"


def stream_kind(codebooks: list[Codebook]) -> str:
    """``transcript`` (variable rate), ``waveform`` (one token per sample) or ``codec``."""
    rates = [c.frame_rate for c in codebooks]
    if any(r is None for r in rates):
        return "transcript"
    return "waveform" if min(rates) >= WAVEFORM_RATE else "codec"


def content_tokens_per_sec(headline: PassRates) -> float:
    """:func:`metrics.content_tokens_per_second` as results.json records it (recomputed for older records)."""
    if headline.content_tokens_per_sec is not None:
        return headline.content_tokens_per_sec
    return metrics.content_tokens_per_second(headline.val_tokens, headline.val_utterances, headline.val_seconds)


def check_frame_rate(results: Results) -> Check:
    """Measured content tokens/sec vs the codebooks' summed frame rates."""
    codebooks = results.codebooks
    measured = content_tokens_per_sec(results.headline)
    if stream_kind(codebooks) == "transcript":
        return Check("frame rate", SKIP, f"variable-rate stream, {measured:.2f} content tokens/s")
    nominal = sum(c.frame_rate for c in codebooks)
    deviation = measured / nominal - 1.0
    status = PASS if abs(deviation) <= FRAME_RATE_TOLERANCE[0] else WARN if abs(
        deviation) <= FRAME_RATE_TOLERANCE[1] else FAIL
    return Check("frame rate", status, f"{measured:.3f} tokens/s measured vs {nominal:.3f} nominal "
                                       f"({deviation:+.2%}; pass within ±{FRAME_RATE_TOLERANCE[0]:.0%})")


def check_bits_per_sec(results: Results) -> Check:
    """bits/sec inside the plausible band of its kind, and never above the flat capacity."""
    kind = stream_kind(results.codebooks)
    h = results.headline
    bps, flat, nominal = h.bits_per_sec, h.flat_capacity, h.nominal_bitrate
    low, high = BITS_PER_SEC_BANDS[kind]
    high = nominal if high is None else high
    band = f"{kind} band {low:,.0f}–{high:,.1f} bits/s, flat capacity {flat:,.1f}"
    if not bps > low / 4 or bps > flat:
        why = "above the flat capacity: worse than a uniform guess" if bps > flat else "far below the band"
        return Check("bits/sec", FAIL, f"{bps:,.2f} bits/s, {why} ({band})")
    return Check("bits/sec", PASS if low <= bps <= high else WARN, f"{bps:,.2f} bits/s ({band})")


def check_unigram(results: Results, stats: TokenStats) -> Check:
    """bits/token ≤ unigram entropy of the split, up to sampling noise."""
    b, entropy = results.headline.bits_per_token, stats.unigram_entropy
    bias = metrics.entropy_bias(stats.distinct, stats.tokens)
    low, high = results.headline.bits_per_sec_ci95
    half_width = (high - low) / 2.0 / results.headline.tokens_per_sec
    slack = bias + half_width
    status = PASS if b <= entropy else WARN if b <= entropy + slack else FAIL
    return Check("unigram entropy", status, f"model {b:.3f} bits/token vs unigram entropy {entropy:.3f} of the split "
                                            f"(noise {slack:.3f} = bias {bias:.3f} + CI {half_width:.3f})")


def check_vocab_use(results: Results, stats: TokenStats) -> Check:
    """Distinct content ids used ÷ the most the split could show (min of content vocab and content tokens)."""
    content_vocab = results.vocab_size - 1
    attainable = max(min(content_vocab, stats.content_tokens), 1)
    ratio = stats.distinct_content / attainable
    status = PASS if ratio >= VOCAB_USE[0] else FAIL if ratio < VOCAB_USE[1] else WARN
    return Check("vocab use", status, f"{stats.distinct_content} of {content_vocab} ids used "
                                      f"({stats.distinct_content / content_vocab:.1%} of the vocab; {ratio:.1%} of "
                                      f"the {attainable} attainable; pass at {VOCAB_USE[0]:.0%})")


def transcript_overlap(bins: TokenBins) -> tuple[int, int, float]:
    """(val utterances whose token sequence also occurs in train, val utterances, their share of val seconds), for
    transcript bins, where equal token sequences are equal transcripts."""
    def sequences(split: str) -> list[bytes]:
        part = bins.split(split)
        tokens, offsets = part.tokens, part.offsets
        return [np.asarray(tokens[a:b - 1]).tobytes() for a, b in zip(offsets[:-1], offsets[1:])]

    train = set(sequences("train"))
    shared = np.array([s in train for s in sequences("val")])
    seconds = bins.split("val").seconds
    return int(shared.sum()), len(shared), float(seconds[shared].sum() / seconds.sum())


def check_transcript_overlap(run: Run) -> Check:
    """Exact transcript overlap between train and val, from the transcript bins of the run's corpus."""
    own = run.bins_dir()
    if own is None:
        return Check("transcript overlap", SKIP, "needs the bins: none found from the run's config.yaml")
    transcript = own if stream_kind(run.results.codebooks) == "transcript" else own.parent / "text"
    if not (transcript / "meta.json").is_file():
        return Check("transcript overlap", SKIP, f"needs transcript bins: {transcript} not prepared (run "
                                                 "`audiobits prepare` with the corpus's text config)")
    shared, total, share = transcript_overlap(TokenBins(transcript))
    return Check("transcript overlap", PASS if shared == 0 else WARN,
                 f"{shared} of {total} val utterances ({share:.1%} of val seconds) have a transcript that also "
                 f"occurs in train ({transcript})")


def check_trainer_options(results: Results) -> Check:
    """The honoured trainer options the run set apart from the study's, from results.json's ``trainer`` block."""
    found = results.trainer_deviations()
    if found is None:
        return Check("trainer options", SKIP, "results.json records none (written before they were, or by "
                                              "`audiobits validate` without the fit's results.json)")
    if not found:
        return Check("trainer options", PASS, "as the study fixes them: one whole epoch, its batch and precision")
    return Check("trainer options", WARN, f"{', '.join(found)}: not comparable with the study's runs")


def check_kgram(results: Results) -> Check:
    """The model beats its best k-gram baseline beyond noise (paired bootstrap of the gain in bits/sec)."""
    record = results.kgram
    if record is None:
        return Check("k-gram baselines", SKIP, "results.json has none (written before audiobits recorded them; "
                                               "`audiobits validate` rewrites it)")
    best = (f"best k-gram: order {record.best_order}, {record.best_bits_per_token:.3f} bits/token = "
            f"{record.best_bits_per_sec:,.2f} bits/s")
    if record.beats_best is None:
        return Check("k-gram baselines", SKIP, f"{best}; the headline pass was partial, so no paired comparison")
    low, high = record.gain_bits_per_sec_ci95
    gain = (f"model gains {record.gain_bits_per_sec:+,.2f} bits/s [{low:+,.2f}, {high:+,.2f}] over it (95 %, "
            f"{record.gain_ci_kind})")
    if record.beats_best:
        return Check("k-gram baselines", PASS, f"{gain}; {best}")
    return Check("k-gram baselines", WARN, f"has not learned beyond k-gram statistics: {gain}; {best}")


def check_still_learning(results: Results) -> Check:
    """The validation curve's drop over the last tenth of training stays under its threshold."""
    record = results.still_learning
    if record is None or record.still_learning is None:
        why = "results.json records no validation curve" if record is None else record.why_unknown
        return Check("still learning", SKIP, why)
    detail = (f"bits/token fell {record.drop_bits_per_token:+.4f} ({record.drop_relative:.2%}) over the last "
              f"{record.tail:.0%} of training (flagged above {record.threshold_relative:.0%})")
    if record.still_learning:
        return Check("still learning", WARN, f"{detail}: more data or steps would lower it further")
    return Check("still learning", PASS, detail)


def check_truth(results: Results) -> Check:
    """On a source of known entropy, the run lies at or above the truth up to noise (below it: a leak)."""
    record = results.truth
    if record is None:
        return Check("truth", SKIP, "the bins record no true entropy (not a synthetic or calibration source)")
    if record.ratio is None:
        return Check("truth", SKIP, "the headline pass was partial: not the targets the truth was computed on")
    detail = (f"{results.headline.bits_per_token:.4f} bits/token = {record.ratio:.3f} × the true "
              f"{record.true_bits_per_token:.4f} of the same targets (noise {record.noise_bits_per_token:.4f})")
    if record.below_truth:
        return Check("truth", FAIL, f"{detail}: below the truth, so the model sees the future (a leak)")
    return Check("truth", PASS, detail)


def run_stats(run: Run) -> TokenStats | None:
    """The val split's :func:`token_stats`: from results.json when recorded, else from the run's bins."""
    if run.results.val_token_stats is not None:
        return run.results.val_token_stats
    bins_dir = run.bins_dir()
    if bins_dir is None:
        return None
    bins = TokenBins(bins_dir)
    return token_stats(bins.split("val"), bins.meta.vocab_size, bins.meta.eos_id)


def check_run(run: Run) -> list[Check]:
    """Every check on one run, in a fixed order."""
    checks = [check_frame_rate(run.results), check_bits_per_sec(run.results)]
    stats = run_stats(run)
    if stats is None:
        reason = (f"needs the val bins: none found from {run.path / 'config.yaml'} (data.init_args.bins_dir or "
                  "root); run from the directory the run was trained in")
        checks += [Check("unigram entropy", SKIP, reason), Check("vocab use", SKIP, reason)]
    else:
        checks += [check_unigram(run.results, stats), check_vocab_use(run.results, stats)]
    return checks + [check_transcript_overlap(run), check_trainer_options(run.results), check_kgram(run.results),
                     check_still_learning(run.results), check_truth(run.results)]


def summary(checks: list[Check]) -> str:
    """``ok`` when nothing warned or failed, else e.g. ``1 fail, 2 warn``."""
    counts = [(n, s) for s in (FAIL, WARN) if (n := sum(c.status == s for c in checks))]
    return ", ".join(f"{n} {s}" for n, s in counts) or "ok"


def main(runs: list[str], strict: bool = False) -> None:
    """Pass/warn/fail checks of finished runs: every check of each run with its numbers.

    Args:
        runs: run directories (Lightning log dirs holding results.json) or folders above them.
        strict: exit with status 1 when any check fails or any run was skipped as damaged.
    """
    failed, skipped, note = False, [], note_printer("audiobits sanity")
    for run in load_runs(runs, on_skip=note, skipped=skipped):
        for checks in skipping(lambda: [check_run(run)], run.path, skipped, note):  # damaged bins: skip this run only
            failed |= any(c.status == FAIL for c in checks)
            print(f"{run.label} ({run.representation}, {run.path}): {summary(checks)}")
            for check in checks:
                print(f"  {check}")
    if strict and (failed or skipped):  # a run left unchecked must not turn a CI check green
        raise SystemExit(1)
