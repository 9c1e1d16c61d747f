"""The typed results record: results.json written and read only through `Results`, byte for byte as the previous
release wrote it (v2 files from `audiobits demo` of that release in tests/fixtures/results_v2), with one clear error
for a newer version, a missing field or a block of the wrong shape."""

import json
import shutil
from pathlib import Path

import pytest

from audiobits.bins import Codebook
from audiobits.errors import AudiobitsError
from audiobits.results import (RESULTS_FILE, RESULTS_VERSION, CurvePoint, Kgram, KgramOrder, LanguageScore, ModelShape,
                               PassRates, Provenance, StillLearning, Throughput, TokenStats, TrainerRecord, Truth,
                               read_results)

V2 = Path(__file__).parent / "fixtures" / "results_v2"
FILES = sorted(V2.glob("*.json"))


def run_dir(tmp_path: Path, fixture: Path) -> Path:
    """A run directory holding ``fixture`` as its results.json."""
    directory = tmp_path / fixture.stem
    directory.mkdir()
    shutil.copy(fixture, directory / RESULTS_FILE)
    return directory


def rewrite(tmp_path: Path, data: dict) -> Path:
    """A run directory holding ``data`` as its results.json."""
    (tmp_path / RESULTS_FILE).write_text(json.dumps(data))
    return tmp_path


def test_the_v2_fixtures_cover_every_block():
    assert [f.name for f in FILES] == ["codec2_3200.json", "codec2_700c_given_phonemes.json",
                                       "markov_truth_utterance_reset.json", "multilingual_codec2_3200.json"]
    files = [json.loads(f.read_text()) for f in FILES]
    assert {"kgram", "truth", "conditional", "provenance", "languages", "still_learning", "mfu_note",
            "utterance_reset"} <= set().union(*files)
    assert any(f.get("truth") for f in files) and any(f["languages"] for f in files)


@pytest.mark.parametrize("fixture", FILES, ids=lambda f: f.stem)
def test_a_v2_file_of_the_previous_release_reads_and_writes_back_byte_for_byte(tmp_path, fixture):
    record = read_results(run_dir(tmp_path, fixture))
    assert record.results_version == RESULTS_VERSION == 2
    out = record.write(tmp_path / "again")
    assert out.read_text() == fixture.read_text()  # same keys, order, values and layout
    assert read_results(out) == record


def test_every_field_of_a_v2_file_is_its_key(tmp_path):
    fixture = V2 / "codec2_3200.json"
    data = json.loads(fixture.read_text())
    r = read_results(run_dir(tmp_path, fixture))
    assert (r.representation, r.corpus, r.weights, r.vocab_size) == ("codec2_3200", "alice-small", "none", 2049)
    assert r.encoder == data["encoder"] and r.flattening == data["flattening"]
    assert r.codebooks == [Codebook(256, 50.0)] * 8 and r.tokens_per_frame == data["tokens_per_frame"]
    assert (r.val_utterance_set, r.finished, r.val_scored_fraction) == (
        data["val_utterance_set"], data["finished"], data["val_scored_fraction"])
    assert r.trainer == TrainerRecord(**data["trainer"])
    assert (r.eval_stride, r.context_tokens, r.context_seconds) == (
        data["eval_stride"], data["context_tokens"], data["context_seconds"])
    headline = {name: data[name] for name in PassRates.__dataclass_fields__}
    assert r.headline == PassRates(**headline)
    assert r.non_overlapping == PassRates(**data["non_overlapping"]) and r.utterance_reset is None
    assert r.languages == {} and r.bits_by_context == data["bits_by_context"]
    for name in ("storage_bits", "info_per_storage", "train_tokens", "train_flops_trunk", "train_flops_full",
                 "inference_flops_per_bit_trunk", "inference_flops_per_bit_full", "bits_per_position",
                 "global_step", "eval_precision"):
        assert getattr(r, name) == data[name], name
    assert r.val_token_stats == TokenStats(**data["val_token_stats"]) and r.model == ModelShape(**data["model"])
    assert r.provenance == Provenance(**data["provenance"]) and r.conditional is None
    orders = [KgramOrder(**o) for o in data["kgram"]["orders"]]
    assert r.kgram == Kgram(**{**data["kgram"], "orders": orders}) and r.truth is None
    assert r.val_curve == [CurvePoint(**p) for p in data["val_curve"]]
    assert r.still_learning == StillLearning(**data["still_learning"])
    assert r.throughput == Throughput(**{k: data[k] for k in Throughput.__dataclass_fields__})


