"""Every metric against a value computed by hand from docs/metrics.md's definition."""

import math

import numpy as np
import pytest

from audiobits import metrics
from audiobits.bins import Codebook


def test_bits_per_token_and_rates():
    nats = 1000 * math.log(2) * 3.0  # 1000 tokens at exactly 3 bits each
    assert metrics.bits_per_token(nats, 1000) == pytest.approx(3.0)
    assert metrics.tokens_per_second(1000, 10.0) == 100.0
    assert metrics.bits_per_second(nats, 10.0) == pytest.approx(300.0)
    assert metrics.bits_per_byte(nats, 600) == pytest.approx(5.0)


@pytest.mark.parametrize("codebooks, expected", [
    ([Codebook(2048, 12.5)] * 8, 1100.0),                                     # Mimi, 8 codebooks
    ([Codebook(2048, 12.5)], 137.5),                                          # Mimi semantic
    ([Codebook(65536, 50.0)], 800.0),                                         # NeuCodec
    ([Codebook(4096, 24000 / 2048), Codebook(4096, 2 * 24000 / 2048), Codebook(4096, 4 * 24000 / 2048)],
     12 * 7 * 24000 / 2048),                                                  # SNAC 24 kHz ≈ 984
])
def test_nominal_bitrate_of_the_seed_codecs(codebooks, expected):
    assert metrics.nominal_bitrate(codebooks) == pytest.approx(expected)


def test_snac_nominal_is_984():
    snac = [{"size": 4096, "frame_rate": r} for r in (24000 / 2048, 24000 / 1024, 24000 / 512)]
    assert round(metrics.nominal_bitrate(snac)) == 984


def test_text_nominal_uses_measured_rate_and_needs_it():
    assert metrics.nominal_bitrate([Codebook(50257, None)], 4.0) == pytest.approx(math.log2(50257) * 4.0)
    with pytest.raises(ValueError, match="tokens_per_sec"):
        metrics.nominal_bitrate([Codebook(50257, None)])


def test_capacity_utilization_storage():
    assert metrics.flat_capacity(16384, 100.0) == pytest.approx(1400.0)  # the seed's Mimi-8 capacity
    assert metrics.utilization(350.0, 1400.0) == 0.25
    assert metrics.info_per_storage(4.0, 16) == 0.25


def test_flops():
    n, v, d, layers, ctx, t = 18_881_024, 16385, 512, 6, 1024, 10**9
    assert metrics.training_flops_trunk(n, t) == 6 * n * t
    assert metrics.training_flops_full(n, v, d, layers, ctx, t) == (6 * n + 6 * v * d + 12 * layers * d * ctx) * t
    per_token = metrics.inference_flops_per_token_full(n, v, d, layers, ctx)
    assert per_token * 3 == pytest.approx((6 * n + 6 * v * d + 12 * layers * d * ctx))
    assert metrics.inference_flops_per_bit(2 * n, 4.0) == n / 2


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_data():
    rng = np.random.default_rng(0)
    seconds = rng.uniform(2, 10, 400)
    nats = seconds * 100 * math.log(2) * rng.normal(1.0, 0.1, 400)  # ≈ 100 bits/sec with noise
    point = nats.sum() / math.log(2) / seconds.sum()
    low, high = metrics.bootstrap_bits_per_second(nats, seconds, resamples=500, seed=1)
    assert low < point < high and high - low < 5
    small_low, small_high = metrics.bootstrap_bits_per_second(nats[:25], seconds[:25], resamples=500, seed=1)
    assert small_high - small_low > high - low
    # identical utterances: no uncertainty
    assert metrics.bootstrap_bits_per_second(np.ones(10), np.ones(10)) == pytest.approx((1 / math.log(2),) * 2)


def test_bootstrap_in_blocks_draws_the_same_resamples_as_one_call():
    rng = np.random.default_rng(3)
    n = 20_000  # > 2**23 / 1000: several blocks of resamples
    nats, seconds = rng.uniform(1, 3, n), rng.uniform(1, 2, n)
    picks = np.random.default_rng(7).integers(0, n, size=(1000, n))
    direct = nats[picks].sum(axis=1) / math.log(2) / seconds[picks].sum(axis=1)
    expected = np.percentile(direct, [2.5, 97.5])
    assert metrics.bootstrap_bits_per_second(nats, seconds, resamples=1000, seed=7) == pytest.approx(tuple(expected))


