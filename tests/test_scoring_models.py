"""Whisper WER and WavLM speaker similarity: the pure parts (word errors, the word-weighted corpus WER and its
interval), and `ScoringModels` loading the default hub ids, unchanged, from an offline hub cache that holds tiny random
Whisper and WavLM models saved by ``save_pretrained`` in the upstream layout, through `audiobits quality`."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from audiobits import metrics
from audiobits.quality.scoring_models import WAVLM_SV, WHISPER, ScoringModels
from audiobits.representations.mulaw import MuLawRepresentation
from test_representations import hub_snapshot  # noqa: F401  (fixture)

transformers = pytest.importorskip("transformers", reason="the scoring models need transformers")

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                    "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def test_word_errors_count_substitutions_deletions_and_insertions():
    assert metrics.word_errors("the cat sat", "the cat sat") == 0
    assert metrics.word_errors("the cat sat", "the bat sat on") == 2  # one substitution, one insertion
    assert metrics.word_errors("a b c", "") == 3
    assert metrics.word_errors("a b c d", "a c d") == 1


def test_the_word_weighted_mean_is_the_corpus_wer_and_its_interval_brackets_it():
    errors, words = np.array([2, 1, 0, 2, 0, 3] * 20), np.array([2, 4, 20, 4, 8, 30] * 20)
    rates = errors / words
    corpus = errors.sum() / words.sum()
    assert np.average(rates, weights=words) == pytest.approx(corpus)
    low, high = metrics.bootstrap_mean(rates, weights=words)
    assert low < corpus < high and high - low < 0.1
    assert abs(rates.mean() - corpus) > 0.1  # the unweighted mean of rates is another (wrong) number here
    with pytest.raises(ValueError, match="weights"):
        metrics.bootstrap_mean(rates, weights=np.zeros_like(rates))


def save_tiny_whisper(folder: Path) -> None:
    """A random 1-layer Whisper with a byte-level vocabulary and the upstream special tokens and generation config
    (language and task ids), saved with its processor (feature extractor, tokenizer, normalizer.json)."""
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(bytes_to_unicode().values())}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "normalizer.json").write_text("{}")
    tokenizer = transformers.WhisperTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                              normalizer_file=str(folder / "normalizer.json"),
                                              unk_token=WHISPER_SPECIALS[0], bos_token=WHISPER_SPECIALS[0],
                                              eos_token=WHISPER_SPECIALS[0])
    tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS[1:]})
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in WHISPER_SPECIALS}
    special = {"decoder_start_token_id": ids["<|startoftranscript|>"], "eos_token_id": ids["<|endoftext|>"],
               "pad_token_id": ids["<|endoftext|>"], "bos_token_id": ids["<|endoftext|>"]}
    config = transformers.WhisperConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                        decoder_ffn_dim=32, max_target_positions=64, begin_suppress_tokens=None,
                                        suppress_tokens=None, **special)
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    model.generation_config = transformers.GenerationConfig(
        **special, max_length=24, is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"])
    model.save_pretrained(folder)
    transformers.WhisperProcessor(transformers.WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(
        folder)


def save_tiny_wavlm(folder: Path) -> None:
    """A random 2-layer WavLM with an x-vector head and the upstream feature extractor settings."""
    config = transformers.WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=37, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                                      num_conv_pos_embedding_groups=2, tdnn_dim=(16, 16, 16, 16, 32),
                                      xvector_output_dim=24, num_buckets=32, max_bucket_distance=64)
    torch.manual_seed(0)
    transformers.WavLMForXVector(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=False,
                                          return_attention_mask=True).save_pretrained(folder)


@pytest.fixture
def tiny_scoring_models_in_hub_cache(hub_snapshot, tmp_path):  # noqa: F811
    """The default hub ids (`WHISPER`, `WAVLM_SV`) resolve, offline, to tiny random models in the upstream layout."""
    for repo_id, save in ((WHISPER, save_tiny_whisper), (WAVLM_SV, save_tiny_wavlm)):
        saved = tmp_path / repo_id.replace("/", "--")
        save(saved)
        hub_snapshot(repo_id, {p.name: (lambda dst, src=p: shutil.copy(src, dst)) for p in saved.iterdir()})


def noise(seconds: float, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 0.1, int(seconds * 16000)).astype(np.float32))


def test_scoring_models_score_wer_and_speaker_similarity_from_the_hub_cache(tiny_scoring_models_in_hub_cache):
    models = ScoringModels()  # the default hub ids, loaded exactly as on a machine with internet
    same, other, long = noise(1.0, 0), noise(1.0, 1), noise(31.0, 2)
    rows = models.score([same, same, long], [same, other, long],
                            ["It's three o'clock.", "Two words", "A clip longer than Whisper's window"])
    assert models.unavailable == {}
    identical, changed, too_long = rows
    # the same audio is heard the same way: equal transcripts, equal WER, the same speaker
    assert identical["transcript"] == identical["transcript_original"]
    assert identical["wer"] == identical["wer_original"]
    assert identical["speaker_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert changed["speaker_similarity"] < 0.999
    # WER is the word errors of the normalized transcript against the normalized corpus text, over its words
    assert identical["wer_words"] == len(models.normalize("It's three o'clock.").split()) == 4
    for row, text in ((identical, "It's three o'clock."), (changed, "Two words")):
        errors = metrics.word_errors(models.normalize(text), models.normalize(row["transcript"]))
        assert row["wer"] == errors / row["wer_words"]
    # over 30 s: Whisper cannot hear it whole, so no transcript and no WER (but a speaker similarity)
    assert too_long["transcript"] is None and np.isnan(too_long["wer"]) and np.isfinite(too_long["speaker_similarity"])


def test_wer_normalizes_both_sides_and_handles_empty_transcripts(tiny_scoring_models_in_hub_cache, monkeypatch):
    """Whisper's transcripts replaced by known strings (the tiny random model says nothing useful): the WER
    arithmetic on top of the real normalizer."""
    models = ScoringModels(speaker_model=None)
    models.load()
    heard = ["it is three o'clock", "", "anything", "IT'S THREE O'CLOCK!", "the", "a b c"]
    monkeypatch.setattr(models, "transcribe", lambda audio, languages=None: heard)
    clips = [noise(1.0, i) for i in range(3)]
    rows = models.score(clips, clips, ["It's three o'clock.", "Two words", ""])
    (same, empty, no_reference) = rows
    assert same["wer_original"] == 0.0 and same["wer"] == 0.0  # case, punctuation and "it's" normalized away
    assert empty["transcript_original"] == "" and empty["wer_original"] == 1.0  # nothing heard: every word deleted
    assert empty["wer"] == 1.0 and empty["wer_words"] == 2  # "a b c" for "two words": 2 substitutions, 1 insertion
    assert no_reference["wer_words"] == 0 and np.isnan(no_reference["wer"]) and np.isnan(no_reference["wer_original"])


def test_character_errors_ignore_spaces():
    assert metrics.character_errors("再见你好", "再见您好") == 1
    assert metrics.character_errors("再见 你好", "再见你好") == 0  # where words are not spaced, spaces are no errors
    assert metrics.character_errors("abc", "") == 3


def test_each_utterance_is_heard_and_scored_in_its_own_language(tiny_scoring_models_in_hub_cache, monkeypatch):
    """Whisper hears each clip in its utterance's language (the listener's for one without); a language written
    without spaces is scored in characters."""
    from audiobits.quality.scoring_models import error_unit

    models = ScoringModels(speaker_model=None)
    models.load()
    asked = []
    heard = ["au revoir", "goodbye", "再见你好", "au revoir", "good buy", "再见您好"]
    monkeypatch.setattr(models, "transcribe", lambda audio, languages=None: asked.extend(languages) or heard)
    clips = [noise(1.0, i) for i in range(3)]
    fr, en, zh = models.score(clips, clips, ["Au revoir.", "Goodbye", "再见你好"], languages=["fr", None, "zh-CN"])
    assert asked == ["fr", "en", "zh-CN"] * 2  # originals, then decoded
    assert (fr["wer_unit"], fr["wer"], en["wer_unit"], en["wer"]) == ("words", 0.0, "words", 2.0)  # 1 sub, 1 ins
    assert (zh["wer_unit"], zh["wer_words"], zh["wer_original"], zh["wer"]) == ("characters", 4, 0.0, 0.25)
    assert [error_unit(code) for code in ("ja", "th", "ru", "pt_BR")] == ["characters", "characters", "words", "words"]


def test_known_transcripts_of_originals_are_not_heard_again(tiny_scoring_models_in_hub_cache, monkeypatch):
    models = ScoringModels(speaker_model=None)
    models.load()
    heard = []
    monkeypatch.setattr(models, "transcribe",
                        lambda audio, languages=None: heard.extend(audio) or ["x"] * len(audio))
    originals, decoded = [noise(1.0, 0), noise(1.0, 1)], [noise(1.0, 2), noise(1.0, 3)]
    rows = models.score(originals, decoded, ["a", "b"], ["known before", None])
    assert [id(a) for a in heard] == [id(originals[1]), id(decoded[0]), id(decoded[1])]  # the new original only
    assert [r["transcript_original"] for r in rows] == ["known before", "x"]
    with pytest.raises(ValueError, match="one original"):
        models.score(originals, decoded, ["a", "b"], ["known before"])


def test_original_transcripts_are_shared_only_for_the_same_samples_and_key(tmp_path):
    from audiobits.quality.scoring_models import OriginalTranscripts

    key = ["corpus", "val", {"asr_model": "w", "revision": "r1", "language": "en", "dtype": "torch.float32"}]
    first = OriginalTranscripts(tmp_path, key)
    first.add([("u1", noise(1.0, 0), "hello"), ("u2", noise(1.0, 1), "")])
    (first.folder / "old-release.jsonl").write_text('{"id": "u3", "aud')  # torn: old releases appended in place
    (first.folder / "zz-other.jsonl").write_text(json.dumps({"id": "u1", "audio": first.fingerprint(noise(1.0, 0)),
                                                             "text": "a later writer"}) + "\n")
    again = OriginalTranscripts(tmp_path, key)  # another run: reads every writer's file
    assert again.lookup("u1", noise(1.0, 0)) == "hello"  # the first entry of an id is kept
    assert again.lookup("u2", noise(1.0, 1)) == ""  # an empty transcript is a transcript
    assert again.lookup("u1", noise(1.0, 5)) is None  # other samples under the same id: heard again
    assert again.lookup("u3", noise(1.0, 0)) is None
    other_dtype = [*key[:2], {**key[2], "dtype": "torch.float16"}]
    assert OriginalTranscripts(tmp_path, other_dtype).lookup("u1", noise(1.0, 0)) is None


def test_speaker_similarity_needs_the_x_vector_heads_shortest_input(tiny_scoring_models_in_hub_cache):
    models = ScoringModels(asr_model=None)
    models.load()
    shortest = models.shortest_for_speaker()
    assert shortest == 5200  # wavlm-base-plus-sv's conv stack, TDNN and a 2-frame standard deviation
    assert np.isfinite(models.speaker_embedding(noise(1.0, 0)[:shortest])).all()
    # one sample less and the model itself gives no x-vector (NaN pooled statistics): the bound is tight
    assert not np.isfinite(models.speaker_embedding(noise(1.0, 0)[:shortest - 1])).all()
    short, enough = noise(1.0, 0)[:shortest - 1], noise(1.0, 0)[:shortest]
    rows = models.score([short, enough], [short, enough], ["", ""])
    assert np.isnan(rows[0]["speaker_similarity"]) and rows[1]["speaker_similarity"] == pytest.approx(1.0, abs=1e-6)


def test_a_scoring_model_without_weights_is_left_out_with_the_reason():
    models = ScoringModels(asr_model="nobody/not-in-the-cache", speaker_model=None)
    rows = models.score([noise(1.0, 0)], [noise(1.0, 0)], ["hello"])
    assert rows == [{}]
    assert "nobody/not-in-the-cache" in models.unavailable["wer"]


@pytest.mark.slow
@pytest.mark.needs("pycodec2", "espeakng_loader", "pystoi", "pesq")
def test_quality_command_adds_wer_and_speaker_similarity(tmp_path, tiny_scoring_models_in_hub_cache, capsys,
                                                         monkeypatch):
    from audiobits.cli import main
    from audiobits.demo.demo import synthesize_corpus
    from audiobits.quality.quality import QUALITY_FILE

    corpus = synthesize_corpus(tmp_path / "alice", seconds=40)  # 2+ validation utterances
    overrides = ["--config", str(CONFIGS / "codec2_700c.yaml"),
                 "--data.init_args.corpus", "audiobits.corpora.AudioFolder",
                 "--data.init_args.corpus.root", str(corpus.root), "--data.init_args.root", str(tmp_path / "data"),
                 "--data.init_args.encode.accelerator", "cpu", "--data.init_args.encode.num_workers", "0",
                 "--max_utterances", "2"]
    bins = tmp_path / "data" / "alice" / "codec2_700c"
    # Whisper not loadable (as offline without the weights): scored without WER, and the file says so
    main(["quality", *overrides, "--scoring_models.asr_model", "nobody/not-cached"])
    offline = json.loads((bins / QUALITY_FILE).read_text())
    assert offline["listeners"]["asr_model"] is None and "nobody/not-cached" in offline["unavailable"]["wer"]
    assert offline["metrics"]["wer"]["n"] == 0 and offline["metrics"]["speaker_similarity"]["n"] == 2

    main(["quality", *overrides])  # the default scoring models load: the file made without WER is not kept
    result = json.loads((bins / QUALITY_FILE).read_text())
    assert result["listeners"] == {"asr_model": WHISPER, "speaker_model": WAVLM_SV, "language": "en",
                                  "originals": "whole"}
    assert result["unavailable"] == {}
    rows = result["per_utterance"]
    assert len(rows) == 2 and all(isinstance(r["transcript"], str) and r["wer_words"] > 0 for r in rows)
    wer = result["metrics"]["wer"]
    corpus_wer = sum(r["wer"] * r["wer_words"] for r in rows) / sum(r["wer_words"] for r in rows)
    assert wer["mean"] == pytest.approx(corpus_wer) and wer["n"] == 2 and not wer["higher_is_better"]
    assert result["metrics"]["speaker_similarity"]["n"] == 2

    # later, Whisper's weights are gone from the cache (offline): the WER scored earlier is kept, not overwritten
    cached = Path(os.environ["HF_HUB_CACHE"]) / f"models--{WHISPER.replace('/', '--')}"
    cached.rename(cached.with_name(cached.name + ".away"))
    try:
        mtime = (bins / QUALITY_FILE).stat().st_mtime_ns
        main(["quality", *overrides])
        assert (bins / QUALITY_FILE).stat().st_mtime_ns == mtime
        assert "kept" in capsys.readouterr().err
    finally:
        cached.with_name(cached.name + ".away").rename(cached)

    # other scoring models: the rows are scored again (not mixed), and a left-out listener leaves its score out
    main(["quality", *overrides, "--scoring_models.speaker_model", "null"])
    again = json.loads((bins / QUALITY_FILE).read_text())
    assert again["listeners"]["speaker_model"] is None and again["metrics"]["speaker_similarity"]["n"] == 0
    assert [r["transcript"] for r in again["per_utterance"]] == [r["transcript"] for r in rows]

    # another codec on the same utterances: the scoring models hear the same whole recordings, so the original's
    # transcript and WER are the same numbers in every representation's quality.json, and Whisper does not
    # transcribe the originals again (they are shared beside the bins)
    heard = []
    transcribe = ScoringModels.transcribe
    monkeypatch.setattr(ScoringModels, "transcribe", lambda self, audio, languages=None: heard.extend(audio)
                        or transcribe(self, audio, languages))
    main(["quality", *(a.replace("codec2_700c", "codec2_3200") for a in overrides)])
    assert len(heard) == 2  # the two decoded utterances only
    other = json.loads((tmp_path / "data" / "alice" / "codec2_3200" / QUALITY_FILE).read_text())

    def originals(result):
        return [(r["id"], r["transcript_original"], r["wer_original"]) for r in result["per_utterance"]]
    assert originals(other) == originals(result) and len(originals(other)) == 2


class PidLoggingMuLaw(MuLawRepresentation):
    """μ-law that notes which process decoded each utterance (its pid, one line per decode)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def decode(self, ids):
        with open(self.folder / f"{os.getpid()}.txt", "a") as f:
            f.write(f"{len(ids)}\n")
        return super().decode(ids)


