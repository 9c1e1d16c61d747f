"""Range-coding throughput of `audiobits compress`: tokens per second to encode and to decode, on the CPU.

    .venv/bin/python benchmarks/compress_throughput.py [--lanes 1 16] [--tokens 2000] [--threads 1]

For each model shape (random weights: speed does not depend on their values) it codes ``lanes`` utterances of
``tokens`` ids side by side exactly as `audiobits compress` does (KV cache, integer quantization, constriction),
decodes them, checks the ids, and prints tokens/sec for both beside the baseline in the same run: scoring the same
tokens with one full forward pass (what validation does, no coding), the speed a parallel encoder would have.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from audiobits.model import GPTConfig, TinyGPT
from audiobits.range_coder import CachedPredictor, decode_lanes, encode_lanes

SHAPES = {  # name: (vocab incl. EOS, layers, width, heads, context)
    "demo mulaw 2x64": (257, 2, 64, 4, 128),
    "demo mimi_all 2x64": (16385, 2, 64, 4, 128),
    "seed mimi_all 6x512": (16385, 6, 512, 8, 1024),
}


def measure(shape: tuple[int, int, int, int, int], lanes: int, tokens: int) -> tuple[float, float, float]:
    """(encode, decode, full-forward scoring) tokens/sec for ``lanes`` utterances of ``tokens`` ids."""
    vocab, layers, width, heads, context = shape
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=vocab, seq_len=context, n_layer=layers, n_embd=width, n_head=heads)).eval()
    rng = np.random.default_rng(0)
    utterances = [np.append(rng.integers(0, vocab - 1, tokens - 1), vocab - 1) for _ in range(lanes)]
    predictor = CachedPredictor(model, keep=context - context // 4)
    start = time.perf_counter()
    payloads, _ = encode_lanes(predictor, utterances, vocab - 1)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    decoded = decode_lanes(predictor, payloads, [tokens] * lanes, vocab - 1)
    decode = time.perf_counter() - start
    assert all(np.array_equal(a, b) for a, b in zip(decoded, utterances)), "round trip failed"
    ids = torch.as_tensor(np.stack(utterances))
    start = time.perf_counter()
    with torch.inference_mode():
        for left in range(0, tokens, context):
            model(ids[:, left:left + context])
    score = time.perf_counter() - start
    total = lanes * tokens
    return total / encode, total / decode, total / score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--tokens", type=int, default=2000, help="ids per utterance (EOS included)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (compress's default is 1)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, {args.threads} torch thread(s), torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.tokens} ids per utterance")
    print(f"{'model':<20} {'lanes':>5} {'encode tok/s':>13} {'decode tok/s':>13} {'score tok/s (baseline)':>23}")
    for name in args.shapes:
        for lanes in args.lanes:
            encode, decode, score = measure(SHAPES[name], lanes, args.tokens)
            print(f"{name:<20} {lanes:>5} {encode:>13,.0f} {decode:>13,.0f} {score:>23,.0f}", flush=True)


if __name__ == "__main__":
    main()
