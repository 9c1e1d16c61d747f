"""Training throughput of `audiobits fit` against a plain PyTorch loop over the same model, data and optimizer.

Both run in this process on the same synthetic bins, the same batches (the datamodule's own loader) and the same
AdamW + WSD schedule; the first ``--warmup`` steps of each are not timed. Prints tokens/sec of each and their
ratio (target: Lightning costs < 5 % on CPU), and on a GPU the model FLOPs utilization (full FLOPs ÷ the card's
bf16 dense peak).

    python benchmarks/train_throughput.py                      # CPU-sized model
    python benchmarks/train_throughput.py --preset default     # the seed's 6 L / 512 d, batch 64 × 1024 (GPU)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from audiobits import metrics
from audiobits.cli import lightning_cli
from audiobits.data import IGNORE_INDEX, TokenBinDataModule
from audiobits.model import GPTConfig, TinyGPT
from audiobits.schedule import wsd_lr
from audiobits.synthetic import write_markov_bins

PRESETS = {  # n_layer, n_embd, n_head, seq_len, batch, vocab
    "cpu": dict(n_layer=4, n_embd=256, n_head=4, seq_len=256, batch=8, vocab=2048),
    "default": dict(n_layer=6, n_embd=512, n_head=8, seq_len=1024, batch=64, vocab=16384),
}
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}  # dense, no sparsity


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


def plain_tokens_per_sec(bins: Path, p: dict, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = TokenBinDataModule(str(bins), seq_len=p["seq_len"], batch_size=p["batch"], num_workers=2)
    data.setup("fit")
    model = TinyGPT(GPTConfig(vocab_size=data.vocab_size, seq_len=p["seq_len"], n_layer=p["n_layer"],
                              n_embd=p["n_embd"], n_head=p["n_head"])).to(device)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    rest = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), fused=device == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: wsd_lr(min(s, steps - 1), steps, 3e-4, 3e-5) / 3e-4)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    start = None
    for step, batch in enumerate(data.train_dataloader(), start=1):
        x, y = batch["input"].to(device, non_blocking=True), batch["target"].to(device, non_blocking=True)
        with amp:
            logits = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE_INDEX)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step == warmup:
            _sync()
            start = time.perf_counter()
        if step == steps:
            break
    _sync()
    return (steps - warmup) * p["batch"] * p["seq_len"] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="default" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="alternate plain/Lightning runs; best of each")
    args = parser.parse_args()
    p = PRESETS[args.preset]
    torch.set_float32_matmul_precision("high")
    with tempfile.TemporaryDirectory() as tmp:
        tokens_needed = (args.steps + 1) * p["batch"] * (p["seq_len"] + 1)
        utterances = tokens_needed // 1000 + 2
        bins = Path(tmp) / "bins"
        write_markov_bins(bins, vocab=p["vocab"] - 1, utterance_len=1000, train_utterances=utterances,
                          val_utterances=2, concentration=1.0)
        plain, lit = [], []
        for _ in range(args.repeats):
            plain.append(plain_tokens_per_sec(bins, p, args.steps, args.warmup))
            lit.append(lightning_tokens_per_sec(bins, p, args.steps, args.warmup, Path(tmp)))
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device}; preset {args.preset}: {p}; {args.steps} steps, {args.warmup} untimed")
    print(f"plain PyTorch loop : {max(plain):12.0f} tokens/s   (runs: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"audiobits fit      : {max(lit):12.0f} tokens/s   (runs: {', '.join(f'{x:.0f}' for x in lit)})")
    print(f"Lightning / plain  : {max(lit) / max(plain):.3f}  (overhead {100 * (1 - max(lit) / max(plain)):.1f} %)")
    if torch.cuda.is_available():
        with torch.device("meta"):
            n = TinyGPT(GPTConfig(p["vocab"], p["seq_len"], p["n_layer"], p["n_embd"], p["n_head"])).num_params()
        per_token = metrics.training_flops_full(n, p["vocab"], p["n_embd"], p["n_layer"], p["seq_len"], 1)
        peak = next((v for k, v in BF16_PEAK.items() if k in device), None)
        if peak:
            for name, rate in (("plain", max(plain)), ("audiobits", max(lit))):
                print(f"MFU {name:9s}: {100 * per_token * rate / peak:.1f} % of {peak / 1e12:.0f} TFLOP/s bf16")
        else:
            print(f"no bf16 peak known for {device}: {per_token * max(lit) / 1e12:.1f} TFLOP/s achieved")


if __name__ == "__main__":
    main()
