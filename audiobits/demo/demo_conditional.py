"""The demo's conditional row: Codec 2 700C given the phonemes of the transcript (and, on recordings whose corpus
has a speaker column, a speaker prompt), one small paired run whose config `audiobits demo` writes beside the
others (docs/conditional.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiobits.bins import SplitBins, TokenBins
from audiobits.paired_windows import PairedSplit, PairedVocab, paired_plan

PAIR = ("phonemes", "codec2_700c")  # (condition, target): both weight-free, both in the demo's default set
MIN_STEPS = 80  # as the single-stream runs: a smaller batch before fewer steps
PROMPT_SECONDS = 1.0


def prompt_seconds(split: SplitBins) -> float:
    """PROMPT_SECONDS when every speaker of the split has two or more utterances there (a prompt comes from another),
    else 0: the synthetic corpus is one voice with no speaker column."""
    if split.speakers is None:
        return 0.0
    _, counts = np.unique(split.speakers, return_counts=True)
    return PROMPT_SECONDS if counts.min() >= 2 else 0.0


def conditional_config(target: Path, paired: Path, runs_dir: Path, name: str, model: dict, seq_len: int,
                       batch_size: int) -> dict:
    """A LightningCLI config of the paired run: the smallest power-of-two context of at least ``seq_len`` that keeps
    every utterance's condition within half of it, and a batch giving about MIN_STEPS steps."""
    bins, condition = TokenBins(target), TokenBins(paired)
    prompt = min(prompt_seconds(bins.split(s)) for s in ("train", "val"))
    vocab = PairedVocab(bins.meta.vocab_size, condition.meta.vocab_size)
    splits = [PairedSplit(bins.split(s), vocab, condition.split(s), prompt, bins.meta.tokens_per_frame)
              for s in ("train", "val")]
    longest = max(int(split.condition_lengths(split.conditions).max()) for split in splits) + 1
    while seq_len // 2 < longest:
        seq_len *= 2
    windows = len(paired_plan(splits[0], splits[0].conditions, seq_len))
    return {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "log_every_n_steps": 1, "enable_progress_bar": False,
                    "enable_model_summary": False,
                    "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                               "init_args": {"save_dir": str(runs_dir), "name": name}}},
        "model": model,
        "data": {"class_path": "audiobits.paired.PairedDataModule",
                 "init_args": {"target": {"class_path": "audiobits.data.TokenBinDataModule",
                                          "init_args": {"bins_dir": str(target)}},
                               "paired": {"class_path": "audiobits.data.TokenBinDataModule",
                                          "init_args": {"bins_dir": str(paired)}},
                               "speaker_prompt_seconds": prompt, "seq_len": seq_len,
                               "batch_size": max(1, min(batch_size, windows // MIN_STEPS)), "num_workers": 0}},
        "checkpoint": {"every_n_train_steps": 1000},
    }
