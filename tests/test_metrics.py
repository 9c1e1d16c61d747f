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
