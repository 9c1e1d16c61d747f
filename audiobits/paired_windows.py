"""Windows of one target stream *given* conditions on the same utterance: ``[condition] SEP [target] EOS``.

One vocabulary, one id range per stream: the target's ids ``[0, V_target)`` as they are in its bins (its speaker
prompt included: a prompt is target-stream tokens), the paired stream's ids shifted to ``[V_target, V_target +
V_paired)``, then three markers: ``PAIRED_END`` closes the paired block, ``PROMPT_END`` the speaker prompt,
``TARGET_START`` (SEP) opens the target. A dropped condition leaves its block and marker out, so the model always
knows what it is given. Loss is counted on target tokens only (its EOS included), each scored exactly once.

A target longer than the window keeps the whole condition in every window: window ``k`` holds the condition, SEP
and a chunk of the target (:func:`paired_plan`). The condition block with SEP must fit in half the context
(:func:`check_condition_fits`), else the run is refused naming the utterance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from audiobits.bins import SplitBins
from audiobits.data import EMPTY_WINDOW, IGNORE_INDEX, window_plan
from audiobits.analysis.conditional import PAIRED, SPEAKER, mode_name
from audiobits.errors import AudiobitsError

@dataclass(frozen=True)
class PairedVocab:
    """Id ranges of the joint vocabulary: target ids, then paired-stream ids, then the three markers."""

    target_size: int
    paired_size: int = 0

    @property
    def paired_end(self) -> int:
        return self.target_size + self.paired_size

    @property
    def prompt_end(self) -> int:
        return self.paired_end + 1

    @property
    def target_start(self) -> int:
        return self.paired_end + 2

    @property
    def size(self) -> int:
        return self.paired_end + 3


def match_utterances(target: SplitBins, paired: SplitBins) -> np.ndarray:
    """Index into ``paired`` of each ``target`` utterance, matched by utterance id; every target id must be there."""
    order = np.argsort(paired.ids)
    found = np.searchsorted(paired.ids[order], target.ids).clip(0, len(order) - 1)
    matched = order[found]
    missing = paired.ids[matched] != target.ids
    if missing.any():
        raise AudiobitsError(f"{paired.path}: holds no utterance {str(target.ids[np.argmax(missing)])!r} of "
                             f"{target.path} ({int(missing.sum())} of {len(missing)} missing): paired streams must be "
                             "bins of the same corpus and split. Prepare both from one corpus config (`audiobits "
                             "prepare`), which keeps them iso-data.")
    return matched


def prompt_sources(split: SplitBins) -> np.ndarray:
    """For each utterance, the next utterance of the same speaker in the split (cyclically): its speaker prompt.
    Refused when the split records no speakers or a speaker has only one utterance there."""
    if split.speakers is None:
        raise AudiobitsError(f"{split.path.with_suffix('.idx.npz')}: records no speakers, so no speaker prompt can "
                             "be drawn. Set data.init_args.speaker_prompt_seconds to 0, or use a corpus with a "
                             "speaker column.")
    source = np.empty(len(split.speakers), dtype=np.int64)
    for speaker in np.unique(split.speakers):
        members = np.flatnonzero(split.speakers == speaker)
        if len(members) < 2:
            raise AudiobitsError(f"{split.path}: speaker {str(speaker)!r} has one utterance "
                                 f"({str(split.ids[members[0]])!r}), so it has no other utterance to prompt with. "
                                 "Use a split where every speaker has two or more, or speaker_prompt_seconds 0.")
        source[members] = np.roll(members, -1)
    return source


class PairedSplit:
    """One split of a target stream with its conditions: the paired stream matched by utterance id and the speaker
    prompt (the first ``prompt_seconds`` of another utterance of the same speaker, whole frames)."""

    def __init__(self, target: SplitBins, vocab: PairedVocab, paired: SplitBins | None = None,
                 prompt_seconds: float = 0.0, tokens_per_frame: int = 1) -> None:
        self.target, self.paired, self.vocab = target, paired, vocab
        self.match = match_utterances(target, paired) if paired is not None else None
        self.prompt_source = prompt_sources(target) if prompt_seconds > 0 else None
        lengths = np.diff(target.offsets) - 1  # content tokens, EOS not counted
        if self.prompt_source is not None:
            rate = lengths / np.maximum(target.seconds, 1e-9)
            wanted = np.floor(prompt_seconds * rate).astype(np.int64) // tokens_per_frame * tokens_per_frame
            self.prompt_lengths = np.minimum(wanted, lengths)[self.prompt_source]
        self.conditions = tuple(c for c, on in ((PAIRED, paired is not None), (SPEAKER, prompt_seconds > 0)) if on)

    @property
    def utterances(self) -> int:
        return len(self.target.ids)

    def condition_lengths(self, mode: tuple[str, ...]) -> np.ndarray:
        """Tokens of each utterance's condition block in ``mode`` (markers included, SEP not)."""
        total = np.zeros(self.utterances, dtype=np.int64)
        if PAIRED in mode:
            total += np.diff(self.paired.offsets)[self.match]  # content + PAIRED_END in place of its EOS
        if SPEAKER in mode:
            total += self.prompt_lengths + 1
        return total

    def condition(self, utterance: int, mode: tuple[str, ...]) -> np.ndarray:
        """The condition block of one utterance in ``mode``: paired tokens + PAIRED_END, prompt + PROMPT_END."""
        blocks = []
        if PAIRED in mode:
            index = self.match[utterance]
            tokens = self.paired.read(int(self.paired.offsets[index]), int(self.paired.offsets[index + 1]) - 1)
            blocks += [tokens.astype(np.int64) + self.vocab.target_size, [self.vocab.paired_end]]
        if SPEAKER in mode:
            start = int(self.target.offsets[self.prompt_source[utterance]])
            blocks += [self.target.read(start, start + int(self.prompt_lengths[utterance])).astype(np.int64),
                       [self.vocab.prompt_end]]
        return np.concatenate(blocks).astype(np.int64) if blocks else np.zeros(0, dtype=np.int64)

    def segment(self, utterance: int) -> np.ndarray:
        """SEP followed by the utterance's target tokens and its EOS: index ``k ≥ 1`` is target token ``k − 1``."""
        a, e = int(self.target.offsets[utterance]), int(self.target.offsets[utterance + 1])
        return np.concatenate([[self.vocab.target_start], self.target.read(a, e).astype(np.int64)])


