"""`audiobits sweep --config configs/X.yaml`: one representation at a ladder of model sizes, each with cool-downs.

Every point is an ordinary `audiobits fit` run: the sweep writes one fit config per size into
``<out>/configs/<size>.yaml`` (the given config with the size's width, depth, heads and learning rates, the log
dir ``<out>/runs/<size>/main`` and :class:`audiobits.callbacks.DataFractionCheckpoints`), trains them, and after each
main run its cool-downs (:mod:`audiobits.scaling.cooldown`) into ``<out>/runs/<size>/cooldown_<f>``. Sequential in this
process by default; ``--parallel N`` runs N sizes at once, one per GPU (``CUDA_VISIBLE_DEVICES``); ``<out>/slurm.sh`` is
a SLURM array script doing the same on a cluster. A point with results.json is not run again, so a stopped sweep
resumes where it stopped. Fit the law afterwards with ``audiobits scaling <out>``.

The default ladder (:data:`DEFAULT_LADDER`, also in configs/sweep_ladder.yaml): four sizes about 4× apart in
non-embedding parameters (1.3 M, 4.9 M, 18.9 M = the seed's 6 × 512, 84.9 M = Pythia-160M's 12 × 768 trunk), with
Pythia/GPT-3-style shapes (depth grows with width, 64-dim heads) and peak learning rate ∝ 1/width anchored at the
seed's 3e-4 for width 512 (the μP rule of thumb; Pythia's own rates fall the same way: 1e-3 at 512 … 6e-4 at 768
with larger batches), min_lr = lr / 10 as in the seed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml

from audiobits import metrics
from audiobits.scaling.cooldown import config_decay_fraction, cooldown_args, cooldown_steps
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, read_yaml, write_text_atomic
from audiobits.model import GPTConfig, TinyGPT
from audiobits.progress import StepClock
from audiobits.training.module import TinyGPTModule
from audiobits.results import RESULTS_FILE
from audiobits.scaling.sweep_records import SWEEP_FILE, cooldown_dir, main_run_dir, seed_run_dir
from audiobits.callbacks.fraction_checkpoints import DEFAULT_FRACTIONS, fraction_step

@dataclass(frozen=True)
class LadderSize:
    """One rung: a name for its directory and the model hyper-parameters that change along the ladder."""

    name: str
    n_layer: int
    n_embd: int
    n_head: int
    lr: float
    min_lr: float


def _rung(name: str, n_layer: int, n_embd: int) -> LadderSize:
    lr = 3e-4 * 512 / n_embd  # lr ∝ 1/width, the seed's 3e-4 at width 512
    return LadderSize(name, n_layer, n_embd, n_embd // 64, float(f"{lr:.3g}"), float(f"{lr / 10:.3g}"))


DEFAULT_LADDER = (_rung("xs", 3, 192), _rung("s", 4, 320), _rung("m", 6, 512), _rung("l", 12, 768))


def load_ladder(path: str | Path | None) -> list[LadderSize]:
    """The ladder from a YAML list of ``{name, n_layer, n_embd, n_head, lr, min_lr}``, or the default."""
    if path is None:
        return list(DEFAULT_LADDER)
    try:
        rows = read_yaml(path, list)
        ladder = [LadderSize(**row) for row in rows]
    except (TypeError, AttributeError) as error:
        raise AudiobitsError(f"{path}: a ladder is a YAML list of {{name, n_layer, n_embd, n_head, lr, min_lr}} "
                             f"({error}); see configs/sweep_ladder.yaml.") from error
    if not ladder or len({s.name for s in ladder}) != len(ladder):
        raise AudiobitsError(f"{path}: the ladder needs at least one size, each with a distinct name.")
    return ladder


def non_embedding_params(size: LadderSize, vocab_size: int, seq_len: int) -> int:
    """N of a ladder size, counted on a model built on the meta device (no memory, no time)."""
    with torch.device("meta"):
        model = TinyGPT(GPTConfig(vocab_size, seq_len, size.n_layer, size.n_embd, size.n_head))
    return model.num_params(non_embedding=True)


def seeded(config: dict, seed: int, version: str) -> dict:
    """``config`` with ``seed`` for the weights and the data order, logging into version ``version``."""
    config = json.loads(json.dumps(config))  # a deep copy
    config["seed_everything"] = seed
    config.setdefault("data", {}).setdefault("init_args", {})["seed"] = seed
    config["trainer"]["logger"]["init_args"]["version"] = version
    return config


def size_config(base: dict, size: LadderSize, out: Path, fractions: list[float]) -> dict:
    """The given fit config with ``size``'s model, the log dir ``<out>/runs/<size>/main`` and the stable-phase
    checkpoint callback."""
    config = json.loads(json.dumps(base))  # a deep copy
    config.setdefault("model", {}).update({k: v for k, v in asdict(size).items() if k != "name"})
    trainer = config.setdefault("trainer", {})
    trainer["logger"] = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                         "init_args": {"save_dir": str(out / "runs"), "name": size.name, "version": "main"}}
    callbacks = trainer.get("callbacks") or []
    trainer["callbacks"] = [*callbacks, {"class_path": "audiobits.callbacks.DataFractionCheckpoints",
                                         "init_args": {"fractions": list(fractions)}}]
    return config


@dataclass
class Plan:
    """What a sweep will train: per size its N, tokens (main epoch + cool-down decays) and FLOPs."""

    sizes: list[LadderSize]
    params: list[int]
    tokens: list[int]
    flops_trunk: list[float]
    flops_full: list[float]


def plan_sweep(ladder: list[LadderSize], vocab_size: int, seq_len: int, train_windows: int, global_batch: int,
               fractions: list[float], decay_fraction: float) -> Plan:
    """Tokens and training FLOPs of every run: the epoch, plus each cool-down's decay steps (their stable steps
    are the main run's, not trained again)."""
    steps = math.ceil(train_windows / global_batch)
    epoch = train_windows * seq_len
    extra = sum(cooldown_steps(fraction_step(f, steps), decay_fraction) for f in fractions) * global_batch * seq_len
    params = [non_embedding_params(s, vocab_size, seq_len) for s in ladder]
    tokens = [epoch + extra] * len(ladder)
    return Plan(ladder, params, tokens, [metrics.training_flops_trunk(n, t) for n, t in zip(params, tokens)],
                [metrics.training_flops_full(n, vocab_size, s.n_embd, s.n_layer, seq_len, t)
                 for s, n, t in zip(ladder, params, tokens)])


