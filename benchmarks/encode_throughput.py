"""Encode throughput of each codec: seconds of audio encoded per wall-clock second (real-time factor, RTF).

    .venv/bin/python benchmarks/encode_throughput.py [--weights random] [--seconds 2] [--batch-sizes 1 16]

Runs every codec representation on the CPU and, when CUDA is available, on the GPU (the card is named), at each
batch size, on equal-length synthetic clips at the codec's own rate (no resampling cost). Equal lengths are the
best case for SNAC and NeuCodec, which batch only equal padded lengths; a length-sorted shard of a large corpus
comes close (X-Codec batches only equal lengths). ``--weights random`` (default) needs no hub; speeds do not
depend on the weights' values. Codec 2 runs libcodec2 on the CPU only, one frame per call.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from audiobits.representations import Utterance, build, constructor_parameters
from audiobits.representations.codec import probe_signal

CODECS = ("mimi_all", "mimi_32", "snac_orpheus", "neucodec", "encodec_6kbps", "dac_16khz_12q", "dac_44khz_9q",
          "xcodec_4kbps", "speechtokenizer_8q", "bigcodec", "s3tokenizer_v2", "spark_bicodec", "codec2_3200",
          "codec2_700c")


def rtf(rep, batch_size: int, seconds: float, min_time: float, device: str) -> tuple[float, float]:
    """(audio seconds, wall seconds) of as many encodes of ``batch_size`` clips as fill ``min_time`` seconds
    (at least one), after one warm-up call."""
    batch = [Utterance(f"b{i}", "", probe_signal(seconds, rep.sample_rate, seed=i), rep.sample_rate)
             for i in range(batch_size)]
    rep.encode(batch)  # warm-up: allocator, kernels, resampling kernels
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start, calls = time.perf_counter(), 0
    while calls == 0 or time.perf_counter() - start < min_time:
        rep.encode(batch)
        sync()
        calls += 1
    return calls * batch_size * seconds, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Print one line per (device, codec, batch size) with the real-time factor."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="random", help="'random', 'pretrained' or a local path")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--min-time", type=float, default=3.0, help="repeat encodes for at least this many s")
    parser.add_argument("--codecs", nargs="+", default=list(CODECS))
    args = parser.parse_args(argv)

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}; weights={args.weights}; "
          f"{args.seconds:g} s clips")
    if "cuda" in devices:
        print(f"# cuda: {torch.cuda.get_device_name()}")
    print(f"{'device':<6} {'codec':<18} {'batch':>5} {'audio s':>8} {'wall s':>8} {'RTF':>8}")
    for name in args.codecs:
        takes_weights = "weights" in constructor_parameters(name)
        rep = build(name, **({"weights": args.weights} if takes_weights else {}))  # Codec 2 has no weights
        for device in devices if getattr(rep, "model", None) is not None else ["cpu"]:  # no model: CPU only
            rep.to(device)
            for batch_size in args.batch_sizes:
                audio, wall = rtf(rep, batch_size, args.seconds, args.min_time, device)
                print(f"{device:<6} {name:<18} {batch_size:>5} {audio:>8.1f} {wall:>8.2f} {audio / wall:>7.1f}x",
                      flush=True)
        del rep


if __name__ == "__main__":
    main()
