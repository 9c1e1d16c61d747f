"""Paired windows: condition SEP target EOS, loss on target tokens only, every target scored once per mode, the whole
condition in every window of a long utterance, and clear refusals (unmatched ids, lone speakers, long conditions)."""

import numpy as np
import pytest

from audiobits.bins import BinMeta, BinWriter, Codebook, TokenBins
from audiobits.data import IGNORE_INDEX
from audiobits.errors import AudiobitsError
from audiobits.analysis.conditional import PAIRED, SPEAKER, condition_modes
from audiobits.paired_windows import (PairedSplit, PairedVocab, PairedWindows, match_utterances, paired_plan,
                                      prompt_sources)


def write(out, name, utterances, vocab, speakers=None):
    """Bins of ``utterances`` (id → tokens) in the val split, 1 s each."""
    meta = BinMeta(representation=name, corpus="c", encoder={"name": name, "weights": "x"}, vocab_size=vocab,
                   eos_id=vocab - 1, codebooks=[Codebook(vocab - 1, 10.0)], flattening="none")
    with BinWriter(out / name, meta) as writer:
        for i, (uid, tokens) in enumerate(utterances.items()):
            writer.add("val", uid, np.asarray(tokens), seconds=1.0, text_bytes=1,
                       speaker=None if speakers is None else speakers[i])
    return TokenBins(out / name).split("val")


@pytest.fixture
def pair(tmp_path):
    """Audio (vocab 10, EOS 9) of 3 utterances, one long, and its transcript (vocab 5, EOS 4) in another order."""
    audio = write(tmp_path, "audio", {"a": [1, 2, 3], "b": list(range(9)) * 3, "c": [5, 6]}, 10, ["x", "y", "x"])
    text = write(tmp_path, "text", {"c": [3], "a": [0, 1], "b": [2, 2, 2]}, 5)
    return audio, text


def test_modes_are_every_subset_of_the_conditions():
    assert condition_modes((PAIRED, SPEAKER)) == [(), (PAIRED,), (SPEAKER,), (PAIRED, SPEAKER)]
    assert condition_modes((SPEAKER,)) == [(), (SPEAKER,)]
    vocab = PairedVocab(10, 5)
    assert (vocab.paired_end, vocab.prompt_end, vocab.target_start, vocab.size) == (15, 16, 17, 18)


def test_window_is_condition_sep_target_with_loss_on_target_tokens_only(pair):
    audio, text = pair
    split = PairedSplit(audio, PairedVocab(10, 5), text)
    windows = PairedWindows(split, paired_plan(split, (PAIRED,), 16), 16, mode=(PAIRED,))
    window = windows[len(windows) - 1]  # utterance "c"
    # transcript "c" = [3] shifted by the audio vocab, its end marker, SEP, then the audio and its EOS
    assert window["input"][:5].tolist() == [13, 15, 17, 5, 6]
    scored = window["target"] != IGNORE_INDEX
    assert window["target"][scored].tolist() == [5, 6, 9]  # the audio tokens and EOS, nothing of the condition
    start = int(audio.offsets[2])
    assert window["position"][scored].tolist() == [start, start + 1, start + 2]


def test_every_target_is_scored_once_in_every_mode_and_a_long_utterance_keeps_its_condition(pair):
    audio, text = pair
    split = PairedSplit(audio, PairedVocab(10, 5), text)
    for mode in ((), (PAIRED,)):
        for fraction in (1.0, 0.25):
            windows = PairedWindows(split, paired_plan(split, mode, 12, fraction), 12, mode=mode)
            positions = np.concatenate([w["position"][w["position"] >= 0].numpy() for w in windows])
            assert sorted(positions) == list(range(1, audio.num_tokens))  # the split's first token is never scored
    windows = PairedWindows(split, paired_plan(split, (PAIRED,), 12), 12, mode=(PAIRED,))
    long = [w for w in windows if w["position"].max() >= audio.offsets[1] and w["position"].max() < audio.offsets[2]]
    assert len(long) > 1  # utterance "b" (28 tokens) needs several windows ...
    for w in long:  # ... and each starts with b's whole transcript, its end marker and SEP
        assert w["input"][:5].tolist() == [12, 12, 12, 15, 17]


def test_a_condition_that_does_not_fit_half_the_context_is_refused_naming_the_utterance(pair):
    audio, text = pair
    split = PairedSplit(audio, PairedVocab(10, 5), text)
    with pytest.raises(AudiobitsError, match=r"utterance 'b' needs 5 tokens for its condition .*seq_len to at least 10"
                       ):
        paired_plan(split, (PAIRED,), 8)
    paired_plan(split, (), 8)  # without the condition it fits


def test_paired_streams_must_hold_the_same_utterances(tmp_path, pair):
    audio, _ = pair
    other = write(tmp_path, "other", {"a": [1], "c": [2]}, 5)
    with pytest.raises(AudiobitsError, match=r"holds no utterance 'b' .*1 of 3 missing"):
        match_utterances(audio, other)


def test_speaker_prompt_comes_from_another_utterance_of_the_same_speaker(tmp_path):
    lone = write(tmp_path, "lone", {"a": [1], "b": [2], "c": [3]}, 5, ["x", "y", "x"])
    with pytest.raises(AudiobitsError, match=r"speaker 'y' has one utterance \('b'\)"):
        prompt_sources(lone)
    two = write(tmp_path, "two", {"a": [1, 2], "b": [3, 4], "c": [5, 6], "d": [7, 8]}, 10, ["x", "y", "x", "y"])
    assert prompt_sources(two).tolist() == [2, 3, 0, 1]
    split = PairedSplit(two, PairedVocab(10), prompt_seconds=0.5)  # 2 tokens/s · 0.5 s = the first token
    window = PairedWindows(split, paired_plan(split, (SPEAKER,), 8), 8, mode=(SPEAKER,))[0]
    assert window["input"][:3].tolist() == [5, split.vocab.prompt_end, split.vocab.target_start]


def test_dropout_draws_depend_on_seed_and_window_only(pair):
    audio, text = pair
    split = PairedSplit(audio, PairedVocab(10, 5), text)
    plan = paired_plan(split, (PAIRED,), 16)
    a = PairedWindows(split, plan, 16, dropout=0.5, seed=1)
    draws = [a.window_mode(i) for i in range(200)]
    assert draws == [PairedWindows(split, plan, 16, dropout=0.5, seed=1).window_mode(i) for i in range(200)]
    assert 60 < sum(m == () for m in draws) < 140  # about half the windows lose the transcript
    assert draws != [PairedWindows(split, plan, 16, dropout=0.5, seed=2).window_mode(i) for i in range(200)]


def test_paired_datamodule_names_its_run_joins_the_vocabularies_and_refuses_no_condition(tmp_path, pair):
    from audiobits.data import TokenBinDataModule
    from audiobits.paired import PairedDataModule

    audio, text = (TokenBinDataModule(str(tmp_path / name)) for name in ("audio", "text"))
    module = PairedDataModule(audio, text, seq_len=16)
    assert module.vocab_size == 10 + 5 + 3 and module.meta.representation == "audio_given_text"
    assert module.meta.vocab_size == 10  # rates and capacities stay the target's
    assert module.final_passes() == ["sliding", "given_none"]
    with pytest.raises(AudiobitsError, match="no condition given"):
        PairedDataModule(audio)
    with pytest.raises(AudiobitsError, match=r"condition_dropout is 1.0.*\[0, 1\)"):
        PairedDataModule(audio, text, condition_dropout=1.0)
