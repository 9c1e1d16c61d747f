"""Writes ``results.json`` (every docs/metrics.md metric, with the bootstrap intervals) after the final evaluation: at
the end of fit, and in ``audiobits validate`` into the checkpoint's run directory."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from audiobits import metrics
from audiobits.analysis.baselines import kgram_record
from audiobits.data import SLIDING
from audiobits.errors import AudiobitsError, ConfigValueError
from audiobits.training.evaluation import final_passes
from audiobits.training.provenance import collect, device_name
from audiobits.analysis.known_truth import truth_record
from audiobits.analysis.learning_curve import still_learning_record
from audiobits.paired import PairedDataModule
from audiobits.results import (RESULTS_FILE, CurvePoint, Throughput, TrainerRecord, ValidationSums,
                               compute_results, read_results, scored_fraction, write_val_utterances)
from audiobits.analysis.runs import CONFIG_FILE, read_config
from audiobits.training.trainer_options import CHECKPOINT_KEY, trainer_record
from audiobits.callbacks.cumulative_flops import trained_tokens
from audiobits.callbacks.throughput import TrainingThroughput

CURVE_KEY = "audiobits_val_curve"  # the checkpoint's validation curve so far, so a resumed run keeps its start


def checkpoint_run_dir(ckpt_path: str | None) -> Path | None:
    """The run directory of a checkpoint saved as ``<run>/checkpoints/<name>.ckpt`` (None otherwise)."""
    if not ckpt_path:
        return None
    path = Path(ckpt_path)
    return path.parent.parent if path.parent.name == "checkpoints" else None


class Trained(NamedTuple):
    """What a results.json says about training, kept when `audiobits validate` rewrites the evaluation."""

    train_tokens: int
    finished: bool
    step: int
    options: TrainerRecord | None
    curve: list[tuple[int, float]]  # (training tokens, non-overlapping val bits/token) of each validation in fit
    throughput: Throughput | None = None  # as fit measured it (None: not measured)


def fitted_training(path: Path) -> Trained:
    """What fit recorded in results.json ``path``; a damaged one (cut off, overwritten, keys missing) raises
    `ConfigValueError` naming it, with the fix that works from `audiobits validate`: move it aside, so the validation
    writes it anew from the checkpoint."""
    fix = (f"Move it aside (mv {path} {path}.damaged) and run the same `audiobits validate` again: it writes "
           f"{RESULTS_FILE} anew from the checkpoint.")
    try:
        fitted = read_results(path)
    except AudiobitsError as e:
        raise ConfigValueError(f"{e} {fix}") from e
    curve = [(p.train_tokens, p.bits_per_token) for p in fitted.val_curve or []]
    return Trained(fitted.train_tokens, fitted.finished, fitted.global_step or 0, fitted.trainer, curve,
                   fitted.throughput)


class ResultsWriter(L.Callback):
    """Keeps the sums of the latest validation pass; after the final one rank 0 turns them into results.json.

    The record must describe the final weights: Lightning validates on every ``val_check_interval`` batch, which
    need not include the last one, so on the last batch this asks for one more pass (setting ``should_stop``
    is Lightning's way to make the epoch loop validate now). That last pass, and every ``audiobits validate``, is
    the final evaluation: the non-overlapping pass plus the datamodule's sliding (and utterance-reset) passes. A
    run stopped early is written with ``finished: false`` and flagged by the report; the trainer options it ran with
    are recorded (`TrainerRecord`), and those apart from the study's flagged too. Beside the evaluation it records
    the k-gram baselines of the same targets, the validation curve of fit and its still-learning drop, and the gap
    to the truth on bins of a known source (docs/baselines.md).
    """

    def __init__(self, bootstrap_resamples: int = 10_000, seed: int = 0) -> None:
        self.bootstrap_resamples, self.seed = bootstrap_resamples, seed
        self._sums: ValidationSums | None = None
        self._passes: dict[str, ValidationSums] = {}
        self._step = -1
        self._final_pending = False
        self._checkpoint_step = 0
        self._checkpoint_options: TrainerRecord | None = None
        self._fitted: Trained | None = None
        self._curve: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        last = trainer.is_last_batch or 0 < trainer.max_steps <= trainer.global_step
        if last and trainer.limit_val_batches:
            trainer.should_stop = True
            self._final_pending = True

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        """Keep the trainer options in the checkpoint, so that a resume with others is refused (`audiobits.cli`)."""
        checkpoint[CHECKPOINT_KEY] = trainer_record(trainer).as_dict()
        checkpoint[CURVE_KEY] = list(self._curve)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        """Keep the checkpoint's step and trainer options: `audiobits validate` records them when the run has no
        results.json to take them from."""
        self._checkpoint_step = int(checkpoint.get("global_step", 0))
        record = checkpoint.get(CHECKPOINT_KEY)
        self._checkpoint_options = None if record is None else TrainerRecord.from_dict(record, trainer.ckpt_path)
        self._curve = [tuple(point) for point in checkpoint.get(CURVE_KEY, [])]

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """`audiobits validate` into a run directory: read what fit recorded there once the checkpoint is loaded and
        before the first batch, so a damaged results.json is refused at once, not after the whole evaluation."""
        validating = trainer.state.fn == TrainerFn.VALIDATING
        directory = checkpoint_run_dir(trainer.ckpt_path) if validating else None
        path = None if directory is None else directory / RESULTS_FILE
        self._fitted = fitted_training(path) if path is not None and path.is_file() else None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._sums, self._step, self._passes = pl_module.val_sums.compute(), trainer.global_step, {}
        if trainer.state.fn == TrainerFn.FITTING and self._sums.tokens:
            bits = metrics.bits_per_token(self._sums.nats, self._sums.tokens)
            point = (trained_tokens(trainer, trainer.datamodule), bits)
            self._curve = [p for p in self._curve if p[0] < point[0]] + [point]  # a resume re-validates its step
        if not (self._final_pending or trainer.state.fn == TrainerFn.VALIDATING) or self._sums.tokens == 0:
            return
        self._final_pending = False
        if scored_fraction(trainer.datamodule.split("val"), self._sums) < 1.0:
            rank_zero_warn("the final validation did not score the whole val split (limit_val_batches), so the "
                           "sliding-window pass was skipped: results.json's headline is the partial non-overlapping "
                           "pass (eval_stride = seq_len).")
            return
        self._passes = final_passes(trainer, pl_module)

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, directory: Path, trained: Trained) -> None:
        datamodule = trainer.datamodule
        val = datamodule.split("val")
        results = compute_results(datamodule.meta, val, self._sums, pl_module.shape, trained.train_tokens,
                                  trained.finished, self.bootstrap_resamples, self.seed, passes=self._passes,
                                  eval_stride=datamodule.eval_stride, trainer=trained.options)
        results.global_step = trained.step
        results.eval_precision = trainer.precision  # `audiobits validate` may evaluate in another than training's
        device = pl_module.device
        gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
        results.provenance = collect(datamodule.meta.encoder, device_name(device.type, gpu),
                                     read_config(directory / CONFIG_FILE))
        if isinstance(datamodule, PairedDataModule) and self._passes:  # a paired run: H(A), H(A|T), I(A;T), ...
            results.conditional = datamodule.conditional_block(self._passes, self.bootstrap_resamples, self.seed)
        else:  # k-gram baselines and the truth are single-stream figures
            results.kgram = kgram_record(datamodule.split("train"), val, datamodule.meta.vocab_size,
                                         self._passes.get(SLIDING, self._sums), self.bootstrap_resamples, self.seed)
            results.truth = truth_record(datamodule.meta.encoder, results)
        results.val_curve = [CurvePoint(train_tokens=t, bits_per_token=b) for t, b in trained.curve]
        results.still_learning = still_learning_record(trained.curve)
        results.throughput = trained.throughput
        path = results.write(directory)
        write_val_utterances(val, self._passes.get(SLIDING, self._sums), directory)
        headline = results.headline
        low, high = headline.bits_per_sec_ci95
        rank_zero_info(f"results: {path}  bits/token {headline.bits_per_token:.4f}  bits/sec "
                       f"{headline.bits_per_sec:.2f} [{low:.2f}, {high:.2f}] ({headline.ci_kind}; stride "
                       f"{results.eval_stride} of {results.context_tokens} tokens = "
                       f"{results.context_seconds:.1f} s of context)")

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
        speed = next((c.summary(trainer, pl_module) for c in trainer.callbacks
                      if isinstance(c, TrainingThroughput)), None)
        self._write(trainer, pl_module, Path(log_dir),
                    Trained(train_tokens, finished, trainer.global_step, trainer_record(trainer), self._curve,
                            speed))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """``audiobits validate``: write results.json into the checkpoint's run directory (updating the evaluation,
        keeping what fit recorded about training, its trainer options included), or into this run's log directory
        (training then as the checkpoint tells it: its step, and its trainer options when it kept them)."""
        if trainer.state.fn != TrainerFn.VALIDATING or trainer.sanity_checking:
            return
        log_dir = trainer.log_dir  # a broadcast: every rank must ask
        if not trainer.is_global_zero or self._sums is None or self._sums.tokens == 0:
            return
        directory = checkpoint_run_dir(trainer.ckpt_path) or Path(log_dir)
        self._write(trainer, pl_module, directory, self._fitted or self._from_checkpoint(trainer))

    def _from_checkpoint(self, trainer: L.Trainer) -> Trained:
        """Training as the loaded checkpoint tells it (no results.json to take it from)."""
        train_tokens = trained_tokens(trainer, trainer.datamodule, self._checkpoint_step)
        return Trained(train_tokens, train_tokens == trainer.datamodule.train_target_tokens, self._checkpoint_step,
                       self._checkpoint_options, self._curve)
