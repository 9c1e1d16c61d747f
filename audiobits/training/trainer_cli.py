"""The LightningCLI side of `audiobits`: ``fit``, ``validate``, ``test`` and ``prepare`` (`audiobits.cli` dispatches
here only for them, so the other subcommands and ``--help`` never import Lightning).

    audiobits fit --config configs/mimi_all.yaml            # prepare bins if missing, train one epoch
    audiobits fit --config configs/mimi_all.yaml --ckpt_path last   # resume the latest run of that config
    audiobits prepare --config configs/mimi_all.yaml        # only download + encode + write the bins
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from audiobits.arguments import PARSER_KWARGS, subcommand_parser, with_closest_names
from audiobits.bins import is_complete
from audiobits.training.checkpoint import read_checkpoint
from audiobits.training.console import (
    InterruptNotice, ParameterSummary, earlier_runs_notice, finished_notice, quiet_lightning, resumes_a_finished_run,
)
from audiobits.data import TokenBinDataModule
from audiobits.errors import AudiobitsError
from audiobits.importing import ImportDataModule
from audiobits.training.module import TinyGPTModule
from audiobits.study_options import EPOCHS, study_precision
from audiobits.training.trainer_options import CHECKPOINT_KEY, check_fit_options, check_resume_options, trainer_record
from audiobits.callbacks import ChannelUtilization, CumulativeFLOPs, InformationRate, ResultsWriter, TrainingThroughput

LIGHTNING_DESCRIPTION = ("Train (fit), evaluate (validate, test) or only prepare the bins of a config; `audiobits "
                         "--help` lists every subcommand.")
UNSAVED_CKPT_NAMES = {  # --ckpt_path names Lightning resolves to checkpoints audiobits' runs do not hold, and why
    "best": "audiobits keeps no best checkpoint (its ModelCheckpoint has save_top_k 0: it ranks none and keeps "
            "last.ckpt)",
    "hpc": "that names the hpc_ckpt_*.ckpt Lightning saves when SLURM requeues a job, which a requeued fit resumes "
           "from without --ckpt_path",
}
NAMED_CKPT_FIX = ("Pass --ckpt_path a checkpoint file (e.g. runs/<name>/version_N/checkpoints/last.ckpt), or last "
                  "(the newest last.ckpt of this config's runs).")
RESUME_MISSING_FIX = "resume from. Start the run without --ckpt_path, or pass the checkpoint file itself."
EVALUATE_MISSING_FIX = ("{}: no run of this config (its trainer.logger save_dir and name) has saved one. Fit it "
                        "first, or pass --ckpt_path a checkpoint file.")
CKPT_FIX = ("Pass --ckpt_path a complete checkpoint file (a finished run's checkpoints/last.ckpt, or another "
            "checkpoints/*.ckpt of the run); fit without --ckpt_path starts anew.")



class AudiobitsCLI(LightningCLI):
    """Links the data's vocab and context into the model, adds a checkpoint section, refuses a fit with trainer
    options the study fixes (`audiobits.training.trainer_options`), sets the study's precision for the accelerator when
    none is given, resolves ``last`` and checks ``--ckpt_path`` before fit, validate or test creates anything."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {name: keys for name, keys in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.seq_len", "model.seq_len", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "checkpoint.save_top_k": 0,
                             "checkpoint.every_n_train_steps": 500})
        parser.add_lightning_class_args(TrainingThroughput, "throughput")  # throughput.peak_flops_per_sec for MFU

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then load and check ``--ckpt_path`` (`read_checkpoint`) before Lightning reads hyperparameters from
        it or anything is created."""
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as error:
            raise with_closest_names(error, subcommand_parser(parser, args)) from error
        subcommand = self.config.get("subcommand")
        self.checkpoint = self._checked_checkpoint(self.config[subcommand].ckpt_path if subcommand else None)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.trainer.enable_progress_bar is not False:
            # The bar reads train/loss from the device when it refreshes, so not on every step.
            self.trainer_defaults["callbacks"].append(TQDMProgressBar(refresh_rate=10))
        if config.trainer.enable_model_summary is not False:
            self.trainer_defaults["callbacks"].append(ParameterSummary())
        if self.subcommand == "fit":
            check_fit_options(config.trainer)  # before any class exists: a refusal leaves no run directory
            self.trainer_defaults["callbacks"].append(InterruptNotice(fit_command(config)))
        if config.trainer.precision is None:
            config.trainer.precision = study_precision(device_type(config.trainer.accelerator))
        if self.subcommand and config.ckpt_path == "last":  # prepare and quality (run=False) have no ckpt_path
            resolve_last_checkpoint(config, self.subcommand)
            if self.subcommand != "fit":  # evaluating in the run: its config.yaml stays the one `fit --config` reads
                self.save_config_callback = None
            self.checkpoint = self._checked_checkpoint(config.ckpt_path)

    def fit(self, **kwargs: Any) -> None:
        """``trainer.fit``, but a resume onto other data or trainer options is refused before anything is written, a
        resume of a finished run says so and trains nothing, and a new run says which finished runs it adds to."""
        ckpt_path = self.config[self.subcommand].ckpt_path
        if self.checkpoint is not None and resumes_a_finished_run(ckpt_path, self.checkpoint):
            print(finished_notice(ckpt_path))
            return
        if self.checkpoint is not None:
            check_resume(self.checkpoint, self.trainer, self.datamodule)
        elif self.trainer.is_global_zero and getattr(self.trainer.logger, "root_dir", None):
            notice = earlier_runs_notice(Path(self.trainer.logger.root_dir), Path(self.trainer.logger.log_dir))
            if notice:
                print(notice)
        self._run(self.trainer.fit, **kwargs)

    def validate(self, **kwargs: Any) -> None:
        """``trainer.validate``, leaving no new run directory when it fails on the user's input."""
        self._run(self.trainer.validate, **kwargs)

    def test(self, **kwargs: Any) -> None:
        """``trainer.test``, leaving no new run directory when it fails on the user's input."""
        self._run(self.trainer.test, **kwargs)

    @staticmethod
    def _checked_checkpoint(ckpt_path: str | None) -> dict[str, Any] | None:
        """The ``--ckpt_path`` checkpoint, loaded (`read_checkpoint`); None without one or for ``last`` (resolved to
        a file in `before_instantiate_classes`). ``best`` and ``hpc`` are refused: Lightning would fail on them with a
        traceback, there being no such checkpoint."""
        if ckpt_path in UNSAVED_CKPT_NAMES:
            raise AudiobitsError(f"--ckpt_path {ckpt_path}: {UNSAVED_CKPT_NAMES[ckpt_path]}. {NAMED_CKPT_FIX}")
        if not ckpt_path or ckpt_path == "last":
            return None
        return read_checkpoint(ckpt_path, CKPT_FIX)

    def _run(self, method: Callable[..., Any], **kwargs: Any) -> None:
        """Run a Trainer entry point; one that fails on the user's input (e.g. bins too short) leaves no new run
        directory behind (one that saved a checkpoint is kept: it can be resumed)."""
        self.checkpoint = None  # unmap the checked file: Lightning loads it itself, and a fit may overwrite it
        new_dirs = self._new_run_dirs()
        try:
            method(**kwargs)
        except AudiobitsError:
            if new_dirs and not any(new_dirs[0].glob("checkpoints/*.ckpt")):
                shutil.rmtree(new_dirs[0], ignore_errors=True)
                for parent in new_dirs[1:]:  # only while empty: a parallel run may be writing beside this one
                    with contextlib.suppress(OSError):
                        parent.rmdir()
            raise

    def _new_run_dirs(self) -> list[Path]:
        """The folders this run's log dir will create, innermost first (rank 0, a logger with ``log_dir``): the log
        dir and its parents that do not exist yet (``runs/<name>/`` on a config's first run); none when the log dir
        exists already."""
        log_dir = getattr(self.trainer.logger, "log_dir", None)
        if not self.trainer.is_global_zero or log_dir is None:
            return []
        return [folder for folder in (Path(log_dir), *Path(log_dir).parents) if not folder.exists()]


