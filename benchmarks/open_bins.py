"""Time to open a 1 G-token bin directory: the old full id scan (baseline) against today's metadata-only open.

Writes a synthetic uint16 bin (2 GB for 10⁹ tokens) under ``--dir``, then opens it with both, with the file
evicted from the page cache (``posix_fadvise(DONTNEED)``: a rank's first open on a fresh node) and warm. The
directory is deleted afterwards.

    python benchmarks/open_bins.py                      # 10⁹ tokens under /tmp
    python benchmarks/open_bins.py --tokens 100000000   # a quicker run
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench_utils import write_uniform_bins

from audiobits.bins import TokenBins


def evict(directory: Path) -> None:
    """Drop the bin files from the page cache, so the next read comes from the disk."""
    for path in directory.glob("*.bin"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def open_with_full_scan(directory: Path) -> TokenBins:
    """The baseline: what opening did before the writer recorded ``ids_checked`` (metadata + every id + EOS)."""
    bins = TokenBins(directory)
    for split in bins.splits.values():
        bins._check_ids(split)
    return bins


def timed(fn, directory: Path, cold: bool) -> float:
    if cold:
        evict(directory)
    start = time.perf_counter()
    fn(directory)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10**9)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to write the synthetic bins")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="open-bins-", dir=args.dir))
    try:
        start = time.perf_counter()
        bins = write_uniform_bins(work / "bins", vocab_size=65536, train_tokens=args.tokens)
        size, utterances = (bins / "train.bin").stat().st_size, TokenBins(bins).meta.splits["train"].utterances
        print(f"wrote {args.tokens:,} tokens ({size / 1e9:.2f} GB uint16, {utterances:,} utterances) in "
              f"{time.perf_counter() - start:.0f} s under {args.dir}")
        for cache in ("cold", "warm"):
            old = timed(open_with_full_scan, bins, cold=cache == "cold")
            new = timed(TokenBins, bins, cold=cache == "cold")
            print(f"{cache} page cache: full id scan (before) {old:8.3f} s   metadata-only open (now) {new:8.3f} s"
                  f"   {old / new:8.0f}× faster")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
