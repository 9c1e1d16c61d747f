"""Training throughput: the chunked head against the full-logits loss, `audiobits fit` against a plain loop; on a
GPU also MFU per seed vocabulary, torch.compile on/off and flash-attn against SDPA.

Every run trains on the same synthetic bins through the datamodule's own loader with AdamW + the WSD schedule;
the first ``--warmup`` steps (compilation included) are not timed. The plain loop computes its loss with
`TinyGPTModule`'s own method, so both sides run the same model code; runs alternate, best of ``--repeats``.

    python benchmarks/train_throughput.py                     # CPU preset: chunked vs full, Lightning vs plain
    python benchmarks/train_throughput.py --preset default    # GPU: the seed's 6 L × 512 at 64 × 1024, bf16
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from bench_utils import SEED_VOCABS, device_name, write_uniform_bins

from audiobits import metrics
from audiobits.training.accelerators import bf16_peak
from audiobits import model as model_lib
from audiobits.training.chunked_loss import fused_available
from audiobits.training.trainer_cli import lightning_cli
from audiobits.data import TokenBinDataModule
from audiobits.training.module import TinyGPTModule
from audiobits.training.schedule import wsd_lr

PRESETS = {  # n_layer, n_embd, n_head, seq_len, batch
    "cpu": dict(n_layer=4, n_embd=256, n_head=4, seq_len=256, batch=8),
    "default": dict(n_layer=6, n_embd=512, n_head=8, seq_len=1024, batch=64),
}


class StepTimer(L.Callback):
    """Wall time from the end of step ``warmup`` to the end of step ``steps``."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.last, self.start, self.end = warmup, steps, None, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step in (self.warmup, self.last):
            _sync()
            now = time.perf_counter()
            self.start, self.end = (now, None) if trainer.global_step == self.warmup else (self.start, now)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def lightning_tokens_per_sec(bins: Path, p: dict, steps: int, warmup: int, workdir: Path) -> float:
    """`audiobits fit` with every audiobits callback and TensorBoard logging (head loss and compile: defaults)."""
    timer = StepTimer(warmup, steps)
    cli = lightning_cli([
        "--data", "audiobits.data.TokenBinDataModule", "--data.bins_dir", str(bins),
        "--data.seq_len", str(p["seq_len"]), "--data.batch_size", str(p["batch"]), "--data.num_workers", "2",
        "--model.n_layer", str(p["n_layer"]), "--model.n_embd", str(p["n_embd"]), "--model.n_head", str(p["n_head"]),
        "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger", "lightning.pytorch.loggers.TensorBoardLogger", "--trainer.logger.save_dir", str(workdir),
        "--checkpoint.save_last", "false",
    ], run=False)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, cli.datamodule)
    return (steps - warmup) * p["batch"] * p["seq_len"] / (timer.end - timer.start)


