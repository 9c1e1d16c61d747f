"""CPU time of `audiobits --help` and `audiobits report RUN_DIR` in a fresh interpreter, this tree beside a baseline
tree (e.g. a `git worktree` of main) in the same run: what lazy imports per subcommand save.

    python benchmarks/cli_startup.py --baseline /path/to/main-checkout --run runs/tiny/version_0
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def timed(tree: Path, args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of ``python -m audiobits ARGS`` with ``tree`` first on the path."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "audiobits", *args], cwd=tree, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the tree to compare against")
    parser.add_argument("--run", type=Path, required=True, help="a finished run directory for `report`")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for label, command in (("--help", ["--help"]), ("report", ["report", str(args.run.resolve())])):
        for name, tree in (("baseline", args.baseline.resolve()), ("this tree", HERE)):
            runs = [timed(tree, command) for _ in range(args.repeats)]
            print(f"{label:8} {name:10} CPU {min(c for _, c in runs):5.2f} s   wall {min(w for w, _ in runs):6.2f} s "
                  f"(best of {args.repeats})")


if __name__ == "__main__":
    main()
