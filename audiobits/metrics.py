"""Metric definitions (docs/metrics.md — a contract): pure functions shared by callbacks, report and tests.

Sums, not means, are the inputs: ``nats`` is the summed cross-entropy of every scored validation token,
``tokens`` their count, ``seconds`` the true audio duration and ``text_bytes`` the transcripts' UTF-8 bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

LN2 = math.log(2.0)


def bits_per_token(nats: float, tokens: int) -> float:
    """b = Σ cross-entropy (nats) / (tokens · ln 2)."""
    return nats / (tokens * LN2)


def tokens_per_second(tokens: int, seconds: float) -> float:
    """Tokens per second of true (unpadded) audio."""
    return tokens / seconds


def bits_per_second(nats: float, seconds: float) -> float:
    """Σ bits / seconds of audio."""
    return nats / LN2 / seconds


def file_bits_per_second(num_bytes: int, seconds: float) -> float:
    """A file's size in bits / seconds of audio it holds (compressed files and baselines)."""
    return 8.0 * num_bytes / seconds


def compression_overhead(coded_bits: float, cross_entropy_bits: float) -> float:
    """Relative excess of a real code over the cross-entropy of the same tokens: coded / cross-entropy − 1."""
    return coded_bits / cross_entropy_bits - 1.0


def bits_per_byte(nats: float, text_bytes: int) -> float:
    """Σ bits / UTF-8 bytes of the transcripts."""
    return nats / LN2 / text_bytes


def nominal_bitrate(codebooks: Sequence, tokens_per_sec: float | None = None) -> float:
    """Σ over codebook levels of log2(size) × frame_rate.

    ``codebooks`` are :class:`audiobits.bins.Codebook` or ``{size, frame_rate}`` dicts; a level with
    ``frame_rate=None`` (text BPE: no fixed rate) uses the measured ``tokens_per_sec``.
    """
    total = 0.0
    for level in codebooks:
        size, rate = (level["size"], level["frame_rate"]) if isinstance(level, dict) else (level.size,
                                                                                           level.frame_rate)
        if rate is None:
            if tokens_per_sec is None:
                raise ValueError("a codebook without a fixed frame_rate needs the measured tokens_per_sec")
            rate = tokens_per_sec
        total += math.log2(size) * rate
    return total


def content_tokens_per_second(targets: int, utterances: int, seconds: float) -> float:
    """Tokens/sec without end-of-utterance tokens: ``targets`` minus one EOS per utterance, plus the split's first
    token (content, never a target), over true seconds."""
    return tokens_per_second(targets - utterances + 1, seconds)


def content_token_rate(codebooks: Sequence, content_tokens_per_sec: float) -> float:
    """The stream's content frame-token rate: Σ frame rates of the flattened slots for a fixed-rate codec (100 for
    Mimi-8), the measured content tokens/sec for a variable-rate stream (text, phonemes)."""
    rates = [c["frame_rate"] if isinstance(c, dict) else c.frame_rate for c in codebooks]
    return content_tokens_per_sec if any(r is None for r in rates) else float(sum(rates))


def flat_capacity(content_vocab: int, token_rate: float) -> float:
    """log2(content vocab, without the EOS the tool adds) × content frame-token rate: what a uniform choice over the
    flat vocab could carry (Mimi-8: 14 × 100 = 1400 bits/sec)."""
    return math.log2(content_vocab) * token_rate


def nominal_rate_bits_per_second(content_bits_per_token: float, token_rate: float) -> float:
    """Bits/sec at the nominal token rate: content bits/token (EOS targets left out) × the nominal content token rate
    (the original study's convention, to lay a table beside it)."""
    return content_bits_per_token * token_rate


def entropy_bias(distinct: int, tokens: int) -> float:
    """Miller–Madow bias of the plug-in entropy in bits, (K − 1) / (2 N ln 2): how far the empirical unigram
    entropy of N tokens over K distinct ids falls below the true one."""
    return (distinct - 1) / (2.0 * tokens * LN2)


