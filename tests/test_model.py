"""TinyGPT: the seed's parameter count, exact causality, and attention equal to a reference implementation."""

import math

import pytest
import torch

from audiobits import model as model_lib
from audiobits.model import GPTConfig, LayerCache, TinyGPT, apply_rope, cached_attention, causal_attention


def test_default_model_has_18_88M_non_embedding_params():
    with torch.device("meta"):
        gpt = TinyGPT(GPTConfig(vocab_size=16385))
    assert gpt.num_params(non_embedding=True) == 18_881_024  # 6 × (12·512² + 2·512) + 512
    assert gpt.num_params(non_embedding=False) == 18_881_024 + 16385 * 512  # tied: the head adds nothing
    assert gpt.head.weight is gpt.embed.weight


def _tiny(vocab=50):
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=vocab, seq_len=32, n_layer=2, n_embd=32, n_head=4)).eval()


def test_changing_future_tokens_never_changes_earlier_logits():
    gpt = _tiny()
    idx = torch.randint(0, 50, (2, 32))
    changed = idx.clone()
    changed[:, 20:] = torch.randint(0, 50, (2, 12))
    with torch.no_grad():
        a, b = gpt(idx), gpt(changed)
    assert torch.equal(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def reference_attention(q, k, v):
    """Plain softmax(QKᵀ/√d + causal mask)·V on [B, T, H, D]."""
    q, k, v = (x.transpose(1, 2).double() for x in (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    t = q.shape[2]
    scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


def test_sdpa_path_equals_reference_causal_attention():
    q, k, v = torch.randn(3, 2, 17, 4, 8).unbind(0)
    assert torch.allclose(causal_attention(q, k, v).double(), reference_attention(q, k, v), atol=1e-5)


@pytest.mark.skipif(not (torch.cuda.is_available() and model_lib.flash_attn_func is not None),
                    reason="flash-attn path needs a CUDA GPU with flash-attn (`pip install audiobits[flash]`)")
def test_flash_path_equals_reference_causal_attention():
    q, k, v = torch.randn(3, 2, 256, 8, 64, device="cuda", dtype=torch.bfloat16).unbind(0)
    out = causal_attention(q, k, v)
    assert torch.allclose(out.double().cpu(), reference_attention(q.cpu(), k.cpu(), v.cpu()), atol=2e-2)


def test_rope_is_relative_position():
    """Shifting both positions by the same amount leaves a rotated dot product unchanged."""
    cos, sin = model_lib.rope_tables(16, 8, 10000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    def dot(i, j):
        qi = model_lib.apply_rope(q, cos[i:i + 1], sin[i:i + 1])
        kj = model_lib.apply_rope(k, cos[j:j + 1], sin[j:j + 1])
        return (qi * kj).sum()
    assert dot(5, 2) == pytest.approx(dot(12, 9).item(), abs=1e-5)


def test_longer_than_context_is_an_error():
    with pytest.raises(ValueError, match="seq_len"):
        _tiny()(torch.zeros(1, 33, dtype=torch.long))


def test_cached_decoding_one_token_at_a_time_gives_the_full_forward_logits():
    """KV cache: a prefill then single-token steps for a batch of streams equal the full forward (fp32, CPU)."""
    gpt = _tiny()
    idx = torch.randint(0, 50, (3, 32))
    with torch.no_grad():
        full = gpt(idx)
        cache = gpt.new_cache(batch=3)
        steps = [gpt.forward_cached(idx[:, :5], cache)]  # prefill 5 tokens, then one per step
        steps += [gpt.forward_cached(idx[:, t:t + 1], cache) for t in range(5, 32)]
    assert cache.length == 32
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)


def test_cached_chunks_after_a_prefix_see_the_cache_and_each_other_causally():
    gpt = _tiny()
    idx = torch.randint(0, 50, (2, 20))
    with torch.no_grad():
        cache = gpt.new_cache(batch=2)
        gpt.forward_cached(idx[:, :8], cache)
        chunk = gpt.forward_cached(idx[:, 8:20], cache)  # 12 new tokens over 8 cached: needs the offset mask
        full = gpt(idx)
    torch.testing.assert_close(chunk, full[:, 8:20], rtol=1e-5, atol=1e-5)


def test_the_cached_step_rotates_q_and_k_together_to_the_bits_of_rotating_each():
    """Compressed files depend on the cached step's exact bits: rotating q and k in one call (fewer ops per coded
    token) gives, bit for bit, what rotating each alone gave when format version 2 was written."""
    gpt = _tiny()
    attn, (b, c, h) = gpt.blocks[0].attn, (3, gpt.config.n_embd, gpt.config.n_head)
    x = torch.randn(b, 8, c)
    ours, theirs = LayerCache(b, gpt.config), LayerCache(b, gpt.config)
    with torch.no_grad():
        for start, end in ((0, 6), (6, 7), (7, 8)):  # a refill-sized prefill, then single steps
            cos, sin, chunk = gpt.rope_cos[start:end], gpt.rope_sin[start:end], x[:, start:end]
            q, k, v = attn.qkv(chunk).view(b, end - start, 3, h, c // h).unbind(dim=2)
            k, v = theirs.append(apply_rope(k, cos, sin), v)
            one_at_a_time = attn.proj(cached_attention(apply_rope(q, cos, sin), k, v).reshape(b, end - start, c))
            assert torch.equal(attn.forward_cached(chunk, cos, sin, ours), one_at_a_time)
    assert torch.equal(ours.k, theirs.k) and torch.equal(ours.v, theirs.v)


def test_the_cache_refuses_to_run_past_the_models_context():
    gpt = _tiny()
    cache = gpt.new_cache(batch=1)
    with torch.no_grad():
        gpt.forward_cached(torch.zeros(1, 32, dtype=torch.long), cache)
        with pytest.raises(ValueError, match="exceed the model's seq_len 32"):
            gpt.forward_cached(torch.zeros(1, 1, dtype=torch.long), cache)
