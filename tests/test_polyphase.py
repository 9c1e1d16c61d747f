"""The block-by-block path for long recordings: the polyphase resampler (resample_poly's numbers, the same bits in any
blocks), LazyAudio, and mulaw_polyphase / codec2_<mode>_polyphase ids equal whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from corpus_builders import encoded, tone, write_audio_folder
from scipy.signal import resample_poly

from audiobits.bins import TokenBins
from audiobits.corpora import AudioFolder, read_audio
from audiobits.errors import ConfigValueError
from audiobits.prepare.encode import EncodeOptions
from audiobits.prepare.prepare import prepare_bins
from audiobits.representations import base, build, from_meta
from audiobits.representations.base import Utterance, UtteranceError
from audiobits.representations.lazy_audio import LazyAudio
from audiobits.representations.mulaw import MuLawRepresentation, mu_law_encode
from audiobits.representations.polyphase import PolyphaseResampler

RATE_PAIRS = [(24000, 8000), (16000, 8000), (44100, 8000), (22050, 8000), (11025, 8000), (8000, 24000),
              (8000, 8000)]


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Tones plus noise in [-1, 1] (float32): every level and frequency band gets used."""
    rng = np.random.default_rng(seed)
    return np.clip(tone(seconds, rate, seed) + 0.1 * rng.standard_normal(round(seconds * rate)), -1, 1
                   ).astype(np.float32)


def in_blocks(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i:i + size] for i in range(0, len(x), size)]


@pytest.mark.parametrize("rate,target", RATE_PAIRS)
def test_the_resampler_gives_resample_polys_length_and_numbers(rate, target):
    x = np.random.default_rng(1).standard_normal(4321)
    ours, theirs = PolyphaseResampler(rate, target).resample(x), resample_poly(x, target, rate)
    assert len(ours) == len(theirs) == PolyphaseResampler(rate, target).output_length(len(x))
    assert np.abs(ours - theirs).max() < 1e-12  # the same filter and sum, another summation order


@pytest.mark.parametrize("rate,target", RATE_PAIRS)
def test_blocks_of_any_size_give_the_whole_signals_output_bit_for_bit(rate, target):
    resampler = PolyphaseResampler(rate, target)
    for n in (1, 7, 2000):
        x = np.random.default_rng(n).standard_normal(n)
        whole = resampler.resample(x)
        for size in (s for s in (1, 3, 97, 1024, n) if s * 30 >= n):  # ≤ 30 blocks: every case, kept quick
            chunked = np.concatenate([np.zeros(0), *resampler.stream(in_blocks(x, size))])
            assert chunked.tobytes() == whole.tobytes(), (n, size)


def test_the_resampler_keeps_a_tone_and_removes_what_is_above_nyquist():
    rate = 24000
    t = np.arange(rate) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)
    out = PolyphaseResampler(rate, 8000).resample(x)
    spectrum = np.abs(np.fft.rfft(out[1000:7000] * np.hanning(6000))) / np.hanning(6000).sum() * 2  # 4/3 Hz bins
    assert spectrum[round(440 * 6000 / 8000)] == pytest.approx(0.5, abs=0.02)
    assert spectrum[round(3900 * 6000 / 8000):].max() < 1e-3  # the 6 kHz tone (aliased to 2 kHz if kept) is gone
    assert spectrum[round(1900 * 6000 / 8000):round(2100 * 6000 / 8000)].max() < 1e-3