def utilization(bits_per_sec: float, capacity_bits_per_sec: float) -> float:
    """Fraction of a channel's capacity (nominal bitrate or flat capacity) that the model's bits/sec fill."""
    return bits_per_sec / capacity_bits_per_sec


def info_per_storage(bits_per_tok: float, storage_bits: int) -> float:
    """b ÷ bits used to store one token (16 or 32)."""
    return bits_per_tok / storage_bits


def training_flops_trunk(non_embedding_params: int, tokens: int) -> float:
    """6·N·T, N = non-embedding parameters (the seed's convention)."""
    return 6.0 * non_embedding_params * tokens


def training_flops_full(non_embedding_params: int, vocab_size: int, d_model: int, n_layer: int, context: int,
                        tokens: int) -> float:
    """(6·N + 6·V·d + 12·L·d·ctx)·T: trunk, the (tied) output projection and attention scores/values."""
    return (6.0 * non_embedding_params + 6.0 * vocab_size * d_model + 12.0 * n_layer * d_model * context) * tokens


def inference_flops_per_token_full(non_embedding_params: int, vocab_size: int, d_model: int, n_layer: int,
                                   context: int) -> float:
    """Forward pass only: a third of the full training count, 2·N + 2·V·d + 4·L·d·ctx."""
    return 2.0 * non_embedding_params + 2.0 * vocab_size * d_model + 4.0 * n_layer * d_model * context


def inference_flops_per_bit(flops_per_token: float, bits_per_tok: float) -> float:
    """Forward FLOPs per token ÷ bits per token. Trunk variant: pass 2·N."""
    return flops_per_token / bits_per_tok


