"""`audiobits compress RUN_DIR` in a process of its own, started before the run exists: the demo codes its longest
split on the core its other fits leave idle, and the process's start and imports (seconds of torch) overlap the
demo's first stages instead of following the fit. This module imports nothing heavy: the process loads it first."""

from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path

from audiobits.errors import AudiobitsError


def _compress_when_sent(jobs: Connection) -> None:
    """The process: import the command now, then run ``audiobits compress RUN_DIR`` on the run sent, its output
    (file descriptors 1 and 2) into the log sent with it. Nothing sent (the demo stopped first): return."""
    import audiobits.arguments  # noqa: F401 (the option parser's imports)
    import audiobits.compress.compress  # noqa: F401 (the command's imports: most of its start)
    from audiobits import cli

    try:
        run_dir, log = jobs.recv()
    except EOFError:  # the demo ended (or was killed) before its first fit did
        return
    with open(log, "w") as output:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
    cli.main(["compress", run_dir])  # a failure exits non-zero, its message or traceback in the log


class BackgroundCompress:
    """A process that imports `audiobits compress` at once and codes one run when `start` sends it, exactly as the
    command would (the same file and compress.json). A context manager: leaving the block before `wait` (an error in
    a later stage) stops it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of this one's torch threads
        receiver, self.sender = context.Pipe(duplex=False)
        # daemon: stopped with the demo whatever happens; the price is that `compress` may start no process itself
        self.process = context.Process(target=_compress_when_sent, args=(receiver,), name="audiobits compress",
                                       daemon=True)
        self.process.start()
        receiver.close()
        self.run_dir: Path | None = None
        self.log: Path | None = None
        self.started = 0.0

    def __enter__(self) -> BackgroundCompress:
        return self

    def __exit__(self, *exc) -> None:
        self.sender.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def start(self, run_dir: Path, log: Path) -> None:
        """Code ``run_dir``'s validation split, the command's output into ``log``."""
        self.run_dir, self.log, self.started = run_dir, log, time.perf_counter()
        try:
            self.sender.send((str(run_dir), str(log)))
        except OSError as error:  # it died while importing: its traceback is above, in the demo's output
            self.process.join()
            raise AudiobitsError(f"the background `audiobits compress` ended before it was given {run_dir} (exit "
                                 f"{self.process.exitcode}; its output is above). Run `audiobits compress "
                                 f"{run_dir}` to see the error, then the demo again.") from error

    def wait(self) -> float:
        """Seconds from `start` until it was found done; its failure is the demo's, named with its log."""
        if self.run_dir is None:
            raise ValueError("wait for a run after `start` sent it")
        self.process.join()
        if self.process.exitcode != 0:
            raise AudiobitsError(f"`audiobits compress {self.run_dir}` failed (exit {self.process.exitcode}); its "
                                 f"output is in {self.log}. Run that command to see the error, then the demo again.")
        return time.perf_counter() - self.started
