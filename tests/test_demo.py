"""`audiobits demo`: the whole offline pipeline in reduced size, and the pieces it is built from."""

import json

import numpy as np
import pytest
import yaml

from audiobits.bins import TokenBins
from audiobits.demo import DemoSize, SIZES, main, schedule, utterance_texts
from audiobits.errors import AudiobitsError
from audiobits.runs import load_runs
from demo_output import demo_output


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return demo_output(tmp_path_factory)


def test_embedded_text_gives_a_few_hundred_utterances():
    texts = utterance_texts()
    assert len(texts) > 250 and all(any(c.isalpha() for c in t) for t in texts)
    assert texts[2].startswith("Alice was beginning to get very tired")


@pytest.mark.parametrize("tokens", [200, 900, 5000, 1_000_000])
def test_schedule_gives_enough_steps_and_a_few_validations(tokens):
    size = SIZES["small"]
    batch, every = schedule(tokens, size)
    steps = -(-((tokens - 1) // size.seq_len) // batch)
    assert 1 <= batch <= size.batch_size and 1 <= every <= steps
    assert steps >= min(20, (tokens - 1) // size.seq_len)  # small streams get a smaller batch, not 1 step


def test_schedule_refuses_too_little_data():
    with pytest.raises(AudiobitsError, match="do not fill one window"):
        schedule(10, DemoSize(seconds=1, n_layer=1, n_embd=8, n_head=1, seq_len=64, batch_size=4))


@pytest.mark.slow
def test_demo_runs_end_to_end(out):
    report = out / "report"
    for name in ("report.md", "report.csv", "report.json", "headline.png", "headline.svg", "loss_curves.png",
                 "frontier.png"):
        assert (report / name).stat().st_size > 0, name
    rows = json.loads((report / "report.json").read_text())["rows"]
    assert [r["representation"] for r in rows] == ["text", "phonemes", "mulaw", "codec2_3200", "codec2_700c"]
    assert all(r["flags"] == [] and r["finished"] for r in rows)  # comparable: same utterances, final weights
    assert len({r["val_utterance_set"] for r in rows}) == 1 and len({r["val_seconds"] for r in rows}) == 1
    mulaw = next(r for r in rows if r["representation"] == "mulaw")
    assert mulaw["tokens_per_sec"] == pytest.approx(8000, rel=1e-3) and mulaw["nominal_bitrate"] == 64000
    assert 0 < mulaw["bits_per_sec"] < 64000
    assert mulaw["stoi"] > 0.95 and all(r["stoi"] is None for r in rows[:2])  # decoded quality: audio rows only
    codec2 = next(r for r in rows if r["representation"] == "codec2_700c")
    assert codec2["stoi"] < next(r for r in rows if r["representation"] == "codec2_3200")["stoi"]
    assert codec2["tokens_per_sec"] == pytest.approx(100, rel=0.05) and codec2["nominal_bitrate"] == 700
    assert codec2["bits_per_sec"] > 0


@pytest.mark.slow
def test_demo_bins_hold_the_same_utterances(out):
    bins = {p.name: TokenBins(p) for p in (out / "bins" / "alice-tiny").iterdir() if (p / "meta.json").exists()}
    assert set(bins) == {"text", "phonemes", "mulaw", "codec2_3200", "codec2_700c"}
    for split in ("train", "val"):
        ids = [list(b.split(split).ids) for b in bins.values()]
        assert all(i == ids[0] for i in ids)
        seconds = [b.split(split).seconds for b in bins.values()]
        assert np.array_equal(seconds[0], seconds[2])
    assert bins["phonemes"].meta.vocab_size == len(bins["phonemes"].meta.encoder["inventory"]) + 1
    assert (out / "corpus" / "alice-tiny" / "SOURCE.txt").read_text().startswith("Lewis Carroll")


@pytest.mark.slow
def test_demo_configs_are_real_fit_configs(out):
    config = yaml.safe_load((out / "configs" / "mulaw.yaml").read_text())
    assert config["data"]["init_args"]["bins_dir"] == str(out / "bins" / "alice-tiny" / "mulaw")
    [run] = load_runs([out / "runs" / "mulaw"])
    assert run.bins_dir() == out / "bins" / "alice-tiny" / "mulaw"  # report finds the bins from config.yaml
    assert run.results["global_step"] > 1 and len(run.scalars("val/loss")[0]) >= 2


def test_a_corpus_folder_without_metadata_is_an_error_naming_it(tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(AudiobitsError, match="metadata.csv"):
        main(["--out", str(tmp_path / "out"), "--corpus", str(tmp_path / "mine")])
