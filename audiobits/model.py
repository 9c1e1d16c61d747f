"""TinyGPT: the one small decoder every representation is modelled with (nanoGPT's shape, modern parts).

Pre-norm blocks with RMSNorm, rotary position embeddings, bias-free linears, a GELU MLP ×4 and an output
projection tied to the token embedding. Attention runs through flash-attn on CUDA when it is installed,
otherwise through PyTorch's ``scaled_dot_product_attention``; both are exact causal attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

try:  # optional: `pip install audiobits[flash]` on GPU boxes
    from flash_attn import flash_attn_func
except ImportError:  # pragma: no cover - depends on the machine
    flash_attn_func = None


@dataclass
class GPTConfig:
    vocab_size: int
    seq_len: int = 1024
    n_layer: int = 6
    n_embd: int = 512
    n_head: int = 8
    rope_base: float = 10000.0


def rope_tables(seq_len: int, head_dim: int, base: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [seq_len, head_dim/2] for rotary embeddings."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of the head dim of x [B, T, H, D] by position."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).type_as(x)


def cached_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention of ``T`` new queries [B, T, H, D] over the cache's ``L + T`` keys: new token ``i`` sees every cached
    token and the new ones up to itself (SDPA; the math is the same as :func:`causal_attention`'s)."""
    t, total = q.shape[1], k.shape[1]
    mask = None
    if t > 1:
        mask = torch.arange(total, device=q.device)[None, :] <= torch.arange(total - t, total, device=q.device)[:, None]
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return out.transpose(1, 2)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Exact causal attention on [B, T, H, D] tensors: flash-attn on CUDA when available, else SDPA."""
    if flash_attn_func is not None and q.is_cuda and q.dtype in (torch.float16, torch.bfloat16):
        return flash_attn_func(q, k, v, causal=True)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
    return out.transpose(1, 2)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head, self.head_dim = config.n_head, config.n_embd // config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, self.head_dim).unbind(dim=2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return self.proj(causal_attention(q, k, v).reshape(b, t, c))

    def forward_cached(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: LayerCache) -> torch.Tensor:
        """Attention of new tokens x [B, T, C] (rotated by ``cos``/``sin`` at their absolute positions) over the
        cached keys/values, which it extends by these tokens'."""
        b, t, c = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_head, self.head_dim)
        # q and k rotated in one call: elementwise, so the same bits as two calls, in half the per-op overhead
        # (a coding step's cost is its op count: `audiobits compress` runs one per token)
        q, k = apply_rope(qkv[:, :, :2].flatten(2, 3), cos, sin).view(b, t, 2, self.n_head, self.head_dim).unbind(2)
        k, v = cache.append(k, qkv[:, :, 2])
        return self.proj(cached_attention(q, k, v).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.mlp_norm = nn.RMSNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))

    def forward_cached(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: LayerCache) -> torch.Tensor:
        x = x + self.attn.forward_cached(self.attn_norm(x), cos, sin, cache)
        return x + self.mlp(self.mlp_norm(x))


class LayerCache:
    """One block's keys (already rotated) and values [B, seq_len, H, D] of the tokens seen so far."""

    def __init__(self, batch: int, config: GPTConfig, device=None, dtype=torch.float32) -> None:
        shape = (batch, config.seq_len, config.n_head, config.n_embd // config.n_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' k/v after the cached ones; returns all keys and values so far."""
        end = self.length + k.shape[1]
        self.k[:, self.length:end], self.v[:, self.length:end] = k, v
        self.length = end
        return self.k[:, :end], self.v[:, :end]


class KVCache:
    """Keys and values of every block for a batch of streams that advance together (nanoGPT-style inference)."""

    def __init__(self, batch: int, config: GPTConfig, device=None, dtype=torch.float32) -> None:
        self.layers = [LayerCache(batch, config, device, dtype) for _ in range(config.n_layer)]
        self.capacity = config.seq_len

    @property
    def length(self) -> int:
        """Tokens cached so far: the absolute position the next token takes."""
        return self.layers[0].length

    def clear(self) -> None:
        """Forget every cached token (the buffers are reused)."""
        for layer in self.layers:
            layer.length = 0


class TinyGPT(nn.Module):
    """Token ids [B, T] → logits [B, T, vocab]."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.RMSNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied input/output embedding
        cos, sin = rope_tables(config.seq_len, config.n_embd // config.n_head, config.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith(("proj.weight", "down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` leaves out the (tied) token embedding, as the seed counts N."""
        total = sum(p.numel() for p in self.parameters())
        return total - self.embed.weight.numel() if non_embedding else total

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """The final normalized hidden states [B, T, d], the input of the output projection."""
        t = idx.shape[1]
        if t > self.config.seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than the model's seq_len {self.config.seq_len}")
        x = self.embed(idx)
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(idx))

    def new_cache(self, batch: int) -> KVCache:
        """An empty key/value cache for ``batch`` streams, on the model's device and dtype."""
        weight = self.embed.weight
        return KVCache(batch, self.config, weight.device, weight.dtype)

    def forward_cached(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits [B, T, vocab] for new tokens idx [B, T] that continue the cached streams (RoPE at their absolute
        positions ``cache.length ...``); the cache grows by T. Equals ``forward`` on the whole stream so far,
        at O(context) per new token instead of recomputing the window."""
        start, t = cache.length, idx.shape[1]
        if start + t > cache.capacity:
            raise ValueError(f"{start} cached + {t} new tokens exceed the model's seq_len {cache.capacity}; start a "
                             "new cache (a shorter context) first")
        x = self.embed(idx)
        cos, sin = self.rope_cos[start:start + t], self.rope_sin[start:start + t]
        for block, layer in zip(self.blocks, cache.layers):
            x = block.forward_cached(x, cos, sin, layer)
        return self.head(self.norm(x))
