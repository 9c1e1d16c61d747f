"""TinyGPTModule: validation scores tokens with an fp32 output projection even under bf16 autocast; the training
loss through the chunked head equals the full-logits one; compile is on by default only on CUDA."""

from types import SimpleNamespace

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from audiobits.data import IGNORE_INDEX
from audiobits.training.module import TinyGPTModule
from audiobits.training.schedule import wsd_lr


def _module(**kwargs):
    torch.manual_seed(0)
    return TinyGPTModule(vocab_size=300, seq_len=16, n_layer=1, n_embd=32, n_head=2, **kwargs)


def _batch():
    target = torch.randint(0, 300, (2, 16))
    target[1, 9:] = IGNORE_INDEX
    return {"input": torch.randint(0, 300, (2, 16)), "target": target}


def test_eval_nats_are_fp32_under_bf16_autocast_and_match_the_full_fp32_computation():
    module = _module().eval()
    batch = _batch()
    with torch.no_grad():
        reference = F.cross_entropy(module(batch["input"]).flatten(0, 1), batch["target"].flatten(),
                                    ignore_index=IGNORE_INDEX, reduction="none").view(2, 16)  # fp32 throughout
        with torch.autocast("cpu", dtype=torch.bfloat16):
            eval_path = module._eval_token_nats(batch)
        plain = module._eval_token_nats(batch)
    assert eval_path.dtype == torch.float32
    assert torch.allclose(eval_path, reference, atol=0.05)  # only the trunk ran in bf16
    torch.testing.assert_close(plain, reference, rtol=1e-6, atol=1e-6)  # without autocast: the same numbers
    assert torch.all(plain[1, 9:] == 0)


@pytest.mark.parametrize("head_loss", ["chunked", "auto"])
def test_training_loss_and_gradients_equal_the_full_logits_path(head_loss):
    full, chunked = _module(head_loss="full"), _module(head_loss=head_loss)
    chunked.load_state_dict(full.state_dict())
    batch = _batch()
    losses = []
    for module in (full, chunked):
        module._summed_train_nats(batch).backward()
        losses.append(module._summed_train_nats(batch).item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    for (name, a), b in zip(full.named_parameters(), chunked.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("compile, compiled", [(None, False), (False, False), (True, True)])
def test_compile_defaults_to_off_on_cpu_unless_asked(compile, compiled):
    module = _module(compile=compile)
    module.trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                               enable_progress_bar=False)
    module.configure_model()
    assert all((block._compiled_call_impl is not None) == compiled for block in module.model.blocks)
    assert module.state_dict().keys() == _module().state_dict().keys()  # checkpoints keep their keys


def test_load_from_checkpoint_needs_no_trainer(tmp_path):
    """Lightning calls configure_model while loading: the auto compile choice must not ask for a Trainer."""
    module = _module()
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": L.__version__}, tmp_path / "m.ckpt")
    loaded = TinyGPTModule.load_from_checkpoint(tmp_path / "m.ckpt")
    assert all(block._compiled_call_impl is None for block in loaded.model.blocks)
    for (name, a), b in zip(module.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


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
