"""The shipped seed configs run end to end offline: only the corpus, the weights and the sizes are overridden."""

import math
from pathlib import Path

import pytest
import yaml
from corpus_builders import speech_rows, write_audio_folder

from audiobits.bins import TokenBins
from audiobits.cli import main
from results_file import results_json

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.slow
@pytest.mark.parametrize("name, weights, recorded_weights, tokens_per_frame", [
    ("text", None, "gpt2", 1),
    pytest.param("mimi_all", "random", "random", 8, marks=pytest.mark.needs("moshi", "torchaudio")),
    pytest.param("snac_orpheus", "random", "random", 7, marks=pytest.mark.needs("snac", "torchaudio"))])
def test_seed_config_fits_on_a_local_folder_with_random_weights(tmp_path, name, weights, recorded_weights,
                                                                tokens_per_frame):
    folder = write_audio_folder(tmp_path / "mine", {"train": speech_rows(8), "val": speech_rows(3, prefix="v")})
    args = ["fit", "--config", str(CONFIGS / f"{name}.yaml"),
            "--data.init_args.corpus", "audiobits.corpora.AudioFolder", "--data.init_args.corpus.root", str(folder),
            "--data.init_args.root", str(tmp_path / "data"), "--data.init_args.seq_len", "16",
            "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
            "--data.init_args.encode.accelerator", "cpu", "--data.init_args.encode.num_workers", "0",
            "--model.n_layer", "1", "--model.n_embd", "32", "--model.n_head", "2",
            "--trainer.accelerator", "cpu", "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    if weights:
        args += ["--data.init_args.weights", weights]
    main(args)
    bins = TokenBins(tmp_path / "data" / "mine" / name)
    results = results_json(next((tmp_path / "runs" / name).glob("version_*")))
    assert results["representation"] == name and results["finished"] and results["val_scored_fraction"] == 1.0
    assert results["weights"] == bins.meta.encoder["weights"] == recorded_weights
    assert results["tokens_per_frame"] == tokens_per_frame == len(results["bits_per_position"]) - 1
    assert 0 < results["bits_per_token"] < math.log2(results["vocab_size"]) + 1  # near uniform at worst


def test_every_seed_config_trains_at_one_batch_of_64_windows_of_1024_tokens():
    """One batch for every stream: a vocab-dependent batch would change the number of optimizer steps and so the
    schedule between the streams being compared. Paired configs (condition + target in one window) need longer
    windows where the condition is long, and keep the same 65 536 tokens per step."""
    seeds = [p for p in sorted(CONFIGS.glob("*.yaml")) if p.stem not in ("tiny", "tiny_paired", "sweep_ladder")]
    assert {p.stem for p in seeds} >= {"text", "mimi_sem", "mimi_all", "snac_orpheus", "neucodec", "neucodec_emilia",
                                       "text_emilia", "text_to_mimi_all", "mimi_all_to_text"}
    for path in seeds:
        config = yaml.safe_load(path.read_text())["data"]
        data = config["init_args"]
        if config["class_path"] == "audiobits.paired.PairedDataModule":
            assert data["batch_size"] * data["seq_len"] == 64 * 1024, path.name
        else:
            assert (data["batch_size"], data["seq_len"]) == (64, 1024), path.name
