"""Warmup-stable-decay (WSD) learning-rate schedule, evaluated per optimizer step."""

from __future__ import annotations

import math


def wsd_lr(step: int, total_steps: int, max_lr: float, min_lr: float, warmup_fraction: float = 0.05,
           decay_fraction: float = 0.10) -> float:
    """Linear warmup to ``max_lr``, constant, then cosine decay to ``min_lr`` over the last ``decay_fraction``.

    ``step`` counts from 0; the last step (``total_steps - 1``) lands exactly on ``min_lr`` (for two steps or
    more; a one-step run is all warmup).
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup = max(1, round(warmup_fraction * total_steps)) if warmup_fraction > 0 else 0
    decay = max(1, round(decay_fraction * total_steps)) if decay_fraction > 0 else 0
    decay_start = max(total_steps - decay, warmup)
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step < decay_start:
        return max_lr
    progress = min((step - decay_start + 1) / (total_steps - decay_start), 1.0)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