def test_the_truth_and_utterance_reset_blocks_read_as_records(tmp_path):
    data = json.loads((V2 / "markov_truth_utterance_reset.json").read_text())
    r = read_results(run_dir(tmp_path, V2 / "markov_truth_utterance_reset.json"))
    assert r.truth == Truth(**data["truth"]) and r.truth.ratio == pytest.approx(r.headline.bits_per_token
                                                                              / r.truth.true_bits_per_token)
    assert r.utterance_reset == PassRates(**data["utterance_reset"]) and r.utterance_reset != r.non_overlapping


def test_the_paired_and_multilingual_blocks_read_as_records(tmp_path):
    paired = read_results(run_dir(tmp_path, V2 / "codec2_700c_given_phonemes.json"))
    assert paired.kgram is None and paired.truth is None and paired.conditional["paired"] == "phonemes"
    languages = read_results(run_dir(tmp_path, V2 / "multilingual_codec2_3200.json")).languages
    data = json.loads((V2 / "multilingual_codec2_3200.json").read_text())["languages"]
    assert sorted(languages) == sorted(data) and len(data) >= 2
    assert all(languages[name] == LanguageScore(**block) for name, block in data.items())


def test_a_newer_version_names_the_file_and_the_upgrade(tmp_path):
    data = json.loads((V2 / "codec2_3200.json").read_text())
    path = rewrite(tmp_path, {**data, "results_version": RESULTS_VERSION + 1})
    with pytest.raises(AudiobitsError, match=f"{path / RESULTS_FILE}: results_version 3 is newer than this "
                                             "audiobits reads.*upgrade audiobits"):
        read_results(path)
    with pytest.raises(AudiobitsError, match="results_version None, not the 2 audiobits writes"):
        read_results(rewrite(tmp_path, {k: v for k, v in data.items() if k != "results_version"}))


@pytest.mark.parametrize("missing, named", [("bits_per_sec", "bits_per_sec"), ("model", "model"),
                                            ("non_overlapping.ci_kind", "non_overlapping.ci_kind"),
                                            ("kgram.best_order", "kgram.best_order")])
def test_a_missing_field_is_named_with_the_file_and_the_fix(tmp_path, missing, named):
    data = json.loads((V2 / "codec2_3200.json").read_text())
    block, _, key = missing.rpartition(".")
    del (data[block] if block else data)[key]
    path = rewrite(tmp_path, data)
    with pytest.raises(AudiobitsError, match=f"{path / RESULTS_FILE}: lacks the field `{named}`.*audiobits "
                                             "validate"):
        read_results(path)


def test_a_block_of_the_wrong_shape_is_named(tmp_path):
    data = json.loads((V2 / "codec2_3200.json").read_text())
    with pytest.raises(AudiobitsError, match="`val_curve` holds a JSON dict, not a list"):
        read_results(rewrite(tmp_path, {**data, "val_curve": {}}))
    with pytest.raises(AudiobitsError, match="non_overlapping holds a JSON list"):
        read_results(rewrite(tmp_path, {**data, "non_overlapping": []}))


def test_a_file_that_is_no_object_is_refused(tmp_path):
    (tmp_path / RESULTS_FILE).write_text("[1, 2]")
    with pytest.raises(AudiobitsError, match="holds a JSON list, not the object audiobits writes"):
        read_results(tmp_path)
