"""The model steps of formats 3 and 4: the model's own logits (to float32 rounding), and a row's bits independent of
the batch — the property that lets `compress` compute stretches side by side while `decompress` steps utterances in
lanes."""

import numpy as np
import pytest
import torch

from audiobits.compress.coding_model import MIN_ROWS, CodingModel
from audiobits.model import GPTConfig, TinyGPT

VOCAB = 97


@pytest.fixture(scope="module", params=[1, 2], ids=["1 layer", "2 layers"])
def gpt(request):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `audiobits compress` codes
    torch.manual_seed(request.param)
    model = TinyGPT(GPTConfig(vocab_size=VOCAB, seq_len=24, n_layer=request.param, n_embd=32, n_head=4)).eval()
    with torch.no_grad():  # norms that are not all ones: folding them into the products must keep the logits
        for norm in [model.norm] + [n for block in model.blocks for n in (block.attn_norm, block.mlp_norm)]:
            norm.weight.uniform_(0.5, 1.5)
    yield model
    torch.set_num_threads(threads)


FOLDS = pytest.mark.parametrize("fold", [True, False], ids=["v4 folded norms", "v3 torch's rms_norm"])


def _run(model: CodingModel, ids: torch.Tensor, window: int) -> torch.Tensor:
    """Logits [B, T − window + 1, V]: a refill over the first ``window`` ids (or steps from an empty cache when
    ``window`` is 0), then one step per id."""
    model.start(len(ids))
    out = [model.refill(ids[:, :window])] if window else []
    out += [model.step(ids[:, t]) for t in range(window, ids.shape[1])]
    return torch.stack(out, 1)


@FOLDS
@pytest.mark.parametrize("window", [0, 1, 10])
def test_steps_give_the_models_logits(gpt, window, fold):
    ids = torch.randint(0, VOCAB, (3, 24), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = gpt(ids)[:, max(window - 1, 0):]
    got = _run(CodingModel(gpt, fold), ids, window).numpy()
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


@FOLDS
def test_a_rows_bits_do_not_depend_on_the_batch(gpt, fold):
    """The same stream gives bit-identical logits alone (padded to MIN_ROWS), among 2, 5 or 300 rows, in any row."""
    rng = torch.Generator().manual_seed(1)
    streams = torch.randint(0, VOCAB, (300, 20), generator=rng)
    model = CodingModel(gpt, fold)
    reference = {window: _run(model, streams[:1], window)[0] for window in (0, 8)}
    for batch in (2, 5, 300):
        order = torch.randperm(300, generator=rng)[:batch]
        where = int((order == 0).nonzero()[0]) if (order == 0).any() else None
        if where is None:
            order[batch // 2], where = 0, batch // 2
        for window, expected in reference.items():
            assert torch.equal(_run(model, streams[order], window)[where], expected), (batch, window)


def test_streams_that_leave_do_not_change_the_others(gpt):
    streams = torch.randint(0, VOCAB, (6, 20), generator=torch.Generator().manual_seed(2))
    model = CodingModel(gpt)
    expected = _run(model, streams, 0)
    model.start(6)
    got = [model.step(streams[:, t]) for t in range(10)]
    model.keep_rows(torch.tensor([1, 4]))  # moved to the front; fewer than MIN_ROWS: padded again
    assert model.keys[0].shape[0] == MIN_ROWS
    got = torch.stack(got, 1)
    assert torch.equal(got, expected[:, :10])
    rest = torch.stack([model.step(streams[[1, 4], t]) for t in range(10, 20)], 1)
    assert torch.equal(rest, expected[[1, 4], 10:])


def test_the_cache_is_allocated_once_for_the_most_rows(gpt):
    model = CodingModel(gpt)
    model.start(5)
    buffers = [b.data_ptr() for b in model.buffers]
    _run(model, torch.zeros(5, 24, dtype=torch.long), 4)
    model.keep_rows(torch.tensor([3]))
    for batch in (5, 2):
        model.start(batch)
        assert [b.data_ptr() for b in model.buffers] == buffers and model.length == 0
        assert model.keys[0].shape[0] == max(batch, MIN_ROWS) and model.keys[0].data_ptr() == buffers[0]
    with pytest.raises(ValueError, match="refill it first"):
        _run(model, torch.zeros(2, 25, dtype=torch.long), 0)
