"""The encoder of formats 3 and 4: stretches between refills computed side by side give the very bytes of lockstep
coding."""

import numpy as np
import pytest
import torch

from audiobits.compress.coding_model import MIN_ROWS
from audiobits.compress.range_coder import FORMATS, CachedPredictor, decode_lanes, encode_lanes, refill_steps
from audiobits.compress.segments import BLOCK_ROWS, block_rows, encode_segments, stretches
from audiobits.model import GPTConfig, TinyGPT

EOS, SEQ_LEN, KEEP = 64, 32, 24


@pytest.fixture(scope="module", params=[3, 4], ids=lambda v: f"v{v}")
def coding(request):
    """A format's steps and the format."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gpt = TinyGPT(GPTConfig(vocab_size=EOS + 1, seq_len=SEQ_LEN, n_layer=2, n_embd=32, n_head=4)).eval()
    yield FORMATS[request.param].steps(gpt), FORMATS[request.param]
    torch.set_num_threads(threads)


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 41, 42, 200])
def test_stretches_cover_every_step_once_and_start_where_the_cache_is_refilled(length):
    parts = stretches(3, length, SEQ_LEN, KEEP)
    steps = [t for s in parts for t in range(s.first, s.first + s.steps)]
    assert steps == list(range(length)) and all(s.lane == 3 for s in parts)
    assert [s.first for s in parts[1:]] == list(refill_steps(length, SEQ_LEN, KEEP))


@pytest.mark.parametrize("rows", [MIN_ROWS, 5, BLOCK_ROWS])
def test_the_payloads_are_byte_identical_to_lockstep_coding(coding, rows):
    coding, version = coding
    rng = np.random.default_rng(0)
    lanes = [np.append(rng.integers(0, EOS, n), EOS) for n in (150, 40, 3, 30, 31, 32, 0, 57)]
    lanes.insert(2, None)  # an unused lane
    lockstep, lockstep_nats = encode_lanes(CachedPredictor(coding, KEEP), lanes, EOS, coding=version)
    seen = []
    payloads, nats = encode_segments(coding, lanes, EOS, KEEP, rows, lambda done, total: seen.append((done, total)))
    assert payloads == lockstep and payloads[2] is None
    np.testing.assert_allclose(nats, lockstep_nats, rtol=1e-9)
    assert seen[-1] == (sum(len(u) for u in lanes if u is not None),) * 2
    counts = [0 if u is None else len(u) for u in lanes]
    decoded = decode_lanes(CachedPredictor(coding, KEEP), payloads, counts, EOS, coding=version)
    assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(decoded, lanes))


def test_block_rows_fit_the_memory_given():
    config = GPTConfig(vocab_size=16385, seq_len=1024, n_layer=6, n_embd=512, n_head=8)
    assert block_rows(config, 768, 2**40) == BLOCK_ROWS
    assert block_rows(config, 768, 0) == MIN_ROWS
    rows = block_rows(config, 768, 2**31)
    assert MIN_ROWS < rows < BLOCK_ROWS  # a 1024-token cache and 768-token refills take ~30 MB a row
