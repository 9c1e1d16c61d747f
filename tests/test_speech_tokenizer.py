"""SpeechTokenizer (PyPI speechtokenizer): rate, whole frames, batch == single, decode, and the upstream loader on
fnlp/SpeechTokenizer's files laid out in an offline hub cache. A narrow model (upstream strides and levels) keeps
it fast; it goes through the real weights="random" path with only the config swapped."""

import json

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import REGISTRY, Utterance
from audiobits.representations.codec import probe_signal
from test_representations import hub_snapshot  # noqa: F401  (fixture)

pytest.importorskip("speechtokenizer", reason="speechtokenizer (audiobits[speechtokenizer]) is not installed")

from audiobits.representations.speech_tokenizer import (ARCHITECTURE, CHECKPOINT, CONFIG, FOLDER,  # noqa: E402
                                                        REPO, SpeechTokenizerRepresentation)

SMALL = {**ARCHITECTURE, "n_filters": 4, "dimension": 32, "semantic_dimension": 16, "lstm_layers": 1}
_REPS: dict = {}


def small(n_q: int) -> SpeechTokenizerRepresentation:
    if n_q not in _REPS:
        cls = type("SmallSpeechTokenizer", (SpeechTokenizerRepresentation,), {"_random_config": lambda s: dict(SMALL)})
        _REPS[n_q] = cls(n_q=n_q, weights="random")
    return _REPS[n_q]


def test_rate_frames_batch_and_decode():
    rep = small(2)
    assert REGISTRY["speechtokenizer_2q"][2] == {"n_q": 2}
    assert (rep.name, rep.tokens_per_frame, rep.vocab_size, metrics.nominal_bitrate(rep.codebooks)) == (
        "speechtokenizer_2q", 2, 2049, 1000.0)
    batch = [Utterance("a", "", probe_signal(1.0, 16000, 1)[:20 * 320 + 7], 16000),
             Utterance("b", "", probe_signal(0.7, 22050, 2), 22050),
             Utterance("c", "", probe_signal(1.0, 16000, 3)[:20 * 320 + 7], 16000)]
    together = rep.encode(batch)
    assert [len(ids) for ids in together] == [40, 2 * (rep.resampled_length(len(batch[1].audio), 22050) // 320), 40]
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(rep.encode([utterance])[0], ids)
    assert len(np.unique(together[0])) > 10
    audio = rep.decode(together[0])
    assert audio.dtype == np.float32 and len(audio) == 20 * 320 and np.isfinite(audio).all()
    with pytest.raises(ValueError, match=r"n_q must be in \[1, 8\]"):
        SpeechTokenizerRepresentation(n_q=9, weights="random")


def test_pretrained_path_on_a_hub_cache(hub_snapshot):  # noqa: F811
    import torch

    source = small(8)

    def write(path, content):
        path.parent.mkdir(parents=True, exist_ok=True)
        content(path)

    snapshot = hub_snapshot(REPO, {
        f"{FOLDER}/{CONFIG}": lambda p: write(p, lambda q: q.write_text(json.dumps(SMALL))),
        f"{FOLDER}/{CHECKPOINT}": lambda p: write(p, lambda q: torch.save(source.model.state_dict(), q))})
    utterance = Utterance("x", "", probe_signal(0.5, 16000, 4), 16000)
    loaded = SpeechTokenizerRepresentation(n_q=8)  # weights="pretrained": hf_hub_download + load_from_checkpoint
    np.testing.assert_array_equal(loaded.encode([utterance])[0], source.encode([utterance])[0])
    assert loaded.encoder_info()["checkpoint"] == f"{REPO}/{FOLDER}/{CHECKPOINT}@{snapshot.name}"
    local = SpeechTokenizerRepresentation(n_q=1, weights=str(snapshot / FOLDER))
    np.testing.assert_array_equal(local.encode([utterance])[0], source.encode([utterance])[0][0::8])
