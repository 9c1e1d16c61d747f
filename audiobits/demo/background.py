"""`BackgroundJobs`: `audiobits` subcommands run one after another beside the demo's own work, each in a process of
its own on one torch thread, so that the demo keeps both cores of a 2-core CPU busy without oversubscribing them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiobits.errors import AudiobitsError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one core each: two threads on a busy core stall


@dataclass(frozen=True)
class Job:
    """One ``audiobits`` subcommand (its arguments) and the file its output goes to."""

    args: tuple[str, ...]
    log: Path

    @property
    def command(self) -> str:
        return " ".join(("audiobits", *self.args))


class BackgroundJobs:
    """Runs ``jobs`` in order (``python -m audiobits ARGS``, one torch thread, output in the job's log), each after the
    previous one succeeded, from a thread of this process. A context manager: leaving the block early (an error in
    the demo's own work) stops the running job and starts no other."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs, self.seconds = list(jobs), []
        self._lock, self._stopped = threading.Lock(), False
        self._running: subprocess.Popen | None = None
        self._failed: tuple[Job, int] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for job in self.jobs:
            started = time.perf_counter()
            job.log.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(job.log, "w") as output:
                if self._stopped:
                    return
                self._running = subprocess.Popen([sys.executable, "-m", "audiobits", *job.args], stdout=output,
                                                 stderr=subprocess.STDOUT, env={**os.environ, **ONE_THREAD})
            if self._running.wait() != 0:
                self._failed = job, self._running.returncode
                return
            self.seconds.append(time.perf_counter() - started)

    def __enter__(self) -> BackgroundJobs:
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._stopped = True
            if self._running is not None and self._running.poll() is None:
                self._running.kill()
        self._thread.join()

    def wait(self) -> list[float]:
        """Each job's seconds once all are done; a failed job is the demo's failure, named with its log."""
        self._thread.join()
        if self._failed is not None:
            job, code = self._failed
            raise AudiobitsError(f"`{job.command}` failed (exit {code}); its output is in {job.log}. Run that "
                                 "command to see the error, then the demo again.")
        return self.seconds
