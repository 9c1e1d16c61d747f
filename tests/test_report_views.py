"""`audiobits report` views and exports: the default view fits a 120-column terminal with the headline first among the
bits/s columns, every view leads with identity and comparability, nothing is cut, and the CSV/JSON exports are tidy
(pandas reads numbers as numbers); ``--format latex`` is a booktabs table of the view."""

import io
from argparse import ArgumentError
import json
import re

import numpy as np
import pandas as pd
import pytest

from audiobits.cli import main as cli_main
from audiobits.bins import Codebook
from audiobits.analysis.report import LEGEND, build_table, main
from audiobits.arguments import run_function
from audiobits.analysis.report_columns import ALL_VIEW, COLUMNS, HEADLINE_KEY, VIEWS, view_columns
from audiobits.analysis.runs import load_runs
from run_dirs import make_run

DEMO_STREAMS = {  # the demo's four representations with their real rates: widest numbers the demo prints
    "phonemes": dict(codebooks=[Codebook(64, None)], bits_per_token=1.9, tokens_per_utt=30, seconds=2.0),
    "mulaw": dict(codebooks=[Codebook(256, 8000.0)], bits_per_token=5.98, tokens_per_utt=16000, seconds=2.0),
    "codec2_3200": dict(codebooks=[Codebook(256, 50.0)] * 8, tokens_per_frame=8, bits_per_token=4.1,
                        tokens_per_utt=800, seconds=2.0),
    "codec2_700c": dict(codebooks=[Codebook(256, 25.0)] * 4, tokens_per_frame=4, bits_per_token=5.2,
                        tokens_per_utt=200, seconds=2.0),
}
BITS_PER_SEC = re.compile(r"\bb(its)?/s\b")


