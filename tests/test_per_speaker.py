"""bits/sec per speaker and per utterance from a run's val_utterances.npz: known sums come back exactly."""

import csv
import io

import pytest

from audiobits.analysis.per_speaker import per_speaker, per_utterance, per_utterance_csv, read_utterances
from run_dirs import make_run


def test_each_speakers_bits_per_sec_is_their_bits_over_their_seconds(tmp_path):
    run = make_run(tmp_path, "mimi_sem", bits_per_token=2.0, utterances=40, seconds=2.0, tokens_per_utt=25,
                   speakers=4, curve=False)
    shares = per_speaker(read_utterances(run))
    assert [s.name for s in shares] == ["speaker0", "speaker1", "speaker2", "speaker3"]
    assert [s.utterances for s in shares] == [10] * 4
    # 10 utterances of 26 targets at 2 bits over 20 s; speaker0 holds the split's first utterance, one target short
    assert shares[0].bits_per_sec == pytest.approx((10 * 26 - 1) * 2.0 / 20.0, rel=1e-12)
    assert all(s.bits_per_sec == pytest.approx(26 * 2.0 / 2.0, rel=1e-12) for s in shares[1:])
    utterances = per_utterance(read_utterances(run))
    assert len(utterances) == 40 and utterances[1].name == "val-1" and utterances[1].speaker == "speaker1"
    assert utterances[1].bits_per_sec == pytest.approx(26.0, rel=1e-12)


def test_a_corpus_without_speakers_has_no_speaker_rows_but_every_utterance(tmp_path):
    run = make_run(tmp_path, "mimi_sem", utterances=6, curve=False)
    assert per_speaker(read_utterances(run)) == []
    lines = list(csv.DictReader(io.StringIO(per_utterance_csv({"a": run, "gone": tmp_path / "nothing"}))))
    assert [line["utterance"] for line in lines] == [f"val-{i}" for i in range(6)]
    assert {line["run"] for line in lines} == {"a"} and float(lines[2]["bits_per_sec"]) == pytest.approx(26.0)
