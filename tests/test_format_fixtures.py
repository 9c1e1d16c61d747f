"""Each file format's logits are a fixed computation, not whatever the current code computes: files and logits
written by earlier code (tests/fixtures/coded/, made by its make_coded.py: format 3 at commit af7262b, format 4 at
the commit that added it) come back bit for bit. A change to `CodingModel` that moves one float32 rounding of a
written format fails here, where round trips through today's code alone would pass.

The bits are those of one machine's kernels (docs/compress.md, Determinism): on a machine with another torch build,
CPU capability or MKL path the tests are skipped, saying which."""

from pathlib import Path

import numpy as np
import pytest
import torch

from audiobits.compress.compress import decompress_file, environment, torch_threads, weights_sha256
from audiobits.compress.compressed_file import CompressedFile
from audiobits.compress.range_coder import FORMATS, CachedPredictor
from audiobits.model import GPTConfig, TinyGPT

FIXTURES = Path(__file__).parent / "fixtures" / "coded"
VERSIONS = pytest.mark.parametrize("version", [3, 4], ids=lambda v: f"v{v}")
KERNELS = ("torch", "cpu_capability", "mkl_cbwr", "machine")


@pytest.fixture(scope="module")
def model():
    gpt = TinyGPT(GPTConfig(vocab_size=33, seq_len=16, n_layer=2, n_embd=16, n_head=2))
    gpt.load_state_dict(torch.load(FIXTURES / "model.pt"))
    return gpt.eval()


@pytest.fixture(scope="module")
def utterances():
    ids = np.load(FIXTURES / "ids.npz")
    return [ids[f"u{i}"] for i in range(len(ids.files))]


def coded(version: int) -> CompressedFile:
    """The fixture's file of ``version``; the test is skipped where this machine's kernels are not the coder's."""
    file = CompressedFile.read(FIXTURES / f"v{version}.abz")
    coder, here = file.header["environment"], environment(file.header["environment"]["threads"])
    if any(coder[key] != here[key] for key in KERNELS):
        pytest.skip(f"coded with {', '.join(f'{k} {coder[k]}' for k in KERNELS)}; this machine has "
                    f"{', '.join(f'{k} {here[k]}' for k in KERNELS)}: its logits may differ by an ULP")
    return file


@VERSIONS
def test_the_steps_give_the_logits_the_format_was_written_with(model, utterances, version):
    """Lockstep coding of three utterances (7, 40, 100 ids; context 16, refills from the last 12), every logit."""
    file = coded(version)
    assert weights_sha256(model) == file.header["weights_sha256"]
    predictor = CachedPredictor(FORMATS[version].steps(model), file.header["context_keep"])
    feeds = np.full((len(utterances), max(map(len, utterances))), file.header["eos_id"])
    for lane, ids in enumerate(utterances):
        feeds[lane, 1:len(ids)] = ids[:-1]
    with torch_threads(1), torch.inference_mode():
        predictor.start(len(utterances))
        logits = np.stack([predictor.step(feeds[:, t]) for t in range(feeds.shape[1])])
    expected = np.load(FIXTURES / f"logits_v{version}.npy")
    assert np.array_equal(logits.view(np.uint32), expected.view(np.uint32))


@VERSIONS
def test_a_file_written_by_earlier_code_decodes(model, utterances, version):
    file = coded(version)
    with torch_threads(1):
        restored, failed = decompress_file(file, model, log=lambda *args: None)
    assert not failed and all(np.array_equal(restored[i], ids) for i, ids in enumerate(utterances))


def test_the_formats_compute_other_roundings():
    """Formats 3 and 4 differ in float32 roundings only: the fixture tells them apart (else it would guard neither)."""
    v3, v4 = (np.load(FIXTURES / f"logits_v{version}.npy") for version in (3, 4))
    assert not np.array_equal(v3, v4) and np.abs(v3 - v4).max() < 1e-4 * np.abs(v3).max()
