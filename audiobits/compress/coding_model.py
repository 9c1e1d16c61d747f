"""A TinyGPT's next-token logits for range coding (file formats 3 and 4): one token per row per step, or a window
that refills the cache, computed so that a row's logits do not depend on the other rows nor on how many there are.

That independence is what lets `compress` compute every segment of every utterance side by side in large blocks
(:mod:`audiobits.compress.segments`) while `decompress` steps the utterances in lanes, and still get the same bits.
Each operation either works on one row at a time (embedding, RMSNorm, RoPE, GELU, softmax), is a batched product of
one fixed shape per item (a step's attention: one ``[1, D] @ [D, L]`` per row and head; a refill's: PyTorch's fused
CPU attention, one row and head at a time), or is a matrix product whose row results CPU BLAS computes the same for
every batch of at least four rows (1 to 3 rows take other paths, so fewer are padded to four).
`tests/test_coding_model.py` checks it against the model: the same logits, within float32 rounding, as
``TinyGPT.forward``; bit-identical rows alone and among 2, 5 or 300 rows, in any row.

The steps are also lean (a few dozen tensor operations per token where ``TinyGPT.forward_cached`` runs a hundred):
a coding step's cost at a small model is its number of operations. Format 4 computes each RMSNorm in five of them,
its weight and √width folded into the next product; format 3 called torch's ``rms_norm``, a composite of a dozen
calls on the CPU that took a third of a step at the demo's size. The two give other bits: each decodes its own files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from audiobits.model import Block, TinyGPT

MIN_ROWS = 4  # matrix products of 1 to 3 rows take other BLAS paths: other bits than the same rows in a batch


@dataclass(frozen=True)
class BlockWeights:
    """One transformer block's weights, read straight into functional calls (no module dispatch per call).

    Each product's weight is held transposed, [in, out]. ``qkv`` holds five column blocks: the query (times
    1/√head_dim, the attention's scale), key and value columns of the block's projection, then the query and key
    columns again with their head halves swapped and the first half negated, so that one product gives both x and
    swap(x) and RoPE is ``x·cos + swap(x)·sin``. With ``fold``, each norm's weight (times √width) is folded into the
    product after it and the norm's weight is None (`CodingModel.norm`).
    """

    attn_norm: torch.Tensor | None
    attn_eps: float | torch.Tensor | None
    qkv: torch.Tensor  # each product's weight transposed, [in, out]: ``x @ w`` is the call F.linear makes
    proj: torch.Tensor
    mlp_norm: torch.Tensor | None
    mlp_eps: float | torch.Tensor | None
    up: torch.Tensor
    down: torch.Tensor

    @classmethod
    def of(cls, block: Block, fold: bool) -> BlockWeights:
        heads, head_dim = block.attn.n_head, block.attn.head_dim
        attn_norm, attn_eps, qkv_weight = _norm_into(block.attn_norm, block.attn.qkv.weight, fold)
        mlp_norm, mlp_eps, up = _norm_into(block.mlp_norm, block.mlp.up.weight, fold)
        q, k, v = qkv_weight.view(3, heads, head_dim, -1)
        q = q / math.sqrt(head_dim)
        half = head_dim // 2
        qk = torch.stack([q, k])
        swapped = torch.cat([-qk[:, :, half:], qk[:, :, :half]], 2)
        qkv = torch.cat([qk, v[None], swapped]).reshape(5 * heads * head_dim, -1).contiguous()
        return cls(attn_norm, attn_eps, qkv.t(), block.attn.proj.weight.detach().t(), mlp_norm, mlp_eps, up.t(),
                   block.mlp.down.weight.detach().t())


def _norm_into(norm: torch.nn.RMSNorm, weight: torch.Tensor, fold: bool
               ) -> tuple[torch.Tensor | None, float | torch.Tensor | None, torch.Tensor]:
    """The norm's weight and eps, and the weight [out, in] of the product it feeds: as they are, or (``fold``) no
    norm weight, eps times the width (`CodingModel.norm` sums squares where RMSNorm averages them; a float32 scalar
    tensor, which adds without a conversion) and the product's columns times the norm's weight and √width."""
    weight, eps = weight.detach(), norm.eps
    if not fold:
        return norm.weight.detach(), eps, weight
    width = weight.shape[1]
    eps = torch.finfo(torch.float32).eps if eps is None else eps  # RMSNorm's default eps
    return None, torch.tensor(width * eps), weight * (norm.weight.detach() * math.sqrt(width))


class CodingModel:
    """The weights of a TinyGPT and a key/value cache of a batch of rows, laid out for coding steps (CPU, fp32).
    The weights are detached: no step records autograd history, inside ``torch.inference_mode`` or not (the coding
    loops run inside it: a fifth less time per step)."""

    rows_independent = True  # a row's logits do not depend on the batch: streams may leave it (`keep_rows`)

    def __init__(self, model: TinyGPT, fold_norms: bool = True) -> None:
        """``fold_norms``: format 4's RMSNorm (five calls, weights folded into the next product); False: format 3's
        (torch's rms_norm)."""
        config = model.config
        self.config, self.width = config, config.n_embd
        self.heads, self.head_dim = config.n_head, config.n_embd // config.n_head
        self.embed = model.embed.weight.detach()
        self.blocks = [BlockWeights.of(block, fold_norms) for block in model.blocks]
        self.norm_weight, self.norm_eps, head = _norm_into(model.norm, self.embed, fold_norms)
        self.head = head.t()
        self.cos = torch.cat([model.rope_cos, model.rope_cos], -1)  # [seq_len, head_dim], both halves
        self.sin = torch.cat([model.rope_sin, model.rope_sin], -1)
        self.rotations = list(zip(self.cos, self.sin))  # each position's (cos, sin), indexed once
        self.buffers: list[torch.Tensor] = []  # each block's keys and values [rows, heads, seq_len, head_dim]
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.views: list[list[tuple[torch.Tensor, ...]]] = []
        self.batch = self.length = 0

    @property
    def capacity(self) -> int:
        """Tokens the cache holds: the model's context."""
        return self.config.seq_len

    def start(self, batch: int) -> None:
        """An empty cache for ``batch`` streams: the front rows of buffers allocated once for the most rows asked."""
        rows = max(batch, MIN_ROWS)
        if not self.buffers or self.buffers[0].shape[0] < rows:
            shape = (rows, self.heads, self.capacity, self.head_dim)
            with torch.inference_mode(False):  # ordinary tensors: steps may run inside inference mode or not
                self.buffers = [torch.zeros(shape) for _ in range(2 * len(self.blocks))]
        self._use(rows)
        self.batch, self.length = batch, 0

    def keep_rows(self, rows: torch.Tensor) -> None:
        """Go on with the streams ``rows`` (indices, in order) alone, moved to the front: the others have ended."""
        for buffer in self.buffers:
            buffer[:len(rows)] = buffer[rows]
        self._use(max(len(rows), MIN_ROWS))
        self.batch = len(rows)

    def _use(self, rows: int) -> None:
        """Cache the first ``rows`` rows of the buffers, with each position's views for a step made once (a slice
        costs as much as a small product): the new key and value [rows, heads, head_dim], and the keys so far
        transposed and the values so far with rows and heads in one batch dimension ([rows·heads, head_dim, at + 1],
        [rows·heads, at + 1, head_dim]: the very operands ``torch.matmul`` of the 4-d tensors passes ``bmm``)."""
        if self.keys and self.keys[0].shape[0] == rows and self.keys[0].data_ptr() == self.buffers[0].data_ptr():
            return
        self.keys = [buffer[:rows] for buffer in self.buffers[0::2]]
        self.values = [buffer[:rows] for buffer in self.buffers[1::2]]
        batch = (rows * self.heads, self.capacity, self.head_dim)
        self.views = [[(k.select(2, at), v.select(2, at), k.view(batch)[:, :at + 1].transpose(1, 2),
                        v.view(batch)[:, :at + 1]) for at in range(self.capacity)]
                      for k, v in zip(self.keys, self.values)]

    def _pad(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` [B] or [B, W] followed by rows of id 0 up to the cache's rows."""
        missing = self.keys[0].shape[0] - tokens.shape[0]
        return tokens if missing <= 0 else F.pad(tokens, (0, 0) * (tokens.dim() - 1) + (0, missing))

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """The padded tokens' embeddings (``F.embedding``'s rows, without its wrapper)."""
        tokens = self._pad(tokens)
        return self.embed.index_select(0, tokens.reshape(-1)).view(*tokens.shape, self.width)

    def norm(self, x: torch.Tensor, weight: torch.Tensor | None, eps: float | torch.Tensor | None) -> torch.Tensor:
        """RMSNorm over the last dimension: torch's, or with no weight x·rsqrt(Σx² + eps), the weight and √width
        being in the next product (`BlockWeights.of`)."""
        if weight is not None:
            return F.rms_norm(x, (self.width,), weight, eps)
        return x * (x * x).sum(-1, keepdim=True).add_(eps).rsqrt_()

    def _mlp(self, x: torch.Tensor, block: BlockWeights) -> torch.Tensor:
        h = self.norm(x, block.mlp_norm, block.mlp_eps)
        return x + F.gelu(h @ block.up) @ block.down

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return (self.norm(x, self.norm_weight, self.norm_eps) @ self.head)[:self.batch]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per stream [B] at the next position; logits [B, V] of each stream's next token."""
        at = self.length
        if at >= self.capacity:
            raise ValueError(f"the cache holds {self.capacity} tokens already; refill it first")
        x = self._embed(tokens)
        rows = x.shape[0]
        cos, sin = self.rotations[at]
        for block, views in zip(self.blocks, self.views):
            key_at, value_at, keys, values = views[at]
            h = self.norm(x, block.attn_norm, block.attn_eps)
            qkv = torch.mm(h, block.qkv).view(rows, 5, self.heads, self.head_dim)
            q, k = (qkv[:, :2] * cos + qkv[:, 3:] * sin).unbind(1)
            key_at.copy_(k)
            value_at.copy_(qkv[:, 2])
            scores = torch.bmm(q.reshape(rows * self.heads, 1, self.head_dim), keys)
            y = torch.bmm(scores.softmax(-1), values).view(rows, self.width)
            x = self._mlp(x + torch.mm(y, block.proj), block)
        self.length = at + 1
        return self._logits(x)

    def refill(self, window: torch.Tensor) -> torch.Tensor:
        """Forget the cache and feed ``window`` [B, W] at positions 0 … W−1; logits [B, V] after its last token.
        The last block works on the last position alone (the others' outputs feed nothing)."""
        x = self._embed(window)
        rows, t, _ = x.shape
        if t > self.capacity:
            raise ValueError(f"a window of {t} tokens is longer than the model's context {self.capacity}")
        cos, sin = self.cos[:t], self.sin[:t]
        for i, (block, keys, values) in enumerate(zip(self.blocks, self.keys, self.values)):
            h = self.norm(x, block.attn_norm, block.attn_eps)
            qkv = (h @ block.qkv).view(rows, t, 5, self.heads, self.head_dim).transpose(1, 3)
            q, k = (qkv[:, :, :2] * cos + qkv[:, :, 3:] * sin).unbind(2)  # [rows, heads, t, head_dim] each
            keys[:, :, :t], values[:, :, :t] = k, qkv[:, :, 2]
            if i == len(self.blocks) - 1:
                scores = torch.matmul(q[:, :, -1:], keys[:, :, :t].transpose(-1, -2))
                y = torch.matmul(scores.softmax(-1), values[:, :, :t]).view(rows, self.width)
                x = self._mlp(x[:, -1] + y @ block.proj, block)
            else:  # causal attention of the whole window: one fused kernel per row and head, rows alike
                y = F.scaled_dot_product_attention(q, keys[:, :, :t], values[:, :, :t], is_causal=True, scale=1.0)
                x = self._mlp(x + y.transpose(1, 2).reshape(rows, t, self.width) @ block.proj, block)
        self.length = t
        return self._logits(x)
