"""Progress bars of the long steps outside Lightning's loops: count, rate and ETA, and a pass's steps counted once."""

import re

from audiobits.compress import pass_steps
from audiobits.progress import progress_bar, step_reporter, with_progress


def test_a_bar_shows_count_rate_and_eta(capsys):
    assert list(with_progress(iter(range(5)), 5, "final evaluation, sliding pass", "batch")) == list(range(5))
    bar = capsys.readouterr().err
    assert re.search(r"final evaluation, sliding pass: 100%.*5/5 \[\d\d:\d\d<00:00, *[\d.]+batch/s\]", bar), bar


def test_a_disabled_bar_prints_nothing(capsys):
    assert list(with_progress([1, 2], 2, "quiet", "batch", enabled=False)) == [1, 2]
    assert capsys.readouterr().err == ""


def test_step_reports_advance_the_bar_to_each_pass_end_exactly(capsys):
    steps = pass_steps([[30, 12], [7], []])
    assert steps == [30, 7, 0]
    with progress_bar(sum(steps), "coding", "step") as bar:
        for total in steps:
            report = step_reporter(bar)
            for step in range(0, total, 10):  # every PROGRESS_EVERY steps, as the coder calls it
                report(step, total)
            report(total, total)  # the pass's end
        assert bar.n == 37