def bootstrap_bits_per_second(nats_per_utterance: np.ndarray, seconds_per_utterance: np.ndarray,
                              resamples: int = 10_000, confidence: float = 0.95, seed: int = 0,
                              clusters: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap of Σ bits / Σ seconds: a ``confidence`` interval over validation utterances, or over
    ``clusters`` (e.g. each utterance's speaker) when given — whole clusters are resampled, so utterances of one
    speaker, which are not independent, widen the interval as they should."""
    estimates = _bootstrap([nats_per_utterance, seconds_per_utterance], lambda n, s: n / LN2 / s, resamples, seed,
                           clusters)
    return _percentiles(estimates, confidence)


def bootstrap_bits_per_second_difference(nats_a: np.ndarray, seconds_a: np.ndarray, nats_b: np.ndarray,
                                         seconds_b: np.ndarray, resamples: int = 10_000, confidence: float = 0.95,
                                         seed: int = 0, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """Paired percentile bootstrap of bits/sec(a) − bits/sec(b) over the same validation utterances (row i of every
    array is one utterance): each resample draws the same utterances (or ``clusters``) for both, so what the two
    streams share (hard utterances, a fast speaker) cancels and the interval is that of the difference itself."""
    estimates = _bootstrap([nats_a, seconds_a, nats_b, seconds_b],
                           lambda na, sa, nb, sb: na / LN2 / sa - nb / LN2 / sb, resamples, seed, clusters)
    return _percentiles(estimates, confidence)


def bootstrap_bits_per_token(nats_per_utterance: np.ndarray, tokens_per_utterance: np.ndarray,
                             resamples: int = 10_000, confidence: float = 0.95, seed: int = 0,
                             clusters: np.ndarray | None = None) -> tuple[float, float] | None:
    """Percentile bootstrap of Σ bits / Σ tokens over utterances (or whole ``clusters``), for a subset of the targets
    that some utterances lack (e.g. one context bucket): draws holding none of them are left out, so the interval
    conditions on the subset being scored; ``None`` when fewer than two units hold any."""
    tokens = np.asarray(tokens_per_utterance, dtype=np.float64)
    units = tokens if clusters is None else np.bincount(np.unique(np.asarray(clusters), return_inverse=True)[1], tokens)
    if np.count_nonzero(units) < 2:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        estimates = _bootstrap([nats_per_utterance, tokens], lambda n, t: n / LN2 / t, resamples, seed, clusters)
    return _percentiles(estimates[np.isfinite(estimates)], confidence)


def _bootstrap(columns: list[np.ndarray], statistic: Callable[..., np.ndarray], resamples: int, seed: int,
               clusters: np.ndarray | None) -> np.ndarray:
    """``statistic`` of the column sums over ``resamples`` draws (with replacement) of rows, or of whole clusters."""
    columns = [np.asarray(c, dtype=np.float64) for c in columns]
    if any(c.shape != columns[0].shape for c in columns) or columns[0].ndim != 1 or columns[0].size == 0:
        raise ValueError("need equal-length, non-empty 1-D arrays of per-utterance nats and seconds")
    if clusters is not None:
        if len(clusters) != columns[0].size:
            raise ValueError(f"need one cluster label per utterance, got {len(clusters)} for {columns[0].size}")
        _, member = np.unique(np.asarray(clusters), return_inverse=True)
        columns = [np.bincount(member, c) for c in columns]
    units = columns[0].size
    rng = np.random.default_rng(seed)
    estimates = np.empty(resamples)
    # Blocks of resamples bound memory (~64 MB of indices) however many units; the draws equal one big call.
    block = max(1, (1 << 23) // units)
    for start in range(0, resamples, block):
        picks = rng.integers(0, units, size=(min(block, resamples - start), units))
        estimates[start:start + len(picks)] = statistic(*(c[picks].sum(axis=1) for c in columns))
    return estimates


def _percentiles(estimates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of bootstrap estimates."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def context_bucket_count(seq_len: int) -> int:
    """How many `bits_by_context` buckets a window of ``seq_len`` targets has: ⌊log2 seq_len⌋ + 1 (0 for none)."""
    return int(seq_len).bit_length()


def bits_by_context(nats_per_offset: np.ndarray, tokens_per_offset: np.ndarray) -> list[dict]:
    """Bits/token against in-window context length, in log-spaced buckets of context tokens [1], [2, 3], [4, 7],
    ...: offset ``j`` of a window is a target with ``j + 1`` tokens of context. Empty buckets are left out."""
    nats = np.asarray(nats_per_offset, dtype=np.float64)
    tokens = np.asarray(tokens_per_offset, dtype=np.int64)
    context = np.arange(1, len(nats) + 1)
    buckets = []
    low = 1
    while low <= len(nats):
        high = min(2 * low - 1, len(nats))
        sel = slice(low - 1, high)
        count = int(tokens[sel].sum())
        if count:
            buckets.append({"context_tokens": [int(low), int(high)],
                            "mean_context_tokens": float((context[sel] * tokens[sel]).sum() / count),
                            "bits_per_token": bits_per_token(float(nats[sel].sum()), count), "tokens": count})
        low *= 2
    return buckets


def unigram_entropy(counts: np.ndarray) -> float:
    """Entropy in bits of the empirical token distribution given by ``counts`` (zeros ignored)."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def markov_entropy_rate(transition: np.ndarray) -> float:
    """Exact entropy rate (bits/symbol) of a stationary first-order Markov chain: Σ_i π_i H(P[i, :])."""
    transition = np.asarray(transition, dtype=np.float64)
    eigenvalues, eigenvectors = np.linalg.eig(transition.T)
    stationary = np.real(eigenvectors[:, np.argmin(np.abs(eigenvalues - 1.0))])
    stationary = stationary / stationary.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        row_entropy = -np.where(transition > 0, transition * np.log2(transition), 0.0).sum(axis=1)
    return float(stationary @ row_entropy)


def rate_floor_bits_per_second(floor_bits_per_token: float, tokens_per_sec: float) -> float:
    """The extrapolated floor of a stream in bits/sec: the scaling law's E (bits/token) × the stream's tokens/sec."""
    return floor_bits_per_token * tokens_per_sec


def calibration_slack(model_bits_per_token: float, true_bits_per_token: float) -> float:
    """A recipe's slack on a source of known entropy: model bits/token − the true source's bits/token (same split)."""
    return model_bits_per_token - true_bits_per_token


def model_flops_utilization(flops_per_token: float, tokens_per_sec: float, peak_flops_per_sec: float) -> float:
    """MFU: the model FLOPs a training run performs per second (per-token count × throughput) ÷ the device's peak."""
    return flops_per_token * tokens_per_sec / peak_flops_per_sec


def bootstrap_mean(values: np.ndarray, resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                   weights: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap over utterances: a ``confidence`` interval on the mean of per-utterance ``values``
    (decoded-quality scores), in memory-bounded blocks like :func:`bootstrap_bits_per_second`. With ``weights`` the
    mean is Σ w·v / Σ w (per-utterance WERs weighted by reference words: the corpus WER, Σ errors / Σ words)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("need a non-empty 1-D array of per-utterance values")
    weights = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != values.shape or not np.isfinite(weights).all() or (weights <= 0).any():
        raise ValueError("weights must be finite and positive, one per value (drop zero-weight values first)")
    rng = np.random.default_rng(seed)
    estimates = np.empty(resamples)
    block = max(1, (1 << 23) // values.size)
    for start in range(0, resamples, block):
        picks = rng.integers(0, values.size, size=(min(block, resamples - start), values.size))
        w = weights[picks]
        estimates[start:start + len(picks)] = (w * values[picks]).sum(axis=1) / w.sum(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """a·b / (|a| |b|): the speaker similarity of two speaker embeddings (1 = the same direction)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions + deletions + insertions) between two normalized transcripts, by
    torchmetrics' WER; the word error rate is this over the reference's word count."""
    from torchmetrics.text import WordErrorRate

    wer = WordErrorRate()
    wer.update([hypothesis], [reference])
    return int(wer.errors)


def character_errors(reference: str, hypothesis: str) -> int:
    """Character-level edit distance between two normalized transcripts, whitespace left out (torchmetrics' CER):
    the error count of languages written without spaces between words; the CER is this over the reference's
    characters (without whitespace)."""
    from torchmetrics.text import CharErrorRate

    cer = CharErrorRate()
    cer.update(["".join(hypothesis.split())], ["".join(reference.split())])
    return int(cer.errors)


def log_mel_distance(reference_mel: np.ndarray, decoded_mel: np.ndarray, floor: float = 1e-5) -> float:
    """Mean |log10(max(mel_ref, floor)) − log10(max(mel_dec, floor))| over bands and frames (equal shapes; 0 when the
    decoded mel spectrogram equals the reference; 1 is a tenfold power error on average)."""
    ref, dec = np.asarray(reference_mel, dtype=np.float64), np.asarray(decoded_mel, dtype=np.float64)
    if ref.shape != dec.shape:
        raise ValueError(f"mel spectrograms of different shapes {ref.shape} and {dec.shape}")
    return float(np.mean(np.abs(np.log10(np.maximum(ref, floor)) - np.log10(np.maximum(dec, floor)))))


def pareto_front(bits_per_sec: Sequence[float], quality: Sequence[float | None],
                 higher_is_better: bool = True) -> list[bool]:
    """Which points no other point beats: none has fewer-or-equal bits/sec and better-or-equal quality with one
    of them strictly (missing quality: never on the front)."""
    points = [(b, q if higher_is_better else -q) for b, q in zip(bits_per_sec, quality) if q is not None]
    front = []
    for b, q in zip(bits_per_sec, quality):
        if q is None or (isinstance(q, float) and math.isnan(q)):
            front.append(False)
            continue
        q = q if higher_is_better else -q
        front.append(not any(ob <= b and oq >= q and (ob < b or oq > q) for ob, oq in points))
    return front
