"""S3Tokenizer v2 (PyPI s3tokenizer): rate, whole frames, batch == single, encode-only, and upstream's ONNX loading
(onnx2torch + strict load) of FunAudioLLM/CosyVoice2-0.5B's speech_tokenizer_v2.onnx from an offline hub cache. A
narrow model (upstream's 128 mels, strides, head size and FSQ) keeps it fast; it goes through the real
weights="random" path with only the widths swapped. The ONNX file is written with the ``onnx`` package: every
weight an initializer on a node named as upstream's converter reads them from the released file."""

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import REGISTRY, Utterance, build, can_decode
from audiobits.representations.codec import probe_signal
from test_representations import hub_snapshot  # noqa: F401  (fixture)

pytest.importorskip("s3tokenizer", reason="s3tokenizer (audiobits[s3tokenizer]) is not installed")

import onnx  # noqa: E402  (s3tokenizer depends on it)
from onnx import helper, numpy_helper  # noqa: E402
from s3tokenizer.model_v2 import ModelConfig  # noqa: E402

from audiobits.representations.s3_tokenizer import CHECKPOINT, REPO, S3TokenizerRepresentation  # noqa: E402

LINEARS = {"attn.query": "attn/query", "attn.key": "attn/key", "attn.value": "attn/value", "attn.out": "attn/out",
           "mlp.0": "mlp/mlp.0", "mlp.2": "mlp/mlp.2"}  # torch module -> its scope in the ONNX node names


class SmallS3Tokenizer(S3TokenizerRepresentation):
    def _config(self):
        return ModelConfig(n_audio_state=128, n_audio_head=2, n_audio_layer=2)  # head size 64, as upstream's RoPE


_REPS: dict = {}


def small() -> S3TokenizerRepresentation:
    if not _REPS:
        _REPS["random"] = SmallS3Tokenizer(weights="random")
    return _REPS["random"]


def upstream_onnx(rep: S3TokenizerRepresentation) -> onnx.ModelProto:
    """The model's weights as speech_tokenizer_v2.onnx holds them for onnx2torch: convolutions under the
    ``onnx::Conv_2216..2219`` initializers, linear weights transposed on ``.../MatMul`` nodes, biases on
    ``.../Add``, layer norms on ``LayerNormalization`` nodes, the FSQ projection as ``onnx::MatMul_2536`` and
    ``quantizer.project_in.bias``. The nodes are chained to make a well-formed graph; the converter never runs it."""
    state = {k: v.numpy() for k, v in rep.model.state_dict().items()}
    nodes = [("Conv", f"/conv{i}/Conv", [(f"onnx::Conv_{2214 + 2 * i}", state[f"encoder.conv{i}.weight"]),
                                         (f"onnx::Conv_{2215 + 2 * i}", state[f"encoder.conv{i}.bias"])])
             for i in (1, 2)]
    for block in range(rep.model.config.n_audio_layer):
        key, scope = f"encoder.blocks.{block}.", f"/blocks.{block}/"
        for norm in ("attn_ln", "mlp_ln"):
            nodes.append(("LayerNormalization", f"{scope}{norm}/LayerNormalization",
                          [(f"{key}{norm}.{p}"[8:], state[f"{key}{norm}.{p}"]) for p in ("weight", "bias")]))
        for linear, path in LINEARS.items():
            nodes.append(("MatMul", f"{scope}{path}/MatMul", [(f"onnx::MatMul_{len(nodes)}",
                                                                 state[f"{key}{linear}.weight"].T)]))
            if f"{key}{linear}.bias" in state:
                nodes.append(("Add", f"{scope}{path}/Add", [(f"{key}{linear}.bias"[8:], state[f"{key}{linear}.bias"])]))
        fsmn = f"{key}attn.fsmn_block.weight"
        nodes.append(("Conv", f"{scope}attn/fsmn_block/Conv", [(fsmn[8:], state[fsmn])]))
    down = "quantizer._codebook.project_down."
    nodes += [("MatMul", "/quantizer/project_in/MatMul", [("onnx::MatMul_2536", state[down + "weight"].T)]),
              ("Add", "/quantizer/project_in/Add", [("quantizer.project_in.bias", state[down + "bias"])])]
    graph_nodes, initializers, previous = [], [], "feats"
    for op, name, weights in nodes:
        graph_nodes.append(helper.make_node(op, [previous, *(n for n, _ in weights)], [name + "_output"], name=name))
        initializers += [numpy_helper.from_array(np.ascontiguousarray(array), n) for n, array in weights]
        previous = name + "_output"
    value = helper.make_tensor_value_info
    graph = helper.make_graph(graph_nodes, "speech_tokenizer_v2", [value("feats", onnx.TensorProto.FLOAT, None)],
                              [value(previous, onnx.TensorProto.FLOAT, None)], initializers)
    return helper.make_model(graph)


