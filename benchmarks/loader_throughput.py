"""Does the data loader keep up? Tokens/sec out of the training DataLoader against what the model consumes.

The loader is `TokenBinDataModule.train_dataloader()` (shuffled windows of ``seq_len + 1`` uint32 ids from a
memory-mapped bin, collated into int64 batches) over synthetic bins, timed over ``--batches`` batches after the
first (worker start-up). The model's rate is measured here with the plain training loop of
``train_throughput.py`` (its preset for this device), or given with ``--model-tokens-per-sec`` (e.g. from
``gpu_check.sh``). Also printed: the rate a GPU would need at a given MFU for each seed vocabulary, from the
model's full FLOPs. Target: the loader feeds at least 10× what the model consumes.

    python benchmarks/loader_throughput.py
    python benchmarks/loader_throughput.py --model-tokens-per-sec 1.3e6 --workers 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_utils import SEED_VOCABS, device_name, write_uniform_bins
from train_throughput import PRESETS, flops_per_token, plain_tokens_per_sec

from audiobits.training.accelerators import BF16_PEAK
from audiobits.data import TokenBinDataModule


def loader_tokens_per_sec(bins: Path, seq_len: int, batch: int, workers: int, batches: int) -> float:
    data = TokenBinDataModule(str(bins), seq_len=seq_len, batch_size=batch, num_workers=workers)
    data.setup("fit")
    loader = iter(data.train_dataloader())
    next(loader)  # workers started, first batch out
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return batches * batch * seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (the seed configs use 4)")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--model-tokens-per-sec", type=float, help="the model's measured training rate")
    parser.add_argument("--mfu", type=float, default=0.4, help="MFU for the GPU requirement estimate")
    args = parser.parse_args()
    default = PRESETS["default"]
    with tempfile.TemporaryDirectory() as tmp:
        bins = write_uniform_bins(Path(tmp) / "bins", 65537, (args.batches + 2) * default["batch"] * 1024)
        loader = loader_tokens_per_sec(bins, 1024, default["batch"], args.workers, args.batches)
        print(f"loader: {device_name()}, {args.workers} workers, batch {default['batch']} × 1024 uint32 ids: "
              f"{loader:14,.0f} tokens/s")
        model = args.model_tokens_per_sec
        if model is None:
            cpu = PRESETS["cpu"]
            model = plain_tokens_per_sec(bins, cpu, steps=12, warmup=2)
            print(f"model : this device's training loop ({cpu}, vocab 65537): {model:14,.0f} tokens/s")
        else:
            print(f"model : given training rate: {model:14,.0f} tokens/s")
        print(f"loader / model: {loader / model:.1f}×  (target ≥ 10×)")
    peak_name, peak = BF16_PEAK[0]
    print(f"GPU estimate: the seed's model at {100 * args.mfu:.0f} % MFU of an {peak_name} ({peak / 1e12:.0f} "
          f"TFLOP/s) consumes, per GPU:")
    for rep, vocab in SEED_VOCABS.items():
        need = args.mfu * peak / flops_per_token(default, vocab)
        print(f"  {rep:13s} (vocab {vocab:6d}): {need:12,.0f} tokens/s   loader / need: {loader / need:6.1f}×")


if __name__ == "__main__":
    main()
