"""Cross-entropy of the output projection without materialising the [tokens, vocab] logits.

At vocab 65 537 and 64 × 1024 tokens the fp32 logits alone are 17 GB. Both functions here compute the logits a
block of rows at a time, so memory is bounded by one block, and both are exact: `chunked_token_nats` gives each
target's nats (evaluation), `chunked_summed_nats` the training loss's sum with its gradients, which it forms
block by block in the forward pass (the loss is the last node), so nothing is recomputed. `summed_nats` picks
Liger Kernel's fused Triton kernel on CUDA when it is installed (``pip install audiobits[fused]``), else chunked.

The seed vocabularies are odd (2^k + 1: the codes and an EOS), and a [rows, vocab] logits matrix with an odd row
stride sends cuBLAS to alignment-1 kernels that ran the head at a fraction of an H200's speed (benchmarks/RESULTS.md).
Both paths therefore multiply by the weight with zero rows appended up to a multiple of `PAD_MULTIPLE` and keep the
pad columns out of the softmax (−inf before the log-sum-exp; a −1e4 bias in the fused kernel): every number is
the unpadded vocabulary's within rounding (the GEMM kernel may change, so the last bits may), and the layout alone
differs. Ids are not range-checked here: a target ≥ vocab would read a pad column (−inf: infinite nats, not an
error); `SplitBins.read` refuses such ids where tokens are read.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Literal

import torch

from audiobits.data import IGNORE_INDEX

BLOCK_ELEMENTS = 1 << 26  # logits per block: 256 MiB in fp32, whatever the vocabulary
PAD_MULTIPLE = 64  # the head's rows are padded to this for tensor-core-aligned GEMMs (nanoGPT pads 50 257 to 50 304)
PAD_LOGIT = -1e4  # the fused kernel's logit for a pad column: exp(-1e4 - lse) is 0 in fp32, and bf16 holds it
Backend = Literal["auto", "chunked", "fused"]


def padded_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` [vocab, d] with zero rows appended up to a multiple of `PAD_MULTIPLE` (differentiable: the pad
    rows' gradient is dropped); ``weight`` itself when its row count already is one."""
    pad = -weight.shape[0] % PAD_MULTIPLE
    return weight if pad == 0 else torch.nn.functional.pad(weight, (0, 0, 0, pad))


