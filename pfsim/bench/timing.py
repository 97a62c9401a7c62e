"""Timing of benchmark cases: warm-up, then the median of many timed repeats.

On a GPU each repeat is bracketed by CUDA events on the current stream (the device's own
clock, no host round trip inside the repeat); on the CPU by time.perf_counter. A repeat runs
the case `inner` times, enough to last `min_sample` seconds, and reports the time per call.
"""

import statistics
import time
from dataclasses import dataclass


@dataclass
class Timing:
    seconds: float  # median time of one call
    repeats: int  # timed repeats the median is taken over
    inner: int  # calls per repeat


class Timer:
    def __init__(self, backend, quick=False):
        self.gpu = backend.is_gpu
        self.xp = backend.xp
        # seconds of timed repeats per case, and the fewest repeats whatever the budget
        self.budget = 1.0 if quick else 3.0
        self.min_repeats = 5 if quick else 20
        self.max_repeats = 200
        self.min_sample = 2e-3 if self.gpu else 1e-3

    def sync(self):
        if self.gpu:
            self.xp.cuda.get_current_stream().synchronize()

    def _timed(self, fn, inner=1):
        """(fn()'s last result, seconds per call) of `inner` calls."""
        if self.gpu:
            cuda = self.xp.cuda
            start, end = cuda.Event(), cuda.Event()
            start.record()
            for _ in range(inner):
                out = fn()
            end.record()
            end.synchronize()
            return out, cuda.get_elapsed_time(start, end) / 1e3 / inner
        t0 = time.perf_counter()
        for _ in range(inner):
            out = fn()
        return out, (time.perf_counter() - t0) / inner

    def measure(self, fn, warmup=2, budget=None, min_repeats=None) -> Timing:
        """Median time of fn() after `warmup` untimed calls (compilation, caches, pools)."""
        for _ in range(warmup):
            fn()
        self.sync()
        first = self._timed(fn)[1]
        inner = max(1, int(self.min_sample / max(first, 1e-9)))
        budget = self.budget if budget is None else budget
        least = self.min_repeats if min_repeats is None else min_repeats
        repeats = int(min(self.max_repeats, max(least, budget / max(first * inner, 1e-9))))
        samples = [self._timed(fn, inner)[1] for _ in range(repeats)]
        return Timing(statistics.median(samples), repeats, inner)

    def wall(self, fn):
        """(result, seconds) of one call of a long case (a whole run), device work included."""
        self.sync()
        return self._timed(fn)
