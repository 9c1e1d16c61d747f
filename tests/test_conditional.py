"""Conditional bits/sec end to end: the synthetic paired source of exact answers through the real CLI (every
conditional entropy in [H, 1.10 H], I(A;T) within 10 %, a model that sees the future caught), DDP equals one process,
an exact resume, and the information and report functions on numbers worked out by hand."""

import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch.nn.functional as F

from audiobits import model as model_lib
from audiobits.bins import TokenBins
from audiobits.cli import main
from audiobits.training.trainer_cli import lightning_cli
from audiobits.analysis.conditional import information
from audiobits.analysis.conditional_report import decomposition_rows, identity_check, conditional_rows, markdown
from audiobits.analysis.conditional import CONDITIONS, condition_modes, mode_name
from results_file import results_json
from audiobits.analysis.runs import Run
from audiobits.demo.synthetic_paired import PairedSource
from recorders import crash_at_12_and_resume

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs" / "tiny_paired.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
MODES = condition_modes(CONDITIONS)


def bins_args(corpus: Path) -> list[str]:
    return ["--data.init_args.target.init_args.bins_dir", str(corpus / "audio"),
            "--data.init_args.paired.init_args.bins_dir", str(corpus / "transcript")]


def fit(tmp_path, corpus, *extra):
    main(["fit", "--config", CONFIG, *bins_args(corpus), "--trainer.logger.init_args.save_dir",
          str(tmp_path / "runs"), *QUIET, *extra])
    return sorted((tmp_path / "runs" / "tiny_paired").glob("version_*"))


def synthetic(out: Path, train: int, val: int) -> Path:
    """The paired corpus, written through `audiobits synthetic --paired true`."""
    main(["synthetic", "--paired", "true", "--out", str(out), "--train_utterances", str(train), "--val_utterances",
          str(val)])
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthetic(tmp_path_factory.mktemp("paired") / "corpus", train=12_000, val=400)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    return results_json(fit(tmp_path_factory.mktemp("fit"), corpus)[-1])


def oracle(corpus: Path, mode: tuple[str, ...]) -> float:
    """Bits/token the true source assigns to this very val split in ``mode``."""
    audio = np.asarray(TokenBins(corpus / "audio").split("val").tokens, dtype=np.int64)
    return PairedSource().oracle_bits(audio, mode)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES, ids=mode_name)
def test_each_conditional_entropy_lands_in_h_to_110_percent_of_h(corpus, trained, mode):
    measured = trained["conditional"]["modes"][mode_name(mode)]
    exact = PairedSource().bits_per_token(mode)
    assert measured["bits_per_token"] >= oracle(corpus, mode) - 0.02  # never below the true source on this split
    assert measured["bits_per_token"] <= 1.10 * exact
    assert measured["bits_per_sec"] == pytest.approx(measured["bits_per_token"] * measured["tokens_per_sec"])


@pytest.mark.slow
def test_information_is_within_ten_percent_and_no_condition_costs_bits(corpus, trained):
    source, block = PairedSource(), trained["conditional"]
    words = block["information"]["paired"]
    exact = source.bits_per_sec(()) - source.bits_per_sec(("paired",))  # = log2 16 bits per 0.2 s utterance
    assert words["bits_per_sec"] == pytest.approx(exact, rel=0.10)
    low, high = words["ci95"]
    assert low <= words["bits_per_sec"] <= high and words["ci_kind"] == "speakers"
    for term in block["information"].values():  # a condition never makes the target dearer beyond noise
        assert term["bits_per_sec"] > -0.5
    d = block["decomposition"]
    assert d["words"] + d["speaker"] + d["rest"] == pytest.approx(d["total"])
    # the headline is the fully conditioned pass, named for what it conditions on
    assert trained["representation"] == "audio_given_transcript+speaker"
    assert trained["bits_per_sec"] == pytest.approx(block["modes"]["paired+speaker"]["bits_per_sec"])


@pytest.mark.slow
def test_a_model_that_sees_the_future_is_caught(corpus, tmp_path, monkeypatch):
    def leaky(q, k, v):
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    monkeypatch.setattr(model_lib, "causal_attention", leaky)
    results = results_json(fit(tmp_path, corpus, "--trainer.limit_train_batches", "250")[-1])
    measured = results["conditional"]["modes"]["paired+speaker"]["bits_per_token"]
    assert measured < oracle(corpus, ("paired", "speaker")) - 0.3


@pytest.fixture
def small(tmp_path):
    return synthetic(tmp_path / "small", train=640, val=40)  # 640 windows: 20 steps of 32