def test_rate_frames_batch_and_encode_only():
    rep = small()
    assert REGISTRY["s3tokenizer_v2"] == ("s3_tokenizer", "S3TokenizerRepresentation", {})
    assert (rep.name, rep.sample_rate, rep.hop, rep.frame_rate, rep.tokens_per_frame, rep.vocab_size, rep.eos_id) == (
        "s3tokenizer_v2", 16000, 640, 25.0, 1, 6562, 6561)
    assert metrics.nominal_bitrate(rep.codebooks) == pytest.approx(25 * np.log2(6561))
    batch = [Utterance("a", "", probe_signal(1.0, 16000, 1)[:20 * 640 + 7], 16000),
             Utterance("b", "", probe_signal(0.7, 22050, 2), 22050),
             Utterance("c", "", probe_signal(1.0, 16000, 3)[:20 * 640 + 7], 16000),
             Utterance("exact", "", probe_signal(1.0, 16000, 4)[:20 * 640], 16000)]
    together = rep.encode(batch)
    assert [len(ids) for ids in together] == [20, rep.resampled_length(len(batch[1].audio), 22050) // 640, 20, 20]
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(rep.encode([utterance])[0], ids, err_msg=utterance.id)
        assert 0 <= ids.min() and ids.max() < rep.eos_id
    assert len(np.unique(np.concatenate(together))) > 15, "standardized FSQ projection gives diverse codes"
    assert not can_decode(rep)  # encode-only: quality and decompress skip it with their own message


def test_over_30_s_upstream_windows_still_give_whole_frames():
    """Upstream encodes mel inputs over 3000 frames in overlapping 30 s windows and merges them: the merged stream
    still covers every whole 40 ms frame."""
    n = 16000 * 31 + 123
    (ids,) = small().encode([Utterance("long", "", probe_signal(31.0, 16000, 7)[:n], 16000)])
    assert len(ids) == n // 640 and 0 <= ids.min() and ids.max() < 6561


def test_upstream_onnx_from_a_hub_cache_and_a_local_path(hub_snapshot, tmp_path):  # noqa: F811
    source = small()
    snapshot = hub_snapshot(REPO, {CHECKPOINT: lambda p: onnx.save(upstream_onnx(source), p)})
    utterance = Utterance("x", "", probe_signal(1.0, 16000, 5), 16000)
    want = source.encode([utterance])[0]
    loaded = SmallS3Tokenizer()  # weights="pretrained": hf_hub_download + upstream's init_from_onnx
    np.testing.assert_array_equal(loaded.encode([utterance])[0], want)
    assert loaded.encoder_info()["checkpoint"] == f"{REPO}/{CHECKPOINT}@{snapshot.name}"
    assert loaded.encoder_info()["package"] == "s3tokenizer"
    for local in (snapshot, snapshot / CHECKPOINT):
        np.testing.assert_array_equal(SmallS3Tokenizer(weights=str(local)).encode([utterance])[0], want)
    other = SmallS3Tokenizer(weights="random", seed=1)  # negative control: other weights, other codes
    assert (other.encode([utterance])[0] != want).mean() > 0.5


def test_other_files_are_refused(tmp_path):
    (tmp_path / "speech_tokenizer_v2.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match="is not S3Tokenizer v2's ONNX model"):
        SmallS3Tokenizer(weights=str(tmp_path))
    onnx.save(upstream_onnx(small()), tmp_path / "narrow.onnx")  # the narrow model: not the released shape
    with pytest.raises(ValueError, match=r"narrow.onnx is not S3Tokenizer v2's ONNX model \(RuntimeError"):
        S3TokenizerRepresentation(weights=str(tmp_path / "narrow.onnx"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="FunAudioLLM/CosyVoice2-0.5B's speech_tokenizer_v2.onnx"):
        S3TokenizerRepresentation(weights=str(tmp_path / "empty"))


@pytest.mark.slow
def test_full_size_random_weights():
    """upstream's ModelConfig defaults are the released tokenizer's shape: 6 blocks of 1280 over 128 mels."""
    rep = build("s3tokenizer_v2", weights="random")
    assert sum(p.numel() for p in rep.model.parameters()) == 123_714_568
    ids = rep.encode([Utterance("y", "", probe_signal(1.0, 16000, 6), 16000)])[0]
    assert len(ids) == 25 and len(np.unique(ids)) > 10