def measure_throughput(size: LadderSize, vocab_size: int, seq_len: int, batch: int, steps: int = 2) -> float:
    """Training tokens/sec of ``size`` here through the path fit trains (`TinyGPTModule`'s training loss with its
    default head, blocks compiled and bf16 autocast on CUDA, fused AdamW there; else the CPU): one untimed step
    (compilation), then ``steps`` timed forward + backward + AdamW steps on random tokens."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    module = TinyGPTModule(vocab_size, seq_len, size.n_layer, size.n_embd, size.n_head, lr=size.lr).to(device)
    if device == "cuda":
        module.compile_blocks()
    optimizer = torch.optim.AdamW(module.parameters(), lr=size.lr, fused=device == "cuda")
    tokens = torch.randint(0, vocab_size, (batch, seq_len + 1), device=device)
    data = {"input": tokens[:, :-1], "target": tokens[:, 1:]}
    elapsed = 0.0
    for step in range(steps + 1):
        started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = module._summed_train_nats(data) / data["target"].numel()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed += (time.perf_counter() - started) if step else 0.0
    return steps * batch * seq_len / elapsed


def slurm_script(out: Path, command: list[str], sizes: list[str]) -> str:
    """A SLURM array job: task i runs size i of the ladder on one GPU, then `audiobits scaling` by hand."""
    names = " ".join(sizes)
    line = " ".join(command)
    return (f"#!/bin/bash\n# The sweep in {out} as a SLURM array: one task per model size, one GPU each.\n"
            f"# Submit: sbatch {out / 'slurm.sh'}   then: audiobits scaling {out}\n"
            f"#SBATCH --job-name=audiobits-sweep\n#SBATCH --array=0-{len(sizes) - 1}\n#SBATCH --gres=gpu:1\n"
            f"#SBATCH --output={out}/slurm-%A_%a.out\nset -euo pipefail\ncd {Path.cwd()}\nSIZES=({names})\n"
            f"{line} --only \"${{SIZES[$SLURM_ARRAY_TASK_ID]}}\" --estimate_steps 0\n")


def write_sweep(config: Path, ladder: list[LadderSize], out: Path, fractions: list[float],
                command: list[str], seeds: list[int] | None = None) -> dict[str, Path]:
    """Write ``<out>/configs/<size>.yaml`` per size (with ``seeds``: the first seed's, and
    ``<size>_seed<k>.yaml`` for each further one), ``sweep.json`` (with the reference size: the one shaped as the
    given config, else the largest) and ``slurm.sh``; returns the configs by name."""
    base = read_yaml(config, dict) or {}
    (out / "configs").mkdir(parents=True, exist_ok=True)
    paths = {}
    for size in ladder:
        sized = size_config(base, size, out, fractions)
        versions = {size.name: seeded(sized, seeds[0], "main") if seeds else sized}
        versions.update({f"{size.name}_seed{k}": seeded(sized, k, seed_run_dir(out, size.name, k).name)
                         for k in (seeds or [])[1:]})
        for name, written in versions.items():
            path = out / "configs" / f"{name}.yaml"
            write_text_atomic(path, yaml.safe_dump(written, sort_keys=False))
            paths[name] = path
    model = base.get("model") or {}
    same = [s.name for s in ladder if (s.n_layer, s.n_embd) == (model.get("n_layer", 6), model.get("n_embd", 512))]
    record = {"config": str(config), "ladder": [asdict(s) for s in ladder], "fractions": list(fractions),
              "reference": (same or [ladder[-1].name])[0],  # the size whose main run is "the measured point"
              "seeds": list(seeds or [])}
    write_text_atomic(out / SWEEP_FILE, json.dumps(record, indent=2) + "\n")
    write_text_atomic(out / "slurm.sh", slurm_script(out, command, [s.name for s in ladder]))
    return paths


def fit_point(clock: StepClock, results: Path, what: str, args: Callable[[], list[str]]) -> None:
    """One fit of the sweep, announced with its place in the sweep (`StepClock`); skipped when ``results`` exists.
    ``args`` is called only when the fit runs (a cool-down's arguments read its main run's checkpoint)."""
    from audiobits.training.trainer_cli import run_fit

    if results.is_file():
        clock.skip()
        return
    print(f"[sweep] {clock.line(what)}", flush=True)
    run_fit(args())
    clock.finish()


def last_checkpoint(run: Path) -> Path:
    return run / "checkpoints" / "last.ckpt"


def resumable_fit(run: Path, config: Path) -> list[str]:
    """The fit arguments of ``config`` logging into ``run``, resumed from its last.ckpt when an attempt stopped."""
    last = last_checkpoint(run)
    return ["--config", str(config), *(["--ckpt_path", str(last)] if last.is_file() else [])]


def runs_per_size(fractions: list[float], seeds: list[int] | None) -> int:
    """Fits of one size: the main run, a cool-down per fraction and a main run per further seed."""
    return 1 + len(fractions) + max(len(seeds or []) - 1, 0)


def run_size(out: Path, name: str, configs: dict[str, Path], fractions: list[float], decay_fraction: float | None,
             seeds: list[int] | None, clock: StepClock) -> None:
    """The main run of one size, then each cool-down, then the main run with each further seed; points that
    already have results.json are skipped. Each fit's line says its place in the whole sweep (``clock``)."""
    run = main_run_dir(out, name)
    resumed = " (resumed)" if last_checkpoint(run).is_file() else ""
    fit_point(clock, run / RESULTS_FILE, f"{name}: main run{resumed}", lambda: resumable_fit(run, configs[name]))
    for fraction in fractions:
        fit_point(clock, cooldown_dir(run, fraction) / RESULTS_FILE,
                  f"{name}: cool-down from {fraction:g} of the steps",
                  lambda: cooldown_args(run, fraction, decay_fraction))
    for seed in (seeds or [])[1:]:
        seed_run = seed_run_dir(out, name, seed)
        fit_point(clock, seed_run / RESULTS_FILE, f"{name}: main run, seed {seed}",
                  lambda: resumable_fit(seed_run, configs[f"{name}_seed{seed}"]))


