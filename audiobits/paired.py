"""`PairedDataModule`: one target stream trained and scored *given* a paired stream and/or a speaker prompt.

    data:
      class_path: audiobits.paired.PairedDataModule
      init_args:
        target: {class_path: audiobits.datamodules.MimiDataModule, init_args: {corpus: ..., codebooks: 8}}
        paired: {class_path: audiobits.datamodules.TextDataModule, init_args: {corpus: ...}}
        speaker_prompt_seconds: 3.0
        condition_dropout: 0.5

Sequences are laid out by `audiobits.paired_windows`. Training drops each condition with ``condition_dropout``
per window, so one model's weights give H(A) and H(A | condition); the final evaluation scores every val
utterance once per condition mode (the headline, ``sliding``, is the mode with every condition) and
`audiobits.analysis.conditional` turns the modes into results.json's ``conditional`` block.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from torch.utils.data import DataLoader

from audiobits.bins import BinMeta
from audiobits.analysis.conditional import conditional_results
from audiobits.data import (NON_OVERLAPPING, SLIDING, EpochBatchSampler, ShardBatchSampler, TokenBinDataModule,
                            check_at_least)
from audiobits.errors import AudiobitsError
from audiobits.analysis.conditional import condition_modes, mode_name
from audiobits.paired_windows import PairedSplit, PairedVocab, PairedWindows, paired_plan
from audiobits.results import ValidationSums

GIVEN = "given_"  # final-evaluation pass of one condition mode: ``given_none``, ``given_paired``, ...


class PairedDataModule(TokenBinDataModule):
    """Windows of ``target``'s bins given ``paired``'s bins of the same utterances and/or a speaker prompt.

    The inner data modules only name (and, in ``prepare_data``, build) their bins; this module's own seq_len,
    batch_size, seed and eval_stride apply. Metrics are the target's: every scored token is a target token, and
    rates, capacity and intervals are over the target's val split.
    """

    def __init__(self, target: TokenBinDataModule, paired: TokenBinDataModule | None = None,
                 speaker_prompt_seconds: float = 0.0, condition_dropout: float = 0.5, seq_len: int = 1024,
                 batch_size: int = 64, num_workers: int = 2, seed: int = 0, verify_checksum: bool = False,
                 eval_stride: int | None = None) -> None:
        """
        Args:
            target: data module of the stream whose entropy is measured (its bins_dir, corpus, weights).
            paired: data module of the condition stream of the same corpus (e.g. text for a codec target);
                None: condition on the speaker only.
            speaker_prompt_seconds: seconds of another utterance of the same speaker (same split) given as a
                prompt in the target's own tokens; 0: no speaker condition.
            condition_dropout: probability that a training window has each condition removed (independently):
                the same weights then score every condition mode.
            seq_len: tokens per window, condition included (the condition with SEP may take at most half).
            batch_size: windows per step per device.
            num_workers: dataloader worker processes per device.
            seed: seed of the window shuffle and of the dropout draws.
            verify_checksum: re-hash the bins against meta.json's sha256 when opening them.
            eval_stride: the final evaluation's stride as a share of seq_len (None: seq_len // 4): a window of
                room r target tokens steps by r · eval_stride / seq_len.
        """
        if paired is None and speaker_prompt_seconds <= 0:
            raise AudiobitsError("PairedDataModule: no condition given. Set data.init_args.paired (e.g. a "
                                 "TextDataModule) and/or data.init_args.speaker_prompt_seconds > 0.")
        if not 0.0 <= condition_dropout < 1.0:
            raise AudiobitsError(f"data.condition_dropout is {condition_dropout}, but it is a probability of "
                                 "dropping a condition and must lie in [0, 1): set data.init_args.condition_dropout "
                                 "(0.5 trains every mode alike).")
        check_at_least("seq_len", seq_len, 4, "tokens of context per window, condition included")
        super().__init__(bins_dir=str(target.bins_dir), seq_len=seq_len, batch_size=batch_size,
                         num_workers=num_workers, seed=seed, verify_checksum=verify_checksum, eval_stride=eval_stride)
        self.target, self.paired = target, paired
        self.speaker_prompt_seconds, self.condition_dropout = speaker_prompt_seconds, condition_dropout
        self._splits: dict[str, PairedSplit] = {}
        self._plans: dict[tuple, np.ndarray] = {}

    # --- the joint vocabulary and the record's names -----------------------------------------------------------
    @property
    def joint_vocab(self) -> PairedVocab:
        return PairedVocab(self.target.vocab_size, self.paired.vocab_size if self.paired is not None else 0)

    @property
    def vocab_size(self) -> int:
        return self.joint_vocab.size

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(c for c, on in (("paired", self.paired is not None), ("speaker", self.speaker_prompt_seconds > 0))
                     if on)

    @property
    def meta(self) -> BinMeta:
        """The target's meta.json with the representation named ``<target>_given_<conditions>``."""
        meta = self._open().meta
        given = "+".join(self.paired.meta.representation if c == "paired" else c for c in self.conditions)
        return dataclasses.replace(meta, representation=f"{meta.representation}_given_{given}")

    # --- bins --------------------------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Build the target's and the paired stream's bins where missing (their own ``prepare_data``)."""
        for module in (self.target, self.paired):
            if module is not None:
                module.trainer = self.trainer
                module.prepare_data()
        self.bins, self._splits, self._plans = None, {}, {}

    def setup(self, stage: str | None = None) -> None:
        for module in (self.target, self.paired):
            if module is not None:
                module.setup(stage)
        super().setup(stage)

    def paired_split(self, name: str) -> PairedSplit:
        """Split ``name`` of the target with its conditions (matched, prompts drawn), built once."""
        if name not in self._splits:
            paired = self.paired.split(name) if self.paired is not None else None
            self._splits[name] = PairedSplit(self.split(name), self.joint_vocab, paired, self.speaker_prompt_seconds,
                                             self.target.tokens_per_frame)
        return self._splits[name]

    def plan(self, split: str, mode: tuple[str, ...], stride_fraction: float) -> np.ndarray:
        """:func:`paired_plan` of ``split`` in ``mode``, built once."""
        key = (split, mode, stride_fraction)
        if key not in self._plans:
            self._plans[key] = paired_plan(self.paired_split(split), mode, self.seq_len, stride_fraction)
        return self._plans[key]

    def bins_identity(self) -> dict[str, dict]:
        """The target's splits and the paired stream's (``paired/<split>``): resuming onto other bins is refused."""
        own = super().bins_identity()
        if self.paired is not None:
            own.update({f"paired/{k}": v for k, v in self.paired.bins_identity().items()})
        return own

    # --- windows -----------------------------------------------------------------------------------------------
    @property
    def train_windows(self) -> int:
        """Training windows in one epoch: every target token of every utterance once, chunked for the full
        condition (a window with a condition dropped holds the same chunk)."""
        return len(self.plan("train", self.conditions, 1.0))

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        dataset = PairedWindows(self.paired_split("train"), self.plan("train", self.conditions, 1.0), self.seq_len,
                                dropout=self.condition_dropout, seed=self.seed)
        sampler = EpochBatchSampler(len(dataset), self.batch_size, rank, world, self.seed, self._skip_batches)
        return self._loader(dataset, sampler)

    def eval_windows(self, split: str, kind: str = NON_OVERLAPPING) -> PairedWindows:
        """``non_overlapping`` and ``sliding``: every condition; ``given_<mode>``: that mode, sliding."""
        modes = {GIVEN + mode_name(m): m for m in condition_modes(self.conditions)}
        if kind not in (NON_OVERLAPPING, SLIDING, *modes):
            raise ValueError(f"unknown paired evaluation pass {kind!r}; one of {NON_OVERLAPPING}, {SLIDING}, "
                             f"{', '.join(modes)}")
        mode = modes.get(kind, self.conditions)
        fraction = 1.0 if kind == NON_OVERLAPPING else self.eval_stride / self.seq_len
        return PairedWindows(self.paired_split(split), self.plan(split, mode, fraction), self.seq_len, mode=mode)

    def eval_dataloader(self, split: str, kind: str = NON_OVERLAPPING) -> DataLoader:
        rank, world = self._rank_world()
        dataset = self.eval_windows(split, kind)
        return self._loader(dataset, ShardBatchSampler(len(dataset), self.batch_size, rank, world))

    def final_passes(self) -> list[str]:
        """The sliding pass with every condition (the headline), then each smaller condition mode."""
        return [SLIDING] + [GIVEN + mode_name(m) for m in condition_modes(self.conditions)[:-1]]

    def conditional_block(self, passes: dict[str, ValidationSums], resamples: int, seed: int) -> dict:
        """results.json's ``conditional`` block from the final evaluation's passes."""
        modes = condition_modes(self.conditions)
        by_mode = {m: passes[GIVEN + mode_name(m)] for m in modes[:-1]} | {modes[-1]: passes[SLIDING]}
        paired = self.paired.meta.representation if self.paired is not None else None
        return conditional_results(self._open().meta, self.split("val"), by_mode, self._open().meta.representation,
                                   paired, resamples, seed)
