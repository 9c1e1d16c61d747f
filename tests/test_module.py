"""TinyGPTModule: validation scores tokens with an fp32 output projection even under bf16 autocast."""

import torch

from audiobits.module import TinyGPTModule


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
