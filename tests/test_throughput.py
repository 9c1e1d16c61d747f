"""TrainingThroughput on its own: rates over the logged steps with the clock patched, validation time left out,
MFU from the report's full FLOP count against the configured or known peak, and the peak table."""

from types import SimpleNamespace

import pytest
import torch

from audiobits import metrics
from audiobits.training.accelerators import bf16_peak
from audiobits.results import ModelShape
from audiobits.callbacks import TrainingThroughput
from audiobits.callbacks import throughput as throughput_module
from audiobits.callbacks.throughput import device_peak

SHAPE = ModelShape(non_embedding_params=1000, vocab_size=50, n_layer=2, n_embd=16, seq_len=8)
DATA = SimpleNamespace(batch_size=4, train_windows=1000, seq_len=8)  # 2 ranks × 4 windows × 8 = 64 tokens a step


class Module:
    shape = SHAPE
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.logged: list[dict] = []

    def log_dict(self, values: dict) -> None:
        self.logged.append(values)


def trainer(step: int) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, accumulate_grad_batches=1, num_training_batches=100, world_size=2,
                           log_every_n_steps=5, is_last_batch=False, datamodule=DATA)


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(throughput_module.time, "perf_counter", lambda: now[0])
    return now


def test_rates_over_logged_steps_leave_out_validation_and_give_mfu_against_the_configured_peak(clock):
    callback, module = TrainingThroughput(peak_flops_per_sec=1e9), Module()
    callback.on_train_start(trainer(0), module)
    callback.on_train_batch_end(trainer(5), module, None, None, 4)  # starts the clock: nothing logged yet
    assert module.logged == []
    clock[0] += 2.0
    callback.on_train_batch_end(trainer(7), module, None, None, 6)  # not a logging step
    callback.on_validation_start(trainer(7), module)
    clock[0] += 30.0  # a validation pass: not training time
    callback.on_validation_end(trainer(7), module)
    clock[0] += 2.0
    callback.on_train_batch_end(trainer(10), module, None, None, 9)
    rate = 5 * 64 / 4.0  # 5 steps of 64 tokens in 4 s of training
    per_token = metrics.training_flops_full(1000, 50, 16, 2, 8, 1)
    assert module.logged[-1] == pytest.approx({"train/tokens_per_sec": rate, "train/samples_per_sec": rate / 8,
                                               "train/mfu": per_token * rate / 2 / 1e9})
    clock[0] += 1.0
    callback.on_train_batch_end(trainer(15), module, None, None, 14)
    assert module.logged[-1]["train/tokens_per_sec"] == pytest.approx(5 * 64 / 1.0)
    summary = callback.summary(trainer(15), module)
    assert summary.train_tokens_per_sec == pytest.approx(10 * 64 / 5.0)  # steps 5 → 15 in 5 s of training
    assert summary.mfu == pytest.approx(per_token * 128 / 2 / 1e9) and "peak_flops_per_sec" in summary.mfu_note
    assert summary.peak_device_memory_gib is None


def test_without_a_known_peak_there_is_no_mfu_and_the_note_says_why(clock):
    callback, module = TrainingThroughput(), Module()
    callback.on_train_start(trainer(0), module)
    for step in (5, 10):
        clock[0] += 1.0
        callback.on_train_batch_end(trainer(step), module, None, None, step - 1)
    assert "train/mfu" not in module.logged[-1]
    summary = callback.summary(trainer(10), module)
    assert summary.mfu is None and summary.mfu_note.startswith("no MFU on cpu")
    assert TrainingThroughput().summary(trainer(0), module).train_tokens_per_sec is None  # nothing timed


def test_the_peak_table_knows_the_cards_by_their_cuda_names():
    assert bf16_peak("NVIDIA H100 80GB HBM3") == 989e12 and bf16_peak("NVIDIA H200") == 989e12
    assert bf16_peak("NVIDIA H100 PCIe") == 756e12 and bf16_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert bf16_peak("NVIDIA L40S") == 362e12 and bf16_peak("NVIDIA GeForce RTX 4090") is None
    assert device_peak(torch.device("cpu"), 5e14) == (5e14, "peak 5e+14 FLOP/s (throughput.peak_flops_per_sec)")
