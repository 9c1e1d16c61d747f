"""Bring your own tokens: precomputed codes (a `datasets` dataset, parquet, or .npy/.npz per utterance) imported as
ordinary bins of a corpus, matched by key to its other representations (docs/import.md)."""

from audiobits.importing.corpus import TokenCorpus
from audiobits.importing.datamodule import ImportDataModule
from audiobits.importing.layout import TokenLayout
from audiobits.importing.sources import DatasetTokens, NpyFolderTokens, TokenColumns, TokenSource
from audiobits.importing.tokens import ImportedTokens

__all__ = ["DatasetTokens", "ImportDataModule", "ImportedTokens", "NpyFolderTokens", "TokenColumns", "TokenCorpus",
           "TokenLayout", "TokenSource"]
