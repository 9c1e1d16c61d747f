"""Provenance: the config hash ignores layout but not values, the git commit is this checkout's, package versions are
the installed ones (a real fit records them: tests/test_results_writer.py)."""

import subprocess
from importlib import metadata
from pathlib import Path

import torch

from audiobits.training.provenance import collect, config_hash, device_name, git_commit

REPO = Path(__file__).resolve().parents[1]


def test_the_config_hash_ignores_key_order_and_sees_every_value():
    config = {"model": {"n_layer": 2, "n_embd": 32}, "seed_everything": 0}
    assert config_hash(config) == config_hash({"seed_everything": 0, "model": {"n_embd": 32, "n_layer": 2}})
    assert config_hash(config) != config_hash({**config, "seed_everything": 1})
    assert len(config_hash(config)) == 64 and config_hash({}) is None and config_hash(None) is None


def test_the_git_commit_is_this_checkouts_head_and_none_outside_a_checkout(tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert git_commit(REPO / "audiobits").removesuffix("+dirty") == head
    assert git_commit(tmp_path) is None


def test_collect_records_the_installed_packages_and_the_codec():
    record = collect({"package": "pycodec2", "version": "4.1.1"}, device_name("cuda", "NVIDIA H100"), {"a": 1})
    assert record.torch_version == torch.__version__ and record.lightning_version == metadata.version("lightning")
    assert record.codec_package == "pycodec2 4.1.1" and record.device == "cuda: NVIDIA H100"
