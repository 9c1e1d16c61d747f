"""Writes ``results.json`` (every DESIGN.md metric, with the bootstrap interval) at the end of fit."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from audiobits.data import TokenBinDataModule
from audiobits.results import ValidationSums, compute_results, write_results, write_val_utterances


def trained_tokens(trainer: L.Trainer, datamodule: TokenBinDataModule) -> int:
    """Target tokens of the windows that reached an optimizer step (the epoch's last batch steps even when short)."""
    batches = min(trainer.global_step * trainer.accumulate_grad_batches, trainer.num_training_batches)
    windows = min(batches * datamodule.batch_size * trainer.world_size, datamodule.train_windows)
    return int(windows * datamodule.seq_len)


class ResultsWriter(L.Callback):
    """Keeps the sums of the latest validation pass; at the end of fit rank 0 turns them into results.json.

    The record must describe the final weights: Lightning validates on every ``val_check_interval`` batch, which
    need not include the last one, so on the last batch this asks for one more pass (setting ``should_stop``
    is Lightning's way to make the epoch loop validate now). A run stopped early is written with
    ``finished: false`` and flagged by the report.
    """

    def __init__(self, bootstrap_resamples: int = 1000, seed: int = 0) -> None:
        self.bootstrap_resamples, self.seed = bootstrap_resamples, seed
        self._sums: ValidationSums | None = None
        self._step = -1

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        last = trainer.is_last_batch or 0 < trainer.max_steps <= trainer.global_step
        if last and trainer.limit_val_batches:
            trainer.should_stop = True

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._sums, self._step = pl_module.val_sums.compute(), trainer.global_step

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        log_dir = trainer.log_dir  # a broadcast: every rank must ask
        if not trainer.is_global_zero:
            return
        if self._sums is None or self._sums.tokens == 0:
            rank_zero_warn("no validation pass ran during fit, so no results.json was written; run "
                           "`audiobits validate` or keep limit_val_batches > 0.")
            return
        datamodule = trainer.datamodule
        train_tokens = trained_tokens(trainer, datamodule)
        # Finished = the whole epoch was trained (max_steps / limit_train_batches can end it early) and validated.
        finished = (self._step == trainer.global_step and train_tokens == datamodule.train_target_tokens
                    and not trainer.interrupted)
        results = compute_results(datamodule.meta, datamodule.split("val"), self._sums, pl_module.shape,
                                  train_tokens, finished, self.bootstrap_resamples, self.seed)
        results["global_step"] = trainer.global_step
        path = write_results(results, log_dir)
        write_val_utterances(datamodule.split("val"), self._sums, log_dir)
        rank_zero_info(f"results: {path}  bits/token {results['bits_per_token']:.4f}  "
                       f"bits/sec {results['bits_per_sec']:.2f} "
                       f"[{results['bits_per_sec_ci95'][0]:.2f}, {results['bits_per_sec_ci95'][1]:.2f}]")
