"""Range coding with TinyGPT's probabilities: exact integer quantization, lossless round trips, lane independence,
in every file format version (4 and 3: the lane coder over `CodingModel`'s steps, with and without its lean RMSNorm;
2: the lane coder over `TinyGPT.forward_cached`; 1: constriction, still read)."""

import numpy as np
import pytest
import torch

from audiobits.model import GPTConfig, TinyGPT
from audiobits.compress.range_coder import (FORMATS, CachedPredictor, decode_lanes, encode_lanes, refill_steps,
                                            token_nats)
from audiobits.compress.range_coder_v1 import EXP2_TABLE, STEPS_PER_BIT, WEIGHT_BITS, coding_weights

EOS = 64


@pytest.fixture(scope="module")
def gpt():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `audiobits compress` codes (and fast on a shared CPU)
    torch.manual_seed(0)
    yield TinyGPT(GPTConfig(vocab_size=EOS + 1, seq_len=32, n_layer=2, n_embd=32, n_head=4)).eval()
    torch.set_num_threads(threads)


@pytest.fixture
def predictor(gpt, coding):
    """The format's own model steps, the cache rebuilt from the last 24 of 32 tokens."""
    return CachedPredictor(coding.steps(gpt), keep=24)


def _utterances(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [np.append(rng.integers(0, EOS, n), EOS) for n in lengths]


def test_the_exp2_table_is_two_to_the_minus_k_over_steps():
    expected = [round(2.0 ** (WEIGHT_BITS - r / STEPS_PER_BIT)) for r in range(STEPS_PER_BIT)]
    assert EXP2_TABLE.tolist() == expected


def test_weights_are_integers_per_row_and_close_to_the_softmax():
    logits = np.random.default_rng(0).normal(0, 3, size=(5, 300)).astype(np.float32)
    weights = coding_weights(logits)
    assert np.array_equal(weights, np.round(weights)) and weights.max() == 2.0 ** WEIGHT_BITS
    assert np.array_equal(coding_weights(logits[2:3])[0], weights[2])  # a row does not depend on the others
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    q = weights / weights.sum(1, keepdims=True)
    kl_bits = (p * np.log2(p / q)).sum(1)
    assert kl_bits.max() < 1e-3  # rounding log2 p to 1/64 bit costs far under 1 % of any real rate


CODINGS = pytest.mark.parametrize("coding", list(FORMATS.values()), ids=lambda c: f"v{c.version}")


@CODINGS
def test_round_trip_is_bit_exact_and_as_long_as_the_cross_entropy(predictor, coding):
    lanes = _utterances([0, 150, 40, 3])  # 150 > seq_len: the cache is rebuilt along the way
    lanes.insert(2, None)  # an unused lane
    payloads, nats = encode_lanes(predictor, lanes, EOS, coding=coding)
    assert payloads[2] is None and nats[2] == 0
    decoded = decode_lanes(predictor, payloads, [0 if u is None else len(u) for u in lanes], EOS, coding=coding)
    for got, want in zip(decoded, lanes):
        assert (got is None and want is None) or np.array_equal(got, want)
    for payload, n in zip(payloads, nats):
        if payload is not None:  # sealed to bytes: a few bits above the information (the decoder supplies the
            # trailing zero bits of the last byte, so a payload may also fall a few bits below it)
            assert n / np.log(2) - 8 <= len(payload) * 8 <= n / np.log(2) * 1.01 + 16


class Recording:
    """A predictor that records, at each step, the token fed to each lane still in the batch."""

    def __init__(self, predictor: CachedPredictor) -> None:
        self.inner, self.rows_independent, self.fed = predictor, predictor.rows_independent, []

    def start(self, batch):
        self.inner.start(batch)
        self.lanes = list(range(batch))

    def keep_rows(self, rows):
        self.inner.keep_rows(rows)
        self.lanes = [self.lanes[i] for i in rows]

    def step(self, tokens):
        self.fed.append(dict(zip(self.lanes, np.asarray(tokens).tolist())))
        return self.inner.step(tokens)


@CODINGS
def test_the_decoder_feeds_each_row_what_the_encoder_fed_it(predictor, coding):
    """Step by step, each lane is fed EOS, then its ids, then EOS once it has ended, in every row of formats 1 and
    2 (their rows stay in the batch, an unused lane fed EOS); formats 3 and 4 step only the lanes still decoding. A
    lane with a corrupt payload changes nothing for the others."""
    lanes = _utterances([12, 0, 40, 3])
    lanes.insert(2, None)
    counts = [0 if u is None else len(u) for u in lanes]
    encoding, decoding = Recording(predictor), Recording(predictor)
    payloads, _ = encode_lanes(encoding, lanes, EOS, coding=coding)
    payloads[0] = bytes(len(payloads[0]))  # all zeros: lane 0 decodes wrong or fails
    decoded = decode_lanes(decoding, payloads, counts, EOS, coding=coding)
    assert decoded[0] is None or not np.array_equal(decoded[0], lanes[0])
    assert decoded[2] is None and all(np.array_equal(decoded[i], lanes[i]) for i in (1, 3, 4))
    assert len(decoding.fed) == len(encoding.fed) == max(counts)
    for t, (fed, want) in enumerate(zip(decoding.fed, encoding.fed)):
        if predictor.rows_independent:
            want = {lane: token for lane, token in want.items() if counts[lane] > t}
        assert {lane: token for lane, token in fed.items() if lane != 0} == {
            lane: token for lane, token in want.items() if lane != 0}, f"step {t}"


@CODINGS
def test_an_utterance_decodes_alone_in_its_lane_whatever_the_other_lanes_hold(predictor, coding):
    lanes = _utterances([20, 60, 33, 5], seed=1)
    payloads, _ = encode_lanes(predictor, lanes, EOS, coding=coding)
    alone = [None, payloads[1], None, None]
    decoded = decode_lanes(predictor, alone, [0, len(lanes[1]), 0, 0], EOS, coding=coding)
    assert np.array_equal(decoded[1], lanes[1]) and decoded[0] is None


@pytest.mark.parametrize("coding, floor_bits", [(FORMATS[1], 24), (FORMATS[2], 31), (FORMATS[4], 31)],
                         ids=["v1", "v2", "v4"])
def test_extremely_unlikely_ids_can_still_be_coded(coding, floor_bits):
    class Confident:
        rows_independent = False

        def start(self, batch):
            self.batch = batch

        def step(self, tokens):
            logits = np.full((self.batch, EOS + 1), -1e4, dtype=np.float32)
            logits[:, 0] = 0.0
            return logits
    lanes = [np.array([5, 0, 63, EOS])]
    payloads, nats = encode_lanes(Confident(), lanes, EOS, coding=coding)
    assert np.array_equal(decode_lanes(Confident(), payloads, [4], EOS, coding=coding)[0], lanes[0])
    # 5, 63 and EOS cost about floor_bits each: the minimum count of 2^24 (v1) or 1 of 2^30 + 65 (v2 to v4)
    assert 3 * (floor_bits - 1) - 8 <= len(payloads[0]) * 8 <= 3 * floor_bits + 32


@CODINGS
def test_an_encoder_that_peeks_at_the_next_token_cannot_be_decoded(predictor, coding):
    """The coder's own negative control: probabilities that depend on the token being coded do not decode."""
    class Peeking:
        def __init__(self, inner, upcoming):
            self.inner, self.upcoming = inner, upcoming

        def start(self, batch):
            self.inner.start(batch)
            self.t = 0

        def step(self, tokens):
            logits = self.inner.step(tokens)
            logits[0, self.upcoming[self.t]] += 5.0  # the future token looks likely
            self.t += 1
            return logits
    lanes = _utterances([60], seed=2)
    payloads, nats = encode_lanes(Peeking(predictor, lanes[0]), lanes, EOS, coding=coding)
    honest_nats = encode_lanes(predictor, lanes, EOS, coding=coding)[1]
    assert nats[0] < honest_nats[0] - 50  # the peeking model "beats" the honest one on paper ...
    decoded = decode_lanes(predictor, payloads, [len(lanes[0])], EOS, coding=coding)[0]
    assert decoded is None or not np.array_equal(decoded, lanes[0])  # ... but its file does not decode


def test_token_nats_is_the_softmax_cross_entropy():
    logits = np.random.default_rng(0).normal(size=(4, 10))
    tokens = np.array([0, 3, 9, 2])
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(tokens), reduction="none")
    np.testing.assert_allclose(token_nats(logits, tokens), expected.numpy(), rtol=1e-12)


