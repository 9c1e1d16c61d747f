"""Logs how full the channel is: bits/sec over the codec's nominal bitrate and over the flat-vocab capacity."""

from __future__ import annotations

import lightning as L

from audiobits.callbacks.information_rate import validation_rates


class ChannelUtilization(L.Callback):
    """``val/utilization_nominal`` = bits/sec ÷ Σ log2(codebook size)·frame rate (the codec's own bitrate);
    ``val/utilization_flat`` = bits/sec ÷ log2(content vocab) × content frame-token rate (what the flat vocabulary
    could carry). Of the non-overlapping pass, as every ``val/*`` key."""

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rate = validation_rates(trainer, pl_module)
        if rate is not None:
            pl_module.log_dict({
                "val/utilization_nominal": float(rate["utilization_nominal"]),
                "val/utilization_flat": float(rate["utilization_flat"]),
                "val/nominal_bitrate": float(rate["nominal_bitrate"]),
                "val/flat_capacity": float(rate["flat_capacity"]),
            }, sync_dist=True)  # equal on every rank: the sums are already reduced
