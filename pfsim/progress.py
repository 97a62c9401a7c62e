"""Progress report: a live bar on a terminal, periodic log lines otherwise."""

import sys
import time


def _eta(seconds: float) -> str:
    if not seconds < 1e9:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """Reports simulated time, steps per second and ETA; call `update(sim)` often."""

    def __init__(self, stop_time, log_every=10.0, stream=None, live=None):
        self.stream = stream or sys.stderr
        self.stop_time = stop_time
        self.log_every = log_every
        self.live = self.stream.isatty() if live is None else live
        self._t0 = time.monotonic()
        self._last_log = self._t0
        self._start_iter = None
        self._start_time = None
        self._bar = None

    def _rates(self, sim):
        if self._start_iter is None:
            self._start_iter, self._start_time = sim.clock.iteration, sim.clock.time
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        steps = (sim.clock.iteration - self._start_iter) / elapsed
        sim_rate = (sim.clock.time - self._start_time) / elapsed
        eta = (self.stop_time - sim.clock.time) / sim_rate if sim_rate > 0 else float("inf")
        return steps, eta

    def line(self, sim) -> str:
        steps, eta = self._rates(sim)
        frac = 100.0 * sim.clock.time / self.stop_time
        return (
            f"t = {sim.clock.time:.4g} / {self.stop_time:.4g} s ({frac:5.1f} %), step {sim.clock.iteration}, "
            f"{steps:.0f} steps/s, ETA {_eta(eta)}"
        )

    def start(self, sim):
        self._rates(sim)
        if self.live:
            from rich.progress import BarColumn, Progress as Bar, TextColumn

            self._bar = Bar(TextColumn("[bold]pfsim"), BarColumn(), TextColumn("{task.fields[info]}"), console=None, transient=False)
            self._bar.start()
            self._task = self._bar.add_task("run", total=self.stop_time, info=self.line(sim))

    def update(self, sim, last=False):
        if self._bar is not None:
            self._bar.update(self._task, completed=sim.clock.time, info=self.line(sim))
            return
        now = time.monotonic()
        if last or now - self._last_log >= self.log_every:
            self._last_log = now
            print(f"[pfsim] {self.line(sim)}", file=self.stream, flush=True)

    def finish(self, sim):
        self.update(sim, last=True)
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
