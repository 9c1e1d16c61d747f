"""What the CLI says besides its numbers: a fast --help, one line naming the closest valid names for a typo, no
third-party tips, how to resume after Ctrl-C, finished runs named before a resume or a new fit."""

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from audiobits.cli import main
from audiobits.demo.synthetic import write_markov_bins

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.yaml")


def fit(tmp_path, bins_dir, *extra):
    main(["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir),
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false",
          *extra])
    return sorted((tmp_path / "runs" / "tiny").glob("version_*"))


@pytest.fixture
def small(tmp_path):
    out = tmp_path / "small"
    write_markov_bins(out, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)  # 20 steps
    return out


def imported_after(*args: str) -> list[str]:
    """Which of torch and lightning ``audiobits ARGS`` imported (in a fresh interpreter)."""
    code = ("import sys\nfrom audiobits.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print([name for name in ('torch', 'lightning') if name in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO,
                          check=True)
    return eval(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["sanity", "--help"]])
def test_help_and_the_report_import_neither_torch_nor_lightning(args):
    assert imported_after(*args) == []


def test_top_level_help_names_every_subcommand_with_what_it_does(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "fit" in out and "report" in out and "the table, files and figures of finished runs" in out


@pytest.mark.parametrize(("args", "hint"), [
    (["fitt"], "no subcommand 'fitt' (did you mean fit?)"),
    (["report", "runs", "--outt", "x"], "unrecognized arguments: --outt x (did you mean --out?)"),
    (["fit", "--config", TINY, "--trainer.max_stepz", "3"], "(did you mean --trainer.max_steps"),
    (["fit", "--config", TINY, "--data.init_args.seq_ln", "3"], "data: TokenBinDataModule has no option 'seq_ln' "
                                                                 "(did you mean seq_len?)"),
])
def test_a_typo_is_one_line_naming_the_closest_valid_names(args, hint):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    message = str(exit_info.value.code)
    assert message.startswith("audiobits: error: ") and hint in message and "\n" not in message


def test_a_typo_in_a_config_file_names_the_closest_key(tmp_path):
    config = tmp_path / "typo.yaml"
    config.write_text(Path(TINY).read_text().replace("n_layer:", "n_layr:"))
    with pytest.raises(SystemExit, match=r"does not accept option 'model.n_layr' \(did you mean model.n_layer"):
        main(["fit", "--config", str(config)])


def test_a_typo_exits_with_status_1_and_one_line_on_stderr():
    done = subprocess.run([sys.executable, "-m", "audiobits", "report", "runs", "--outt", "x"], capture_output=True,
                          text=True, cwd=REPO)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "did you mean --out?" in done.stderr


def test_ctrl_c_resume_and_a_finished_run_say_what_to_do(tmp_path, small, capfd, caplog):
    handler = signal.getsignal(signal.SIGINT)
    try:  # Lightning ignores SIGINT after a KeyboardInterrupt (for its shutdown): give pytest its handler back
        with pytest.raises(SystemExit):
            fit(tmp_path, small, "--checkpoint.every_n_train_steps", "5", "--trainer.callbacks+=recorders.InterruptAt",
                "--trainer.callbacks.step=12")
    finally:
        signal.signal(signal.SIGINT, handler)
    run = tmp_path / "runs" / "tiny" / "version_0"
    out, err = capfd.readouterr()
    assert f"interrupted at step 12; `audiobits fit --config {TINY} --ckpt_path last` resumes from " \
           f"{run / 'checkpoints' / 'last.ckpt'}" in err
    shown = out + err + caplog.text  # Lightning logs to stderr, or through the root logger when it has handlers
    assert "Tip:" not in shown and "Total Flops" not in shown and "Params" in shown  # the summary ran

    fit(tmp_path, small, "--checkpoint.every_n_train_steps", "5", "--ckpt_path", "last")
    results = (run / "results.json").read_bytes()
    capfd.readouterr()
    assert fit(tmp_path, small, "--ckpt_path", "last") == [run]  # resuming the finished run trains nothing
    out, err = capfd.readouterr()
    assert f"{run} is finished" in out and "no results.json was written" not in out + err
    assert (run / "results.json").read_bytes() == results

    runs = fit(tmp_path, small, "--trainer.enable_progress_bar", "true")
    out, err = capfd.readouterr()
    assert f"already has 1 finished run(s) ({run}); this fit starts {runs[-1]}" in out and len(runs) == 2
    bar = r"final evaluation, sliding pass: 100%.*\[\d\d:\d\d<00:00, *[\d.]+(batch/s|s/batch)\]"  # rate, ETA
    assert re.search(bar, err), err[-2000:]
