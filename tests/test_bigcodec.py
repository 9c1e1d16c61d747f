"""BigCodec (PyPI bigcodec, the authors' modules): rate, whole frames, batch == single, decode, and the authors'
loading of Alethia/BigCodec's bigcodec.pt from an offline hub cache. A narrow model (upstream hop, frame rate and
codebook of 8192) keeps it fast; it goes through the real weights="random" path with only the modules' widths
swapped. The checkpoint is written as the authors' code saves it: legacy weight norm (weight_g / weight_v)."""

import numpy as np
import pytest

from audiobits import metrics
from audiobits.representations import REGISTRY, Utterance, build
from audiobits.representations.codec import probe_signal
from test_representations import hub_snapshot  # noqa: F401  (fixture)

pytest.importorskip("bigcodec", reason="bigcodec (audiobits[bigcodec]) is not installed")

import torch  # noqa: E402
from bigcodec import CodecDecoder, CodecEncoder  # noqa: E402

from audiobits.representations.bigcodec import CHECKPOINT, PARTS, REPO, BigCodecRepresentation  # noqa: E402


class SmallBigCodec(BigCodecRepresentation):
    def _architecture(self):
        return (CodecEncoder(ngf=4, rnn_num_layers=1, out_channels=32),
                CodecDecoder(in_channels=32, upsample_initial_channel=64, rnn_num_layers=1, vq_dim=32))


_REPS: dict = {}


def small() -> BigCodecRepresentation:
    if not _REPS:
        _REPS["random"] = SmallBigCodec(weights="random")
    return _REPS["random"]


def authors_checkpoint(rep: BigCodecRepresentation) -> dict:
    """``{"CodecEnc": ..., "generator": ...}`` with the weight-norm names of torch.nn.utils.weight_norm, which the
    authors' vq/ modules use (the package uses the parametrization: ``parametrizations.weight.original0/1``)."""
    def legacy(name: str) -> str:
        return name.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v")

    return {key: {legacy(k): v for k, v in rep.model[part].state_dict().items()} for part, key in PARTS.items()}


def test_rate_frames_batch_and_decode():
    rep = small()
    assert REGISTRY["bigcodec"] == ("bigcodec", "BigCodecRepresentation", {})
    assert (rep.name, rep.sample_rate, rep.hop, rep.frame_rate, rep.tokens_per_frame, rep.vocab_size, rep.eos_id) == (
        "bigcodec", 16000, 200, 80.0, 1, 8193, 8192)
    assert metrics.nominal_bitrate(rep.codebooks) == 1040.0
    vq = rep.model["decoder"].quantizer.layers[0]
    assert (rep.model["encoder"].hop_length, vq.codebook_size) == (200, 8192)  # the narrow model keeps both
    batch = [Utterance("a", "", probe_signal(1.0, 16000, 1)[:20 * 200 + 7], 16000),
             Utterance("b", "", probe_signal(0.7, 22050, 2), 22050),
             Utterance("c", "", probe_signal(1.0, 16000, 3)[:20 * 200 + 7], 16000),
             Utterance("exact", "", probe_signal(1.0, 16000, 4)[:20 * 200], 16000)]  # upstream pads a whole hop
    together = rep.encode(batch)
    assert [len(ids) for ids in together] == [20, rep.resampled_length(len(batch[1].audio), 22050) // 200, 20, 20]
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(rep.encode([utterance])[0], ids, err_msg=utterance.id)
        assert 0 <= ids.min() and ids.max() < rep.eos_id
    assert len(np.unique(together[1])) > len(together[1]) // 4, "refitted codebook gives diverse codes"
    audio = rep.decode(together[3])
    assert audio.dtype == np.float32 and len(audio) == 20 * 200 and rep.decoded_sample_rate == 16000
    assert np.isfinite(audio).all()


def test_authors_checkpoint_from_a_hub_cache_and_a_local_path(hub_snapshot):  # noqa: F811
    source = small()
    snapshot = hub_snapshot(REPO, {CHECKPOINT: lambda p: torch.save(authors_checkpoint(source), p)})
    utterance = Utterance("x", "", probe_signal(0.5, 16000, 5), 16000)
    want = source.encode([utterance])[0]
    loaded = SmallBigCodec()  # weights="pretrained": hf_hub_download + inference.py's strict loads
    np.testing.assert_array_equal(loaded.encode([utterance])[0], want)
    np.testing.assert_array_equal(loaded.decode(want), source.decode(want))
    assert loaded.encoder_info()["checkpoint"] == f"{REPO}/{CHECKPOINT}@{snapshot.name}"
    for local in (snapshot, snapshot / CHECKPOINT):
        np.testing.assert_array_equal(SmallBigCodec(weights=str(local)).encode([utterance])[0], want)


def test_other_checkpoints_are_refused(tmp_path):
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="lacks the keys \\['CodecEnc', 'generator'\\]"):
        BigCodecRepresentation(weights=str(tmp_path / "other.pt"))
    torch.save(authors_checkpoint(small()), tmp_path / CHECKPOINT)  # the narrow model: not the authors' shape
    with pytest.raises(ValueError, match="'CodecEnc' is not BigCodec's encoder"):
        BigCodecRepresentation(weights=str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Alethia/BigCodec's bigcodec.pt"):
        BigCodecRepresentation(weights=str(tmp_path / "empty"))


@pytest.mark.slow
def test_full_size_random_weights():
    """The package's module defaults are the paper's 159 M-parameter model (weight norm's g and v both counted)."""
    rep = build("bigcodec", weights="random")
    assert sum(p.numel() for p in rep.model.parameters()) == 159_436_290
    ids = rep.encode([Utterance("y", "", probe_signal(0.5, 16000, 6), 16000)])[0]
    assert len(ids) == 40 and len(np.unique(ids)) > 10
