"""TinyGPTModule: validation scores tokens with an fp32 output projection even under bf16 autocast."""

from types import SimpleNamespace

import pytest
import torch

from audiobits.module import TinyGPTModule
from audiobits.schedule import wsd_lr


def test_eval_logits_are_fp32_under_bf16_autocast_and_match_the_model():
    torch.manual_seed(0)
    module = TinyGPTModule(vocab_size=300, seq_len=16, n_layer=1, n_embd=32, n_head=2).eval()
    idx = torch.randint(0, 300, (2, 16))
    with torch.no_grad():
        reference = module(idx)  # fp32 throughout
        with torch.autocast("cpu", dtype=torch.bfloat16):
            trained_path = module(idx)
            eval_path = module._eval_logits(idx)
    assert trained_path.dtype == torch.bfloat16 and eval_path.dtype == torch.float32
    assert torch.allclose(eval_path, reference, atol=0.05)
    with torch.no_grad():
        assert torch.equal(module._eval_logits(idx), reference)  # without autocast: the same computation


def configured(total_steps: int = 40):
    torch.manual_seed(0)
    module = TinyGPTModule(vocab_size=64, seq_len=8, n_layer=2, n_embd=16, n_head=2, lr=1e-3, min_lr=1e-4,
                           weight_decay=0.1)
    module._trainer = SimpleNamespace(estimated_stepping_batches=total_steps)  # all configure_optimizers reads
    config = module.configure_optimizers()
    return module, config["optimizer"], config["lr_scheduler"]


def test_weight_decay_on_matrices_only_never_on_norms():
    module, optimizer, _ = configured()
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in module.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    norms = {n for n, _ in module.named_parameters() if "norm" in n}
    assert norms and norms <= kept and not norms & decayed
    assert decayed and all(dict(module.named_parameters())[n].dim() == 2 for n in decayed)
    assert decayed | kept == set(names.values())  # every parameter in exactly one group


def test_learning_rate_at_every_step_is_wsd_lr():
    total = 40
    _, optimizer, scheduler = configured(total)
    assert scheduler["interval"] == "step"
    seen = []
    for _ in range(total):
        seen.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler["scheduler"].step()
    expected = [wsd_lr(k, total, 1e-3, 1e-4, 0.05, 0.10) for k in range(total)]
    assert [lrs[0] for lrs in seen] == pytest.approx(expected) and all(a == b for a, b in seen)
    assert seen[-1][0] == pytest.approx(1e-4) and max(lr for lr, _ in seen) == pytest.approx(1e-3)
