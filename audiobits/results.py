"""The results record of one run (``results.json``): every docs/metrics.md metric from validation sums
(each key in docs/results.md).

Written by :class:`audiobits.callbacks.ResultsWriter` at the end of fit and read back by ``audiobits report``; one
function builds it so the file, the report and the tests agree on every definition.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobits import metrics
from audiobits.bins import BinMeta, SplitBins
from audiobits.errors import ConfigValueError, MissingFileError
from audiobits.files import read_json, write_atomic, write_text_atomic
from audiobits.analysis.languages import languages_block, score_languages
from audiobits.training.trainer_options import TrainerRecord

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


def token_stats(split: SplitBins, vocab_size: int, eos_id: int) -> dict:
    """Unigram statistics of a split (every token, EOS included, as the model's targets are)."""
    counts = np.bincount(np.asarray(split.tokens), minlength=vocab_size)
    content = np.delete(counts, eos_id)
    return {"tokens": int(counts.sum()), "content_tokens": int(content.sum()),
            "distinct": int((counts > 0).sum()), "distinct_content": int((content > 0).sum()),
            "unigram_entropy": metrics.unigram_entropy(counts)}


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


def per_language(val: SplitBins, sums: ValidationSums, resamples: int = 10_000, seed: int = 0) -> dict[str, dict]:
    """results.json ``languages``: the pass's rates per utterance language (:mod:`audiobits.analysis.languages`); empty
    when the corpus records no language for every val utterance."""
    if val.languages is None:
        return {}
    return languages_block(score_languages(val.languages, sums.nats_per_utterance, sums.tokens_per_utterance,
                                           val.seconds * scored_share(val, sums), val.speakers, resamples, seed))


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


def compute_results(meta: BinMeta, val: SplitBins, sums: ValidationSums, model: ModelShape, train_tokens: int,
                    finished: bool, bootstrap_resamples: int = 10_000, seed: int = 0,
                    passes: dict[str, ValidationSums] | None = None, eval_stride: int | None = None,
                    trainer: TrainerRecord | None = None) -> dict:
    """All docs/metrics.md metrics for one run. ``sums`` is the non-overlapping pass; ``passes`` the final evaluation's
    other passes (``sliding`` at ``eval_stride``, ``utterance_reset``). The headline (top-level keys) is the sliding
    pass when there is one, else the non-overlapping pass (``eval_stride`` = ``seq_len`` then says so). ``trainer``:
    the options the run trained with (`audiobits.training.trainer_options`), ``null`` when not known."""
    passes = passes or {}
    headline = passes.get("sliding", sums)
    rate = rates(meta, val, headline)
    b = rate["bits_per_token"]
    n, v, d, layers, ctx = (model.non_embedding_params, model.vocab_size, model.n_embd, model.n_layer,
                            model.seq_len)
    inference_full = metrics.inference_flops_per_token_full(n, v, d, layers, ctx)
    phase_bits = [metrics.bits_per_token(float(x), int(t)) if t else None
                  for x, t in zip(headline.nats_per_phase, headline.tokens_per_phase)]
    blocks = {"non_overlapping": {**rates(meta, val, sums), **intervals(val, sums, bootstrap_resamples, seed)}}
    if "utterance_reset" in passes:
        reset = passes["utterance_reset"]
        blocks["utterance_reset"] = {**rates(meta, val, reset), **intervals(val, reset, bootstrap_resamples, seed)}
    return {
        "results_version": RESULTS_VERSION,
        "representation": meta.representation,
        "corpus": meta.corpus,
        "encoder": meta.encoder,
        "weights": meta.encoder.get("weights", "n/a"),
        "flattening": meta.flattening,
        "codebooks": [vars(c) for c in meta.codebooks],
        "vocab_size": meta.vocab_size,
        "tokens_per_frame": meta.tokens_per_frame,
        "val_utterance_set": utterance_set_digest(val),
        "finished": finished,
        "trainer": None if trainer is None else trainer.as_dict(),
        "val_scored_fraction": scored_fraction(val, headline),
        "eval_stride": int(eval_stride) if "sliding" in passes else int(model.seq_len),
        "context_tokens": int(model.seq_len),
        "context_seconds": model.seq_len / rate["tokens_per_sec"],
        **rate,
        **intervals(val, headline, bootstrap_resamples, seed),
        **blocks,
        "languages": per_language(val, headline, bootstrap_resamples, seed),
        "bits_by_context": context_curve(val, sums, rate["tokens_per_sec"], bootstrap_resamples, seed),
        "storage_bits": meta.storage_bits,
        "info_per_storage": metrics.info_per_storage(b, meta.storage_bits),
        "train_tokens": int(train_tokens),
        "train_flops_trunk": metrics.training_flops_trunk(n, train_tokens),
        "train_flops_full": metrics.training_flops_full(n, v, d, layers, ctx, train_tokens),
        "inference_flops_per_bit_trunk": metrics.inference_flops_per_bit(2.0 * n, b),
        "inference_flops_per_bit_full": metrics.inference_flops_per_bit(inference_full, b),
        "bits_per_position": phase_bits,
        "val_token_stats": token_stats(val, meta.vocab_size, meta.eos_id),
        "model": vars(model).copy(),
    }


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


def write_results(results: dict, directory: str | os.PathLike) -> Path:
    """Write ``results.json`` atomically into ``directory``."""
    path = Path(directory) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(results, indent=2, default=_json_default) + "\n")
    return path


def read_results(path: str | os.PathLike) -> dict:
    """Read a run's results; ``path`` is the file or the run directory holding it. A missing, damaged (truncated,
    overwritten) or foreign file raises an `AudiobitsError` naming it, so a caller can skip that run and go on."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise MissingFileError(f"{path} not found: the run did not finish fit (results.json is written at the end "
                               "of `audiobits fit`). Finish or resume it with `--ckpt_path last`.")
    results = read_json(path, fix="It was cut off or overwritten after fit wrote it: rewrite it with `audiobits "
                                  "validate --ckpt_path <the run's checkpoint>`, or leave the run out.")
    if not isinstance(results, dict):
        raise ConfigValueError(f"{path}: holds a JSON {type(results).__name__}, not the object audiobits writes; "
                               "rewrite it with `audiobits validate`, or leave the run out.")
    return results


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(f"not JSON serializable: {type(value)}")
