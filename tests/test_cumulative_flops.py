"""CumulativeFLOPs on its own: it counts the targets that are not masked, sums them over ranks, and resumes."""

from types import SimpleNamespace

import pytest
import torch

from audiobits import metrics
from audiobits.data import IGNORE_INDEX
from audiobits.results import ModelShape
from callbacks import CumulativeFLOPs

SHAPE = ModelShape(non_embedding_params=1000, vocab_size=50, n_layer=2, n_embd=16, seq_len=8)


class TwoRanks:
    """A strategy whose ``reduce`` sums this rank's count with another rank's (which counted ``other`` tokens)."""

    def __init__(self, other: int) -> None:
        self.other, self.calls = other, 0

    def reduce(self, tensor, reduce_op):
        assert reduce_op == "sum"
        self.calls += 1
        return tensor + self.other


class Module:
    shape = SHAPE

    def __init__(self) -> None:
        self.logged: list[dict] = []

    def log_dict(self, values: dict) -> None:
        self.logged.append(values)


def batch(targets: list[list[int]]) -> dict:
    return {"target": torch.tensor(targets)}


def step(callback, strategy, module, targets, global_step, last=False, every=2):
    trainer = SimpleNamespace(strategy=strategy, global_step=global_step, log_every_n_steps=every, is_last_batch=last)
    callback.on_train_batch_end(trainer, module, None, batch(targets), 0)


def test_counts_unmasked_targets_summed_over_ranks_and_logs_flops_from_metrics():
    callback, strategy, module = CumulativeFLOPs(), TwoRanks(other=5), Module()
    callback.setup(SimpleNamespace(strategy=strategy), module, "fit")
    step(callback, strategy, module, [[1, 2, IGNORE_INDEX], [3, IGNORE_INDEX, IGNORE_INDEX]], global_step=1)
    assert module.logged == [] and strategy.calls == 0  # no collective between logging steps
    step(callback, strategy, module, [[4, 5, 6], [7, 8, 9]], global_step=2)  # a logging step: 3 + 6 here, + 5 there
    assert strategy.calls == 1 and callback.tokens == 3 + 6 + 5
    tokens = 14
    assert module.logged[-1] == pytest.approx({
        "train/tokens": float(tokens),
        "train/pflops_trunk": metrics.training_flops_trunk(1000, tokens) / 1e15,
        "train/pflops_full": metrics.training_flops_full(1000, 50, 16, 2, 8, tokens) / 1e15})
    step(callback, strategy, module, [[IGNORE_INDEX] * 3], global_step=3, last=True)  # the last batch always logs
    assert module.logged[-1]["train/tokens"] == tokens + 5


def test_resume_continues_from_the_checkpointed_count():
    callback, strategy, module = CumulativeFLOPs(), TwoRanks(other=0), Module()
    callback.setup(SimpleNamespace(strategy=strategy), module, "fit")
    step(callback, strategy, module, [[1, 2, 3, 4]], global_step=1)  # pending, not yet reduced
    state = callback.state_dict()  # a checkpoint flushes what is pending
    assert state == {"tokens": 4}
    resumed, module = CumulativeFLOPs(), Module()
    resumed.load_state_dict(state)
    resumed.setup(SimpleNamespace(strategy=strategy), module, "fit")
    step(resumed, strategy, module, [[5, 6]], global_step=2)
    assert module.logged[-1]["train/tokens"] == 6.0
