"""`LossSums`: a torchmetrics Metric that sums validation cross-entropy per utterance, per frame position and per
in-window offset (the target's context length), and per utterance within each context bucket (for the context
curve's bootstrap interval over utterances or speakers).

States are sums, so DDP reduction is exact (every val token lives on exactly one rank) and nothing syncs with
the host until ``compute()``.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from audiobits import metrics
from audiobits.results import ValidationSums


class LossSums(Metric):
    """Per-utterance and per-position sums of target nats, from absolute target positions in the split.

    ``offsets`` are the split's utterance start offsets (utterances + 1 entries). A target's position inside its
    frame is ``(position − utterance start) mod tokens_per_frame``; the end-of-utterance token gets its own bucket,
    the last one. With ``seq_len``, column ``j`` of a window (a target with ``j + 1`` tokens of in-window context)
    is summed into offset bucket ``j``, and per utterance into context bucket ``⌊log2(j + 1)⌋`` (the buckets of
    `metrics.bits_by_context`).
    """

    full_state_update = False

    def __init__(self, offsets: torch.Tensor, tokens_per_frame: int = 1, seq_len: int = 0) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.int64), persistent=False)
        self.tokens_per_frame = tokens_per_frame
        n = len(self.offsets) - 1
        self.add_state("nats_per_utterance", torch.zeros(n, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("tokens_per_utterance", torch.zeros(n, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("nats_per_phase", torch.zeros(tokens_per_frame + 1, dtype=torch.float64),
                       dist_reduce_fx="sum")
        self.add_state("tokens_per_phase", torch.zeros(tokens_per_frame + 1, dtype=torch.int64),
                       dist_reduce_fx="sum")
        self.add_state("nats_per_offset", torch.zeros(seq_len, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("tokens_per_offset", torch.zeros(seq_len, dtype=torch.int64), dist_reduce_fx="sum")
        buckets = metrics.context_bucket_count(seq_len)
        self.add_state("nats_per_utterance_bucket", torch.zeros(n, buckets, dtype=torch.float64),
                       dist_reduce_fx="sum")
        self.add_state("tokens_per_utterance_bucket", torch.zeros(n, buckets, dtype=torch.int64),
                       dist_reduce_fx="sum")

    def update(self, nats: torch.Tensor, positions: torch.Tensor) -> None:
        """``nats``: per-target cross-entropy; ``positions``: absolute target positions, -1 where masked."""
        keep = positions >= 0
        column = torch.arange(positions.shape[-1], device=positions.device).expand_as(positions)[keep]
        nats, positions = nats[keep].double(), positions[keep]
        utterance = torch.searchsorted(self.offsets, positions, right=True) - 1
        within = positions - self.offsets[utterance]
        is_eos = positions == self.offsets[utterance + 1] - 1
        phase = torch.where(is_eos, self.tokens_per_frame, within % self.tokens_per_frame)
        ones = torch.ones_like(utterance)
        self.nats_per_utterance.index_add_(0, utterance, nats)
        self.tokens_per_utterance.index_add_(0, utterance, ones)
        self.nats_per_phase.index_add_(0, phase, nats)
        self.tokens_per_phase.index_add_(0, phase, ones)
        if len(self.nats_per_offset):
            self.nats_per_offset.index_add_(0, column, nats)
            self.tokens_per_offset.index_add_(0, column, ones)
            bucket = torch.log2(column.double() + 1).floor().long()  # exact: column + 1 < 2**52
            self.nats_per_utterance_bucket.index_put_((utterance, bucket), nats, accumulate=True)
            self.tokens_per_utterance_bucket.index_put_((utterance, bucket), ones, accumulate=True)

    def compute(self) -> ValidationSums:
        return ValidationSums(self.nats_per_utterance.cpu().numpy(), self.tokens_per_utterance.cpu().numpy(),
                              self.nats_per_phase.cpu().numpy(), self.tokens_per_phase.cpu().numpy(),
                              self.nats_per_offset.cpu().numpy(), self.tokens_per_offset.cpu().numpy(),
                              self.nats_per_utterance_bucket.cpu().numpy(),
                              self.tokens_per_utterance_bucket.cpu().numpy())
