"""TinyGPTModule: validation scores tokens with an fp32 output projection even under bf16 autocast; the training
loss through the chunked head equals the full-logits one; compile is on by default only on CUDA."""

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from audiobits.data import IGNORE_INDEX
from audiobits.module import TinyGPTModule


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
