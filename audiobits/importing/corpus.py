"""`TokenCorpus`: a corpus made of a token source alone (no audio): its keys, splits, transcripts, speakers and
durations, from a duration column or from each utterance's frames ÷ the layout's frame rate."""

from __future__ import annotations

from typing import Any

from audiobits.corpora import SPLITS, Corpus, Loaded, Unreadable
from audiobits.errors import ConfigValueError
from audiobits.importing.layout import TokenLayout
from audiobits.importing.sources import TokenSource
from audiobits.representations.base import Utterance


class TokenCorpus(Corpus):
    """The utterances of a token source (``source.splits`` names its train and val parts). Durations come from
    ``source.columns.seconds`` when set, else from the codes' frames ÷ ``layout``'s frame rate; the transcript from
    ``columns.text`` (empty without one: bits/byte is then undefined), the speaker from ``columns.speaker``."""

    kind = "token_source"
    has_audio = False

    def __init__(self, source: TokenSource, name: str, layout: TokenLayout | None = None) -> None:
        """
        Args:
            source: the token source whose rows are the utterances (its ``splits`` must map train and val).
            name: directory name of this corpus under the bins root.
            layout: the codes' layout, for durations as frames ÷ frame rate (not needed with a seconds column).
        """
        if not source.splits or set(source.splits) != set(SPLITS):
            raise ConfigValueError(f"TokenCorpus {name!r}: source.splits must map both train and val to the source's "
                                   f"splits, got {source.splits}")
        if source.columns.seconds is None and (layout is None or not layout.frame_rate):
            raise ConfigValueError(f"TokenCorpus {name!r}: durations need source.columns.seconds, or a layout whose "
                                   "codebooks have a frame_rate (seconds = frames ÷ frame rate)")
        self.source, self.name, self.layout = source, name, layout
        self._keys: dict[str, list[str]] = {}

    def describe(self) -> dict[str, Any]:
        """The source without its codes column(s) when durations come from a column (every codec column of one
        dataset then shares the corpus), else with them and the frame rate the durations come from."""
        source = self.source.describe()
        if self.source.columns.seconds is not None:
            source["columns"] = {k: v for k, v in source["columns"].items() if k != "codes"}
            return {**self.identity(), "source": source, "durations": f"column {self.source.columns.seconds}"}
        return {**self.identity(), "source": source, "durations": f"frames / {self.layout.frame_rate:g} per s"}

    def _split_keys(self, split: str) -> list[str]:
        self._check_split(split)
        if split not in self._keys:
            self._keys[split] = self.source.keys(split)
        return self._keys[split]

    def size(self, split: str) -> int:
        return len(self._split_keys(split))

    def speaker_of(self, split: str, utterance_id: str) -> str | None:
        return self.source.row(utterance_id).speaker if self.source.columns.speaker else None

    def load(self, split: str, start: int, stop: int, audio: bool = True) -> Loaded:
        out: Loaded = []
        for key in self._split_keys(split)[start:stop]:
            row = self.source.row(key)
            try:
                seconds = row.seconds if row.seconds is not None else (
                    self.layout.frames(row.codes, key) / self.layout.frame_rate)
            except ConfigValueError as e:
                out.append(Unreadable(key, str(e)))
                continue
            if not seconds > 0:
                out.append(Unreadable(key, f"duration {seconds!r} s is not positive"))
                continue
            out.append(Utterance(key, row.text or "", seconds=float(seconds)))
        return out
