"""`ImportDataModule`: bins of precomputed tokens, imported on ``prepare_data`` (``audiobits import`` or ``fit``).

    data:
      class_path: audiobits.importing.ImportDataModule
      init_args:
        corpus: {class_path: audiobits.corpora.AudioFolder, init_args: {root: recordings}}
        name: mycodec
        source: {class_path: audiobits.importing.NpyFolderTokens, init_args: {root: tokens/mycodec}}
        layout: {codebooks: [{size: 1024, frame_rate: 50}, {size: 1024, frame_rate: 50}]}
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from audiobits.bins import SPLITS, BinFormatError, is_complete
from audiobits.corpora import Corpus
from audiobits.datamodules import CodecDataModule
from audiobits.importing.layout import TokenLayout
from audiobits.importing.sources import TokenSource
from audiobits.importing.tokens import ImportedTokens
from audiobits.representations import Representation
from audiobits.representations.neucodec import PRECOMPUTED


class ImportDataModule(CodecDataModule):
    """A `CodecDataModule` whose representation is `ImportedTokens`: ``prepare_data`` checks every id of the source
    against its level's size, then bins the tokens of the corpus's utterances through the encode job."""

    needs_audio = False

    def __init__(self, corpus: Corpus, name: str, source: TokenSource, layout: TokenLayout,
                 max_frame_mismatch: float | None = 2.0, **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus the tokens belong to (keys = its utterance ids): the audio corpus of the other
                representations, or a `TokenCorpus` over the source itself.
            name: the bin directory under ``<root>/<corpus>/``, e.g. ``mycodec_step40k``.
            source: the tokens (`DatasetTokens`: a hub/local dataset or parquet; `NpyFolderTokens`).
            layout: codebook sizes and frame rates, and how each utterance's codes are stored.
            max_frame_mismatch: frames an utterance's codes may differ from duration × frame rate (None: no check).
            **kwargs: `CodecDataModule` / `TokenBinDataModule` arguments (root, encode, seq_len, batch_size, ...).
        """
        self.source, self.layout, self.max_frame_mismatch = source, layout, max_frame_mismatch
        super().__init__(corpus, representation_name=name, weights=PRECOMPUTED, **kwargs)

    def build_representation(self) -> Representation:
        return ImportedTokens(self.representation_name, self.source, self.layout, self.max_frame_mismatch)

    def prepare_data(self) -> None:
        """Import unless the bins are complete: check every id, bin the matched utterances, report unmatched keys."""
        importing = not is_complete(self.bins_dir)
        if importing:
            self.representation.check_ids()
        super().prepare_data()
        if importing:
            held = set()
            for split in SPLITS:
                with np.load(self.bins_dir / f"{split}.idx.npz") as index:
                    held.update(str(i) for i in index["ids"])
            self.representation.note_unmatched(self.corpus.name, held)

    def _check_weights(self) -> None:
        """Also refuse bins imported from another source (another dataset, folder or column mapping)."""
        super()._check_weights()
        recorded = self.meta.encoder.get("source")
        wanted = json.loads(json.dumps(self.source.describe()))
        if recorded != wanted:
            raise BinFormatError(f"{self.bins_dir} was imported from {recorded}, but this config imports {wanted}. "
                                 "Give the import another name, or delete the folder to import again.")
