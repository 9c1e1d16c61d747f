"""Windows over token bins and the `TokenBinDataModule` that serves exactly one epoch of them.

Training: non-overlapping windows of ``seq_len + 1`` tokens (stride ``seq_len``), shuffled with a seed, every
window consumed exactly once across all DDP ranks; the last global batch is filled with masked "empty" windows
instead of dropping data or repeating it. Evaluation: every val token after the first is a target exactly once,
in non-overlapping windows (mid-training), sliding windows or utterance-reset windows (:func:`window_plan`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from audiobits.bins import BinFormatError, BinMeta, Codebook, SplitBins, TokenBins, is_complete
from audiobits.errors import AudiobitsError, ConfigValueError

IGNORE_INDEX = -100
EMPTY_WINDOW = -1  # sampler index of a padding window: all targets masked
NON_OVERLAPPING, SLIDING, UTTERANCE_RESET = "non_overlapping", "sliding", "utterance_reset"  # evaluation passes


def num_windows(num_tokens: int, seq_len: int, partial: bool) -> int:
    """Windows of ``seq_len`` targets over a stream; with ``partial`` the last short window is kept."""
    targets = max(num_tokens - 1, 0)
    return math.ceil(targets / seq_len) if partial else targets // seq_len


def window_plan(bounds: np.ndarray, seq_len: int, stride: int) -> np.ndarray:
    """Evaluation windows over segments ``[a, e)`` of a split, every target of a segment scored exactly once.

    ``bounds`` is ``[[a, e], ...]``; a segment's targets are its tokens after the first. Windows start every
    ``stride`` tokens; the first window of a segment scores all its targets, each later one only its last
    ``stride`` (the earlier ones are history), so every target has at least ``seq_len − stride`` tokens of
    context once past the segment's first window. ``stride == seq_len`` gives non-overlapping windows.
    Returns int64 rows ``[start, targets, first_scored]``: input tokens ``start..start+targets−1``, targets at
    positions ``start+1..start+targets``, scored from in-window offset ``first_scored``.
    """
    if not 0 < stride <= seq_len:
        raise ValueError(f"eval stride must lie in [1, seq_len={seq_len}], got {stride}")
    rows = []
    for a, e in np.asarray(bounds, dtype=np.int64).reshape(-1, 2):
        targets = int(e - a - 1)
        if targets <= 0:
            continue
        count = 1 if targets <= seq_len else 1 + math.ceil((targets - seq_len) / stride)
        starts = np.arange(count, dtype=np.int64) * stride
        lengths = np.minimum(seq_len, targets - starts)
        first = np.where(starts == 0, 0, seq_len - stride)
        rows.append(np.stack([a + starts, lengths, first], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)


def utterance_segments(offsets: np.ndarray) -> np.ndarray:
    """Utterance-reset segments: utterance ``u`` with the end-of-utterance token before it as its only history
    (the split's first utterance has none), so context never crosses an utterance start and the targets are
    exactly those of the whole stream."""
    offsets = np.asarray(offsets, dtype=np.int64)
    return np.stack([np.maximum(offsets[:-1] - 1, 0), offsets[1:]], axis=1)


class TokenWindows(Dataset):
    """Window ``i`` = tokens ``[i·S, i·S + S]``: input the first S, target the last S (shifted by one).

    Items are dicts with ``input`` and ``target`` (int64, ``IGNORE_INDEX`` where masked) and ``position``: the
    absolute index of each target token in the split (-1 where masked), for per-utterance accounting.
    ``plan`` (rows of :func:`window_plan`) replaces the fixed grid for strided or utterance-reset evaluation;
    column ``j`` of a window is then a target with ``j + 1`` tokens of in-window context.
    """

    def __init__(self, split: SplitBins, seq_len: int, partial: bool, plan: np.ndarray | None = None) -> None:
        self.split, self.seq_len, self.plan = split, seq_len, plan
        self.length = num_windows(split.num_tokens, seq_len, partial) if plan is None else len(plan)

    def __len__(self) -> int:
        return self.length

    def _bounds(self, index: int) -> tuple[int, int, int]:
        if self.plan is None:
            return index * self.seq_len, self.seq_len, 0
        start, targets, first = self.plan[index]
        return int(start), int(targets), int(first)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        s = self.seq_len
        window = np.full(s + 1, -1, dtype=np.int64)
        start, first = 0, s
        if index != EMPTY_WINDOW:
            if not 0 <= index < self.length:
                raise IndexError(f"window {index} out of range [0, {self.length})")
            start, targets, first = self._bounds(index)
            chunk = self.split.read(start, start + targets + 1)
            window[: len(chunk)] = chunk
        offset = np.arange(s)
        valid = (window[1:] >= 0) & (offset >= first)
        position = np.where(valid, start + 1 + offset, -1)
        return {
            "input": torch.from_numpy(np.maximum(window[:-1], 0)),
            "target": torch.from_numpy(np.where(valid, window[1:], IGNORE_INDEX)),
            "position": torch.from_numpy(position),
        }


class EpochBatchSampler(Sampler[list[int]]):
    """One shuffled epoch split over ranks: global batch k is ``perm[k·G:(k+1)·G]``, rank r takes its r-th slice.

    The tail is padded with ``EMPTY_WINDOW`` so every rank runs the same number of steps and every real window is
    used exactly once. ``skip_batches`` resumes mid-epoch; ``len`` stays the full epoch as Lightning expects.
    """

    def __init__(self, num_windows: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 skip_batches: int = 0) -> None:
        self.num_windows, self.batch_size, self.rank, self.world_size = num_windows, batch_size, rank, world_size
        self.seed, self.skip_batches = seed, skip_batches

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        return math.ceil(self.num_windows / self.global_batch)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng(self.seed).permutation(self.num_windows)
        padded = np.full(len(self) * self.global_batch, EMPTY_WINDOW, dtype=np.int64)
        padded[: self.num_windows] = order
        mine = padded.reshape(len(self), self.world_size, self.batch_size)[:, self.rank]
        for batch in mine[self.skip_batches:]:
            yield batch.tolist()


class ShardBatchSampler(Sampler[list[int]]):
    """Evaluation: a contiguous share of the windows per rank, so no token is scored twice. Every rank runs the
    same number of batches (a rank whose share ran out gets one ``EMPTY_WINDOW``), so a split with fewer windows
    than ranks neither hangs a collective nor counts anything twice."""

    def __init__(self, num_windows: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        bounds = np.linspace(0, num_windows, world_size + 1).round().astype(int)
        self.indices = range(bounds[rank], bounds[rank + 1])
        self.batch_size = batch_size
        self.batches = max(math.ceil(int(np.diff(bounds).max()) / batch_size), 1)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        for k in range(self.batches):
            yield list(self.indices[k * self.batch_size:(k + 1) * self.batch_size]) or [EMPTY_WINDOW]


def check_at_least(field: str, value: int, low: int, meaning: str) -> None:
    """Refuse ``data.<field>`` below ``low`` when the datamodule is built, before a sampler divides by it or a loader
    is asked for negative workers far from the config."""
    if value < low:
        raise ConfigValueError(f"data.{field} is {value}, but it counts {meaning} and must be at least {low}: set "
                               f"data.init_args.{field} in the config (or --data.init_args.{field}).")


class TokenBinDataModule(L.LightningDataModule):
    """Train/val/test loaders over one prepared bin directory (``<root>/<corpus>/<representation>``).

    ``vocab_size``, ``meta`` and the derived rates are read from meta.json at construction, so LightningCLI can
    link ``data.vocab_size`` → ``model.vocab_size``. Trainer must run with ``use_distributed_sampler=False``
    (the audiobits CLI sets it): the samplers here split data over ranks themselves.
    """

    def __init__(self, bins_dir: str, seq_len: int = 1024, batch_size: int = 64, num_workers: int = 2,
                 seed: int = 0, verify_checksum: bool = False, eval_stride: int | None = None,
                 utterance_reset: bool = False) -> None:
        """
        Args:
            bins_dir: directory holding train.bin/val.bin and meta.json.
            seq_len: tokens of context per training window (each window has seq_len targets).
            batch_size: windows per step per device; the global batch is batch_size × world size.
            num_workers: dataloader worker processes per device.
            seed: seed of the training-window shuffle.
            verify_checksum: re-hash the bins against meta.json's sha256 when opening them.
            eval_stride: stride of the final sliding-window evaluation (None: ``seq_len // 4``; ``seq_len``:
                non-overlapping only). Mid-training validation always uses non-overlapping windows.
            utterance_reset: also score the final evaluation with context cut at every utterance start.
        """
        super().__init__()
        check_at_least("seq_len", seq_len, 1, "tokens of context per window (e.g. 1024)")
        check_at_least("batch_size", batch_size, 1, "windows per step per device (e.g. 64)")
        check_at_least("num_workers", num_workers, 0, "dataloader worker processes (0: load in the main process)")
        self.bins_dir = Path(bins_dir)
        self.seq_len, self.batch_size, self.num_workers, self.seed = seq_len, batch_size, num_workers, seed
        self.verify_checksum = verify_checksum
        if eval_stride is not None and not 0 < eval_stride <= seq_len:
            raise AudiobitsError(f"data.eval_stride must lie in [1, seq_len={seq_len}], got {eval_stride}: set "
                                 "data.init_args.eval_stride to e.g. seq_len // 4, or leave it unset.")
        self.eval_stride = eval_stride if eval_stride is not None else max(seq_len // 4, 1)
        self.utterance_reset = utterance_reset
        self.bins: TokenBins | None = None
        self._skip_batches = 0

    # --- what the model and callbacks need before/without setup ---------------------------------------------
    @property
    def meta(self) -> BinMeta:
        """meta.json of the bin directory (opened and validated on first use)."""
        return self._open().meta

    @property
    def vocab_size(self) -> int:
        return self.meta.vocab_size

    @property
    def tokens_per_frame(self) -> int:
        return self.meta.tokens_per_frame

    @property
    def codebooks(self) -> list[Codebook]:
        return self.meta.codebooks

    def _open(self) -> TokenBins:
        if self.bins is None:
            if not is_complete(self.bins_dir):
                raise BinFormatError(f"{self.bins_dir / 'meta.json'} not found: no prepared bins there. Set "
                                     "data.init_args.bins_dir to a prepared directory, or write one (`audiobits "
                                     "synthetic`, `audiobits prepare --config <codec config>`).")
            self.bins = TokenBins(self.bins_dir, verify_checksum=self.verify_checksum)
        return self.bins

    def split(self, name: str) -> SplitBins:
        return self._open().split(name)

    def eval_split(self, stage: str | None) -> str:
        """The split an evaluation stage scores: ``test`` when testing and the bins have one, else ``val``."""
        return "test" if stage == "test" and "test" in self._open().splits else "val"

    @property
    def train_windows(self) -> int:
        """Training windows in one epoch (the partial tail is not trained on)."""
        return num_windows(self.split("train").num_tokens, self.seq_len, partial=False)

    @property
    def train_target_tokens(self) -> int:
        """Target tokens in one training epoch (every full window once)."""
        return self.train_windows * self.seq_len

    # --- Lightning hooks -------------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        self._open()

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, dataset: Dataset, batch_sampler: Sampler) -> DataLoader:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=self.num_workers,
                          pin_memory=torch.cuda.is_available(), persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._rank_world()
        dataset = TokenWindows(self.split("train"), self.seq_len, partial=False)
        if len(dataset) == 0:
            raise BinFormatError(f"{self.bins_dir}/train.bin holds fewer than seq_len+1 = {self.seq_len + 1} "
                                 "tokens: lower data.seq_len or prepare more data.")
        sampler = EpochBatchSampler(len(dataset), self.batch_size, rank, world, self.seed, self._skip_batches)
        return self._loader(dataset, sampler)

    def eval_windows(self, split: str, kind: str = NON_OVERLAPPING) -> TokenWindows:
        """The windows of one evaluation pass over ``split``: ``non_overlapping`` (stride ``seq_len``),
        ``sliding`` (stride ``eval_stride``) or ``utterance_reset`` (sliding within each utterance)."""
        bins = self.split(split)
        if kind == NON_OVERLAPPING:
            return TokenWindows(bins, self.seq_len, partial=True)
        if kind not in (SLIDING, UTTERANCE_RESET):
            raise ValueError(f"unknown evaluation pass {kind!r}; one of {NON_OVERLAPPING}, {SLIDING}, "
                             f"{UTTERANCE_RESET}")
        bounds = np.array([[0, bins.num_tokens]]) if kind == SLIDING else utterance_segments(bins.offsets)
        return TokenWindows(bins, self.seq_len, partial=True, plan=window_plan(bounds, self.seq_len, self.eval_stride))

    def eval_dataloader(self, split: str, kind: str = NON_OVERLAPPING) -> DataLoader:
        """This rank's share of one evaluation pass (every rank runs the same number of batches)."""
        rank, world = self._rank_world()
        dataset = self.eval_windows(split, kind)
        return self._loader(dataset, ShardBatchSampler(len(dataset), self.batch_size, rank, world))

    def final_passes(self) -> list[str]:
        """The passes of the final evaluation beyond the non-overlapping one."""
        return ([SLIDING] if self.eval_stride < self.seq_len else []) + ([UTTERANCE_RESET] if self.utterance_reset
                                                                          else [])

    def val_dataloader(self) -> DataLoader:
        return self.eval_dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.eval_dataloader(self.eval_split("test"))

    # --- mid-epoch resume: the finished steps and what identifies the epoch live in the checkpoint -------------
    def bins_identity(self) -> dict[str, dict]:
        """Each split's sha256 and token count from meta.json: rewritten bins (another prepare) differ here."""
        return {name: {"sha256": split.sha256, "tokens": split.tokens} for name, split in self.meta.splits.items()}

    def state_dict(self) -> dict:
        trainer = self.trainer
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed if trainer is not None else 0
        return {"batches_done": int(done), "global_batch": self.batch_size * self._rank_world()[1],
                "seed": self.seed, "bins": self.bins_identity()}

    def check_resume(self, state: dict, world_size: int) -> None:
        """Refuse a checkpoint whose epoch ran over other bins, in another order or with another global batch:
        resuming it would train part of an epoch of other data, or some windows twice and others never."""
        problems = []
        if state.get("seed", self.seed) != self.seed:
            problems.append(f"its data.seed is {state['seed']}, this run's {self.seed}")
        if state.get("global_batch", self.batch_size * world_size) != self.batch_size * world_size:
            problems.append(f"its global batch is {state['global_batch']} windows, this run's {self.batch_size} "
                            f"(data.batch_size) × {world_size} devices")
        recorded, current = state.get("bins"), self.bins_identity()
        if recorded is not None and recorded != current:  # checkpoints before audiobits recorded it: not checked
            name = next(n for n in sorted({*recorded, *current}) if recorded.get(n) != current.get(n))
            was, now = recorded.get(name, {}), current.get(name, {})
            problems.append(f"it trained on {name} bins of sha256 {str(was.get('sha256'))[:12]}… "
                            f"({was.get('tokens')} tokens), but {self.bins_dir / 'meta.json'} now records "
                            f"{str(now.get('sha256'))[:12]}… ({now.get('tokens')} tokens): the bins were rewritten "
                            "since (e.g. by `audiobits prepare`)")
        if problems:
            raise AudiobitsError(f"cannot resume from this checkpoint: {'; '.join(problems)}. Resume with the same "
                                 "bins, data.seed and data.batch_size × devices, or start a new run without "
                                 "--ckpt_path.")

    def load_state_dict(self, state_dict: dict) -> None:
        if self.trainer is None or self.trainer.state.fn == "fit":  # validate/test may score any bins, any batch
            self.check_resume(state_dict, self._rank_world()[1])
        self._skip_batches = int(state_dict.get("batches_done", 0))
