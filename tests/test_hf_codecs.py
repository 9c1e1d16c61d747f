"""EnCodec, DAC and X-Codec through transformers: rates, whole frames, batch == single, decode, and the unchanged
``from_pretrained(<hub id>)`` path on a hub cache holding a small random model saved by ``save_pretrained``.

Small models keep the upstream hop, rate and level count (only widths shrink); they are built by the real
``weights="random"`` path (seeded init, codebooks refitted) with just the config swapped.
"""

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import REGISTRY, Utterance, build
from audiobits.representations.codec import probe_signal
from audiobits.representations.hf_codecs import DacRepresentation, EncodecRepresentation, XcodecRepresentation
from test_representations import hub_snapshot  # noqa: F401  (fixture)

transformers = pytest.importorskip("transformers", reason="transformers is not installed")


def small_encodec_config():
    return transformers.EncodecConfig(hidden_size=16, num_filters=4, num_lstm_layers=1)


def small_dac_config(khz=16):
    rate, ratios, levels = {16: (16000, [2, 4, 5, 8], 12), 44: (44100, [2, 4, 8, 8], 9)}[khz]
    return transformers.DacConfig(encoder_hidden_size=4, downsampling_ratios=ratios, decoder_hidden_size=16,
                                  n_codebooks=levels, codebook_dim=8, sampling_rate=rate)


def small_xcodec_config():
    acoustic = transformers.DacConfig(encoder_hidden_size=4, downsampling_ratios=[8, 5, 4, 2], decoder_hidden_size=16,
                                      upsampling_ratios=[8, 5, 4, 2], hidden_size=64)
    semantic = transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=37, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=2)
    return transformers.XcodecConfig(acoustic_model_config=acoustic, semantic_model_config=semantic)


SMALL = {EncodecRepresentation: small_encodec_config, DacRepresentation: small_dac_config,
         XcodecRepresentation: small_xcodec_config}
_REPS: dict = {}


def small(cls, **kwargs):
    """``cls`` with weights="random" on the small config (cached per class and arguments)."""
    key = (cls, tuple(sorted(kwargs.items())))
    if key not in _REPS:
        config = SMALL[cls](**({"khz": kwargs["khz"]} if "khz" in kwargs else {}))
        small_cls = type(f"Small{cls.__name__}", (cls,), {"_random_config": lambda self: config})
        _REPS[key] = small_cls(weights="random", **kwargs)
    return _REPS[key]


def clip(seconds, rate, seed):
    audio = probe_signal(seconds, rate, seed)
    return Utterance(f"c{seed}-{len(audio)}@{rate}", "", audio, rate)


# name -> (class kwargs, rate, hop, levels, nominal bits/s)
CASES = {
    "encodec_6kbps": (EncodecRepresentation, {"bandwidth": 6.0}, 24000, 320, 8, 6000),
    "encodec_1.5kbps": (EncodecRepresentation, {"bandwidth": 1.5}, 24000, 320, 2, 1500),
    "dac_16khz_4q": (DacRepresentation, {"khz": 16, "n_quantizers": 4}, 16000, 320, 4, 2000),
    "dac_44khz_9q": (DacRepresentation, {"khz": 44, "n_quantizers": 9}, 44100, 512, 9, 9 * 10 * 44100 / 512),
    "xcodec_2kbps": (XcodecRepresentation, {"bandwidth": 2.0}, 16000, 320, 4, 2000),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rate_whole_frames_batch_equals_single_and_decode(name):
    cls, kwargs, rate, hop, levels, nominal = CASES[name]
    assert REGISTRY[name][1] == cls.__name__ and REGISTRY[name][2] == kwargs
    rep = small(cls, **kwargs)
    assert (rep.name, rep.sample_rate, rep.hop, rep.tokens_per_frame, rep.vocab_size) == (
        name, rate, hop, levels, 1024 * levels + 1)
    assert metrics.nominal_bitrate(rep.codebooks) == pytest.approx(nominal)
    batch = [clip(31.4 * hop / rate, rate, 1), clip(0.6, 22050, 2), clip(31.4 * hop / rate, rate, 3),
             Utterance("exact", "", probe_signal(1.0, rate, 4)[: 20 * hop], rate)]
    together = rep.encode(batch)
    frames = [31, rep.resampled_length(len(batch[1].audio), 22050) // hop, 31, 20]
    assert [len(ids) for ids in together] == [f * levels for f in frames]
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(rep.encode([utterance])[0], ids, err_msg=utterance.id)
        assert 0 <= ids.min() and ids.max() < rep.eos_id
    assert len(np.unique(together[0])) > len(together[0]) // 4, "refitted codebooks give diverse codes"
    audio = rep.decode(together[3])
    assert audio.dtype == np.float32 and len(audio) == 20 * hop and rep.decoded_sample_rate == rate
    assert np.isfinite(audio).all()


@pytest.mark.parametrize("cls, kwargs, repo", [
    (EncodecRepresentation, {"bandwidth": 6.0}, "facebook/encodec_24khz"),
    (DacRepresentation, {"khz": 16, "n_quantizers": 12}, "descript/dac_16khz"),
    (XcodecRepresentation, {"bandwidth": 4.0}, "hf-audio/xcodec-hubert-librispeech"),
])
def test_pretrained_path_on_a_hub_cache(hub_snapshot, cls, kwargs, repo):  # noqa: F811
    """``weights="pretrained"`` runs the unchanged ``from_pretrained(repo)`` offline; a local folder works too."""
    source = small(cls, **kwargs)
    snapshot = hub_snapshot(repo, {"config.json": lambda p: source.model.save_pretrained(p.parent)})
    utterance = clip(0.5, 16000, 5)
    want = source.encode([utterance])[0]
    loaded = cls(**kwargs)
    np.testing.assert_array_equal(loaded.encode([utterance])[0], want)
    assert loaded.encoder_info()["checkpoint"] == f"{repo}/model.safetensors@{snapshot.name}"
    np.testing.assert_array_equal(cls(weights=str(snapshot), **kwargs).encode([utterance])[0], want)


def test_weights_of_another_shape_are_refused(tmp_path):
    small(DacRepresentation, khz=44, n_quantizers=9).model.save_pretrained(tmp_path / "dac44")
    with pytest.raises(ValueError, match="44100 Hz model with hop 512.*dac_16khz_2q needs 16000 Hz"):
        DacRepresentation(khz=16, n_quantizers=2, weights=str(tmp_path / "dac44"))
    with pytest.raises(FileNotFoundError, match="config.json and model.safetensors"):
        EncodecRepresentation(weights=str(tmp_path))


def test_parameters_are_checked():
    with pytest.raises(ValueError, match=r"one of \[1.5, 3.0, 6.0, 12.0, 24.0\]"):
        EncodecRepresentation(bandwidth=2.0, weights="random")
    with pytest.raises(ValueError, match=r"n_quantizers must be in \[1, 9\]"):
        DacRepresentation(khz=44, n_quantizers=10, weights="random")
    with pytest.raises(ValueError, match="xcodec bandwidth"):
        XcodecRepresentation(bandwidth=3.0, weights="random")


@pytest.mark.slow
def test_encodec_full_size_random_weights():
    """The real architecture (transformers' EncodecConfig defaults are encodec_24khz): 32 levels, 24 kbps."""
    rep = build("encodec_24kbps", weights="random")
    assert rep.tokens_per_frame == 32 and metrics.nominal_bitrate(rep.codebooks) == 24000
    ids = rep.encode([clip(0.5, 24000, 6)])[0]
    assert len(ids) == 37 * 32 and len(np.unique(ids)) > len(ids) // 4
