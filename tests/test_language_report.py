"""`report --by language`: rows per run and language from results.json, rendered and drawn; a clear error when no
run records languages."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from audiobits.errors import AudiobitsError
from audiobits.analysis.language_report import language_rows, languages_figure, render_languages, report_by_language
from audiobits.analysis.runs import Run
from audiobits.results import LanguageScore


def score(language: str, bps: float, low: float, high: float) -> LanguageScore:
    return LanguageScore(language=language, utterances=3, speakers=1, seconds=10.0, tokens=120,
                         bits_per_token=bps / 12, tokens_per_sec=12.0, bits_per_sec=bps, bits_per_sec_ci95=[low, high],
                         ci_kind="utterances")


def results(representation: str, *scores: LanguageScore) -> SimpleNamespace:
    """The fields of a `Results` the language report reads."""
    return SimpleNamespace(representation=representation, languages={s.language: s for s in scores})


def runs() -> list[Run]:
    phonemes = Run(Path("p"), results("phonemes", score("fr", 70, 60, 80), score("en", 60, 50, 75)), label="p")
    codec = Run(Path("c"), results("codec2_700c", score("en", 500, 480, 520)), label="c")
    return [phonemes, codec, Run(Path("x"), results("text"), label="x")]  # x records no languages


def test_rows_group_by_language_then_run_order_and_render_every_format():
    rows = language_rows(runs())
    assert [(r.language, r.run) for r in rows] == [("en", "p"), ("en", "c"), ("fr", "p")]
    assert (rows[0].bits_per_sec, rows[0].ci_low, rows[0].ci_high) == (60, 50, 75)
    table = render_languages(rows, "table").splitlines()
    assert table[0].split()[:3] == ["language", "run", "representation"] and "60.00 [50.00, 75.00] utt" in table[2]
    assert render_languages(rows, "markdown").count("\n| ") == 3
    assert '"language": "fr"' in render_languages(rows, "json")
    assert render_languages(rows, "csv").splitlines()[3].startswith("p,phonemes,fr,3,10.0,")
    figure = languages_figure(rows)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["en", "fr"]
    assert languages_figure([]) is None


def test_no_run_with_languages_is_one_clear_error(capsys):
    with pytest.raises(AudiobitsError, match="none of the 1 runs records languages.*language column"):
        report_by_language(runs()[2:], "table")
    report_by_language(runs(), "table")
    assert len(capsys.readouterr().out.splitlines()) == 7  # header, rule, 3 rows, a blank line, the note
