"""Helpers the benchmark scripts share: synthetic bins of any vocabulary and the device's name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audiobits.bins import BinMeta, BinWriter, Codebook

SEED_VOCABS = {"mimi_sem": 2049, "snac_orpheus": 12289, "mimi_all": 16385, "text": 50257, "neucodec": 65537}


def write_uniform_bins(out: Path, vocab_size: int, train_tokens: int, utterance_len: int = 10_000,
                       seed: int = 0) -> Path:
    """A complete bin directory of uniformly random ids (the last id is the EOS): any vocab, written fast."""
    rng = np.random.default_rng(seed)
    meta = BinMeta(representation="uniform", corpus="synthetic", encoder={"name": "uniform", "weights": "none"},
                   vocab_size=vocab_size, eos_id=vocab_size - 1, codebooks=[Codebook(vocab_size - 1, 50.0)],
                   flattening="none")
    with BinWriter(out, meta) as writer:
        for split, tokens in (("train", train_tokens), ("val", 4 * utterance_len)):
            for i in range(-(-tokens // (utterance_len + 1))):  # at least `tokens`
                writer.add(split, f"{split}-{i:07d}", rng.integers(0, vocab_size - 1, utterance_len),
                           seconds=(utterance_len + 1) / 50.0, text_bytes=0)
    return out


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"CPU ({torch.get_num_threads()} torch threads)"
