"""Cross-entropy of the output projection without materialising the [tokens, vocab] logits.

At vocab 65 537 and 64 × 1024 tokens the fp32 logits alone are 17 GB. `chunked_token_nats` computes the logits a
block of rows at a time, keeps each row's log-sum-exp and target logit, and recomputes the block's softmax in the
backward pass: exact, with memory bounded by one block. `summed_nats` is the training loss: Liger Kernel's fused
Triton kernel on CUDA when it is installed (``pip install audiobits[fused]``), the chunked path everywhere else.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch

from audiobits.data import IGNORE_INDEX

BLOCK_ELEMENTS = 1 << 26  # logits per block: 256 MiB in fp32, whatever the vocabulary
Backend = Literal["auto", "chunked", "fused"]


def block_rows(vocab_size: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """Rows of hidden states per block so that one block of logits holds about ``block_elements`` values."""
    return max(1, block_elements // vocab_size)


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Per-row nats of ``hidden @ weight.T`` (rows × d, vocab × d); logits in the inputs' dtype, softmax in fp32."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, rows: int,
                ignore_index: int) -> torch.Tensor:
        valid = targets != ignore_index
        safe = torch.where(valid, targets, 0)
        lse = torch.empty(len(targets), dtype=torch.float32, device=hidden.device)
        target_logit = torch.empty_like(lse)
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, len(targets), rows):
                block = slice(start, start + rows)
                logits = (hidden[block] @ weight.T).float()
                lse[block] = torch.logsumexp(logits, dim=-1)
                target_logit[block] = logits.gather(1, safe[block, None]).squeeze(1)
        ctx.save_for_backward(hidden, weight, safe, valid, lse)
        ctx.rows = rows
        return torch.where(valid, lse - target_logit, 0.0)

    @staticmethod
    def backward(ctx, grad_nats: torch.Tensor):
        hidden, weight, safe, valid, lse = ctx.saved_tensors
        want_hidden, want_weight = ctx.needs_input_grad[:2]
        scale = torch.where(valid, grad_nats.float(), 0.0)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, len(safe), ctx.rows):
                block = slice(start, start + ctx.rows)
                logits = (hidden[block] @ weight.T).float()
                probs = logits.sub_(lse[block, None]).exp_()  # softmax, in place of the logits
                probs[torch.arange(len(probs), device=probs.device), safe[block]] -= 1.0
                grad_logits = probs.mul_(scale[block, None]).to(hidden.dtype)
                if want_hidden:
                    grad_hidden[block] = grad_logits @ weight
                if want_weight:
                    grad_weight += (grad_logits.T @ hidden[block]).float()
        return grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype), None, None, None


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype the head's matmul runs in: autocast's when it is on (as ``nn.Linear`` would), else the inputs'."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return torch.promote_types(hidden.dtype, weight.dtype)


def chunked_token_nats(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                       ignore_index: int = IGNORE_INDEX, rows: int | None = None) -> torch.Tensor:
    """Cross-entropy (nats, fp32) of each target under logits ``hidden @ weight.T``; 0 where ``targets`` is
    ``ignore_index``. ``hidden`` [..., d], ``targets`` [...] → nats shaped like ``targets``; differentiable.

    Equal to ``F.cross_entropy(F.linear(hidden, weight).float(), targets, reduction="none")`` within rounding,
    with at most ``rows`` × vocab logits alive at once (default: `block_rows`).
    """
    dtype = _compute_dtype(hidden, weight)
    flat_hidden = hidden.reshape(-1, hidden.shape[-1]).to(dtype)
    rows = rows or block_rows(weight.shape[0])
    nats = _ChunkedLinearCrossEntropy.apply(flat_hidden, weight.to(dtype), targets.reshape(-1), rows, ignore_index)
    return nats.view(targets.shape)


def fused_available(device: torch.device) -> bool:
    """Liger Kernel's fused linear cross-entropy can run: a CUDA device and the package installed."""
    return device.type == "cuda" and importlib.util.find_spec("liger_kernel") is not None


def resolve_backend(backend: Backend, device: torch.device) -> Literal["chunked", "fused"]:
    """``auto`` → ``fused`` where `fused_available`, else ``chunked``; an explicit ``fused`` must be available."""
    if backend == "auto":
        return "fused" if fused_available(device) else "chunked"
    if backend == "fused" and not fused_available(device):
        raise RuntimeError(f"loss backend 'fused' needs CUDA and Liger Kernel (`pip install audiobits[fused]`); "
                           f"this run is on {device.type}. Use 'auto' or 'chunked'.")
    return backend


def summed_nats(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, backend: Backend = "auto",
                ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Σ cross-entropy (nats) over the valid targets of logits ``hidden @ weight.T``: the training loss's numerator."""
    if resolve_backend(backend, hidden.device) == "fused":
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

        dtype = _compute_dtype(hidden, weight)
        return liger_fused_linear_cross_entropy(hidden.reshape(-1, hidden.shape[-1]).to(dtype), weight.to(dtype),
                                                targets.reshape(-1), ignore_index=ignore_index, reduction="sum")
    return chunked_token_nats(hidden, weight, targets, ignore_index).sum()
