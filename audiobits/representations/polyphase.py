"""An exact streaming resampler: ``scipy.signal.resample_poly``'s filter and output, computed block by block.

Output sample m of ``x`` resampled by ``up / down`` (reduced) is, as in ``resample_poly`` (zero padding outside the
signal, ``ceil(n · up / down)`` samples)::

    y[m] = Σ_j H[r, j] · x[q - j],   q, r = divmod(m · down + half_len, up),   H[r, j] = h[r + up · j]

with ``h`` its Kaiser-windowed sinc (``firwin(2 · half_len + 1, 1 / max(up, down), window=("kaiser", 5))`` · up,
``half_len = 10 · max(up, down)``). Every output sample is summed over j in the same order by elementwise float64
operations whatever block it falls in, so the output of a recording fed in blocks of any size is bit-identical to
its output fed whole (tested); it equals ``resample_poly``'s to rounding (its summation order differs). Memory: one
block and ``taps - 1`` samples of history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np


class PolyphaseResampler:
    """Resampling from ``rate`` to ``target`` Hz with a fixed windowed-sinc kernel, fed and emitting blocks."""

    def __init__(self, rate: int, target: int) -> None:
        from scipy.signal import firwin

        g = math.gcd(int(rate), int(target))
        self.up, self.down = int(target) // g, int(rate) // g
        most = max(self.up, self.down)
        self.half_len = 10 * most if most > 1 else 0
        # equal rates: the identity (a single tap of 1.0), as resample_poly returns its input unfiltered
        h = firwin(2 * self.half_len + 1, 1.0 / most, window=("kaiser", 5.0)) * self.up if most > 1 else np.ones(1)
        self.taps = -(-len(h) // self.up)  # taps per phase
        self.phases = np.zeros((self.up, self.taps))
        for r in range(self.up):
            phase = h[r::self.up]
            self.phases[r, :len(phase)] = phase

    def output_length(self, num_samples: int) -> int:
        """Samples out for ``num_samples`` in: ``ceil(n · up / down)``, as ``resample_poly``."""
        return -(-num_samples * self.up // self.down)

    def _last_input(self, m: np.ndarray | int) -> np.ndarray | int:
        """The newest input index output ``m`` reads (it reads ``taps`` samples back from there)."""
        return (m * self.down + self.half_len) // self.up

    def _outputs(self, history: np.ndarray, first: int, m: np.ndarray) -> np.ndarray:
        """Outputs ``m`` from ``history`` (input samples from global index ``first``, zeros outside the signal)."""
        position = m * self.down + self.half_len
        q, r = position // self.up - first, position % self.up
        out = np.zeros(len(m))
        for j in range(self.taps):  # one fixed order of elementwise float64 ops per output sample
            if self.up == 1:  # one phase: the inputs are every down-th sample, a strided view (no gather)
                out += self.phases[0, j] * history[q[0] - j:q[-1] - j + 1:self.down]
            else:
                out += self.phases[r, j] * history[q - j]
        return out

    def stream(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Resample a signal given as consecutive 1-D blocks; yields the output in blocks (some may be empty)."""
        history = np.zeros(self.taps - 1)  # the zeros before the signal
        first, produced, total = -(self.taps - 1), 0, 0
        for block in blocks:
            total += len(block)
            history = np.concatenate([history, np.asarray(block, dtype=np.float64)])
            ready = self._ready(first + len(history), produced)
            if ready > produced:
                yield self._outputs(history, first, np.arange(produced, ready))
                produced = ready
            # drop what no later output reads (all of it when the next output's window starts past the end)
            keep = min(self._last_input(produced) - (self.taps - 1) - first, len(history))
            history, first = history[keep:], first + keep
        end = self.output_length(total)
        if end > produced:
            tail = self._last_input(end - 1) + 1 - (first + len(history))
            history = np.concatenate([history, np.zeros(max(tail, 0))])  # the zeros after the signal
            yield self._outputs(history, first, np.arange(produced, end))

    def _ready(self, available: int, produced: int) -> int:
        """One past the last output whose inputs all lie below global index ``available``."""
        if available <= self._last_input(produced):
            return produced
        # the largest m with (m · down + half_len) // up < available
        return (available * self.up - self.half_len - 1) // self.down + 1

    def resample(self, x: np.ndarray) -> np.ndarray:
        """The whole signal at once (the same numbers as `stream` over any blocks of it)."""
        return np.concatenate([np.zeros(0), *self.stream([x])])
