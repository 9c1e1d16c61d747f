"""The results record of one run (``results.json``): every docs/metrics.md metric from validation sums
(each key in docs/results.md).

`Results` and its blocks are the file's one typed record: `compute_results` builds it (one function, so the file,
the report and the tests agree on every definition), :class:`audiobits.callbacks.ResultsWriter` adds what fit
measured beside the evaluation and writes it (`Results.write`) at the end of fit, and every reader goes through
`read_results`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from audiobits import metrics
from audiobits.bins import BinMeta, Codebook, SplitBins
from audiobits.errors import ConfigValueError, MissingFileError
from audiobits.files import read_json, write_atomic, write_text_atomic
from audiobits.records import FLAT, OMITTED_WHEN_NONE, from_json, to_json
from audiobits.study_options import OPTIONS, study_precision

RESULTS_FILE = "results.json"
UTTERANCES_FILE = "val_utterances.npz"
RESULTS_VERSION = 2  # 2: headline = final sliding-window pass; non_overlapping / utterance_reset blocks


@dataclass
class ValidationSums:
    """Summed cross-entropy of one full validation pass, per utterance and per position within a frame."""

    nats_per_utterance: np.ndarray  # float64 [utterances]
    tokens_per_utterance: np.ndarray  # int64 [utterances]
    nats_per_phase: np.ndarray  # float64 [tokens_per_frame + 1]: position of the target inside its frame, EOS last
    tokens_per_phase: np.ndarray  # int64 [tokens_per_frame + 1]
    nats_per_offset: np.ndarray | None = None  # float64 [seq_len]: column j = a target with j + 1 tokens of context
    tokens_per_offset: np.ndarray | None = None  # int64 [seq_len]
    nats_per_utterance_bucket: np.ndarray | None = None  # float64 [utterances, context buckets of bits_by_context]
    tokens_per_utterance_bucket: np.ndarray | None = None  # int64 [utterances, context buckets]

    @property
    def nats(self) -> float:
        return float(self.nats_per_utterance.sum())

    @property
    def tokens(self) -> int:
        return int(self.tokens_per_utterance.sum())

    @property
    def content_bits_per_token(self) -> float:
        """Bits/token over content targets only (the end-of-utterance bucket, the last phase, left out)."""
        return metrics.bits_per_token(self.nats - float(self.nats_per_phase[-1]),
                                      self.tokens - int(self.tokens_per_phase[-1]))


@dataclass
class ModelShape:
    """The numbers the FLOP formulas need."""

    non_embedding_params: int
    vocab_size: int
    n_layer: int
    n_embd: int
    seq_len: int


@dataclass(frozen=True)
class TrainerRecord:
    """results.json's ``trainer`` block: the honoured options as the Trainer resolved them (so ``fast_dev_run`` or
    ``overfit_batches`` show through the limits they set), its precision and the device type it trained on."""

    max_steps: int
    limit_train_batches: int | float
    accumulate_grad_batches: int
    gradient_clip_val: int | float | None
    precision: str
    device: str
    limit_val_batches: int | float
    val_check_interval: int | float

    @classmethod
    def from_dict(cls, record: Any, path: str | os.PathLike,
                  fix: str = "Restore it, or leave the run out.") -> TrainerRecord:
        """The record kept in ``path`` (results.json's ``trainer`` block, or a checkpoint's); one that is not an
        object with exactly these fields (cut down or edited by hand) raises `ConfigValueError` naming the file and
        ``fix``, so a report skips that run alone."""
        names = [f.name for f in fields(cls)]
        if not isinstance(record, dict) or sorted(record) != sorted(names):
            found = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise ConfigValueError(f"{path}: its trainer block is {found}, not the fields {names} audiobits writes; "
                                   f"it was edited after fit wrote it. {fix}")
        return cls(**record)

    def as_dict(self) -> dict:
        return asdict(self)

    def deviations(self) -> list[str]:
        """Each honoured option this run set apart from the study, and what that means (``trainer.max_steps=5 (a
        step limit, not the epoch's end)``); [] when it ran as the study fixes them."""
        found = [f"trainer.{o.name}={getattr(self, o.name)!r} ({o.why})" for o in OPTIONS
                 if o.action == "flag" and not o.keeps(getattr(self, o.name))]
        study = study_precision(self.device)
        if self.precision != study:
            found.append(f"trainer.precision={self.precision} (the study's is {study} on {self.device})")
        return found


@dataclass(frozen=True)
class Provenance:
    """What produced a results.json: code, packages, device, seed and a hash of the resolved config."""

    audiobits_version: str
    git_commit: str | None  # of the audiobits source tree; None when not run from a git checkout; "+dirty" appended
    torch_version: str | None  # torch.__version__: with the build's CUDA version, e.g. 2.9.1+cu128
    lightning_version: str | None
    codec_package: str | None  # the encoder's package and version from the bins' meta.json, e.g. "moshi 0.2.13"
    device: str  # e.g. "cuda: NVIDIA H100 80GB HBM3" or "cpu"
    seed: int | None  # the seed Lightning's seed_everything set (PL_GLOBAL_SEED)
    config_sha256: str | None  # sha256 of the resolved config (config.yaml), keys sorted; None when there is none


@dataclass(frozen=True)
class LanguageScore:
    """One language's share of a validation pass: how much was scored and the rates it gives."""

    language: str
    utterances: int
    speakers: int | None
    seconds: float
    tokens: int
    bits_per_token: float
    tokens_per_sec: float
    bits_per_sec: float
    bits_per_sec_ci95: list[float]
    ci_kind: str


def score_languages(languages: np.ndarray, nats: np.ndarray, tokens: np.ndarray, seconds: np.ndarray,
                    speakers: np.ndarray | None = None, resamples: int = 10_000, seed: int = 0
                    ) -> dict[str, LanguageScore]:
    """Per language (sorted), bits/token, tokens/s and bits/s of its scored utterances (``tokens > 0``) with a
    bootstrap 95 % interval; ``seconds`` are each utterance's scored seconds."""
    languages, nats, tokens, seconds = (np.asarray(a) for a in (languages, nats, tokens, seconds))
    out: dict[str, LanguageScore] = {}
    for language in sorted(set(languages[tokens > 0].tolist())):
        mine = (languages == language) & (tokens > 0)
        voices = None if speakers is None else np.asarray(speakers)[mine]
        clusters = voices if voices is not None and len(np.unique(voices)) >= 2 else None
        total_nats, total_tokens, total_seconds = float(nats[mine].sum()), int(tokens[mine].sum()), \
            float(seconds[mine].sum())
        out[language] = LanguageScore(
            language=language, utterances=int(mine.sum()),
            speakers=None if voices is None else int(len(np.unique(voices))), seconds=total_seconds,
            tokens=total_tokens, bits_per_token=metrics.bits_per_token(total_nats, total_tokens),
            tokens_per_sec=metrics.tokens_per_second(total_tokens, total_seconds),
            bits_per_sec=metrics.bits_per_second(total_nats, total_seconds),
            bits_per_sec_ci95=list(metrics.bootstrap_bits_per_second(nats[mine], seconds[mine], resamples=resamples,
                                                                     seed=seed, clusters=clusters)),
            ci_kind="speakers" if clusters is not None else "utterances")
    return out


@dataclass(kw_only=True)
class PassRates:
    """One evaluation pass's rates (:func:`rates`) and bootstrap intervals (:func:`intervals`): the headline at the
    top level of results.json, the ``non_overlapping`` and ``utterance_reset`` blocks."""

    val_tokens: int
    val_utterances: int
    val_seconds: float
    val_text_bytes: float
    bits_per_token: float
    tokens_per_sec: float
    content_tokens_per_sec: float | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # absent in older files
    bits_per_sec: float
    bits_per_byte: float | None
    seed_convention_bits_per_sec: float | None
    nominal_bitrate: float | None
    flat_capacity: float | None
    utilization_nominal: float | None
    utilization_flat: float | None
    bits_per_sec_ci95: list[float]
    ci_kind: str
    bits_per_sec_ci95_speakers: list[float] | None
    bits_per_sec_ci95_utterances: list[float]
    val_speakers: int | None


@dataclass(kw_only=True)
class TokenStats:
    """Unigram statistics of a split (``val_token_stats``): every token, EOS included, as the model's targets are."""

    tokens: int
    content_tokens: int
    distinct: int
    distinct_content: int
    unigram_entropy: float


@dataclass(kw_only=True)
class KgramOrder:
    """One k-gram order's score of the val targets (`audiobits.analysis.baselines`)."""

    order: int
    bits_per_token: float
    bits_per_sec: float


@dataclass(kw_only=True)
class Kgram:
    """The ``kgram`` block: every order's score, the best, and the model's paired gain over it (None where the
    headline did not score every target)."""

    method: str
    orders: list[KgramOrder]
    best_order: int
    best_bits_per_token: float
    best_bits_per_sec: float
    gain_bits_per_sec: float | None
    gain_bits_per_sec_ci95: list[float] | None
    gain_ci_kind: str | None
    beats_best: bool | None


@dataclass(kw_only=True)
class Truth:
    """The ``truth`` block on bins of a known source (`audiobits.analysis.known_truth`)."""

    true_bits_per_token: float
    entropy_rate_bits_per_token: float | None
    ratio: float | None
    gap_bits_per_token: float | None
    noise_bits_per_token: float
    below_truth: bool | None


@dataclass(kw_only=True)
class CurvePoint:
    """One validation during fit (``val_curve``): training tokens so far and non-overlapping bits/token."""

    train_tokens: int
    bits_per_token: float


@dataclass(kw_only=True)
class StillLearning:
    """The ``still_learning`` block (`audiobits.analysis.learning_curve`)."""

    tail: float
    threshold_relative: float
    drop_bits_per_token: float | None
    drop_relative: float | None
    still_learning: bool | None
    why_unknown: str | None


@dataclass(frozen=True)
class Throughput:
    """How fast fit trained (docs/performance.md, "Throughput"); its keys sit at results.json's top level."""

    train_tokens_per_sec: float | None  # all ranks together, timed from the first logged step (compile excluded)
    train_samples_per_sec: float | None  # windows of seq_len tokens per second
    mfu: float | None  # full training FLOPs per token × tokens/s per device ÷ the device's dense bf16 peak
    mfu_note: str  # what the peak was, or why there is no MFU
    peak_device_memory_gib: float | None  # torch.cuda.max_memory_allocated on rank 0; None on the CPU


@dataclass(kw_only=True)
class Results:
    """One run's results.json (docs/results.md: every key); fields in the file's order. ``headline`` and
    ``throughput`` sit flat at the top level; blocks older files or other kinds of run lack are None."""

    results_version: int = RESULTS_VERSION  # the schema version
    representation: str
    corpus: str
    encoder: dict[str, Any]  # meta.json's encoder record
    weights: str
    flattening: str
    codebooks: list[Codebook]
    vocab_size: int
    tokens_per_frame: int
    val_utterance_set: str
    finished: bool
    trainer: TrainerRecord | None
    val_scored_fraction: float
    eval_stride: int
    context_tokens: int
    context_seconds: float
    headline: PassRates = field(metadata=FLAT)
    non_overlapping: PassRates
    utterance_reset: PassRates | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    languages: dict[str, LanguageScore] = field(default_factory=dict)
    bits_by_context: list[dict[str, Any]] = field(default_factory=list)  # metrics.bits_by_context's buckets
    storage_bits: int
    info_per_storage: float
    train_tokens: int
    train_flops_trunk: float
    train_flops_full: float
    inference_flops_per_bit_trunk: float
    inference_flops_per_bit_full: float
    bits_per_position: list[float | None]
    val_token_stats: TokenStats | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # absent in older files
    model: ModelShape
    global_step: int | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    eval_precision: str | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    provenance: Provenance | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    conditional: dict[str, Any] | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # docs/conditional.md
    kgram: Kgram | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    truth: Truth | None = field(default=None, metadata=OMITTED_WHEN_NONE)  # written (null too) beside kgram
    val_curve: list[CurvePoint] | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    still_learning: StillLearning | None = field(default=None, metadata=OMITTED_WHEN_NONE)
    throughput: Throughput | None = field(default=None, metadata=FLAT)

    def as_json(self) -> dict[str, Any]:
        """The object results.json holds: the fields in order, flat blocks spread, absent blocks left out; ``truth``
        is written whenever ``kgram`` is (null on bins of no known source)."""
        out = to_json(self)
        if self.kgram is not None and self.truth is None:
            items = list(out.items())
            at = list(out).index("kgram") + 1
            out = dict(items[:at] + [("truth", None)] + items[at:])
        return out

    def write(self, directory: str | os.PathLike) -> Path:
        """Write ``results.json`` atomically into ``directory``."""
        path = Path(directory) / RESULTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(self.as_json(), indent=2, default=_json_default) + "\n")
        return path

    def trainer_deviations(self) -> list[str] | None:
        """:meth:`TrainerRecord.deviations`, and an evaluation in another precision than training's
        (``eval_precision``, `audiobits validate`'s own); None when the file records no trainer options (written
        before they were recorded)."""
        if self.trainer is None:
            return None
        evaluated = self.eval_precision or self.trainer.precision
        other = [] if evaluated == self.trainer.precision else [
            f"eval_precision={evaluated} (trained in {self.trainer.precision}: precision changes the evaluation)"]
        return self.trainer.deviations() + other


def utterance_set_digest(split: SplitBins) -> str:
    """A short hash of a split's utterance ids in order: equal digests mean the same utterance set."""
    return hashlib.sha256("\n".join(map(str, split.ids)).encode()).hexdigest()[:16]


def scored_fraction(split: SplitBins, sums: ValidationSums) -> float:
    """Fraction of the split's scoreable tokens (all but the very first) that the pass scored."""
    return sums.tokens / max(split.num_tokens - 1, 1)


def scored_share(split: SplitBins, sums: ValidationSums) -> np.ndarray:
    """Per utterance, the share of its targets the pass scored (1 on a full pass; the split's first token is no
    target): a partly scored utterance contributes that share of its seconds and bytes."""
    targets = np.diff(split.offsets)
    targets[0] -= 1
    return sums.tokens_per_utterance / np.maximum(targets, 1)


def token_stats(split: SplitBins, vocab_size: int, eos_id: int) -> TokenStats:
    """Unigram statistics of a split (every token, EOS included, as the model's targets are)."""
    counts = np.bincount(np.asarray(split.tokens), minlength=vocab_size)
    content = np.delete(counts, eos_id)
    return TokenStats(tokens=int(counts.sum()), content_tokens=int(content.sum()), distinct=int((counts > 0).sum()),
                      distinct_content=int((content > 0).sum()), unigram_entropy=metrics.unigram_entropy(counts))


def rates(meta: BinMeta, val: SplitBins, sums: ValidationSums) -> dict:
    """The cheap per-validation metrics (logged during training): bits/token, rates, capacities and utilizations.

    ``seconds`` and ``text_bytes`` are those of the utterances the pass scored (all of them on a full pass), a
    partly scored one counting for its :func:`scored_share`.
    """
    scored = sums.tokens_per_utterance > 0
    if not scored.any():
        raise ValueError("the validation pass scored no token")
    nats, tokens = sums.nats, sums.tokens
    share = scored_share(val, sums)[scored]
    seconds = float((val.seconds[scored] * share).sum())
    text_bytes = float((val.text_bytes[scored] * share).sum())
    b = metrics.bits_per_token(nats, tokens)
    tps = metrics.tokens_per_second(tokens, seconds)
    bps = metrics.bits_per_second(nats, seconds)
    content_tps = metrics.content_tokens_per_second(tokens, int(scored.sum()), seconds)
    token_rate = metrics.content_token_rate(meta.codebooks, content_tps)
    nominal = metrics.nominal_bitrate(meta.codebooks, tps)
    flat = metrics.flat_capacity(meta.vocab_size - 1, token_rate)
    return {
        "val_tokens": tokens,
        "val_utterances": int(scored.sum()),
        "val_seconds": seconds,
        "val_text_bytes": text_bytes,
        "bits_per_token": b,
        "tokens_per_sec": tps,
        "content_tokens_per_sec": content_tps,
        "bits_per_sec": bps,
        "bits_per_byte": metrics.bits_per_byte(nats, text_bytes) if text_bytes else None,
        "seed_convention_bits_per_sec": metrics.nominal_rate_bits_per_second(sums.content_bits_per_token,
                                                                             token_rate),
        "nominal_bitrate": nominal,
        "flat_capacity": flat,
        "utilization_nominal": metrics.utilization(bps, nominal),
        "utilization_flat": metrics.utilization(bps, flat),
    }


def intervals(val: SplitBins, sums: ValidationSums, resamples: int = 10_000, seed: int = 0) -> dict:
    """Bootstrap 95 % intervals on bits/sec: over speakers when the split records them, and over utterances.
    ``bits_per_sec_ci95`` is the speaker one when there is one (``ci_kind`` says which)."""
    scored = sums.tokens_per_utterance > 0
    nats = sums.nats_per_utterance[scored]
    seconds = val.seconds[scored] * scored_share(val, sums)[scored]
    by_utterance = list(metrics.bootstrap_bits_per_second(nats, seconds, resamples=resamples, seed=seed))
    by_speaker = None
    if val.speakers is not None:
        by_speaker = list(metrics.bootstrap_bits_per_second(nats, seconds, resamples=resamples, seed=seed,
                                                            clusters=val.speakers[scored]))
    return {"bits_per_sec_ci95": by_speaker or by_utterance, "ci_kind": "speakers" if by_speaker else "utterances",
            "bits_per_sec_ci95_speakers": by_speaker, "bits_per_sec_ci95_utterances": by_utterance,
            "val_speakers": None if val.speakers is None else int(len(np.unique(val.speakers[scored])))}


def per_language(val: SplitBins, sums: ValidationSums, resamples: int = 10_000,
                 seed: int = 0) -> dict[str, LanguageScore]:
    """results.json ``languages``: the pass's rates per utterance language (:func:`score_languages`); empty when the
    corpus records no language for every val utterance."""
    if val.languages is None:
        return {}
    return score_languages(val.languages, sums.nats_per_utterance, sums.tokens_per_utterance,
                           val.seconds * scored_share(val, sums), val.speakers, resamples, seed)


def context_curve(val: SplitBins, sums: ValidationSums, tokens_per_sec: float, resamples: int = 10_000,
                  seed: int = 0) -> list[dict]:
    """:func:`metrics.bits_by_context` with each bucket's mean context also in seconds of audio and, when the sums
    hold each utterance's share of each bucket, a 95 % bootstrap interval on its bits/token
    (``bits_per_token_lo``/``_hi``) over the same units as ``bits_per_sec_ci95``: speakers when recorded, else
    utterances (`metrics.bootstrap_bits_per_token`)."""
    if sums.nats_per_offset is None:
        return []
    buckets = metrics.bits_by_context(sums.nats_per_offset, sums.tokens_per_offset)
    by_utterance = sums.nats_per_utterance_bucket is not None
    scored = sums.tokens_per_utterance > 0  # the units `intervals` resamples
    speakers = None if val.speakers is None else val.speakers[scored]
    for bucket in buckets:
        bucket["mean_context_seconds"] = bucket["mean_context_tokens"] / tokens_per_sec
        if by_utterance:
            k = int(bucket["context_tokens"][0]).bit_length() - 1  # the bucket [2^k, 2^(k+1) − 1]
            interval = metrics.bootstrap_bits_per_token(sums.nats_per_utterance_bucket[scored, k],
                                                        sums.tokens_per_utterance_bucket[scored, k], resamples,
                                                        seed=seed, clusters=speakers)
            bucket["bits_per_token_lo"], bucket["bits_per_token_hi"] = interval or (None, None)
    return buckets


def pass_rates(meta: BinMeta, val: SplitBins, sums: ValidationSums, resamples: int = 10_000,
               seed: int = 0) -> PassRates:
    """One pass's `PassRates`: its :func:`rates` and :func:`intervals`."""
    return PassRates(**rates(meta, val, sums), **intervals(val, sums, resamples, seed))


def compute_results(meta: BinMeta, val: SplitBins, sums: ValidationSums, model: ModelShape, train_tokens: int,
                    finished: bool, bootstrap_resamples: int = 10_000, seed: int = 0,
                    passes: dict[str, ValidationSums] | None = None, eval_stride: int | None = None,
                    trainer: TrainerRecord | None = None) -> Results:
    """All docs/metrics.md metrics for one run. ``sums`` is the non-overlapping pass; ``passes`` the final evaluation's
    other passes (``sliding`` at ``eval_stride``, ``utterance_reset``). The headline is the sliding pass when there
    is one, else the non-overlapping pass (``eval_stride`` = ``seq_len`` then says so). ``trainer``: the options the
    run trained with (`audiobits.training.trainer_options`), None when not known. What fit adds after the evaluation
    (provenance, baselines, curve, speed) the caller sets on the record."""
    passes = passes or {}
    headline_sums = passes.get("sliding", sums)
    headline = pass_rates(meta, val, headline_sums, bootstrap_resamples, seed)
    b = headline.bits_per_token
    n, v, d, layers, ctx = (model.non_embedding_params, model.vocab_size, model.n_embd, model.n_layer,
                            model.seq_len)
    inference_full = metrics.inference_flops_per_token_full(n, v, d, layers, ctx)
    phase_bits = [metrics.bits_per_token(float(x), int(t)) if t else None
                  for x, t in zip(headline_sums.nats_per_phase, headline_sums.tokens_per_phase)]
    reset = passes.get("utterance_reset")
    return Results(
        representation=meta.representation, corpus=meta.corpus, encoder=meta.encoder,
        weights=meta.encoder.get("weights", "n/a"), flattening=meta.flattening,
        codebooks=[Codebook(**vars(c)) for c in meta.codebooks], vocab_size=meta.vocab_size,
        tokens_per_frame=meta.tokens_per_frame, val_utterance_set=utterance_set_digest(val), finished=finished,
        trainer=trainer, val_scored_fraction=scored_fraction(val, headline_sums),
        eval_stride=int(eval_stride) if "sliding" in passes else int(model.seq_len),
        context_tokens=int(model.seq_len), context_seconds=model.seq_len / headline.tokens_per_sec,
        headline=headline,
        non_overlapping=pass_rates(meta, val, sums, bootstrap_resamples, seed),
        utterance_reset=None if reset is None else pass_rates(meta, val, reset, bootstrap_resamples, seed),
        languages=per_language(val, headline_sums, bootstrap_resamples, seed),
        bits_by_context=context_curve(val, sums, headline.tokens_per_sec, bootstrap_resamples, seed),
        storage_bits=meta.storage_bits,
        info_per_storage=metrics.info_per_storage(b, meta.storage_bits),
        train_tokens=int(train_tokens),
        train_flops_trunk=metrics.training_flops_trunk(n, train_tokens),
        train_flops_full=metrics.training_flops_full(n, v, d, layers, ctx, train_tokens),
        inference_flops_per_bit_trunk=metrics.inference_flops_per_bit(2.0 * n, b),
        inference_flops_per_bit_full=metrics.inference_flops_per_bit(inference_full, b),
        bits_per_position=phase_bits,
        val_token_stats=token_stats(val, meta.vocab_size, meta.eos_id),
        model=ModelShape(**vars(model)))


def write_val_utterances(val: SplitBins, sums: ValidationSums, directory: str | os.PathLike) -> Path:
    """``val_utterances.npz`` beside results.json: per utterance of the headline pass its id, nats, scored tokens,
    scored seconds and text bytes, speaker and language ("" for every utterance when the corpus records none), for
    bootstrap refits and per-utterance comparisons."""
    path = Path(directory) / UTTERANCES_FILE
    share = scored_share(val, sums)
    speakers, languages = (labels if labels is not None else np.full(len(val.ids), "")
                           for labels in (val.speakers, val.languages))
    write_atomic(path, lambda f: np.savez(f, ids=np.asarray(val.ids, dtype=str),
                                          nats=sums.nats_per_utterance.astype(np.float64),
                                          tokens=sums.tokens_per_utterance.astype(np.int64),
                                          seconds=val.seconds * share, text_bytes=val.text_bytes * share,
                                          speakers=np.asarray(speakers, dtype=str),
                                          languages=np.asarray(languages, dtype=str)))
    return path


def read_results(path: str | os.PathLike) -> Results:
    """Read a run's results; ``path`` is the file or the run directory holding it. A missing, damaged (truncated,
    overwritten), foreign or newer file, or one lacking a field, raises an `AudiobitsError` naming it, so a caller
    can skip that run and go on."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise MissingFileError(f"{path} not found: the run did not finish fit (results.json is written at the end "
                               "of `audiobits fit`). Finish or resume it with `--ckpt_path last`.")
    fix = ("It was cut off or overwritten after fit wrote it: rewrite it with `audiobits validate --ckpt_path <the "
           "run's checkpoint>`, or leave the run out.")
    data = read_json(path, fix=fix)
    if not isinstance(data, dict):
        raise ConfigValueError(f"{path}: holds a JSON {type(data).__name__}, not the object audiobits writes. {fix}")
    version = data.get("results_version")
    if isinstance(version, int) and version > RESULTS_VERSION:
        raise ConfigValueError(f"{path}: results_version {version} is newer than this audiobits reads (up to "
                               f"{RESULTS_VERSION}); upgrade audiobits (pip install -U audiobits) to read it.")
    if version != RESULTS_VERSION:
        raise ConfigValueError(f"{path}: results_version {version!r}, not the {RESULTS_VERSION} audiobits "
                               f"writes. {fix}")
    return from_json(Results, data, path, fix)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serializable: {type(value)}")
