"""Provenance of a run's numbers: which audiobits (version and git commit), torch, lightning and codec package
versions, which device, which seed and which resolved config produced them (``results.json``'s ``provenance``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from importlib import metadata
from pathlib import Path

import audiobits
from audiobits.results import Provenance


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (None when it is not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(directory: Path = Path(audiobits.__file__).parent) -> str | None:
    """HEAD of the git checkout holding ``directory`` (the audiobits source), with ``+dirty`` when tracked files were
    changed; None outside a checkout or without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def config_hash(config: dict | None) -> str | None:
    """sha256 of a resolved config, keys sorted (so the YAML's layout does not matter); None for no config."""
    if not config:
        return None
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def device_name(device: str, cuda_name: str | None = None) -> str:
    """``cuda: <GPU name>`` for a CUDA device, else the device type."""
    return f"{device}: {cuda_name}" if cuda_name else device


def collect(encoder: dict, device: str, config: dict | None) -> Provenance:
    """The provenance of a run evaluated now on ``device`` (e.g. ``device_name("cuda", "NVIDIA H100")``), for bins
    encoded by ``encoder`` (meta.json's record) and trained from ``config``."""
    import torch  # here, not at the top: the report reads provenance without loading torch

    codec = f"{encoder.get('package')} {encoder.get('version')}" if encoder.get("package") else None
    seed = os.environ.get("PL_GLOBAL_SEED")
    return Provenance(audiobits_version=package_version("audiobits") or "unknown", git_commit=git_commit(),
                      torch_version=torch.__version__, lightning_version=package_version("lightning"),
                      codec_package=codec, device=device, seed=int(seed) if seed is not None else None,
                      config_sha256=config_hash(config))
