"""Run-to-run spread: `audiobits fit --seeds 0,1,2` repeats a fit per seed, and the report sets the seeds' mean and
standard deviation of bits/sec beside the bootstrap interval of each run.

A seed sets both ``seed_everything`` (the weights' initialisation) and ``data.init_args.seed`` (the order of the
training windows); each repeat logs into the next version directory of the config's logger (``<version>_seed<k>``
when the config fixes the version). Runs are one seed group
when they share representation, corpus, validation utterance set, model shape, training tokens and evaluation
stride, and differ in seed (config.yaml). The comparison: the seed standard deviation (n − 1 in the denominator)
against the bootstrap's standard error, its 95 % half-width ÷ 1.96 — both say how far one run's bits/sec would move,
one over retraining, the other over redrawing validation speakers (or utterances).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from jsonargparse import Namespace

from audiobits.errors import ConfigValueError
from audiobits.analysis.runs import Run

Z95 = 1.959964  # a 95 % normal interval's half-width in standard errors


def split_seeds(args: list[str]) -> tuple[list[int] | None, list[str]]:
    """``--seeds 0,1,2`` (or ``--seeds=[0,1,2]``) out of a fit's arguments: (the seeds or None, the rest)."""
    rest, seeds = [], None
    items = iter(args)
    for arg in items:
        if arg == "--seeds" or arg.startswith("--seeds="):
            text = arg.partition("=")[2] if "=" in arg else next(items, "")
            try:
                seeds = [int(s) for s in text.strip("[] ").split(",") if s.strip()]
            except ValueError:
                seeds = []
            if not seeds or len(set(seeds)) != len(seeds):
                raise ConfigValueError(f"--seeds {text!r}: give distinct integer seeds, e.g. --seeds 0,1,2")
        else:
            rest.append(arg)
    return seeds, rest


def pinned_version(config: Namespace) -> str | None:
    """The logger version a parsed fit config fixes (None: the logger numbers its runs itself)."""
    init = getattr(config.get("trainer.logger"), "init_args", None)
    version = getattr(init, "version", None) if init is not None else None
    return None if version is None else str(version)


def fit_seeds(seeds: list[int], args: list[str], build: Callable[..., object]) -> None:
    """The fit ``args`` once per seed (``build``: `audiobits.training.trainer_cli.lightning_cli`), each with that seed
    for the weights and the data order. A config that fixes its logger's version gets ``<version>_seed<k>`` per seed, so
    no seed overwrites another's run."""
    version = pinned_version(build(args[1:], run=False).config)
    for seed in seeds:
        print(f"[seeds] fit with seed {seed} ({seeds.index(seed) + 1} of {len(seeds)})", flush=True)
        own = ["--trainer.logger.init_args.version", f"{version}_seed{seed}"] if version is not None else []
        build([*args, "--seed_everything", str(seed), "--data.init_args.seed", str(seed), *own])


def run_seed(run: Run) -> tuple:
    """(seed_everything, data seed) from the run's config.yaml."""
    data = run.config.get("data") or {}
    init = data.get("init_args", {}) if isinstance(data, dict) else {}
    return run.config.get("seed_everything"), init.get("seed", 0)


def group_key(run: Run) -> tuple:
    """What must be equal for runs to differ only by seed."""
    r, model = run.results, run.results.model
    return (r.representation, r.corpus, r.val_utterance_set, model.non_embedding_params, model.n_layer, model.n_embd,
            model.seq_len, r.train_tokens, r.eval_stride)


@dataclass(frozen=True)
class SeedSpread:
    """One seed group's bits/sec: mean, seed standard deviation, the bootstrap standard error and which is larger."""

    runs: int
    mean: float
    std: float
    bootstrap_se: float
    ci_kind: str

    @property
    def larger(self) -> str:
        return "seeds" if self.std > self.bootstrap_se else self.ci_kind


def seed_spreads(runs: list[Run]) -> dict[str, SeedSpread]:
    """Run label → its seed group's spread, for runs with at least one other seed in the group."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    spreads = {}
    for members in groups.values():
        if len({run_seed(run) for run in members}) < 2:
            continue
        rates = np.array([run.results.headline.bits_per_sec for run in members])
        half = np.mean([(r.results.headline.bits_per_sec_ci95[1] - r.results.headline.bits_per_sec_ci95[0]) / 2
                        for r in members])
        spread = SeedSpread(len(members), float(rates.mean()), float(rates.std(ddof=1)), float(half / Z95),
                            members[0].results.headline.ci_kind)
        spreads.update({run.label: spread for run in members})
    return spreads