def test_unigram_entropy():
    assert metrics.unigram_entropy(np.array([5, 5, 5, 5, 0])) == pytest.approx(2.0)
    assert metrics.unigram_entropy(np.array([7])) == 0.0


def test_markov_entropy_rate():
    # Two-state chain: stationary π = (2/3, 1/3); H = 2/3·H(0.25) + 1/3·H(0.5)
    p = np.array([[0.75, 0.25], [0.5, 0.5]])
    h = lambda q: -(q * math.log2(q) + (1 - q) * math.log2(1 - q))  # noqa: E731
    assert metrics.markov_entropy_rate(p) == pytest.approx(2 / 3 * h(0.25) + 1 / 3 * h(0.5))
    assert metrics.markov_entropy_rate(np.full((8, 8), 1 / 8)) == pytest.approx(3.0)


def test_file_bits_per_second_and_compression_overhead():
    assert metrics.file_bits_per_second(1000, 4.0) == 2000.0  # 8000 bits over 4 s
    assert metrics.compression_overhead(1010.0, 1000.0) == pytest.approx(0.01)
    assert metrics.compression_overhead(990.0, 1000.0) == pytest.approx(-0.01)  # below the CE: only with luck


def test_rate_floor_and_calibration_slack():
    assert metrics.rate_floor_bits_per_second(2.5, 12.5) == 31.25  # E bits/token × tokens/sec
    assert metrics.calibration_slack(3.1, 2.9) == pytest.approx(0.2)  # model − true, positive when above the truth


def test_model_flops_utilization_of_the_default_model_at_vocab_16385():
    per_token = metrics.training_flops_full(18_881_024, 16385, 512, 6, 1024, tokens=1)
    assert per_token == 6 * 18_881_024 + 6 * 16385 * 512 + 12 * 6 * 512 * 1024  # 201.3 MFLOP per token
    # 2 M tokens/s of it on a 989 TFLOP/s card: 402.7 TFLOP/s, 40.7 % of the peak.
    assert metrics.model_flops_utilization(per_token, 2e6, 989e12) == pytest.approx(0.40722, abs=1e-5)


def test_pareto_front():
    from audiobits.metrics import pareto_front

    # (bits/s, STOI): b is beaten by a (fewer bits, better); d ties c on bits with worse STOI; e has no score
    assert pareto_front([10, 20, 30, 30, 5], [0.8, 0.7, 0.9, 0.85, None]) == [True, False, True, False, False]
    assert pareto_front([10, 20], [0.5, 1.0], higher_is_better=False) == [True, False]  # a distance: lower wins
    assert pareto_front([10, 20], [1.0, 0.5], higher_is_better=False) == [True, True]  # a trade-off: both
    assert pareto_front([10, 10], [0.5, 0.5]) == [True, True]  # equal points do not beat each other


def test_cluster_bootstrap_is_wider_when_utterances_of_a_speaker_agree():
    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(10), 30)
    rate = rng.normal(100.0, 20.0, size=10)[speakers] + rng.normal(0, 2.0, size=300)  # speaker effect dominates
    seconds = np.full(300, 5.0)
    nats = rate * seconds * math.log(2)
    iid = metrics.bootstrap_bits_per_second(nats, seconds, resamples=10_000)
    clustered = metrics.bootstrap_bits_per_second(nats, seconds, resamples=10_000, clusters=speakers)
    assert clustered[1] - clustered[0] > 3 * (iid[1] - iid[0])
    assert clustered[0] < nats.sum() / math.log(2) / seconds.sum() < clustered[1]


def test_cluster_bootstrap_equals_the_iid_one_on_independent_utterances():
    rng = np.random.default_rng(1)
    speakers = np.repeat(np.arange(200), 5)
    seconds = rng.uniform(2.0, 8.0, size=1000)
    nats = rng.normal(100.0, 20.0, size=1000) * seconds * math.log(2)  # no speaker effect
    iid = metrics.bootstrap_bits_per_second(nats, seconds, resamples=10_000)
    clustered = metrics.bootstrap_bits_per_second(nats, seconds, resamples=10_000, clusters=speakers)
    width_iid, width_clustered = iid[1] - iid[0], clustered[1] - clustered[0]
    assert width_clustered == pytest.approx(width_iid, rel=0.15)