def fit_command(config: Any) -> str:
    """The ``audiobits fit`` command line of this config's files (to print how to resume it)."""
    return " ".join(["audiobits fit", *(f"--config {path}" for path in config.get("config") or [])])


def device_type(accelerator: Any) -> str:
    """The device type a ``trainer.accelerator`` setting trains on: ``auto``, ``gpu`` (or an accelerator object) is
    CUDA where there is one, else the CPU; a named one is itself."""
    if isinstance(accelerator, str) and accelerator not in ("auto", "gpu"):
        return accelerator
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_resume(checkpoint: dict[str, Any], trainer: Trainer, datamodule: Any) -> None:
    """Refuse a checkpoint trained with other trainer options (`check_resume_options`), or whose epoch ran over other
    bins, seed or global batch (`TokenBinDataModule.check_resume`), before anything is written; bins still to be
    prepared are checked when Lightning restores it."""
    check_resume_options(checkpoint.get(CHECKPOINT_KEY), trainer_record(trainer))
    state = checkpoint.get(type(datamodule).__qualname__)
    if state and isinstance(datamodule, TokenBinDataModule) and is_complete(datamodule.bins_dir):
        datamodule.check_resume(state, trainer.world_size)


def resolve_last_checkpoint(config, subcommand: str) -> None:
    """Point ``ckpt_path: last`` at the newest ``last.ckpt`` of this config's runs and log into that same run.

    For ``fit`` that resumes the run in place. For ``validate`` and ``test`` it evaluates that run's final weights
    and logs into it too (keeping its config.yaml, see `AudiobitsCLI.before_instantiate_classes`): results.json is
    written beside the checkpoint either way (`ResultsWriter`), and a new ``version_N`` holding only a config and
    events would be a run without results that ``report`` skips. Left to Lightning, ``last`` would find no
    checkpoint in a fresh Trainer and evaluate an untrained model, so without such a file (or a TensorBoard logger
    to find the runs by) validate and test are refused; fit without a logger section leaves ``last`` to Lightning.
    """
    init = getattr(config.trainer.logger, "init_args", None)
    if init is None or not hasattr(init, "save_dir"):
        if subcommand == "fit":
            return
        raise AudiobitsError(f"--ckpt_path last: {subcommand} finds this config's runs through its TensorBoard logger "
                             "(trainer.logger save_dir and name), and the config has none. Pass --ckpt_path a "
                             "checkpoint file.")
    root = Path(init.save_dir) / (init.name or "")
    found = sorted(root.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise AudiobitsError(f"--ckpt_path last: no {root}/version_*/checkpoints/last.ckpt to "
                             + (RESUME_MISSING_FIX if subcommand == "fit" else EVALUATE_MISSING_FIX.format(subcommand)))
    config.ckpt_path = str(found[-1])
    init.version = found[-1].parent.parent.name


def lightning_cli(args: list[str] | None = None, run: bool = True, prog: str = "audiobits",
                  cli_class: type[AudiobitsCLI] = AudiobitsCLI) -> AudiobitsCLI:
    """Build the CLI (``cli_class``: a tool's subclass adding its own arguments) with fresh callback instances (so
    repeated calls in one process share no state)."""
    quiet_lightning()
    trainer_defaults = {
        "max_epochs": EPOCHS,  # iso-data: exactly one pass over the training windows
        "use_distributed_sampler": False,  # the datamodule shards windows over ranks itself, without repeats
        "callbacks": [InformationRate(), ChannelUtilization(), CumulativeFLOPs(), ResultsWriter(),
                      LearningRateMonitor(logging_interval="step")],
    }
    parser_kwargs = {"prog": prog, "description": LIGHTNING_DESCRIPTION, **PARSER_KWARGS,
                     **{name: dict(PARSER_KWARGS) for name in cli_class.subcommands()}}
    with warnings.catch_warnings():  # audiobits passes the subcommand's own args on purpose, sys.argv holds more
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        return cli_class(TinyGPTModule, TokenBinDataModule, subclass_mode_data=True, seed_everything_default=0,
                         trainer_defaults=trainer_defaults, save_config_kwargs={"overwrite": True}, args=args,
                         run=run, parser_kwargs=parser_kwargs)


def run_fit(args: Sequence[str]) -> Path:
    """`audiobits fit` of ``args`` (``--config X.yaml`` and overrides) in this process, for tools that train (demo,
    sweep, calibrate); returns the run directory. Errors propagate: under `audiobits.cli` they become its one line."""
    cli = lightning_cli(["fit", *args])
    return Path(cli.trainer.log_dir)


def prepare(args: list[str], subcommand: str = "prepare") -> None:
    """`audiobits prepare --config X.yaml`: download, encode and write the config's bins, nothing else.
    `audiobits import --config X.yaml` does the same for a config whose data imports precomputed tokens."""
    if "--quality" in args:  # the option it once had: quality is a subcommand of its own
        raise AudiobitsError(f"audiobits {subcommand} has no --quality: `audiobits quality` with the same --config "
                             "prepares the bins if missing, then decodes and scores them")
    cli = lightning_cli(args, run=False, prog=f"audiobits {subcommand}")
    if subcommand == "import" and not isinstance(cli.datamodule, ImportDataModule):
        raise AudiobitsError(f"audiobits import: the config's data is {type(cli.datamodule).__name__}, not "
                             "audiobits.importing.ImportDataModule (docs/import.md); `audiobits prepare` encodes it")
    cli.datamodule.prepare_data()
