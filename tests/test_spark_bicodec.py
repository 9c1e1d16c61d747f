"""BiCodec (PyPI spark-tts-lib): the global-prefix-then-semantic layout, rates, batch == single, decode, and
SparkAudio/Spark-TTS-0.5B's files (config.yaml, BiCodec/, wav2vec2-large-xlsr-53/) loaded from an offline hub cache
and a local folder, checked against upstream's own BiCodecTokenizer on the same folder. A narrow model (the
released one's mel front end, codebook sizes, token count and upsampling rates, widths shrunk) keeps it fast; it
goes through the real weights="random" path with only the widths swapped."""

import copy

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import REGISTRY, Utterance, can_decode
from audiobits.representations.codec import probe_signal
from test_representations import hub_snapshot  # noqa: F401  (fixture)

pytest.importorskip("spark_tts_lib", reason="spark-tts-lib (audiobits[spark_bicodec]) is not installed")

import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from results_file import results_json  # noqa: E402
from corpus_builders import representation_fit_config, speech_rows, write_audio_folder  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from spark_tts_lib.models.audio_tokenizer import BiCodecTokenizer  # noqa: E402

from audiobits.bins import TokenBins  # noqa: E402
from audiobits.cli import main  # noqa: E402
from audiobits.errors import AudiobitsError  # noqa: E402
from audiobits.representations.spark_bicodec import (  # noqa: E402
    RELEASED_BICODEC, RELEASED_TOP, REPO, WAV2VEC2, SparkBiCodecRepresentation)

NARROW = {"input_channels": 32, "vocos_dim": 32, "vocos_intermediate_dim": 64, "vocos_num_layers": 1,
          "out_channels": 32}
NARROW_WAV2VEC2 = {"hidden_size": 32, "num_hidden_layers": 16, "num_attention_heads": 2, "intermediate_size": 64,
                   "conv_dim": (32,) * 7, "feat_extract_norm": "layer", "do_stable_layer_norm": True,
                   "conv_bias": True, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}
SHORT_REFERENCE = {**RELEASED_TOP, "ref_segment_duration": 1}  # ECAPA-TDNN is 512 wide whatever the config: 1 s clips


def narrow_bicodec() -> dict:
    config = copy.deepcopy(RELEASED_BICODEC)
    for part in ("encoder", "prenet", "postnet"):
        config[part].update(NARROW)
    config["prenet"]["condition_dim"] = 32
    config["decoder"].update(input_channel=32, channels=64)
    config["quantizer"].update(input_dim=32)
    config["speaker_encoder"].update(out_dim=32, latent_dim=16)
    return config


class SmallBiCodec(SparkBiCodecRepresentation):
    def _configs(self):
        return SHORT_REFERENCE, narrow_bicodec(), NARROW_WAV2VEC2


_REPS: dict = {}


def small() -> SparkBiCodecRepresentation:
    if not _REPS:
        _REPS["random"] = SmallBiCodec(weights="random")
    return _REPS["random"]


def old_weight_norm_keys(state: dict) -> dict:
    """The keys torch.nn.utils.weight_norm (before parametrizations) gave: ``weight_g``, ``weight_v``."""
    renamed = {".parametrizations.weight.original0": ".weight_g", ".parametrizations.weight.original1": ".weight_v"}
    return {next((k.replace(a, b) for a, b in renamed.items() if a in k), k): v for k, v in state.items()}


