"""Logs what the stream carries after each validation: bits/token, tokens/sec, bits/sec and bits/byte."""

from __future__ import annotations

import lightning as L

from audiobits.results import rates


def validation_rates(trainer: L.Trainer, pl_module: L.LightningModule) -> dict | None:
    """:func:`audiobits.results.rates` of the validation pass that just ended (None if it scored nothing)."""
    sums = pl_module.val_sums.compute()
    if trainer.sanity_checking or sums.tokens == 0:
        return None
    datamodule = trainer.datamodule
    return rates(datamodule.meta, datamodule.split("val"), sums)


class InformationRate(L.Callback):
    """``val/bits_per_token``, ``val/tokens_per_sec``, ``val/bits_per_sec`` and ``val/bits_per_byte`` (text bytes)."""

    KEYS = ("bits_per_token", "tokens_per_sec", "bits_per_sec", "bits_per_byte")

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rate = validation_rates(trainer, pl_module)
        if rate is not None:
            pl_module.log_dict({f"val/{k}": float(rate[k]) for k in self.KEYS if rate[k] is not None},
                              sync_dist=True)  # equal on every rank: the sums are already reduced
