"""Range-coding throughput of `audiobits compress`: tokens per second to encode and to decode, beside the limit.

    .venv/bin/python benchmarks/compress_throughput.py [--lanes 1 16] [--tokens 2000] [--threads 1] [--devices cpu cuda]
        [--formats 1 2 3 4]

For each model shape (random weights: speed does not depend on their values) and file format version (4: what
`compress` writes, the stretches between cache refills side by side; 3: the same with torch's rms_norm; 2: lockstep
lanes over `forward_cached`; 1: constriction per lane) it codes ``lanes`` utterances of ``tokens`` ids exactly as
`audiobits compress` does (KV cache, integer quantization, range coder), decodes them, checks the ids, and prints
tokens/sec for both beside two baselines in the same run: the
plain batched KV-cached forward loop of the same model and lanes (one cached step per token, nothing else: the limit a
coder can reach) and one full forward pass per window (what validation does, no coding). `compress` codes on the
CPU in fp32 (the file records it), so on ``cuda`` only the baselines are measured: what coding on the card would
be bound by.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from audiobits.model import GPTConfig, TinyGPT
from audiobits.compress.range_coder import (FORMATS, WRITTEN, CachedPredictor, CodingFormat, decode_lanes,
                                            encode_lanes)
from audiobits.compress.segments import block_rows, encode_segments

SHAPES = {  # name: (vocab incl. EOS, layers, width, heads, context)
    "demo mulaw 2x64": (257, 2, 64, 4, 128),
    "demo mimi_all 2x64": (16385, 2, 64, 4, 128),
    "seed mimi_all 6x512": (16385, 6, 512, 8, 1024),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def cached_forward_loop(model: TinyGPT, ids: torch.Tensor, keep: int) -> None:
    """One cached forward step per token for every lane [B, T] in lockstep, the cache rebuilt from the last ``keep``
    tokens when full — `CachedPredictor`'s schedule without the coder, on the model's device."""
    cache = model.new_cache(len(ids))
    for t in range(ids.shape[1]):
        if cache.length == cache.capacity:
            cache.clear()
            model.forward_cached(ids[:, max(0, t + 1 - keep):t + 1], cache)
        else:
            model.forward_cached(ids[:, t:t + 1], cache)


@torch.inference_mode()
def full_forward_windows(model: TinyGPT, ids: torch.Tensor) -> None:
    """Score the lanes with one full forward pass per context window (validation's cost, no cache)."""
    context = model.config.seq_len
    for left in range(0, ids.shape[1], context):
        model(ids[:, left:left + context])


def measure(shape: tuple[int, int, int, int, int], lanes: int, tokens: int, device: torch.device,
            coding: CodingFormat) -> dict[str, float | None]:
    """Tokens/sec of encode, decode (CPU only), the cached forward loop and full-window scoring."""
    vocab, layers, width, heads, context = shape
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=vocab, seq_len=context, n_layer=layers, n_embd=width, n_head=heads)).eval()
    rng = np.random.default_rng(0)
    utterances = [np.append(rng.integers(0, vocab - 1, tokens - 1), vocab - 1) for _ in range(lanes)]
    keep = context - context // 4
    total = lanes * tokens
    rates: dict[str, float | None] = {"encode": None, "decode": None}
    if device.type == "cpu":
        predictor = CachedPredictor(coding.steps(model), keep=keep)
        start = time.perf_counter()
        if predictor.rows_independent:  # formats 3 and 4: stretches side by side, as `audiobits compress` codes
            rows = block_rows(model.config, keep, 2**31)
            payloads, _ = encode_segments(predictor.steps, utterances, vocab - 1, keep, rows)
        else:
            payloads, _ = encode_lanes(predictor, utterances, vocab - 1, coding=coding)
        rates["encode"] = total / (time.perf_counter() - start)
        start = time.perf_counter()
        decoded = decode_lanes(predictor, payloads, [tokens] * lanes, vocab - 1, coding=coding)
        rates["decode"] = total / (time.perf_counter() - start)
        assert all(np.array_equal(a, b) for a, b in zip(decoded, utterances)), "round trip failed"
    model.to(device)
    ids = torch.as_tensor(np.stack(utterances), device=device)
    for name, run in (("cached forward", lambda: cached_forward_loop(model, ids, keep)),
                      ("full forward", lambda: full_forward_windows(model, ids))):
        if device.type == "cuda":
            run()  # warm-up: kernels chosen, allocator primed
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        rates[name] = total / (time.perf_counter() - start)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--tokens", type=int, default=2000, help="ids per utterance (EOS included)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (compress's default is 1)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []),
                        help="cpu: coding and both baselines; cuda: the baselines (compress codes on the CPU)")
    parser.add_argument("--formats", type=int, nargs="+", default=[WRITTEN.version], choices=list(FORMATS),
                        help=f"file format versions whose coder to time ({WRITTEN.version}: what compress writes; 3: "
                             "its steps with torch's rms_norm; 2: lockstep lanes over forward_cached; 1: constriction "
                             "per lane)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, {args.threads} torch thread(s), torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}"
          + (f", {torch.cuda.get_device_name()}" if "cuda" in args.devices else "")
          + f"; {args.tokens} ids per utterance, fp32")
    columns = ("encode", "decode", "cached forward", "full forward")
    print(f"{'device':<6} {'model':<20} {'format':>6} {'lanes':>5} "
          + " ".join(f"{c + ' tok/s':>20}" for c in columns) + "   encode ÷ cached   decode ÷ cached")
    for device in map(torch.device, args.devices):
        for name in args.shapes:
            for lanes in args.lanes:
                for version in args.formats if device.type == "cpu" else args.formats[:1]:
                    rates = measure(SHAPES[name], lanes, args.tokens, device, FORMATS[version])
                    cells = " ".join(f"{'–' if rates[c] is None else f'{rates[c]:,.0f}':>20}" for c in columns)
                    shares = "".join(f"{rates[c] / rates['cached forward']:15.2f}   " if rates[c] else
                                     f"{'–':>15}   " for c in ("encode", "decode"))
                    print(f"{device.type:<6} {name:<20} {version if rates['encode'] else '–':>6} {lanes:>5} {cells}"
                          f" {shares}", flush=True)


if __name__ == "__main__":
    main()