@pytest.mark.slow
@pytest.mark.needs("pystoi", "pesq")
def test_two_processes_score_their_own_chunks_with_the_scoring_models(tmp_path, tiny_scoring_models_in_hub_cache):
    """Quality through Lightning's launcher on 2 CPU processes (chunks of 2 rows, so both ranks have work): the
    same quality.json as one process, every utterance heard once."""
    from corpus_builders import speech_rows, write_audio_folder

    from audiobits.corpora import AudioFolder
    from audiobits.prepare.encode import EncodeOptions
    from audiobits.prepare.prepare import prepare_bins
    from audiobits.quality.quality import QUALITY_FILE, score_bins

    corpus = AudioFolder(str(write_audio_folder(tmp_path / "mine", {"train": speech_rows(2),
                                                                     "val": speech_rows(7, prefix="v")})))
    (tmp_path / "pids").mkdir()
    mulaw = PidLoggingMuLaw(tmp_path / "pids")
    bins = prepare_bins(corpus, mulaw, tmp_path / "bins",
                        EncodeOptions(batch_size=4, num_workers=0, accelerator="cpu", devices=1), device="cpu")
    single = score_bins(corpus, mulaw, bins, scoring_models=ScoringModels(), chunk_rows=2)
    (bins / QUALITY_FILE).unlink()
    shutil.rmtree(bins.parent / "heard")  # the ranks transcribe the originals themselves
    shutil.rmtree(tmp_path / "pids")
    (tmp_path / "pids").mkdir()
    options = EncodeOptions(num_workers=0, accelerator="cpu", devices=2, strategy="ddp_spawn")
    score_bins(corpus, mulaw, bins, scoring_models=ScoringModels(), chunk_rows=2, options=options)
    two = json.loads((bins / QUALITY_FILE).read_text())
    per_process = [p.read_text().split() for p in (tmp_path / "pids").iterdir()]
    assert len(per_process) == 2 and sum(map(len, per_process)) == 7 and min(map(len, per_process)) >= 3
    assert two["listeners"] == single["listeners"] == {"asr_model": WHISPER, "speaker_model": WAVLM_SV,
                                                       "language": "en", "originals": "whole"}
    for a, b in zip(single["per_utterance"], two["per_utterance"], strict=True):
        assert a["id"] == b["id"] and a["transcript"] == b["transcript"]
        for key in ("stoi", "si_sdr", "log_mel_distance", "wer", "speaker_similarity"):
            assert a[key] == pytest.approx(b[key], abs=1e-6, nan_ok=True), (a["id"], key)

