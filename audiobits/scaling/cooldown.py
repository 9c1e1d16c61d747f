"""WSD cool-downs: the loss a shorter run would have reached, from a stable-phase checkpoint of the long one.

A cool-down is an ordinary resume (``audiobits fit --ckpt_path fraction_<f>.ckpt``) of the run's own config with
two overrides: ``trainer.max_steps`` ends it after the decay, and ``model.decay_fraction`` makes the run's WSD
schedule decay over exactly those last steps, with the same cosine shape (Hägele et al. 2024). The epoch sampler
resumes mid-epoch, so the decay trains on the windows that follow, never seen before; the final validation scores
the full val split; ``results.json`` records the tokens actually trained (stable + decay). It writes into its own
log directory, never the main run's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from audiobits.errors import AudiobitsError
from audiobits.files import read_yaml
from audiobits.scaling.sweep_records import cooldown_dir
from audiobits.callbacks.fraction_checkpoints import fraction_checkpoint_name


def cooldown_steps(stable_steps: int, decay_fraction: float) -> int:
    """Decay steps after ``stable_steps`` so the decay is ``decay_fraction`` of the point's steps, as in the main
    run's schedule: round(S · f / (1 − f)), at least 1."""
    if not 0 < decay_fraction < 1:
        raise ValueError(f"decay_fraction must lie in (0, 1), got {decay_fraction}")
    return max(1, round(stable_steps * decay_fraction / (1.0 - decay_fraction)))


def checkpoint_step(checkpoint: str | Path) -> int:
    """The optimizer steps a Lightning checkpoint was saved after."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)
    return int(state["global_step"])


def config_decay_fraction(config: Path) -> float:
    """A fit config's ``model.decay_fraction``, the TinyGPTModule default when not set."""
    model = (read_yaml(config, dict) or {}).get("model") or {}
    return float((model.get("init_args", model) or {}).get("decay_fraction", 0.10))


def cooldown_args(run_dir: str | Path, fraction: float, decay_fraction: float | None = None) -> list[str]:
    """The fit arguments (`run_fit`'s: `audiobits fit` without ``fit``) for the cool-down of ``run_dir``'s checkpoint at
    ``fraction`` of its steps."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / "checkpoints" / fraction_checkpoint_name(fraction)
    if not checkpoint.is_file():
        raise AudiobitsError(f"{checkpoint} not found: the run saved no checkpoint at {fraction:g} of its steps. Train "
                             "it with the callbacks.DataFractionCheckpoints callback (`audiobits sweep` adds it).")
    decay_fraction = config_decay_fraction(run_dir / "config.yaml") if decay_fraction is None else decay_fraction
    stable = checkpoint_step(checkpoint)
    decay = cooldown_steps(stable, decay_fraction)
    out = cooldown_dir(run_dir, fraction)
    return ["--config", str(run_dir / "config.yaml"), "--ckpt_path", str(checkpoint),
            "--trainer.max_steps", str(stable + decay), "--model.decay_fraction", repr(decay / (stable + decay)),
            "--trainer.val_check_interval", "1.0",  # the results writer validates the last step anyway
            "--trainer.logger.init_args.save_dir", str(out.parent.parent),
            "--trainer.logger.init_args.name", out.parent.name, "--trainer.logger.init_args.version", out.name]