def run_parallel(command: list[str], names: list[str], jobs: int) -> None:
    """Sizes as subprocesses (``command --only NAME``), ``jobs`` at a time, job i on GPU i."""
    pending, running = list(names), {}
    while pending or running:
        free = [g for g in range(jobs) if g not in running]
        while pending and free:
            gpu, name = free.pop(0), pending.pop(0)
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu)}
            print(f"[sweep] {name} on GPU {gpu}", flush=True)
            running[gpu] = (name, subprocess.Popen([*command, "--only", name, "--estimate_steps", "0"], env=env))
        time.sleep(1.0)
        for gpu, (name, process) in list(running.items()):
            if process.poll() is not None:
                del running[gpu]
                if process.returncode:
                    raise AudiobitsError(f"sweep size {name} failed (exit {process.returncode}); rerun the sweep to "
                                         "resume it (finished points are kept).")


def _data_facts(config: Path) -> tuple[int, int, int, int, int]:
    """vocab, seq_len, training windows, batch per device and devices of the config's run (bins prepared if
    missing)."""
    from audiobits.training.trainer_cli import lightning_cli

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        cli = lightning_cli(["--config", str(config)], run=False)
    data = cli.datamodule
    data.prepare_data()
    devices = cli.trainer.num_devices * cli.trainer.num_nodes
    return data.vocab_size, data.seq_len, data.train_windows, data.batch_size, devices


