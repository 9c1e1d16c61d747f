"""Peak memory of one training step with the full-logits loss against the chunked head (and Liger's fused one).

Each (vocab, loss) case is one forward, backward and AdamW step of TinyGPT on random ids, bf16 autocast and compiled
blocks on CUDA (as ``bf16-mixed`` fit trains) and fp32 on the CPU. CUDA: ``torch.cuda.max_memory_allocated`` since
the case began (everything: weights, optimizer state, activations), all cases in this process. CPU: each case in a
fresh process, the growth of its peak resident set over the step (``ru_maxrss``), i.e. the step's own activations,
logits and gradients.

    python benchmarks/memory.py                                   # CPU: 2 layers × 512, batch 4 × 1024
    python benchmarks/memory.py --n-layer 6 --batch 64            # the seed's model at 64 × 1024 (GPU)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch
from bench_utils import device_name

from audiobits.training.chunked_loss import fused_available
from audiobits.training.module import TinyGPTModule


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def one_step(vocab: int, head_loss: str, n_layer: int, batch: int, seq_len: int) -> dict:
    """Run one training step and return the peak memory it needed."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    module = TinyGPTModule(vocab, seq_len=seq_len, n_layer=n_layer, head_loss=head_loss).to(device)
    if device.type == "cuda":
        module.compile_blocks()  # the path fit trains on CUDA
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4, fused=device.type == "cuda")
    data = {"input": torch.randint(0, vocab, (batch, seq_len), device=device),
            "target": torch.randint(0, vocab, (batch, seq_len), device=device)}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = rss_bytes()
    with autocast:
        loss = module._summed_train_nats(data) / data["target"].numel()
    loss.backward()
    optimizer.step()
    if device.type == "cuda":
        return {"peak": torch.cuda.max_memory_allocated(), "kind": "max_memory_allocated"}
    return {"peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before, "kind": "peak RSS growth"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[65537, 16385])
    parser.add_argument("--n-layer", type=int, default=6 if torch.cuda.is_available() else 2)
    parser.add_argument("--batch", type=int, default=64 if torch.cuda.is_available() else 4)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: "vocab,loss" in a child process
    args = parser.parse_args()
    if args.case:
        vocab, loss = args.case.split(",")
        try:
            result = one_step(int(vocab), loss, args.n_layer, args.batch, args.seq_len)
        except torch.OutOfMemoryError:
            result = {"peak": None, "kind": "max_memory_allocated"}
        print(json.dumps(result))
        return
    fused = torch.cuda.is_available() and fused_available(torch.device("cuda"))
    losses = ["full", "chunked"] + (["fused"] if fused else [])
    if torch.cuda.is_available() and not fused:
        print("fused: skipped, liger-kernel is not installed (`pip install audiobits[fused]`)")
    print(f"device: {device_name()}; TinyGPT {args.n_layer} layers × 512, batch {args.batch} × {args.seq_len}")
    print(f"{'vocab':>7} " + " ".join(f"{name:>14}" for name in losses) + "   full ÷ chunked")
    for vocab in args.vocab:
        peaks = {}
        for loss in losses:
            if torch.cuda.is_available():
                peaks[loss] = _case_in_process(vocab, loss, args)
                continue
            child = subprocess.run([sys.executable, __file__, "--case", f"{vocab},{loss}", "--n-layer",
                                    str(args.n_layer), "--batch", str(args.batch), "--seq-len", str(args.seq_len)],
                                   capture_output=True, text=True, check=True)
            result = json.loads(child.stdout.strip().splitlines()[-1])
            peaks[loss] = result["peak"]
        cells = [f"{peaks[name] / 2**30:11.2f} GiB" if peaks[name] else f"{'–':>14}" for name in losses]
        ratio = f"{peaks['full'] / peaks['chunked']:6.1f}×" if peaks["full"] and peaks["chunked"] else "     –"
        print(f"{vocab:>7} " + " ".join(cells) + f"   {ratio}")
    print("(peak = " + ("max_memory_allocated" if torch.cuda.is_available() else "peak RSS growth")
          + "; –: out of memory, or failed as printed above)")


def _case_in_process(vocab: int, loss: str, args: argparse.Namespace) -> int | None:
    """CUDA: one case here, its peak counted from a reset after the previous case's memory was freed (None: out of
    memory, or failed as printed)."""
    torch.cuda.empty_cache()
    try:
        return one_step(vocab, loss, args.n_layer, args.batch, args.seq_len)["peak"]
    except torch.OutOfMemoryError:
        return None
    except Exception as error:  # one failing case is reported; the others still run
        print(f"vocab {vocab}, {loss}: failed: {type(error).__name__}: {str(error)[:200]}", flush=True)
        return None
    finally:
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
