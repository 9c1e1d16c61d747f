"""One kind of progress bar for the long steps Lightning's loops do not show (encoding, the final evaluation passes,
quality, range coding): how far, how fast and how long still to go (tqdm's count, rate and ETA), on stderr; and,
for a few steps too long to share a line with the bars they draw themselves (a sweep's fits), one line per step
with the same facts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
MIN_INTERVAL = 1.0  # seconds between redraws: a log file gets a line a second at most, not one per step


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True, position: int | None = None) -> tqdm:
    """A bar over ``total`` ``unit``s showing count, rate and ETA; silent when not ``enabled``; ``position``: its
    line when several processes draw bars at once (a rank's number)."""
    return tqdm(total=total, desc=desc, unit=unit, mininterval=MIN_INTERVAL, disable=not enabled,
                dynamic_ncols=True, position=position)


def with_progress(items: Iterable[T], total: int, desc: str, unit: str, enabled: bool = True) -> Iterator[T]:
    """``items``, advancing a bar (`progress_bar`) by one per item."""
    with progress_bar(total, desc, unit, enabled) as bar:
        for item in items:
            yield item
            bar.update(1)


def step_reporter(bar: tqdm) -> Callable[[int, int], None]:
    """A ``progress(step, steps)`` callback for one coding pass that advances ``bar`` to ``step`` of this pass."""
    done = 0

    def report(step: int, steps: int) -> None:
        nonlocal done
        bar.update(step - done)
        done = step

    return report


@dataclass
class StepClock:
    """Position, elapsed time and ETA of ``total`` long steps, as one line per step ("run k/n"); steps found done
    (``skip``) count for the position but not for the ETA, which extrapolates from the steps timed here."""

    total: int
    unit: str = "run"
    start: float = field(default_factory=time.perf_counter)
    timed: int = 0
    skipped: int = 0

    def skip(self) -> None:
        self.skipped += 1

    def finish(self) -> None:
        self.timed += 1

    def line(self, what: str) -> str:
        """``what`` behind "<unit> k/n", elapsed since the start and the ETA of the remaining steps (this one
        included); the ETA is "?" until one step was timed."""
        elapsed = time.perf_counter() - self.start
        left = self.total - self.timed - self.skipped
        eta = tqdm.format_interval(elapsed / self.timed * left) if self.timed else "?"
        return (f"{self.unit} {self.timed + self.skipped + 1}/{self.total}: {what} "
                f"[elapsed {tqdm.format_interval(elapsed)}, ETA {eta}]")