def check_condition_fits(split: PairedSplit, mode: tuple[str, ...], seq_len: int) -> np.ndarray:
    """Room for target tokens per window of each utterance; refuses a condition block that with SEP takes more than
    half of ``seq_len`` (every window repeats it, and the target needs room to be scored in few windows)."""
    needed = split.condition_lengths(mode) + 1
    too_long = needed > seq_len // 2
    if too_long.any():
        worst = int(np.argmax(needed))
        raise AudiobitsError(f"{split.target.path}: utterance {str(split.target.ids[worst])!r} needs "
                             f"{int(needed[worst])} tokens for its condition ({mode_name(mode)}) and SEP, but "
                             f"data.seq_len {seq_len} keeps at most half ({seq_len // 2}) for the condition, which "
                             f"every window repeats ({int(too_long.sum())} utterance(s) too long). Raise "
                             f"data.init_args.seq_len to at least {2 * int(needed[worst])}, lower "
                             "data.init_args.speaker_prompt_seconds, or "
                             "leave such long utterances out of the corpus.")
    return seq_len - needed


def paired_plan(split: PairedSplit, mode: tuple[str, ...], seq_len: int, stride_fraction: float = 1.0) -> np.ndarray:
    """Windows over every utterance's target segment with its ``mode`` condition, each target scored once.

    Rows ``[utterance, start, targets, first_scored]`` as :func:`audiobits.data.window_plan` over the segment (SEP +
    target): a window's stride is ``stride_fraction`` of its room (1: non-overlapping; 0.25: each scored target has
    at least three quarters of the room as target history)."""
    room = check_condition_fits(split, mode, seq_len)
    lengths = np.diff(split.target.offsets) + 1  # SEP + tokens + EOS
    rows = []
    for utterance, (r, n) in enumerate(zip(room.tolist(), lengths.tolist())):
        plan = window_plan(np.array([[0, n]]), r, max(1, int(r * stride_fraction)))
        rows.append(np.concatenate([np.full((len(plan), 1), utterance), plan], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)


class PairedWindows(Dataset):
    """Window ``i`` of a :func:`paired_plan`: ``input``/``target``/``position`` as `audiobits.data.TokenWindows` gives
    them (``position``: the target token's absolute index in the target split, -1 where not scored) and ``window``.

    ``mode`` fixes the conditions given; ``dropout`` instead drops each of the split's conditions with that
    probability, drawn from ``(seed, window)`` alone so any rank, worker or resume draws the same.
    The split's very first token is never scored, as in the single-stream path (`audiobits.results.scored_share`).
    """

    def __init__(self, split: PairedSplit, plan: np.ndarray, seq_len: int, mode: tuple[str, ...] | None = None,
                 dropout: float = 0.0, seed: int = 0) -> None:
        self.split, self.plan, self.seq_len = split, plan, seq_len
        self.mode, self.dropout, self.seed = mode, dropout, seed

    def __len__(self) -> int:
        return len(self.plan)

    def window_mode(self, index: int) -> tuple[str, ...]:
        """The conditions window ``index`` is given."""
        if self.mode is not None:
            return self.mode
        keep = np.random.default_rng([self.seed, index]).random(len(self.split.conditions)) >= self.dropout
        return tuple(c for c, k in zip(self.split.conditions, keep) if k)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        s = self.seq_len
        tokens, scored, position = np.zeros(s + 1, dtype=np.int64), np.zeros(s, dtype=bool), np.full(s, -1)
        if index != EMPTY_WINDOW:
            utterance, start, targets, first = (int(x) for x in self.plan[index])
            condition = self.split.condition(utterance, self.window_mode(index))
            prefix = condition if start == 0 else np.append(condition, self.split.vocab.target_start)
            body = self.split.segment(utterance)[start:start + targets + 1]
            p = len(prefix)
            tokens[:p + len(body)] = np.concatenate([prefix, body])
            columns = np.arange(p + first, p + targets)
            position[columns] = self.split.target.offsets[utterance] + start + columns - p
            scored[columns] = position[columns] > 0
        return {
            "input": torch.from_numpy(tokens[:-1]),
            "target": torch.from_numpy(np.where(scored, tokens[1:], IGNORE_INDEX)),
            "position": torch.from_numpy(np.where(scored, position, -1)),
            "window": torch.tensor(index),
        }