def test_bootstrap_memory_stays_bounded_with_many_utterances():
    """10 000 resamples of 100 000 utterances run in blocks: the peak extra memory stays near the 64 MB block."""
    import tracemalloc
    nats = np.ones(100_000)
    tracemalloc.start()
    metrics.bootstrap_bits_per_second(nats, nats, resamples=10_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200e6


def test_bits_by_context_buckets_are_log_spaced():
    buckets = metrics.bits_by_context(np.full(10, math.log(2)), np.ones(10, dtype=np.int64))
    assert [b["context_tokens"] for b in buckets] == [[1, 1], [2, 3], [4, 7], [8, 10]]
    assert [b["tokens"] for b in buckets] == [1, 2, 4, 3] and all(b["bits_per_token"] == 1.0 for b in buckets)
    assert buckets[2]["mean_context_tokens"] == 5.5


def test_flat_capacity_and_content_rates():
    assert metrics.content_token_rate([Codebook(2048, 12.5)] * 8, 99.0) == 100.0
    assert metrics.content_token_rate([Codebook(50257, None)], 3.7) == 3.7
    assert metrics.content_tokens_per_second(101, 2, 1.0) == 100.0
    assert metrics.nominal_rate_bits_per_second(2.0, 12.5) == 25.0
    assert metrics.entropy_bias(3, 1000) == pytest.approx(2 / (2000 * math.log(2)))


def test_copy_source_stream_and_oracle():
    from audiobits.demo.synthetic import CopySource

    source = CopySource(vocab=4, distance=3, copy=1.0, utterance_len=5)
    stream = source.stream(4, np.random.default_rng(0))
    assert (stream[5::6] == 4).all() and len(stream) == 24
    symbols = np.flatnonzero(stream != 4)
    copied = [t for t in symbols if t >= 3 and stream[t - 3] != 4]
    assert all(stream[t] == stream[t - 3] for t in copied)  # copy = 1: every copyable symbol is a copy
    fresh = len([t for t in symbols if t >= 1]) - len(copied)
    assert source.oracle_bits(stream) == pytest.approx(fresh * 2.0 / 23)  # 2 bits per uncopied symbol


def test_bits_per_token_interval_of_a_subset_of_targets():
    # every utterance at exactly 3 bits/token: every resample gives 3, whatever it draws
    tokens = np.array([5, 0, 7, 2, 0, 9])
    assert metrics.bootstrap_bits_per_token(tokens * 3 * math.log(2), tokens, resamples=200) == pytest.approx((3, 3))
    # half the utterances at 1 bit/token, half at 5: the interval holds the pooled 3 and is wide, over utterances;
    # over two speakers that each hold one kind it spans almost [1, 5] (a draw of one speaker twice)
    tokens = np.full(40, 10)
    bits = np.repeat([1.0, 5.0], 20)
    low, high = metrics.bootstrap_bits_per_token(bits * tokens * math.log(2), tokens, resamples=2000)
    assert 2.0 < low < 3.0 < high < 4.0
    low, high = metrics.bootstrap_bits_per_token(bits * tokens * math.log(2), tokens, resamples=2000,
                                                 clusters=np.repeat(["a", "b"], 20))
    assert low == pytest.approx(1.0) and high == pytest.approx(5.0)
    # targets in one utterance (or speaker) only: no interval; draws without any are left out, not counted as 0
    assert metrics.bootstrap_bits_per_token(np.array([1.0, 0.0, 0.0]), np.array([3, 0, 0])) is None
    low, high = metrics.bootstrap_bits_per_token(np.array([2.0, 2.0, 0.0]) * math.log(2), np.array([1, 1, 0]),
                                                 resamples=500)
    assert low == pytest.approx(2.0) == high


def test_the_bits_per_token_interval_covers_a_known_rate_about_95_percent_of_the_time():
    # utterances of random length whose targets cost 1 or 5 bits with probability 1/2 (true rate 3 bits/token);
    # each utterance also has its own offset (correlated targets), mean 0, so the true pooled rate stays 3
    # (measured: 0.94 with 60 utterances; 0.90 with 30 — a percentile bootstrap is a little narrow on few units)
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(300):
        tokens = rng.integers(1, 40, size=60)
        bits = np.array([rng.choice([1.0, 5.0], size=n).sum() for n in tokens]) + tokens * rng.normal(0, 0.5, 60)
        low, high = metrics.bootstrap_bits_per_token(bits * math.log(2), tokens, resamples=400, seed=trial)
        covered += low <= 3.0 <= high
    assert 0.90 <= covered / 300 <= 0.98