def test_lazy_audio_reads_in_blocks_the_samples_read_audio_decodes(tmp_path):
    stereo = np.stack([speechlike(1.0, 16000, 1), speechlike(1.0, 16000, 2)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 16000, subtype="PCM_16")
    samples, rate, seconds = read_audio("s", path, str(path))
    lazy, lazy_rate, lazy_seconds = read_audio("s", path, str(path), decode="blocks")
    assert isinstance(lazy, LazyAudio) and (lazy_rate, lazy_seconds, lazy.frames) == (rate, seconds, 16000)
    assert np.concatenate(list(lazy.blocks(999))).tobytes() == samples.tobytes()
    from_bytes = LazyAudio.open(path.read_bytes(), "bytes")
    assert np.concatenate(list(from_bytes.blocks(4096))).tobytes() == samples.tobytes()


def test_a_block_with_nan_or_a_file_that_shrank_is_an_utterance_error(tmp_path):
    x, path = speechlike(0.5, 16000), tmp_path / "nan.wav"
    x[5000] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(UtteranceError, match="NaN"):  # found in the block that holds it, not by a whole-file check
        build("mulaw_polyphase").encode([Utterance("n", "", sample_rate=16000, source=LazyAudio.open(path, "n"))])
    path = tmp_path / "a.wav"
    sf.write(path, speechlike(0.5, 16000), 16000, subtype="PCM_16")
    lazy = LazyAudio.open(path, str(path))
    sf.write(path, speechlike(0.25, 16000), 16000, subtype="PCM_16")
    with pytest.raises(UtteranceError, match="header promised 8000"):
        build("mulaw_polyphase").encode([Utterance("a", "", sample_rate=16000, seconds=0.5, source=lazy)])


def encode_three_ways(name: str, x: np.ndarray, rate: int, path, monkeypatch) -> list[np.ndarray]:
    """ids of ``x`` given whole in memory, then read from ``path`` in blocks of 997 and of 4096 frames."""
    sf.write(path, x, rate, subtype="FLOAT")
    rep = build(name)
    out = [rep.encode([Utterance("u", "", x, rate)])[0]]
    for size in (997, 4096):
        monkeypatch.setattr(base, "BLOCK_FRAMES", size)
        out += rep.encode([Utterance("u", "", sample_rate=rate, source=LazyAudio.open(path, str(path)))])
    return out


@pytest.mark.parametrize("rate", [24000, 44100, 8000])
def test_mulaw_polyphase_ids_do_not_depend_on_the_block_size(rate, tmp_path, monkeypatch):
    x = speechlike(2.0, rate)
    whole, small, large = encode_three_ways("mulaw_polyphase", x, rate, tmp_path / "x.wav", monkeypatch)
    assert whole.tobytes() == small.tobytes() == large.tobytes()
    assert whole.tobytes() == mu_law_encode(PolyphaseResampler(rate, 8000).resample(x)).tobytes()
    [fft] = build("mulaw").encode([Utterance("u", "", x, rate)])
    if rate == 8000:
        assert fft.tobytes() == whole.tobytes()  # nothing to resample: the same ids as mulaw
    else:  # another filter (Kaiser transition band vs the FFT's brick wall), other ids: hence the other name
        assert len(fft) == len(whole) and (fft != whole).any() and np.median(np.abs(fft - whole)) <= 1


@pytest.mark.parametrize("rate", [24000, 16000, 8000])
def test_codec2_polyphase_ids_do_not_depend_on_the_block_size(rate, tmp_path, monkeypatch):
    pytest.importorskip("pycodec2", reason="pycodec2 (audiobits[codec2]) is not installed")
    import torch

    x = speechlike(1.3, rate)
    whole, small, large = encode_three_ways("codec2_1300_polyphase", x, rate, tmp_path / "x.wav", monkeypatch)
    assert whole.tobytes() == small.tobytes() == large.tobytes()
    rep = build("codec2_1300_polyphase")
    resampled = torch.from_numpy(PolyphaseResampler(rate, 8000).resample(x))[None, None]
    frames = len(resampled[0, 0]) // rep.hop
    levels = [level[0, :frames].numpy() for level in rep._encode_padded(resampled)]  # the whole-recording frame loop
    assert whole.tobytes() == rep.flatten(levels).tobytes()
    if rate == 8000:  # no resampling: the torchaudio variant's ids, encoded whole
        assert whole.tobytes() == build("codec2_1300").encode([Utterance("u", "", x, rate)])[0].tobytes()


def test_the_polyphase_representations_have_their_own_names_and_rebuild_from_meta():
    for name in ("mulaw_polyphase", "codec2_3200_polyphase"):
        rep = build(name)
        assert rep.name == name and rep.reads_blocks and "polyphase resampler" in rep.encoder_info()["name"]
        assert from_meta(rep.bin_meta("c")).name == name
    for name in ("mulaw", "codec2_3200"):  # the defaults stay as they were: whole recording, same encoder record
        rep = build(name)
        assert rep.name == name and not rep.reads_blocks and "resampler" not in rep.encoder_info()["name"]
    with pytest.raises(ConfigValueError, match="resampler"):
        build("mulaw", resampler="sinc")


class RecordingMuLaw(MuLawRepresentation):
    """mulaw_polyphase, keeping every utterance it is handed."""

    def __init__(self) -> None:
        super().__init__(resampler="polyphase")
        self.seen: list[Utterance] = []

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        self.seen += batch
        return super().encode(batch)


def test_prepare_hands_a_polyphase_representation_lazy_audio_and_bins_the_same_ids(tmp_path):
    rows = [(f"u{i}.wav", f"utterance {i}", encoded(speechlike(0.5 + 0.3 * i, 24000, i), 24000)) for i in range(4)]
    corpus = AudioFolder(str(write_audio_folder(tmp_path / "corpus", {"train": rows, "val": rows[:1]})))
    [lazy] = corpus.load("train", 0, 1, audio="blocks")
    assert lazy.audio is None and lazy.source is not None and lazy.duration == pytest.approx(0.5)
    rep = RecordingMuLaw()
    prepare_bins(corpus, rep, tmp_path / "bins", EncodeOptions(shard_size=2, batch_size=2, num_workers=1),
                 device="cpu")  # a dataloader worker reads the corpus: the LazyAudio is pickled across
    assert len(rep.seen) == 5 and all(u.audio is None and isinstance(u.source, LazyAudio) for u in rep.seen)
    train = TokenBins(tmp_path / "bins" / corpus.name / "mulaw_polyphase").split("train")
    in_memory = build("mulaw_polyphase").encode(corpus.load("train", 0, 4))  # decoded whole
    expected = np.concatenate([np.append(ids, rep.eos_id) for ids in in_memory])
    assert np.asarray(train.tokens).astype(np.int64).tobytes() == expected.tobytes()
