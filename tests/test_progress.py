"""Progress of the long steps outside Lightning's loops: bars with count, rate and ETA that reach their totals (a
pass's steps counted once), and a sweep's "run k/n" lines with elapsed time and ETA."""

import re
import time

from corpus_builders import speech_rows, write_audio_folder

from audiobits.scaling import sweep
from audiobits.training import trainer_cli
from audiobits.compress.compress import pass_steps
from audiobits.corpora import AudioFolder
from audiobits.prepare.encode import EncodeJob, EncodeOptions
from audiobits.progress import StepClock, progress_bar, step_reporter, with_progress
from audiobits.representations.mulaw import MuLawRepresentation
from audiobits.results import RESULTS_FILE
from audiobits.scaling.sweep_records import main_run_dir


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


def test_a_step_clock_says_position_elapsed_and_eta_of_the_whole(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    clock = StepClock(4, start=now[0])
    clock.skip()  # found finished: it counts for the position, not for the rate
    assert clock.line("b: main run") == "run 2/4: b: main run [elapsed 00:00, ETA ?]"
    now[0] += 60
    clock.finish()
    assert clock.line("b: cool-down") == "run 3/4: b: cool-down [elapsed 01:00, ETA 02:00]"  # 2 left at 60 s each


def test_sweep_fits_say_run_k_of_n_and_skip_finished_ones(tmp_path, monkeypatch, capsys):
    fits = []
    monkeypatch.setattr(trainer_cli, "run_fit", fits.append)
    configs = {"a": tmp_path / "a.yaml", "a_seed1": tmp_path / "a1.yaml", "a_seed2": tmp_path / "a2.yaml"}
    main_run = main_run_dir(tmp_path, "a")
    main_run.mkdir(parents=True)
    (main_run / RESULTS_FILE).write_text("{}")  # the main run finished earlier: skipped
    clock = StepClock(sweep.runs_per_size([], [0, 1, 2]))
    sweep.run_size(tmp_path, "a", configs, [], None, [0, 1, 2], clock)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" [")[0] for line in lines] == ["[sweep] run 2/3: a: main run, seed 1",
                                                       "[sweep] run 3/3: a: main run, seed 2"]
    assert [args[1] for args in fits] == [str(configs["a_seed1"]), str(configs["a_seed2"])]


def test_the_encode_bar_counts_every_pending_utterance(tmp_path, capsys):
    folder = write_audio_folder(tmp_path / "corpus", {"train": speech_rows(5), "val": speech_rows(2, prefix="v")})
    job = EncodeJob(AudioFolder(str(folder)), MuLawRepresentation(), tmp_path / "bins",
                    EncodeOptions(shard_size=3, num_workers=0))
    job.start_plan()
    job.encode_pending()
    assert re.search(r"corpus/mulaw rank 0: 100%.*7/7 \[\d\d:\d\d<00:00.*h audio", capsys.readouterr().err)
