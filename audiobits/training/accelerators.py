"""What a run needs to know about its accelerator: the card's dense bf16 peak, the denominator of MFU."""

from __future__ import annotations

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets; most specific name first.
BF16_PEAK = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12), ("A100", 312e12),
             ("L40S", 362e12)]


def bf16_peak(name: str) -> float | None:
    """The card's dense bf16 peak in FLOP/s (its name as ``torch.cuda.get_device_name`` gives it), or None when it
    is not in the table."""
    return next((peak for key, peak in BF16_PEAK if key in name), None)
