"""`audiobits report`: known values come back unchanged in every format; incomparable runs are flagged."""

import csv
import io
import json

import pytest

from audiobits.errors import AudiobitsError
from audiobits.cli import main as cli_main
from audiobits.analysis.report import build_table, main
from disk_checks import snapshot
from audiobits.analysis.runs import load_runs
from run_dirs import TEXT, make_run


def test_known_values_are_reproduced(tmp_path):
    run = make_run(tmp_path, "mimi_sem", bits_per_token=2.0, utterances=40, seconds=2.0, tokens_per_utt=25)
    table = build_table(load_runs([run]))
    [row] = table.rows
    tokens, seconds = 40 * 26 - 1, 80.0  # every val token but the split's first is a target; EOS included
    expected = {
        "bits_per_token": 2.0,
        "tokens_per_sec": tokens / seconds,
        "bits_per_sec": 2.0 * tokens / seconds,
        "bits_per_byte": 2.0 * tokens / (40 * 30),
        "nominal_bits_per_sec": 11 * 12.5,  # log2(2048) bits at 12.5 Hz
        "flat_capacity_bits_per_sec": 11 * 12.5,  # log2(2048 content ids) × 12.5 frame tokens/s
        "bits_per_sec_non_overlapping": 2.0 * tokens / seconds,  # make_run records one pass: no sliding one
        "context_seconds": 64 / (tokens / seconds),
        "utilization_nominal": 2.0 * tokens / seconds / 137.5,
        "info_per_storage": 2.0 / 16,
        "train_pflops_trunk": 6 * 10_000 * 4 * 40 * 26 / 1e15,
        "inference_flops_per_bit_trunk": 2 * 10_000 / 2.0,
    }
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-12), key
    low, high = row["bits_per_sec_lo"], row["bits_per_sec_hi"]
    assert low <= row["bits_per_sec"] <= high
    assert row["flags"] == [] and row["representation"] == "mimi_sem" and row["run"] == "mimi_sem"

    as_json = json.loads(table.render("json"))
    assert as_json["rows"][0]["bits_per_sec"] == row["bits_per_sec"]
    [as_csv] = list(csv.DictReader(io.StringIO(table.render("csv"))))
    assert float(as_csv["flat_capacity_bits_per_sec"]) == row["flat_capacity_bits_per_sec"]
    markdown = table.render("markdown")
    assert "| mimi_sem | mimi_sem | 1 warn | 2.000 | 12.99 | 25.98 [" in markdown and "| 137.5 |" in markdown
    assert "bits/s [95% CI] HEADLINE" in table.render("table")
    assert "] utt |" in markdown and "| 4.93 |" in markdown  # the interval kind and the context in seconds
    rates = table.render("markdown", "context")
    assert "| 64 | 64 |" in rates  # context and stride in tokens, each its own column
    assert row["bits_per_sec_utterance_reset"] is None and "| – |" in rates


def test_incomparable_runs_are_flagged(tmp_path):
    good = [make_run(tmp_path, name, representation="mimi_sem") for name in ("a", "b")]
    text = make_run(tmp_path, "text", codebooks=TEXT, bits_per_token=8.0, tokens_per_utt=8, distinct=300)
    odd = {
        "corpus": make_run(tmp_path, "corpus", corpus="other"),
        "val set": make_run(tmp_path, "valset", utterances=39),
        "random": make_run(tmp_path, "random", weights="random"),
        "unfinished": make_run(tmp_path, "unfinished", results_overrides={"finished": False}),
        "partial": make_run(tmp_path, "partial", results_overrides={"val_scored_fraction": 0.9}),
    }
    table = build_table(load_runs([*good, text, *odd.values()]), sanity=False)
    got = {row["run"]: row["flags"] for row in table.rows}
    assert got["a"] == got["b"] == got["text"] == []  # other representations of the same utterances are comparable
    assert got["corpus"] == ["other corpus (other)"]
    assert len(got["valset"]) == 1 and got["valset"][0].startswith("other val utterance set")
    assert got["random"] == ["random weights"]
    assert got["unfinished"] == ["unfinished"]
    assert got["partial"] == ["partial validation (90.0% scored)"]
    assert table.reference["corpus"] == "demo" and table.reference["runs"] == 6
    assert "other corpus (other)" in table.render("markdown")