def block_rows(vocab_size: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """Rows of hidden states per block so that one block of logits holds about ``block_elements`` values."""
    return max(1, block_elements // vocab_size)


def _block_logits(hidden: torch.Tensor, weight: torch.Tensor, vocab: int, rows: int):
    """(rows slice, fp32 logits of those rows) for consecutive blocks of ``rows`` hidden states; ``weight`` is
    padded (`padded_weight`) and the pad columns, from ``vocab`` on, hold −inf so that they carry no probability."""
    for start in range(0, len(hidden), rows):
        block = slice(start, start + rows)
        logits = (hidden[block] @ weight.T).float()
        logits[:, vocab:] = float("-inf")
        yield block, logits


def _accumulate_product(total: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """total (fp32) += a @ b: in place (one GEMM, no temporary) when a and b are fp32. Half-precision products are
    formed in fp32 on CUDA (``out_dtype``: no rounding to bf16 before the sum, no half-precision temporary); torch
    2.9's CPU kernels have no mixed-dtype GEMM, so there the product goes through a temporary and its fp32 copy."""
    if a.dtype == total.dtype:
        total.addmm_(a, b)
    elif total.is_cuda:
        total += torch.mm(a, b, out_dtype=total.dtype)
    else:
        total += (a @ b).float()


def _softmax_minus_one_hot(logits: torch.Tensor, lse: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                           dtype: torch.dtype) -> torch.Tensor:
    """The loss's gradient in the logits, (softmax − one-hot) on valid rows, in ``dtype``; fp32 arithmetic in place
    of ``logits``."""
    probs = logits.sub_(lse[:, None]).exp_()
    probs[torch.arange(len(probs), device=probs.device), targets] -= 1.0
    return probs.mul_(valid[:, None]).to(dtype)


@functools.cache
def _fused_softmax_minus_one_hot():
    """`_softmax_minus_one_hot` compiled: on CUDA one fused kernel (one read and one write of the block) in place of
    five passes over it; eager elsewhere, where compiling costs more than it saves. Built on first use."""
    return torch.compile(_softmax_minus_one_hot, dynamic=True)


class _ChunkedLinearCrossEntropySum(torch.autograd.Function):
    """Σ nats of ``hidden @ weight.T`` (rows × d, vocab × d) over valid targets; logits in the inputs' dtype,
    softmax in fp32. The loss is the graph's last node, so its gradient (softmax − one-hot) is known in the forward
    pass: each block's gradients are accumulated there and only scaled in the backward — no recomputation."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, rows: int,
                ignore_index: int, want_hidden: bool, want_weight: bool) -> torch.Tensor:
        valid = targets != ignore_index
        safe = torch.where(valid, targets, 0)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        vocab, weight = weight.shape[0], padded_weight(weight)
        grad_hidden = torch.zeros_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        with torch.autocast(hidden.device.type, enabled=False):
            for block, logits in _block_logits(hidden, weight, vocab, rows):
                lse = torch.logsumexp(logits, dim=-1)
                nats = lse - logits.gather(1, safe[block, None]).squeeze(1)
                total += torch.where(valid[block], nats, 0.0).sum()
                if want_hidden or want_weight:
                    step = _fused_softmax_minus_one_hot() if logits.is_cuda else _softmax_minus_one_hot
                    grad_logits = step(logits, lse, safe[block], valid[block], hidden.dtype)
                    if want_hidden:
                        grad_hidden[block] = grad_logits @ weight
                    if want_weight:
                        _accumulate_product(grad_weight, grad_logits.T, hidden[block])
        ctx.save_for_backward(grad_hidden, None if grad_weight is None else grad_weight[:vocab].to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        scaled = [None if g is None else g * grad_total.to(g.dtype) for g in (grad_hidden, grad_weight)]
        return *scaled, None, None, None, None, None


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype the head's matmul runs in: autocast's when it is on (as ``nn.Linear`` would), else the inputs'."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return torch.promote_types(hidden.dtype, weight.dtype)


@torch.no_grad()
def chunked_token_nats(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                       ignore_index: int = IGNORE_INDEX, rows: int | None = None) -> torch.Tensor:
    """Cross-entropy (nats, fp32) of each target under logits ``hidden @ weight.T``; 0 where ``targets`` is
    ``ignore_index``. ``hidden`` [..., d], ``targets`` [...] → nats shaped like ``targets``; for evaluation (no
    gradient). Equal to ``F.cross_entropy(F.linear(hidden, weight).float(), targets, reduction="none")`` within
    rounding, with at most ``rows`` × vocab logits alive at once (default: `block_rows`).
    """
    dtype = _compute_dtype(hidden, weight)
    flat_hidden, flat_targets = hidden.reshape(-1, hidden.shape[-1]).to(dtype), targets.reshape(-1)
    valid = flat_targets != ignore_index
    safe = torch.where(valid, flat_targets, 0)
    nats = torch.empty(len(safe), dtype=torch.float32, device=hidden.device)
    vocab = weight.shape[0]
    with torch.autocast(hidden.device.type, enabled=False):
        for block, logits in _block_logits(flat_hidden, padded_weight(weight.to(dtype)), vocab,
                                           rows or block_rows(vocab)):
            nats[block] = torch.logsumexp(logits, dim=-1) - logits.gather(1, safe[block, None]).squeeze(1)
    return torch.where(valid, nats, 0.0).view(targets.shape)


def chunked_summed_nats(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                        ignore_index: int = IGNORE_INDEX, rows: int | None = None) -> torch.Tensor:
    """Σ cross-entropy (nats, fp32 scalar) over the valid targets of logits ``hidden @ weight.T``; differentiable
    in ``hidden`` and ``weight`` with the full computation's gradients, at most ``rows`` × vocab logits at once."""
    dtype = _compute_dtype(hidden, weight)
    grad = torch.is_grad_enabled()
    return _ChunkedLinearCrossEntropySum.apply(
        hidden.reshape(-1, hidden.shape[-1]).to(dtype), weight.to(dtype), targets.reshape(-1),
        rows or block_rows(weight.shape[0]), ignore_index, grad and hidden.requires_grad, grad and weight.requires_grad)


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
        return fused_summed_nats(hidden, weight, targets, ignore_index)
    return chunked_summed_nats(hidden, weight, targets, ignore_index)


def fused_summed_nats(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                      ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """`chunked_summed_nats` through Liger Kernel's fused Triton kernel (CUDA; the CPU only under Triton's
    interpreter, ``TRITON_INTERPRET=1``, which the tests use): the padded weight's pad columns get a `PAD_LOGIT`
    bias, so they carry no probability; the weight's gradient is summed over the row chunks in fp32
    (``accum_dtype``: in bf16 its error against float64 nearly doubles, tests/test_chunked_loss.py)."""
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    dtype = _compute_dtype(hidden, weight)
    padded = padded_weight(weight.to(dtype))
    bias = torch.zeros(padded.shape[0], dtype=dtype, device=weight.device)
    bias[weight.shape[0]:] = PAD_LOGIT
    return liger_fused_linear_cross_entropy(hidden.reshape(-1, hidden.shape[-1]).to(dtype), padded,
                                            targets.reshape(-1), bias=bias, ignore_index=ignore_index,
                                            reduction="sum", accum_dtype=torch.float32)