def plain_tokens_per_sec(bins: Path, p: dict, steps: int, warmup: int, head_loss: str = "auto",
                         compile: bool | None = None, compile_scope: str = "blocks", profile: bool = False) -> float:
    """A plain PyTorch loop; ``compile`` None: on CUDA only, as `TinyGPTModule` decides; ``compile_scope``
    "blocks" (each block, as the module does) or "model" (embedding, blocks and norm in one graph); ``profile``
    prints where the timed steps' device time went (the rate it returns then includes the profiler's cost)."""
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = TokenBinDataModule(str(bins), seq_len=p["seq_len"], batch_size=p["batch"], num_workers=2)
    data.setup("fit")
    module = TinyGPTModule(data.vocab_size, p["seq_len"], p["n_layer"], p["n_embd"], p["n_head"],
                           head_loss=head_loss).to(device)
    if compile or (compile is None and device.type == "cuda"):
        if compile_scope == "model":
            module.model.hidden = torch.compile(module.model.hidden)
        else:
            for block in module.model.blocks:
                block.compile()
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]
                                      + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else []))
    params = list(module.parameters())
    opt = torch.optim.AdamW([{"params": [q for q in params if q.dim() >= 2], "weight_decay": 0.1},
                             {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), fused=device.type == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: wsd_lr(min(s, steps - 1), steps, 3e-4, 3e-5) / 3e-4)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    start = None
    for step, batch in enumerate(data.train_dataloader(), start=1):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with amp:
            loss = module._summed_train_nats(batch) / (batch["target"] >= 0).sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step == warmup:
            _sync()
            start = time.perf_counter()
            if profile:
                profiler.start()
        if step == steps:
            break
    _sync()
    elapsed = time.perf_counter() - start
    if step != steps:
        raise RuntimeError(f"the bins hold {step} batches, fewer than the {steps} steps asked for")
    if profile:
        profiler.stop()
        print_profile(profiler, elapsed)
    return (steps - warmup) * p["batch"] * p["seq_len"] / elapsed


def print_profile(profiler: torch.profiler.profile, elapsed: float, rows: int = 14) -> None:
    """The device's busy share of the wall time (low: the step waits on Python or launches) and its top kernels."""
    kernels = [e for e in profiler.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.self_device_time_total for e in kernels) / 1e6  # kernels only: an op's time is its kernels' too
    print(f"    device busy {busy:.3f} s of {elapsed:.3f} s wall ({100 * busy / elapsed:.0f} %); top kernels:")
    top = sorted((e for e in kernels if e.self_device_time_total > 0), key=lambda e: -e.self_device_time_total)
    for e in top[:rows]:
        print(f"    {100 * e.self_device_time_total / 1e6 / busy:5.1f} %  {e.count:5d}×  {e.key[:100]}")


def _fmt(runs: list[float]) -> str:
    return f"{max(runs):12.0f} tokens/s   (runs: {', '.join(f'{x:.0f}' for x in runs)})"


def flops_per_token(p: dict, vocab: int) -> float:
    with torch.device("meta"):
        n = TinyGPTModule(vocab, p["seq_len"], p["n_layer"], p["n_embd"], p["n_head"]).model.num_params()
    return metrics.training_flops_full(n, vocab, p["n_embd"], p["n_layer"], p["seq_len"], tokens=1)


def cpu_comparison(p: dict, vocab: int, args, tmp: Path) -> None:
    """Chunked vs full head at equal batch, and Lightning vs the plain loop, alternating in this process."""
    bins = write_uniform_bins(tmp / f"bins-{vocab}", vocab, (args.steps + 2) * p["batch"] * p["seq_len"])
    runs = {"full": [], "chunked": [], "lightning": []}
    for _ in range(args.repeats):
        runs["full"].append(plain_tokens_per_sec(bins, p, args.steps, args.warmup, head_loss="full"))
        runs["chunked"].append(plain_tokens_per_sec(bins, p, args.steps, args.warmup, head_loss="auto"))
        runs["lightning"].append(lightning_tokens_per_sec(bins, p, args.steps, args.warmup, tmp))
    full, chunked, lit = (max(runs[k]) for k in ("full", "chunked", "lightning"))
    print(f"vocab {vocab}:")
    print(f"  plain loop, full logits   : {_fmt(runs['full'])}")
    print(f"  plain loop, chunked head  : {_fmt(runs['chunked'])}")
    print(f"  audiobits fit (chunked)   : {_fmt(runs['lightning'])}")
    print(f"  chunked / full            : {chunked / full:.3f}  (cost {100 * (1 - chunked / full):.1f} %)")
    print(f"  Lightning / plain         : {lit / chunked:.3f}  (overhead {100 * (1 - lit / chunked):.1f} %)")


def gpu_figures(p: dict, args, tmp: Path) -> None:
    """MFU per seed vocab (plain loop with the module's loss and compile defaults), then at vocab 16 385:
    full logits, Lightning, compile off, SDPA instead of flash-attn."""
    name = device_name()
    peak = bf16_peak(name)

    def report(label: str, vocab: int, rate: float | str) -> None:
        if isinstance(rate, str):
            print(f"  {label:34s}: {rate}")
            return
        mfu = metrics.model_flops_utilization(flops_per_token(p, vocab), rate, peak) if peak else None
        print(f"  {label:34s}: {rate:12.0f} tokens/s" + (f"   MFU {100 * mfu:5.1f} %" if mfu is not None else ""))

    def attempt(fn, *a, **kw) -> float | str:
        """The row's rate, or why there is none: a failing row is reported and the next one runs."""
        try:
            return fn(*a, **kw)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            return "out of memory"
        except Exception as error:  # any failure of one row (a kernel, a compile) must not end the check
            torch.cuda.empty_cache()
            return f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"

    print(f"bf16 dense peak of {name}: " + (f"{peak / 1e12:.0f} TFLOP/s" if peak else "unknown (no MFU)"))
    print("  head: Liger's fused kernel (head_loss auto)" if fused_available(torch.device("cuda")) else
          "  head: chunked (head_loss auto): liger-kernel is not installed, so no figure below is the fused head's")
    bins = {}
    for rep, vocab in SEED_VOCABS.items():
        if vocab not in args.vocab:
            continue
        bins[vocab] = write_uniform_bins(tmp / f"bins-{vocab}", vocab, (args.steps + 2) * p["batch"] * p["seq_len"])
        report(f"{rep} (vocab {vocab}), default path", vocab, attempt(plain_tokens_per_sec, bins[vocab], p,
                                                                     args.steps, args.warmup))
    vocab = 16385 if 16385 in bins else next(iter(bins))
    report(f"vocab {vocab}, full logits", vocab, attempt(plain_tokens_per_sec, bins[vocab], p, args.steps,
                                                          args.warmup, head_loss="full"))
    report(f"vocab {vocab}, chunked (not fused)", vocab, attempt(plain_tokens_per_sec, bins[vocab], p, args.steps,
                                                                 args.warmup, head_loss="chunked"))
    report(f"vocab {vocab}, whole model compiled", vocab, attempt(plain_tokens_per_sec, bins[vocab], p, args.steps,
                                                                  args.warmup, compile_scope="model"))
    report(f"vocab {vocab}, compile off", vocab, attempt(plain_tokens_per_sec, bins[vocab], p, args.steps,
                                                         args.warmup, compile=False))
    if model_lib.flash_attn_func is not None:
        flash, model_lib.flash_attn_func = model_lib.flash_attn_func, None
        try:
            report(f"vocab {vocab}, SDPA instead of flash-attn", vocab,
                   attempt(plain_tokens_per_sec, bins[vocab], p, args.steps, args.warmup))
        finally:
            model_lib.flash_attn_func = flash
    else:
        print("  flash-attn is not installed (it builds from source: `pip install 'flash-attn>=2.7' "
              "--no-build-isolation` with nvcc): every figure above used SDPA")
    report(f"vocab {vocab}, audiobits fit", vocab, attempt(lightning_tokens_per_sec, bins[vocab], p, args.steps,
                                                           args.warmup, tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="default" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--vocab", type=int, nargs="+", help="cpu: 2048 and 16385; default: every seed vocab")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="CPU: alternate the runs; best of each")
    parser.add_argument("--profile", action="store_true",
                        help="only profile the default path per vocab: device busy share and top kernels")
    args = parser.parse_args()
    p = PRESETS[args.preset]
    torch.set_float32_matmul_precision("high")
    print(f"device: {device_name()}; preset {args.preset}: {p}; {args.steps} steps, {args.warmup} untimed")
    with tempfile.TemporaryDirectory() as tmp:
        if args.profile:
            for vocab in args.vocab or [2049, 65537]:
                bins = write_uniform_bins(Path(tmp) / f"bins-{vocab}", vocab,
                                          (args.steps + 2) * p["batch"] * p["seq_len"])
                rate = plain_tokens_per_sec(bins, p, args.steps, args.warmup)
                peak = bf16_peak(device_name())
                mfu = metrics.model_flops_utilization(flops_per_token(p, vocab), rate, peak) if peak else None
                print(f"vocab {vocab}, default path: {rate:.0f} tokens/s"
                      + (f", MFU {100 * mfu:.1f} %" if mfu is not None else "") + "; profiled:")
                plain_tokens_per_sec(bins, p, args.steps, args.warmup, profile=True)
        elif torch.cuda.is_available():
            args.vocab = args.vocab or list(SEED_VOCABS.values())
            gpu_figures(p, args, Path(tmp))
        else:
            for vocab in args.vocab or [2048, 16385]:
                cpu_comparison(p, vocab, args, Path(tmp))


if __name__ == "__main__":
    main()