def test_resume_after_a_crash_trains_every_window_exactly_once(tmp_path, small):
    runs, trained = crash_at_12_and_resume(fit, tmp_path, small)
    assert sorted(trained[:, 1]) == list(range(640))
    results = results_json(runs[0])
    assert results["finished"] and results["global_step"] == 20 and "conditional" in results


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_equals_one_process(tmp_path, small):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "audiobits", "fit", "--config", CONFIG, *bins_args(small),
           "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), *QUIET, "--trainer.accelerator", "cpu",
           "--trainer.devices", "2", "--trainer.strategy", "ddp", "--data.init_args.batch_size", "16"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    run = next((tmp_path / "runs" / "tiny_paired").glob("version_*"))
    ddp = results_json(run)
    targets = TokenBins(small / "audio").split("val").num_tokens - 1
    assert all(m["val_tokens"] == targets for m in ddp["conditional"]["modes"].values())  # each token once
    lightning_cli(["validate", "--config", CONFIG, *bins_args(small), "--ckpt_path",
                   str(run / "checkpoints" / "last.ckpt"), "--trainer.logger.init_args.save_dir",
                   str(tmp_path / "eval"), *QUIET])
    single = results_json(run)["conditional"]
    for mode, values in ddp["conditional"]["modes"].items():
        assert single["modes"][mode]["bits_per_token"] == pytest.approx(values["bits_per_token"], rel=1e-6)
    for name, term in ddp["conditional"]["information"].items():
        assert single["information"][name]["bits_per_sec"] == pytest.approx(term["bits_per_sec"], rel=1e-5, abs=1e-6)


def test_information_is_the_saving_per_second_with_a_paired_interval():
    without = np.array([10.0, 12.0, 8.0, 11.0]) * math.log(2)  # nats per utterance
    given = without - np.array([2.0, 2.0, 2.0, 2.0]) * math.log(2)
    term = information(without, given, np.full(4, 0.5), np.array(["a", "a", "b", "b"]), resamples=200)
    assert term.bits_per_sec == pytest.approx(4.0) and term.bits_per_utterance == pytest.approx(2.0)
    # every utterance saves the same: the paired interval has no width, though each entropy varies
    assert term.ci95 == pytest.approx([4.0, 4.0]) and term.ci_kind == "speakers"


def paired_run(name, target, paired, none, given, both=None, corpus="c"):
    """A Run holding only a ``conditional`` block of chosen bits/sec (2 tokens/s)."""
    modes = {"none": none, "paired": given} | ({} if both is None else {"paired+speaker": both})
    block = {"target": target, "paired": paired,
             "modes": {m: {"bits_per_token": v / 2, "bits_per_sec": v} for m, v in modes.items()},
             "information": {"paired": {"bits_per_sec": none - given, "ci95": [0, 1]}},
             "decomposition": None if both is None else {"total": none, "words": none - given,
                                                         "speaker": given - both, "rest": both}}
    return Run(Path(name), run_results(corpus, f"{target}_given_{paired}", given, block), label=name)


def run_results(corpus: str, representation: str, bits_per_sec: float, conditional: dict | None = None):
    """The fields of a `Results` the conditional report reads."""
    return SimpleNamespace(corpus=corpus, representation=representation, conditional=conditional,
                           headline=SimpleNamespace(bits_per_sec=bits_per_sec))


def test_report_view_checks_identity_and_lays_the_decomposition_beside_the_seed_subtraction():
    runs = [paired_run("a|t", "mimi", "text", 600.0, 570.0, 530.0), paired_run("t|a", "text", "mimi", 35.0, 4.0),
            Run(Path("t"), run_results("c", "text", 34.0), label="t"),
            Run(Path("m"), run_results("c", "mimi", 610.0), label="m")]
    assert len(conditional_rows(runs)) == 2
    assert identity_check(conditional_rows(runs)) == [("mimi", "text", 30.0, 31.0)]
    (row,) = decomposition_rows(runs)
    assert (row.words, row.speaker, row.rest, row.seed_words, row.seed_rest) == (30.0, 40.0, 530.0, 34.0, 576.0)
    text = markdown(runs)
    assert "H(A\\|T) b/s" in text and "| mimi | 600.00 | 30.00 | 40.00 | 530.00 | 34.00 | 576.00 |" in text


@pytest.mark.slow
def test_demo_adds_the_conditional_row_and_its_decomposition(demo_output):
    run = next((demo_output / "runs" / "codec2_700c_given_phonemes").glob("version_*"))
    block = results_json(run)["conditional"]
    assert set(block["modes"]) == {"none", "paired"} and (block["target"], block["paired"]) == ("codec2_700c",
                                                                                                 "phonemes")
    targets = TokenBins(demo_output / "bins" / "alice-tiny" / "codec2_700c").split("val").num_tokens - 1
    assert all(m["val_tokens"] == targets for m in block["modes"].values())  # the same tokens in every mode
    d = block["decomposition"]
    assert d["speaker"] is None and d["words"] + d["rest"] == pytest.approx(d["total"])  # one voice: no speaker
    table = (demo_output / "report" / "conditional.md").read_text()
    assert f"| codec2_700c | {d['total']:.2f} | {d['words']:.2f} | — | {d['rest']:.2f} |" in table
    assert (demo_output / "report" / "conditional.png").is_file()
