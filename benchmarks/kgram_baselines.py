"""Cost of the k-gram baselines that every results.json now carries, beside the validation pass they sit next to.

Writes uniform-random bins (``--train_tokens`` train, 40 000 val, ``--vocab`` ids), then times
:func:`audiobits.analysis.baselines.kgram_nats` (every order the vocabulary allows, fitted on train, scored on val)
against the baseline ``np.sort`` of the train stream as int64 — the primitive each order's count table is built on — in
the same run. Uniform ids are the worst case for the tables (the most distinct k-grams).

    python benchmarks/kgram_baselines.py                          # 10⁷ train tokens, vocab 2049
    python benchmarks/kgram_baselines.py --train_tokens 1000000 --vocab 65537
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_utils import write_uniform_bins

from audiobits.analysis.baselines import kgram_nats
from audiobits.bins import TokenBins
from audiobits.analysis.kgram import orders_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_tokens", type=int, default=10_000_000)
    parser.add_argument("--vocab", type=int, default=2049)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bins"
        write_uniform_bins(out, args.vocab, args.train_tokens)
        bins = TokenBins(out)
        train = bins.split("train")
        started = time.perf_counter()
        np.sort(train.read(0, train.num_tokens).astype(np.int64))
        sort_seconds = time.perf_counter() - started
        started = time.perf_counter()
        kgram_nats(train, bins.split("val"), args.vocab)
        kgram_seconds = time.perf_counter() - started
    print(f"{args.train_tokens:,} train tokens, vocab {args.vocab}, orders {orders_for(args.vocab)}")
    print(f"np.sort of the train stream (baseline): {sort_seconds:8.2f} s")
    print(f"k-gram baselines, every order         : {kgram_seconds:8.2f} s  ({kgram_seconds / sort_seconds:.1f}× the "
          "sort)")


if __name__ == "__main__":
    main()
