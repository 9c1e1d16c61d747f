"""CumulativeFLOPs on its own: tokens from the optimizer steps taken (all ranks, accumulation, the short last batch),
FLOPs from metrics, logged on logging steps and the last batch, and a resume that needs no state of its own."""

from types import SimpleNamespace

import pytest

from audiobits import metrics
from audiobits.results import ModelShape
from audiobits.callbacks import CumulativeFLOPs
from audiobits.callbacks.cumulative_flops import trained_tokens

SHAPE = ModelShape(non_embedding_params=1000, vocab_size=50, n_layer=2, n_embd=16, seq_len=8)
# 13 windows of 8 targets, 4 windows per rank and batch on 2 ranks: 2 global batches (8, then the short 5)
DATA = SimpleNamespace(batch_size=4, train_windows=13, seq_len=8)


class Module:
    shape = SHAPE

    def __init__(self) -> None:
        self.logged: list[dict] = []

    def log_dict(self, values: dict) -> None:
        self.logged.append(values)


def trainer(global_step: int, accumulate: int = 1, last: bool = False, every: int = 2) -> SimpleNamespace:
    return SimpleNamespace(global_step=global_step, accumulate_grad_batches=accumulate, num_training_batches=2,
                           world_size=2, log_every_n_steps=every, is_last_batch=last, datamodule=DATA)


def test_trained_tokens_count_every_rank_and_the_short_last_batch_once():
    assert trained_tokens(trainer(0), DATA) == 0
    assert trained_tokens(trainer(1), DATA) == 4 * 2 * 8  # one global batch of 8 windows
    assert trained_tokens(trainer(2), DATA) == 13 * 8  # the short last batch: its 5 real windows, no padding
    assert trained_tokens(trainer(1, accumulate=2), DATA) == 13 * 8  # one step accumulates both batches
    assert trained_tokens(trainer(0), DATA, global_step=1) == 64  # a checkpoint's step (validate)


def test_logs_tokens_and_flops_from_metrics_on_logging_steps_and_the_last_batch():
    callback, module = CumulativeFLOPs(), Module()
    callback.on_train_batch_end(trainer(1), module, None, None, 0)
    assert module.logged == []  # not a logging step
    callback.on_train_batch_end(trainer(2, every=2), module, None, None, 1)
    tokens = 13 * 8
    assert module.logged[-1] == pytest.approx({
        "train/tokens": float(tokens),
        "train/pflops_trunk": metrics.training_flops_trunk(1000, tokens) / 1e15,
        "train/pflops_full": metrics.training_flops_full(1000, 50, 16, 2, 8, tokens) / 1e15})
    callback.on_train_batch_end(trainer(1, every=50, last=True), module, None, None, 0)  # the last batch always logs
    assert module.logged[-1]["train/tokens"] == 64.0


def test_a_resumed_run_counts_from_the_restored_step_without_state_of_its_own():
    resumed, module = CumulativeFLOPs(), Module()
    assert resumed.state_dict() == {}  # nothing to checkpoint: the count follows the global step
    resumed.on_train_batch_end(trainer(2), module, None, None, 0)  # Lightning restored global_step = 2
    assert module.logged[-1]["train/tokens"] == 13 * 8
