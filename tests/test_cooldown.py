"""WSD cool-downs: a decayed point scores below the stable checkpoint it left, and the checkpoints that make them
possible leave the main run untouched."""

from pathlib import Path

import numpy as np
import pytest

from audiobits.cli import main
from audiobits.training.trainer_cli import lightning_cli
from audiobits.callbacks.throughput import Throughput
from audiobits.scaling.cooldown import checkpoint_step, cooldown_args, cooldown_steps
from audiobits.results import UTTERANCES_FILE
from results_file import results_json
from audiobits.training.schedule import wsd_lr
from audiobits.demo.synthetic import write_markov_bins

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
FRACTIONS = "--trainer.callbacks+=callbacks.DataFractionCheckpoints"


def test_cooldown_steps_keep_the_main_runs_decay_share():
    assert cooldown_steps(90, 0.10) == 10  # 10 of the point's 100 steps decay, as in the main run
    assert cooldown_steps(3, 0.10) == 1
    with pytest.raises(ValueError):
        cooldown_steps(10, 1.0)


def test_the_overridden_schedule_decays_from_the_stable_lr_to_the_minimum():
    stable, decay = 90, 10
    lrs = [wsd_lr(s, stable + decay, 3e-3, 3e-4, 0.05, decay / (stable + decay)) for s in range(stable + decay)]
    assert lrs[stable - 1] == 3e-3 and lrs[stable] < 3e-3 and lrs[-1] == pytest.approx(3e-4)
    assert np.all(np.diff(lrs[stable - 1:]) < 0)


def fit(save_dir: Path, bins_dir: Path, *extra: str) -> Path:
    main(["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir), "--trainer.logger.init_args.save_dir",
          str(save_dir), "--trainer.logger.init_args.version", "main", *QUIET, *extra])
    return save_dir / "tiny" / "main"


@pytest.mark.slow
def test_cooldown_scores_below_its_stable_checkpoint_and_leaves_the_main_run_alone(tmp_path):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)  # 20 steps
    plain = results_json(fit(tmp_path / "plain", bins))
    run = fit(tmp_path / "sweep", bins, FRACTIONS, "--trainer.callbacks.fractions=[0.5]")
    # bit-identical but for how fast it ran and the config's hash (this run's config adds the callback)
    measured = {*Throughput.__dataclass_fields__, "provenance"}
    assert {k: v for k, v in results_json(run).items() if k not in measured} == {
        k: v for k, v in plain.items() if k not in measured}
    checkpoint = run / "checkpoints" / "fraction_0.5.ckpt"
    assert checkpoint_step(checkpoint) == 10

    before = set((tmp_path / "sweep").rglob("*"))
    args = cooldown_args(run, 0.5, decay_fraction=0.3)  # 10 stable steps + 4 decaying ones
    main(["fit", *args, *QUIET])
    point_dir = tmp_path / "sweep" / "tiny" / "cooldown_0.5"
    assert {p for p in before if p.is_file()} <= {p for p in (tmp_path / "sweep").rglob("*") if p.is_file()}
    assert not [p for p in set(run.rglob("*")) - before]  # nothing new in the main run's directory
    point = results_json(point_dir)
    assert point["global_step"] == 14 and point["train_tokens"] == 14 * 16 * 64
    assert point["val_scored_fraction"] == 1.0 and (point_dir / UTTERANCES_FILE).is_file()

    stable = lightning_cli(["validate", "--config", TINY, "--data.init_args.bins_dir", str(bins), "--ckpt_path",
                            str(checkpoint), "--trainer.logger.init_args.save_dir", str(tmp_path / "eval"), *QUIET])
    stable_bits = float(stable.trainer.callback_metrics["val/bits_per_token"])
    assert point["bits_per_token"] < stable_bits
    assert point["bits_per_token"] > plain["bits_per_token"]  # 14 steps of data, not the epoch's 20
