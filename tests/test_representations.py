"""Codec representations (Mimi, SNAC, NeuCodec): real encodes with random weights, and the pretrained path fed
with checkpoints written in the upstream hub-cache layout (conftest sets HF_HUB_OFFLINE=1 and a temp cache).
"""

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from audiobits import metrics
from audiobits.representations import REGISTRY, Utterance, UtteranceError, build
from audiobits.representations.codec import probe_signal
from audiobits.representations.mimi import MimiRepresentation
from audiobits.representations.neucodec import (PRECOMPUTED, NeuCodecRepresentation, _check_covers_encoder,
                                                 fit_fsq_projection)
from audiobits.representations.snac import CONFIG_24KHZ, SnacRepresentation

torchaudio = pytest.importorskip("torchaudio", reason="the codec tests need the codec extras: pip install -e "
                                                      "'.[all,test]'")
pytestmark = pytest.mark.needs("moshi", "snac", "neucodec", "torchaudio")

# name -> (hop at the codec's rate, codec rate, tokens per coarse frame, vocab incl. EOS, frame rate per level)
EXPECTED = {
    "mimi_sem": (1920, 24000, 1, 2049, [12.5]),
    "mimi_all": (1920, 24000, 8, 16385, [12.5] * 8),
    "snac_orpheus": (2048, 24000, 7, 12289, [11.71875, 23.4375, 46.875]),
    "snac_orpheus_pos": (2048, 24000, 7, 28673, [11.71875, 23.4375, 46.875]),
    "neucodec": (320, 16000, 1, 65537, [50.0]),
}
_REPS: dict = {}


def random_rep(name: str):
    """One random-weights model per representation for the whole module (NeuCodec's takes ~10 s to build)."""
    if name not in _REPS:
        _REPS[name] = build(name, weights="random")
    return _REPS[name]


def seconds(name: str, frames: float) -> float:
    """Duration of ``frames`` coarse frames of ``name``: tests size clips in frames (NeuCodec's are 20 ms)."""
    hop, rate = EXPECTED[name][:2]
    return frames * hop / rate


def clip(seconds: float, sample_rate: int, seed: int, extra: int = 0) -> Utterance:
    audio = probe_signal(seconds, sample_rate, seed=seed + 100)
    audio = np.concatenate([audio, probe_signal(1.0, sample_rate, seed)[:extra]])
    return Utterance(f"clip{seed}-{len(audio)}@{sample_rate}", "", audio, sample_rate)


@pytest.fixture
def hub_snapshot():
    """Writes files into the offline hub cache as upstream lays them out; removes them after the test."""
    made: list[Path] = []

    def write(repo_id: str, files: dict) -> Path:
        root = Path(os.environ["HF_HUB_CACHE"]) / f"models--{repo_id.replace('/', '--')}"
        revision = hashlib.sha1(repo_id.encode()).hexdigest()
        snapshot = root / "snapshots" / revision
        snapshot.mkdir(parents=True)
        (root / "refs").mkdir()
        (root / "refs" / "main").write_text(revision)
        made.append(root)
        for name, writer in files.items():
            writer(snapshot / name)
        return snapshot

    yield write
    for root in made:
        shutil.rmtree(root)


# -- layout, rate, frames ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rate_vocab_and_layout_from_a_real_encode(name):
    hop, rate, per_frame, vocab, level_rates = EXPECTED[name]
    rep = random_rep(name)
    assert (rep.name, rep.hop, rep.sample_rate, rep.tokens_per_frame, rep.vocab_size, rep.eos_id) == (
        name, hop, rate, per_frame, vocab, vocab - 1)
    meta = rep.bin_meta("demo")
    assert [c.frame_rate for c in meta.codebooks] == pytest.approx(level_rates)
    assert meta.dtype == ("uint32" if vocab > 65536 else "uint16")
    assert (meta.tokens_per_frame, meta.encoder["weights"], meta.encoder["seed"]) == (per_frame, "random", 0)

    duration = seconds(name, 24.5)
    ids = rep.encode([clip(duration, rate, seed=1)])[0]
    frames = int(duration * rate) // hop
    assert ids.dtype == np.int64 and len(ids) == frames * per_frame
    nominal = per_frame * rate / hop
    assert nominal == pytest.approx(sum(level_rates))
    assert len(ids) / duration == pytest.approx(nominal, abs=nominal / frames)  # within one frame of nominal
    assert 0 <= ids.min() and ids.max() < rep.eos_id
    levels = rep.unflatten(ids)
    assert [len(level) for level in levels] == [frames * m for m in rep.frames_per_level]
    for level, book in zip(levels, rep.codebooks):
        assert 0 <= level.min() and level.max() < book.size
        assert len(np.unique(level)) >= len(level) // 3, "random codebooks must give diverse codes"
    np.testing.assert_array_equal(rep.flatten(levels), ids)