def print_plan(plan: Plan, throughput: list[float] | None) -> None:
    print(f"[sweep] {len(plan.sizes)} sizes, each {plan.tokens[0]:,} training tokens (epoch + cool-down decays)")
    for i, size in enumerate(plan.sizes):
        rate = f", {throughput[i]:,.0f} tok/s → {plan.tokens[i] / throughput[i] / 60:.1f} min" if throughput else ""
        print(f"[sweep]   {size.name}: {size.n_layer} × {size.n_embd}, N = {plan.params[i] / 1e6:.2f} M, "
              f"lr {size.lr:g}, {plan.flops_trunk[i]:.3g} FLOPs (trunk 6NT), {plan.flops_full[i]:.3g} (full){rate}")
    total = f"[sweep] total: {sum(plan.flops_trunk):.3g} training FLOPs (trunk), {sum(plan.flops_full):.3g} (full)"
    if throughput:
        seconds = sum(t / r for t, r in zip(plan.tokens, throughput))
        total += f"; estimated {seconds / 60:.1f} min of training in sequence (validation not included)"
    print(total, flush=True)


def main(*, config: str, out: str | None = None, ladder: str | None = None,
         fractions: list[float] = list(DEFAULT_FRACTIONS), decay_fraction: float | None = None, parallel: int = 1,
         only: str | None = None, estimate_steps: int = 2, plan_only: bool = False, seeds: list[int] | None = None
         ) -> None:
    """Train a representation at a ladder of model sizes with cool-downs.

    Args:
        config: the representation's `audiobits fit` config.
        out: sweep folder (default sweeps/<config name>).
        ladder: YAML list of sizes {name, n_layer, n_embd, n_head, lr, min_lr} (default: four sizes, 1.3 M to 85 M
            non-embedding params; configs/sweep_ladder.yaml).
        fractions: stable-phase checkpoints (shares of the main run's steps) to cool down from.
        decay_fraction: share of each cool-down point's steps that decay (default: the config's).
        parallel: sizes at once, one per GPU.
        only: run this size only (what a SLURM task does).
        estimate_steps: timed steps per size for the time estimate (0: skip the estimate).
        plan_only: write the configs and print the plan only.
        seeds: repeat each size's main run with each random seed, e.g. [0,1,2] (the first: the main run).
    """
    fit_config = Path(config)
    if not fit_config.is_file():
        raise AudiobitsError(f"{fit_config}: no such config; pass an `audiobits fit` config (e.g. configs/text.yaml).")
    folder = Path(out or Path("sweeps") / fit_config.stem).resolve()
    check_output_dir(folder, "--out" if out else "the sweep folder (--out)")
    sizes = load_ladder(ladder)
    if seeds is not None and (not seeds or len(set(seeds)) != len(seeds)):
        raise AudiobitsError(f"--seeds {seeds}: give distinct integer seeds, e.g. --seeds [0,1,2]")
    command = [sys.executable, "-m", "audiobits", "sweep", "--config", str(fit_config.resolve()), "--out", str(folder),
               "--fractions", json.dumps(fractions)]
    command += ["--ladder", str(Path(ladder).resolve())] if ladder else []
    command += ["--decay_fraction", str(decay_fraction)] if decay_fraction is not None else []
    command += ["--seeds", json.dumps(seeds)] if seeds else []
    configs = write_sweep(fit_config, sizes, folder, fractions, command, seeds)
    names = [s.name for s in sizes]
    if only is not None and only not in names:
        raise AudiobitsError(f"--only {only}: not a size of the ladder ({', '.join(names)}).")
    selected = [s for s in sizes if only in (None, s.name)]
    if only is None:
        vocab, seq_len, windows, batch, devices = _data_facts(configs[names[0]])
        decay = decay_fraction if decay_fraction is not None else config_decay_fraction(fit_config)
        plan = plan_sweep(sizes, vocab, seq_len, windows, batch * devices, fractions, decay)
        throughput = ([devices * measure_throughput(s, vocab, seq_len, batch, estimate_steps) for s in sizes]
                      if estimate_steps > 0 else None)
        print_plan(plan, throughput)
        print(f"[sweep] configs in {folder / 'configs'}; SLURM array script {folder / 'slurm.sh'}", flush=True)
    if plan_only:
        return
    if parallel > 1 and only is None:
        run_parallel(command, names, parallel)
    else:
        clock = StepClock(len(selected) * runs_per_size(fractions, seeds))
        for size in selected:
            run_size(folder, size.name, configs, fractions, decay_fraction, seeds, clock)
    print(f"[sweep] done: {folder}. Fit the law with `audiobits scaling {folder}`.", flush=True)