def test_byte_sealing_decodes_and_costs_a_few_bits_where_a_word_cost_seventeen():
    """Random short messages under random distributions: the sealed payload always decodes, and costs ~3 bits
    above the information on average; constriction's own whole-word sealing costs ~17."""
    import constriction

    from audiobits.compress.range_coder_v1 import sealed

    rng = np.random.default_rng(0)
    family = constriction.stream.model.Categorical(perfect=False)
    ours, words = [], []
    for _ in range(400):
        probs = rng.dirichlet(np.full(16, 0.3), size=int(rng.integers(1, 60)))
        symbols = np.array([rng.choice(16, p=p) for p in probs], dtype=np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        for symbol, p in zip(symbols, probs):
            encoder.encode(np.array([symbol], dtype=np.int32), family, p[None])
        payload = sealed(encoder)
        decoder = constriction.stream.queue.RangeDecoder(
            np.frombuffer(payload + b"\0" * (-len(payload) % 4), dtype=">u4").astype(np.uint32))
        assert [int(decoder.decode(family, p[None])[0]) for p in probs] == symbols.tolist()
        information = -np.log2(probs[np.arange(len(symbols)), symbols]).sum()
        ours.append(8 * len(payload) - information)
        words.append(32 * len(encoder.get_compressed()) - information)
    assert np.mean(ours) < 6 and np.mean(words) > 12 and max(ours) < 12


def test_sealing_follows_constriction_when_its_held_back_words_carry():
    """A state built to need a carry (the interval straddles 2^64 with lower within 2^32 of it, about 2^-32 of
    utterances): constriction writes its held-back words already carried, and the sealed payload must agree."""
    import constriction

    from audiobits.compress.range_coder_v1 import sealed

    total, family = 1 << 24, constriction.stream.model.Categorical(perfect=False)

    def weights(cum, count):  # symbol 1 owns the counts [cum, cum + count) of 2^24 (constriction adds 1 to each)
        return np.array([[cum - 1, count - 1, total - 3 - (cum - 1) - (count - 1)]], dtype=np.float64)

    steps: list[tuple[int, int]] = []

    def encoder():
        e = constriction.stream.queue.RangeEncoder()
        for cum, count in steps:
            e.encode(np.array([1], dtype=np.int32), family, weights(cum, count))
        return e

    steps.append((1, 32))
    _, (lower, width) = encoder().pos()
    steps.append(((((lower >> 32) + 16 << 32) - lower) // (width >> 24) - 724, 1448))  # straddle a 2^32 multiple
    _, (lower, width) = encoder().pos()
    steps.append((((1 << 64) - lower) // (width >> 24) - 724, 1448))  # keep 2^64 inside, shrink the interval
    _, (lower, width) = encoder().pos()
    steps.append((-(-((1 << 64) - (1 << 31) - lower) // (width >> 24)), 256))  # lower within 2^32 of 2^64
    e = encoder()
    _, (lower, width) = e.pos()
    assert lower + (1 << 32) - 1 >= 1 << 64 and lower + width > 1 << 64  # the carry case, as built
    payload = sealed(e)
    decoder = constriction.stream.queue.RangeDecoder(
        np.frombuffer(payload + b"\0" * (-len(payload) % 4), dtype=">u4").astype(np.uint32))
    assert [int(decoder.decode(family, weights(cum, count))[0]) for cum, count in steps] == [1, 1, 1, 1]



@CODINGS
def test_the_predictor_sees_the_most_recent_tokens(predictor, coding, gpt):
    """After every step the cache holds the stream's last `length` tokens (rebuilt from the last `keep` when full,
    at the steps `refill_steps` names), so its logits equal a plain forward pass over them."""
    stream = np.random.default_rng(3).integers(0, EOS, (2, 80))
    predictor.start(2)
    lengths = []
    for t in range(stream.shape[1]):
        assert (t in refill_steps(stream.shape[1], 32, 24)) == (predictor.steps.length == 32)
        logits = predictor.step(stream[:, t])
        length = predictor.steps.length
        lengths.append(length)
        if t % 7 == 0 or length == predictor.keep:
            with torch.inference_mode():
                expected = gpt(torch.as_tensor(stream[:, t + 1 - length:t + 1]))[:, -1]
            np.testing.assert_allclose(logits, expected.numpy(), rtol=1e-4, atol=1e-5)
    assert max(lengths) == 32 and lengths.count(predictor.keep) == 7  # once growing, 6 rebuilds


def test_the_version_2_cache_is_allocated_once_per_batch_size(gpt):
    predictor = CachedPredictor(FORMATS[2].steps(gpt), keep=24)
    buffers = []
    for _ in range(2):
        predictor.start(2)
        for t in range(40):
            predictor.step(np.full(2, t % EOS))
        buffers.append([layer.k.data_ptr() for layer in predictor.steps.cache.layers]
                       + [predictor.window.ctypes.data])
    assert buffers[0] == buffers[1]
