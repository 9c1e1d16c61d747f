"""ResultsWriter through the real `audiobits fit`: `finished` and `train_tokens` say what was actually trained."""

from pathlib import Path

import pytest

from audiobits.bins import TokenBins
from audiobits.cli import main
from audiobits.data import num_windows
from audiobits.results import read_results
from audiobits.synthetic import write_markov_bins

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "bins"
    write_markov_bins(out, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)  # 20 steps of 16
    return out


def fit_results(tmp_path, bins_dir, *extra) -> dict:
    main(["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir), "--trainer.logger.init_args.save_dir",
          str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
          *extra])
    return read_results(next((tmp_path / "runs" / "tiny").glob("version_*")))


@pytest.mark.parametrize("extra, windows_trained", [
    (["--trainer.max_steps", "5"], 5 * 16),
    (["--trainer.limit_train_batches", "7", "--trainer.accumulate_grad_batches", "3"], 7 * 16),  # 3 steps, 7 batches
])
def test_a_run_cut_short_is_unfinished_and_counts_only_what_it_trained(tmp_path, small, extra, windows_trained):
    results = fit_results(tmp_path, small, *extra)
    assert not results["finished"]
    assert results["train_tokens"] == windows_trained * 64


def test_a_full_epoch_with_accumulation_is_finished_with_every_window(tmp_path, small):
    windows = num_windows(TokenBins(small).split("train").num_tokens, 64, partial=False)
    results = fit_results(tmp_path, small, "--trainer.accumulate_grad_batches", "3")
    assert results["finished"] and results["global_step"] == 7  # ceil(20 batches / 3)
    assert results["train_tokens"] == windows * 64