def test_cli_prints_and_writes_every_format(tmp_path, capsys):
    make_run(tmp_path, "mimi_sem")
    make_run(tmp_path, "text", codebooks=TEXT, bits_per_token=8.0, tokens_per_utt=8, distinct=300)
    out = tmp_path / "report"
    cli_main(["report", str(tmp_path / "runs"), "--out", str(out), "--format", "json"])
    printed = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in printed["rows"]] == ["mimi_sem", "text"]
    assert {c["name"] for c in printed["sanity"]["text"]} == {"frame rate", "bits/sec", "unigram entropy",
                                                              "vocab use", "transcript overlap", "trainer options",
                                                              "k-gram baselines", "still learning", "truth"}
    assert json.loads((out / "report.json").read_text()) == printed
    assert (out / "report.md").read_text().startswith("## default\n\n| run |")
    assert (out / "headline.png").stat().st_size > 0 and (out / "headline.svg").stat().st_size > 0


def test_an_out_under_a_file_is_refused_before_anything_is_written(tmp_path, capsys):
    make_run(tmp_path, "mimi_sem", curve=False)
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(AudiobitsError, match=r"--out .*taken/report: .*taken is a file, not a folder"):
        main(runs=[str(tmp_path / "runs")], out=str(tmp_path / "taken" / "report"))
    assert capsys.readouterr().out == ""  # refused before the table, not after it


def test_a_directory_without_results_is_an_error_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudiobitsError, match="no results.json in it or below it"):
        load_runs([tmp_path / "empty"])


def test_runs_without_compress_json_show_dashes_in_the_compression_columns(tmp_path):
    [row] = build_table(load_runs([make_run(tmp_path, "mimi_sem")]), sanity=False).rows
    assert row["compressed_bits_per_sec"] is None and row["zstd_bits_per_sec"] is None
    table = build_table(load_runs([tmp_path / "runs"]), sanity=False)
    assert "| – | – | – | – | – |" in table.markdown("compression")


@pytest.mark.parametrize("block", [{}, {"max_steps": -1}, []])
def test_a_damaged_trainer_block_skips_that_run_alone_with_one_note_naming_its_file(tmp_path, capsys, block):
    make_run(tmp_path, "good", distinct=1000)
    damaged = make_run(tmp_path, "edited", results_overrides={"trainer": block})
    before = snapshot(tmp_path)
    for tool in ("report", "sanity"):
        cli_main([tool, str(tmp_path / "runs")])
        out, err = capsys.readouterr()
        assert [line.split()[0] for line in out.splitlines() if line.startswith(("good", "edited"))] == ["good"]
        assert err.splitlines() == [f"audiobits {tool}: skipped {damaged / 'results.json'}: its trainer block is "
                                    f"{sorted(block) if isinstance(block, dict) else 'list'}, not the fields "
                                    "['max_steps', 'limit_train_batches', 'accumulate_grad_batches', "
                                    "'gradient_clip_val', 'precision', 'device', 'limit_val_batches', "
                                    "'val_check_interval'] audiobits writes; it was edited after fit wrote it. "
                                    "Restore it, or leave the run out."]
    assert snapshot(tmp_path) == before


def test_figures_drawn_before_the_table_are_redrawn_for_the_runs_it_kept(demo_output, tmp_path):
    """The demo draws the figures before its last compress ends; when the table then keeps fewer runs, the report
    draws them again for those, and a figure with no data left (the frontier, without an audio run) is removed."""
    from audiobits.analysis.plots import write_figures
    from audiobits.analysis.report import write_report

    runs = load_runs([demo_output / "runs"])
    drawn = write_figures(runs, tmp_path)
    assert tmp_path / "frontier.png" in drawn
    phonemes = [run for run in runs if run.label == "phonemes"]
    written = write_report(build_table(phonemes), runs, tmp_path, drawn)
    assert not (tmp_path / "frontier.png").exists() and tmp_path / "frontier.png" not in written
    assert "frontier" not in (tmp_path / "report.html").read_text()