def write_upstream_folder(folder, drop_key: bool = False, rename=lambda state: state) -> None:
    """Spark-TTS-0.5B's layout with a narrow random model: config.yaml (1 s reference clips),
    BiCodec/{config.yaml,model.safetensors} (the state dict as upstream's modules hold it, weight norm included)
    and wav2vec2-large-xlsr-53/ as transformers saves it. ``drop_key``: one tensor left out, one foreign added."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(3)
    (folder / "BiCodec").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(SHORT_REFERENCE), folder / "config.yaml")
    OmegaConf.save(OmegaConf.create({"audio_tokenizer": narrow_bicodec()}), folder / "BiCodec" / "config.yaml")
    state = {k: v.contiguous() for k, v in SparkBiCodecRepresentation._bicodec(narrow_bicodec()).state_dict().items()}
    if drop_key:
        state.pop("quantizer.codebook.weight")
        state["vocoder.extra"] = torch.zeros(1)
    save_file(rename(state), folder / "BiCodec" / "model.safetensors")
    Wav2Vec2Model(Wav2Vec2Config(**NARROW_WAV2VEC2)).save_pretrained(folder / WAV2VEC2)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(folder / WAV2VEC2)


def test_layout_rates_frames_batch_and_decode():
    rep = small()
    assert REGISTRY["spark_bicodec"] == ("spark_bicodec", "SparkBiCodecRepresentation", {})
    assert (rep.sample_rate, rep.hop, rep.vocab_size, rep.eos_id) == (16000, 320, 12289, 12288)
    assert metrics.nominal_bitrate(rep.codebooks) == pytest.approx(650.0)  # the semantic stream; prefix: per utterance
    batch = [Utterance("a", "", probe_signal(1.0, 16000, 1), 16000),
             Utterance("b", "", probe_signal(0.7, 22050, 2), 22050),
             Utterance("c", "", probe_signal(1.0, 16000, 3), 16000),
             Utterance("short", "", probe_signal(0.05, 16000, 4)[:720], 16000)]
    together = rep.encode(batch)
    frames = [49, (rep.resampled_length(len(batch[1].audio), 22050) - 400) // 320 + 1, 49, 2]
    assert [len(ids) for ids in together] == [32 + f for f in frames]
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(rep.encode([utterance])[0], ids, err_msg=utterance.id)
        assert ((0 <= ids[:32]) & (ids[:32] < 4096)).all() and ((4096 <= ids[32:]) & (ids[32:] < 12288)).all()
    assert len(np.unique(together[0][:32])) > 16 and len(np.unique(together[0][32:])) > 30, "refitted codebooks"
    assert (together[0][:32] != together[2][:32]).any(), "another utterance, other global tokens"
    assert can_decode(rep)
    audio = rep.decode(together[0])
    assert audio.dtype == np.float32 and len(audio) == 49 * 320 and np.isfinite(audio).all() and audio.std() > 0
    other_globals = np.concatenate([together[2][:32], together[0][32:]])
    assert not np.allclose(rep.decode(other_globals), audio), "the decoder uses the global prefix"
    with pytest.raises(AudiobitsError, match="32 global ids"):
        rep.decode(together[0][32:])  # no prefix: semantic ids where global ids belong


def test_upstream_folder_from_a_hub_cache_and_a_local_path_matches_upstream(hub_snapshot, tmp_path):  # noqa: F811
    snapshot = hub_snapshot(REPO, {"config.yaml": lambda p: write_upstream_folder(p.parent)})
    audio = probe_signal(1.3, 16000, 5)
    loaded = SmallBiCodec()  # weights="pretrained": snapshot_download + upstream's files, strict keys
    ids = loaded.encode([Utterance("x", "", audio, 16000)])[0]
    assert loaded.encoder_info()["checkpoint"] == f"{REPO}@{snapshot.name}"
    assert loaded.encoder_info()["package"] == "spark-tts-lib"

    sf.write(tmp_path / "x.wav", audio, 16000, subtype="FLOAT")
    upstream = BiCodecTokenizer(snapshot, device=torch.device("cpu"))
    global_tokens, semantic_tokens = upstream.tokenize(str(tmp_path / "x.wav"))
    np.testing.assert_array_equal(ids[:32], global_tokens.reshape(-1).numpy())
    np.testing.assert_array_equal(ids[32:] - 4096, semantic_tokens.reshape(-1).numpy())
    want = upstream.detokenize(global_tokens.squeeze(0), semantic_tokens)
    np.testing.assert_allclose(loaded.decode(ids), want[:len(ids[32:]) * 320], atol=1e-5)

    write_upstream_folder(tmp_path / "local", rename=old_weight_norm_keys)  # a local copy, older weight-norm keys
    assert any(key.endswith(".weight_g") for key in load_file(tmp_path / "local/BiCodec/model.safetensors"))
    np.testing.assert_array_equal(SmallBiCodec(weights=str(tmp_path / "local")).encode(
        [Utterance("x", "", audio, 16000)])[0], ids)
    other = small()  # negative control: other weights, other codes
    assert (other.encode([Utterance("x", "", audio, 16000)])[0] != ids).mean() > 0.5


def test_a_checkpoint_that_does_not_fit_and_missing_files_are_refused(tmp_path):
    write_upstream_folder(tmp_path / "bad", drop_key=True)
    with pytest.raises(AudiobitsError, match=r"model.safetensors does not fit BiCodec/config.yaml: 1 missing keys "
                                             r"\(e.g. \['quantizer.codebook.weight'\]\), 1 unexpected"):
        SmallBiCodec(weights=str(tmp_path / "bad"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudiobitsError, match=r"empty/config.yaml not found; a local BiCodec is a copy of "):
        SmallBiCodec(weights=str(tmp_path / "empty"))


@pytest.mark.slow
def test_prepare_and_fit_count_the_global_prefix(tmp_path):
    """Through `audiobits prepare` and `fit`: each utterance's bins hold 32 global ids, its wav2vec2 frames and EOS;
    meta.json keeps the prefix as its own level at frame rate 0, so the nominal bitrate is the semantic stream's
    650 bit/s, while the measured bits/s (Σ bits ÷ Σ seconds) counts every token, the prefix included."""
    folder = write_audio_folder(tmp_path / "mine", {"train": speech_rows(6), "val": speech_rows(3, prefix="v")})
    representation = {"class_path": f"{__name__}.SmallBiCodec", "init_args": {"weights": "random"}}
    path = representation_fit_config(tmp_path, folder, "bicodec", representation, seq_len=32)
    main(["prepare", "--config", str(path)])
    bins = TokenBins(tmp_path / "data" / "mine" / "spark_bicodec")
    assert [(c.size, c.frame_rate) for c in bins.meta.codebooks] == [(4096, 0.0), (8192, 50.0)]
    assert bins.meta.flattening == "global_prefix_then_semantic"
    val = bins.split("val")
    samples = [len(sf.read(folder / "val" / name)[0]) for name, _, _ in speech_rows(3, prefix="v")]
    assert val.tokens.size == sum(32 + (n - 400) // 320 + 1 + 1 for n in samples)
    main(["fit", "--config", str(path)])
    results = results_json(next((tmp_path / "runs" / "bicodec").glob("version_*")))
    assert results["nominal_bitrate"] == pytest.approx(650.0)
    assert results["flat_capacity"] == pytest.approx(50 * np.log2(12288))
    assert results["bits_per_sec"] == pytest.approx(
        results["bits_per_token"] * results["val_tokens"] / results["val_seconds"])