@pytest.mark.parametrize("name", ["mimi_all", "snac_orpheus", "neucodec"])
def test_whole_frames_only_after_resampling(name):
    """n samples at the codec's rate give n // hop frames; other rates are resampled to ceil(n * rate / sr) first."""
    hop, rate, per_frame = EXPECTED[name][:3]
    rep = random_rep(name)
    lengths = [3 * hop - 1, 3 * hop, 3 * hop + 1]
    batch = [Utterance(f"n{n}", "", probe_signal(1.0, rate, seed=n)[:n], rate) for n in lengths]
    batch.append(clip(0.25, 44100, seed=2, extra=7))  # 11032 samples at 44.1 kHz
    resampled = -(-11032 * rate // 44100)
    assert rep.resampled_length(11032, 44100) == resampled
    out = rep.encode(batch)
    assert [len(ids) // per_frame for ids in out] == [2, 3, 3, resampled // hop]
    assert all(len(ids) % per_frame == 0 for ids in out)

    short = Utterance("short", "", probe_signal(1.0, rate, seed=3)[:hop - 1], rate)
    with pytest.raises(UtteranceError, match="'short'.*shorter than one"):
        rep.check(short)


@pytest.mark.parametrize("name", ["mimi_all", "snac_orpheus", "neucodec"])
def test_batch_equals_one_at_a_time(name):
    """Different lengths and rates in one batch, two of them sharing a batch_key (so SNAC and NeuCodec batch them):
    every utterance gets exactly the codes it gets alone."""
    hop, rate = EXPECTED[name][:2]
    batch = [clip(seconds(name, 8.3), rate, seed=4), clip(seconds(name, 12.6), 16000 if rate != 16000 else 24000, 5),
             clip(seconds(name, 8.3), rate, seed=6, extra=hop // 5), clip(seconds(name, 5), rate, seed=7)]
    rep = random_rep(name)
    together = rep.encode(batch)
    for utterance, ids in zip(batch, together):
        np.testing.assert_array_equal(rep.encode([utterance])[0], ids, err_msg=utterance.id)


def test_padding_would_change_snac_codes():
    """Why SNAC batches only equal padded lengths: it is non-causal, extra zeros change a shorter input's codes."""
    rep = random_rep("snac_orpheus")
    x = torch.from_numpy(probe_signal(1.0, 24000, seed=8))[: 6 * 2048 - 500]
    assert rep.batch_key(len(x)) == rep.batch_key(6 * 2048) != rep.batch_key(6 * 2048 + 1)
    with torch.inference_mode():
        alone = rep._encode_padded(x[None, None])[0][0]
        padded = rep._encode_padded(torch.nn.functional.pad(x, (0, 8 * 2048))[None, None])[0][0, :6]
    assert len(alone) == 6 and not torch.equal(alone, padded)


def test_mimi_sem_is_codebook_0_of_mimi_all():
    utterance = clip(1.5, 24000, seed=9)
    sem, full = random_rep("mimi_sem").encode([utterance])[0], random_rep("mimi_all").encode([utterance])[0]
    np.testing.assert_array_equal(sem, full[0::8])


def test_mimi_any_number_of_levels_is_a_prefix_of_all_32():
    """mimi_<k> (any k in 1..32) holds the first k of Mimi's 32 levels with the same per-level offsets."""
    assert [REGISTRY[f"mimi_{k}"][2]["num_codebooks"] for k in range(2, 33) if k != 8] == [
        k for k in range(2, 33) if k != 8]
    k, full = 4, random_rep("mimi_32")
    assert (full.vocab_size, full.bin_meta("demo").dtype) == (65537, "uint32")
    rep = build(f"mimi_{k}", weights="random")
    assert (rep.name, rep.tokens_per_frame, rep.vocab_size) == (f"mimi_{k}", k, 2048 * k + 1)
    assert metrics.nominal_bitrate(rep.codebooks) == pytest.approx(11 * 12.5 * k)
    utterance = clip(1.0, 24000, seed=19)
    ids, all_ids = rep.encode([utterance])[0], full.encode([utterance])[0]
    np.testing.assert_array_equal(ids.reshape(-1, k), all_ids.reshape(-1, 32)[:, :k])
    with pytest.raises(ValueError, match=r"\[1, 32\]"):
        MimiRepresentation(num_codebooks=33, weights="random")


@pytest.mark.parametrize("name", ["mimi_sem", "mimi_all", "snac_orpheus", "neucodec"])
def test_decode_gives_the_frames_duration(name):
    """decode(encode(x)): float32 mono at decoded_sample_rate, exactly the duration of the whole frames coded."""
    hop, rate = EXPECTED[name][:2]
    rep = random_rep(name)
    ids = rep.encode([clip(seconds(name, 6.4), 22050, seed=20)])[0]
    frames = len(ids) // rep.tokens_per_frame
    audio = rep.decode(ids)
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
    assert rep.decoded_sample_rate == (24000 if name == "neucodec" else rate)
    assert len(audio) == frames * hop * rep.decoded_sample_rate // rate


# -- flattening ------------------------------------------------------------------------------------------------
def test_orpheus_order_and_both_offset_schemes():
    level, position = random_rep("snac_orpheus"), random_rep("snac_orpheus_pos")
    codes = [np.array([1]), np.array([2, 3]), np.array([4, 5, 6, 7])]
    k = 4096
    assert level.flatten(codes).tolist() == [1, 2 + k, 4 + 2 * k, 5 + 2 * k, 3 + k, 6 + 2 * k, 7 + 2 * k]
    assert position.flatten(codes).tolist() == [1, 2 + k, 4 + 2 * k, 5 + 3 * k, 3 + 4 * k, 6 + 5 * k, 7 + 6 * k]
    assert (level.flattening, position.flattening) == ("orpheus_level_offsets", "orpheus_position_offsets")


@pytest.mark.parametrize("name", ["mimi_all", "snac_orpheus", "snac_orpheus_pos"])
def test_flatten_unflatten_round_trip(name):
    rep = random_rep(name)
    rng = np.random.default_rng(0)
    frames = 9
    codes = [rng.integers(0, book.size, frames * m) for book, m in zip(rep.codebooks, rep.frames_per_level)]
    ids = rep.flatten(codes)
    assert len(ids) == frames * rep.tokens_per_frame and ids.max() < rep.eos_id
    for got, want in zip(rep.unflatten(ids), codes):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="whole"):
        rep.unflatten(ids[:-1])


def test_mimi_frame_major_offsets():
    ids = random_rep("mimi_all").flatten([np.array([5, 6])] * 8)
    assert ids.tolist() == [5 + 2048 * k for k in range(8)] + [6 + 2048 * k for k in range(8)]


def test_snac_offset_schemes_hold_the_same_codes():
    utterance = clip(1.2, 22050, seed=10)
    level, position = random_rep("snac_orpheus"), random_rep("snac_orpheus_pos")
    for a, b in zip(level.unflatten(level.encode([utterance])[0]), position.unflatten(position.encode([utterance])[0])):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="outside"):
        level.unflatten(np.full(7, 3 * 4096))


# -- bad input, weights argument ------------------------------------------------------------------------------
@pytest.mark.parametrize("audio, sample_rate, reason", [
    (None, 24000, "needs audio"),
    (np.zeros((2, 24000), np.float32), 24000, "1-D mono"),
    (np.zeros(24000, np.int16), 24000, "float"),
    (np.full(24000, np.nan, np.float32), 24000, "NaN"),
    (np.zeros(24000, np.float32), 0, "sample_rate"),
])
def test_bad_audio_is_an_utterance_error(audio, sample_rate, reason):
    rep = random_rep("snac_orpheus")
    bad = Utterance("bad-one", "", audio, sample_rate)
    with pytest.raises(UtteranceError, match=f"'bad-one'.*{reason}") as err:
        rep.encode([clip(1.0, 24000, seed=11), bad])
    assert err.value.utterance_id == "bad-one"


def test_random_weights_are_seeded():
    utterance = clip(1.0, 24000, seed=12)
    same = SnacRepresentation(weights="random", seed=0).encode([utterance])[0]
    np.testing.assert_array_equal(same, random_rep("snac_orpheus").encode([utterance])[0])
    assert not np.array_equal(SnacRepresentation(weights="random", seed=1).encode([utterance])[0], same)


def test_missing_weights_path_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="'pretrained', 'random'.*config.json and pytorch_model.bin"):
        SnacRepresentation(weights=str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="offsets must be one of"):
        SnacRepresentation(offsets="frame", weights="random")


# -- pretrained path: upstream loaders on checkpoints laid out as the hub cache holds them ---------------------
def test_mimi_pretrained_path(hub_snapshot):
    from moshi.models import loaders
    from safetensors.torch import save_file

    source = random_rep("mimi_all")
    state = {k: v.contiguous() for k, v in source.model.state_dict().items()}
    snapshot = hub_snapshot(loaders.DEFAULT_REPO, {loaders.MIMI_NAME: lambda p: save_file(state, p)})
    utterance = clip(1.0, 24000, seed=13)
    want = source.encode([utterance])[0]
    loaded = MimiRepresentation(num_codebooks=8)  # weights="pretrained", unchanged hf_hub_download + get_mimi
    np.testing.assert_array_equal(loaded.encode([utterance])[0], want)
    info = loaded.encoder_info()
    assert info["weights"] == "pretrained"
    assert info["checkpoint"] == f"{loaders.DEFAULT_REPO}/{loaders.MIMI_NAME}@{snapshot.name}"
    local = MimiRepresentation(num_codebooks=8, weights=str(snapshot / loaders.MIMI_NAME))
    np.testing.assert_array_equal(local.encode([utterance])[0], want)
    assert local.encoder_info()["checkpoint"] == str(snapshot / loaders.MIMI_NAME)


def test_snac_pretrained_path(hub_snapshot):
    source = random_rep("snac_orpheus")
    snapshot = hub_snapshot("hubertsiuzdak/snac_24khz", {
        "config.json": lambda p: p.write_text(json.dumps(CONFIG_24KHZ)),
        "pytorch_model.bin": lambda p: torch.save(source.model.state_dict(), p)})
    utterance = clip(1.0, 24000, seed=14)
    loaded = SnacRepresentation()  # weights="pretrained": SNAC.from_pretrained("hubertsiuzdak/snac_24khz")
    np.testing.assert_array_equal(loaded.encode([utterance])[0], source.encode([utterance])[0])
    assert loaded.encoder_info()["checkpoint"] == f"hubertsiuzdak/snac_24khz/pytorch_model.bin@{snapshot.name}"
    local = SnacRepresentation(offsets="position", weights=str(snapshot))
    np.testing.assert_array_equal(local.encode([utterance])[0], random_rep("snac_orpheus_pos").encode([utterance])[0])


def test_neucodec_pretrained_path(hub_snapshot):
    """NeuCodec.from_pretrained("neuphonic/neucodec") unchanged, including its hard-coded facebook/w2v-bert-2.0.

    w2v-bert-2.0 is 580 M parameters; the cache gets a random one of its width (1024, which NeuCodec's semantic
    encoder needs) with 17 layers (NeuCodec reads hidden state 16; one more layer proves that cutting it off
    changes nothing) and a 64-wide feed-forward: 130 M parameters, stored in fp16. The neucodec checkpoint holds every
    encoder weight (upstream loads with strict=False and we check coverage); the 185 M-parameter decoder is left out."""
    from neucodec import NeuCodec
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    torch.manual_seed(0)
    w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(num_hidden_layers=17, intermediate_size=64)).half()  # 260 MB
    hub_snapshot("facebook/w2v-bert-2.0", {"config.json": lambda p, model=w2v: model.save_pretrained(p.parent),
                                           "preprocessor_config.json": lambda p: SeamlessM4TFeatureExtractor(
                                               padding_value=1.0).save_pretrained(p.parent)})
    del w2v
    source = NeuCodec(24_000, 480).eval()  # upstream class, its w2v-bert resolved offline from the cache
    probe = torch.from_numpy(probe_signal(0.5, 16000, seed=15))[None, None]
    with torch.inference_mode():
        fit_fsq_projection(source, probe)  # untrained FSQ input gives one code everywhere
    encoder = {k: v for k, v in source.state_dict().items()
               if k.startswith(("CodecEnc.", "SemanticEncoder_module.", "fc_prior.", "generator.quantizer."))}
    snapshot = hub_snapshot("neuphonic/neucodec", {
        "pytorch_model.bin": lambda p: torch.save(encoder, p),
        "meta.yaml": lambda p: p.write_text("license: apache-2.0\n"),
        "config.json": lambda p: p.write_text(json.dumps({"sample_rate": 24000, "hop_length": 480}))})

    batch = [clip(0.25, 16000, seed=16), clip(0.25, 16000, seed=17, extra=50), clip(0.2, 22050, seed=18)]
    loaded = NeuCodecRepresentation()  # weights="pretrained"
    assert len(loaded.model.semantic_model.encoder.layers) == 16
    assert loaded.encoder_info()["checkpoint"] == f"neuphonic/neucodec/pytorch_model.bin@{snapshot.name}"
    got = loaded.encode(batch)
    with torch.inference_mode():  # upstream's own encode_code on the full 17-layer model, one utterance at a time
        for utterance, ids in zip(batch, got):
            x = torchaudio.functional.resample(torch.from_numpy(utterance.audio), utterance.sample_rate, 16000)
            x = x[None, None]
            want = source.encode_code(x)[0, 0, : len(x[0, 0]) // 320].numpy()
            np.testing.assert_array_equal(ids, want, err_msg=utterance.id)
    assert len(np.unique(np.concatenate(got))) > len(np.concatenate(got)) // 3

    torch.save({k: v for k, v in encoder.items() if k.startswith("CodecEnc.")}, snapshot / "partial.bin")
    with pytest.raises(ValueError, match="partial.bin lacks .* encoder weights.*silently"):
        _check_covers_encoder(loaded.model, snapshot / "partial.bin")


def test_neucodec_precomputed_codes_need_no_model():
    rep = NeuCodecRepresentation(weights=PRECOMPUTED)
    assert rep.model is None and rep.encoder_info()["weights"] == PRECOMPUTED
    codes = np.arange(100, dtype=np.int32) * 600
    assert rep.encode([Utterance("a", "hi", codes=codes, seconds=2.01)])[0].tolist() == codes.tolist()
    for bad, reason in [(Utterance("b", "", codes=None, seconds=2.0), "has none"),
                        (Utterance("c", "", codes=codes + 65536, seconds=2.0), r"lie in \[0, 65536\)"),
                        (Utterance("d", "", codes=codes, seconds=4.0), "wrong codec or wrong duration")]:
        with pytest.raises(UtteranceError, match=reason):
            rep.encode([bad])


# -- rebuilding the representation that wrote a bin directory --------------------------------------------------
def test_from_meta_rebuilds_the_encoder_with_its_weights_and_seed():
    """meta.json's registry name and encoder record give the same codec back: random Mimi with its seed decodes
    the ids to the same audio as the encoder's own instance."""
    from audiobits.representations import from_meta

    written = MimiRepresentation(num_codebooks=2, weights="random", seed=3)
    rebuilt = from_meta(written.bin_meta("demo"))
    assert rebuilt.name == "mimi_2" and rebuilt.encoder_info() == written.encoder_info()
    ids = written.encode([clip(0.5, 24000, 0)])[0]
    assert np.array_equal(rebuilt.decode(ids), written.decode(ids))
    assert from_meta(build("mulaw").bin_meta("demo")).name == "mulaw"  # no weights to pass


def test_from_meta_names_a_representation_outside_the_registry():
    from audiobits.errors import ConfigValueError
    from audiobits.representations import from_meta

    meta = dataclasses.replace(build("mulaw").bin_meta("demo"), representation="my_tokenizer")
    with pytest.raises(ConfigValueError, match="'my_tokenizer'.*not in the registry"):
        from_meta(meta)


def test_from_meta_refuses_a_rebuild_that_would_write_other_bins():
    """μ-law written at 16 kHz (a class_path config can ask for it) is not the registry's 8 kHz μ-law: decoding its
    ids at 8 kHz would be silently wrong, so from_meta names the difference."""
    from audiobits.errors import ConfigValueError
    from audiobits.representations import from_meta
    from audiobits.representations.mulaw import MuLawRepresentation

    with pytest.raises(ConfigValueError, match="meta.json says codebooks"):
        from_meta(MuLawRepresentation(sample_rate=16000).bin_meta("demo"))