def headers(text: str) -> list[str]:
    """The printed table's column headers, each joined from its wrapped lines (columns read off the dashed rule)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    spans = [m.span() for m in re.finditer(r"-+", lines[rule])]
    return [" ".join(line[a:b].strip() for line in lines[:rule] if line[a:b].strip()) for a, b in spans]


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_like")
    for name, spec in DEMO_STREAMS.items():
        make_run(root, name, utterances=12, curve=False, **spec)
    make_run(root, "c2_700c_cut", representation="codec2_700c", codebooks=[Codebook(256, 25.0)] * 4, tokens_per_frame=4,
             utterances=12, tokens_per_utt=200, curve=False, results_overrides={"finished": False})
    return build_table(load_runs([root / "runs"]))


def test_the_default_view_fits_120_columns_with_the_headline_first_among_bits_per_sec(demo_like):
    text = demo_like.render("table")
    assert max(map(len, text.splitlines())) <= 120, text
    printed = headers(text)
    assert printed == [c.header for c in view_columns("default")]
    rates = [h for h in printed if BITS_PER_SEC.search(h)]
    assert rates[0] == "bits/s [95% CI] HEADLINE" and len(rates) > 1  # before any other bits/s column
    assert printed[:3] == ["run", "representation", "checks"]  # identity and comparability first
    mulaw = next(line for line in text.splitlines() if line.startswith("mulaw"))
    assert "47,8" in mulaw and "64,000" in mulaw  # headline ≈ 5.98 × 8000 tok/s; nominal 8 bits × 8000 Hz


def test_every_view_leads_with_identity_and_comparability_and_its_headline_before_other_bits_per_sec(demo_like):
    for view in VIEWS:
        columns = view_columns(view)
        identity = ["run", "representation", "sanity"] if view in ("default", ALL_VIEW) else ["run", "sanity"]
        assert [c.key for c in columns[:len(identity)]] == identity, view
        rates = [c.key for c in columns if BITS_PER_SEC.search(c.header)]
        if HEADLINE_KEY in [c.key for c in columns]:
            assert rates[0] == HEADLINE_KEY, view
        if view != ALL_VIEW:  # each group readable on its own in a terminal
            assert max(map(len, demo_like.render("table", view).splitlines())) <= 120, view
    assert set(view_columns(ALL_VIEW)) == set(COLUMNS)
    assert {"rates", "context", "capacity", "compute", "compression", "quality", "scaling"} <= set(VIEWS)


def test_flags_are_counted_in_the_row_and_listed_whole_under_the_table(demo_like):
    text = demo_like.render("table")
    row = next(line for line in text.splitlines() if line.startswith("c2_700c_cut"))
    assert "+1 flag" in row
    assert "Not comparable — c2_700c_cut: unfinished" in text
    assert text.index("bits/s [95% CI] HEADLINE") < text.index("HEADLINE bits/s = ") < text.index("Not comparable")
    assert "context − stride tokens of history" in LEGEND


def test_a_cell_wider_than_the_column_limit_wraps_and_keeps_every_character(tmp_path):
    label = "a_representation_with_a_very_long_name_indeed"
    make_run(tmp_path, label, curve=False)
    text = build_table(load_runs([tmp_path / "runs"]), sanity=False).render("table")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    assert label not in lines[first]  # wrapped ...
    assert "".join(line.split()[0] for line in lines[first:first + 2]) == label  # ... not cut


def test_csv_and_json_round_trip_through_pandas_with_numbers_as_numbers(demo_like, tmp_path):
    frame = pd.read_csv(io.StringIO(demo_like.render("csv")))
    rows = demo_like.rows
    assert list(frame["run"]) == [r["run"] for r in rows]
    numeric = ["bits_per_token", "tokens_per_sec", "bits_per_sec", "bits_per_sec_lo", "bits_per_sec_hi",
               "nominal_bits_per_sec", "flat_capacity_bits_per_sec", "utilization_nominal", "context_seconds",
               "context_tokens", "eval_stride", "train_pflops_trunk", "stoi", "compressed_bits_per_sec"]
    for key in numeric:
        assert pd.api.types.is_numeric_dtype(frame[key]), key
        expected = [np.nan if r[key] is None else r[key] for r in rows]
        np.testing.assert_allclose(frame[key].to_numpy(dtype=float), expected, rtol=1e-15, err_msg=key)
    assert (frame["bits_per_sec_lo"] <= frame["bits_per_sec"]).all()
    assert frame.sort_values("bits_per_sec")["run"].iloc[-1] == "mulaw"  # sortable without parsing
    assert frame.loc[frame["run"] == "c2_700c_cut", "flags"].item() == "unfinished"
    from_json = pd.DataFrame(json.loads(demo_like.render("json"))["rows"])
    assert from_json["bits_per_sec"].tolist() == [r["bits_per_sec"] for r in rows]
    assert pd.api.types.is_float_dtype(from_json["bits_per_sec_hi"])


def test_latex_is_a_booktabs_table_of_the_view(demo_like):
    latex = demo_like.render("latex", "capacity")
    lines = latex.splitlines()
    columns = view_columns("capacity")
    align = "ll" + "r" * (len(columns) - 2)  # run and checks left, numbers right
    assert lines[:4] == [r"\begin{table}", r"\centering", rf"\begin{{tabular}}{{{align}}}", r"\toprule"]
    assert lines[4] == " & ".join(c.header for c in columns).replace("%", r"\%") + r" \\"
    body = lines[6:6 + len(demo_like.rows)]
    assert lines[5] == r"\midrule" and lines[6 + len(demo_like.rows)] == r"\bottomrule"
    assert all(line.count(" & ") == len(columns) - 1 for line in body)
    assert body[0].startswith(r"c2\_700c\_cut & 1 warn +1 flag & 200.9 [200.8, 201.0] utt & ")
    assert r"codec2\_3200" in latex and r"\%" in latex  # LaTeX specials escaped
    assert r"\caption{HEADLINE bits/s" in latex


def test_the_cli_prints_the_chosen_view_and_format(tmp_path, capsys):
    make_run(tmp_path, "mimi_sem", curve=False)
    cli_main(["report", str(tmp_path / "runs"), "--view", "compute", "--sanity", "false"])
    printed = headers(capsys.readouterr().out)
    assert "train PFLOPs 6NT" in printed and "bits/token" not in printed
    cli_main(["report", str(tmp_path / "runs"), "--format", "latex", "--sanity", "false"])
    assert capsys.readouterr().out.startswith(r"\begin{table}")
    with pytest.raises(ArgumentError, match=r"Literal\['default', 'rates', 'context', .*Got value: nonsense"):
        run_function(main, [str(tmp_path / "runs"), "--view", "nonsense"], "audiobits report")
