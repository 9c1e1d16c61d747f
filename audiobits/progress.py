"""One kind of progress bar for the long steps Lightning's loops do not show (the final evaluation passes, range
coding): how far, how fast and how long still to go (tqdm's count, rate and ETA), on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
MIN_INTERVAL = 1.0  # seconds between redraws: a log file gets a line a second at most, not one per step


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True) -> tqdm:
    """A bar over ``total`` ``unit``s showing count, rate and ETA; silent when not ``enabled``."""
    return tqdm(total=total, desc=desc, unit=unit, mininterval=MIN_INTERVAL, disable=not enabled,
                dynamic_ncols=True)


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
