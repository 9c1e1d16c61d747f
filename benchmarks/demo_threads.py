"""One demo fit at 1 and 2 torch threads, alone and beside a busy core: why `audiobits demo` runs its two sides
(the background μ-law fit and compress, the other fits and compresses) on one thread each.

The fit is ``audiobits fit --config CONFIG`` of a demo config (``<demo out>/configs/<name>.yaml``) in a process of its
own, logging into a temporary folder; "beside a busy core" starts a second copy of the same fit on one thread at
the same moment (as the demo's other side). Runs alternate, best of ``--repeats``; the header gives the load average.

    python benchmarks/demo_threads.py runs/demo/configs/codec2_3200.yaml
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def fit(config: str, threads: int, out: str) -> subprocess.Popen:
    """`audiobits fit` of ``config`` on ``threads`` torch threads, logging under ``out``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, "-m", "audiobits", "fit", "--config", config,
                             "--trainer.logger.init_args.save_dir", out], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def timed(config: str, threads: int, busy: bool) -> float:
    """Wall seconds of one fit (the neighbour, when ``busy``, started with it and waited for after)."""
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as other:
        started = time.perf_counter()
        neighbour = fit(config, 1, other) if busy else None
        if fit(config, threads, out).wait() != 0:
            raise SystemExit(f"audiobits fit --config {config} failed")
        seconds = time.perf_counter() - started
        if neighbour is not None:
            neighbour.wait()
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a demo config, e.g. runs/demo/configs/codec2_3200.yaml")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cases = [(threads, busy) for busy in (False, True) for threads in (2, 1)]
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.repeats):  # alternating, so that a change of load hits every case
        for case in cases:
            best[case] = min(best[case], timed(args.config, *case))
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.config}; best of {args.repeats}")
    print("threads  beside a busy core  fit s (import included)")
    for (threads, busy), seconds in best.items():
        print(f"{threads:>7}  {'yes' if busy else 'no':>18}  {seconds:>8.1f}")


if __name__ == "__main__":
    main()
