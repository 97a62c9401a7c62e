"""The simulation loop: a model, its state and a clock, stepped until the stop time, with
everything else (output, checkpoints, progress, NaN checks, discrete events) attached as
scheduled callbacks.

Time steps are shortened to land exactly on the actuation times of time schedules, so a
run's sequence of steps depends on its config alone: a run resumed from a checkpoint takes
the same steps as an uninterrupted one.
"""

import time as walltime
from dataclasses import dataclass, field

import numpy as np

from .errors import SimulationBlowUp, StopRun

# a step that lands within this fraction of dt of an actuation time lands on it
_SNAP = 1e-6

# classic RK4's linear stability region reaches -2.785 on the real axis, forward Euler's -2:
# RK4's stability limit is taken as this multiple of Euler's
RK4_STABILITY_FACTOR = 1.39


def stability_factor(integrator: str) -> float:
    """The stability limit of `integrator` ("euler" or "rk4") as a multiple of forward Euler's."""
    return RK4_STABILITY_FACTOR if integrator == "rk4" else 1.0


@dataclass
class Clock:
    time: float = 0.0
    iteration: int = 0


class TimeInterval:
    """Actuates at t = k * interval (k = 1, 2, ...); steps are aligned to land on them."""

    def __init__(self, interval: float):
        self.interval = float(interval)

    def next_time(self, t: float) -> float:
        k = np.floor(t / self.interval * (1 + 1e-12) + 1e-9)
        return (k + 1) * self.interval

    def due(self, clock, last_time) -> bool:
        return self.next_time(last_time) <= clock.time * (1 + 1e-12) + 1e-300


class SpecifiedTimes:
    """Actuates once at each listed time; steps are aligned to land on them."""

    def __init__(self, times):
        self.times = sorted(float(t) for t in times)

    def next_time(self, t: float):
        later = [s for s in self.times if s > t * (1 + 1e-12) + 1e-300]
        return later[0] if later else np.inf

    def due(self, clock, last_time) -> bool:
        return any(last_time < s <= clock.time * (1 + 1e-12) + 1e-300 for s in self.times)


class IterationInterval:
    def __init__(self, every: int):
        self.every = int(every)

    def next_time(self, t):
        return np.inf

    def due(self, clock, last_time) -> bool:
        return clock.iteration % self.every == 0


class WallTimeInterval:
    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._last = walltime.monotonic()

    def next_time(self, t):
        return np.inf

    def due(self, clock, last_time) -> bool:
        now = walltime.monotonic()
        if now - self._last >= self.seconds:
            self._last = now
            return True
        return False


@dataclass
class Callback:
    name: str
    schedule: object
    func: object  # func(simulation)
    at_start: bool = False  # also run once before the first step (not on resume)
    at_end: bool | str = False  # also run after the last step: True always, "finished" only at the stop time


@dataclass
class Simulation:
    model: object
    state: dict
    stop_time: float
    dt: float
    integrator: str = "euler"
    clock: Clock = field(default_factory=Clock)
    max_steps: int | None = None
    callbacks: list = field(default_factory=list)
    stopped_reason: str = ""
    stop_requested: str = ""
    ended_by_model: bool = False
    end_details: dict = field(default_factory=dict)

    def add_callback(self, name, schedule, func, at_start=False, at_end=False):
        self.callbacks.append(Callback(name, schedule, func, at_start, at_end))

    # --- stepping --------------------------------------------------------------------
    def next_step(self) -> tuple[float, float | None]:
        """(dt, the time it lands on exactly, or None)."""
        t = self.clock.time
        target = min([self.stop_time] + [cb.schedule.next_time(t) for cb in self.callbacks])
        gap = target - t
        return (gap, target) if gap <= self.dt * (1 + _SNAP) else (self.dt, None)

    def time_step(self, dt: float, lands_on: float | None = None):
        m, s, t = self.model, self.state, self.clock.time
        if self.integrator == "euler":
            m.euler_step(s, t, dt)
        else:
            self._rk4(dt)
        m.enforce(s, t + dt)
        self.clock.iteration += 1
        self.clock.time = t + dt if lands_on is None else lands_on

    def _rk4(self, dt):
        m, s, t = self.model, self.state, self.clock.time
        start = {k: s[k].copy() for k in m.fields}
        k1 = m.rate(s, t)
        acc = {k: k1[k].copy() for k in m.fields}
        for weight, frac in ((2.0, 0.5), (2.0, 0.5), (1.0, 1.0)):
            prev = k1
            for k in m.fields:
                s[k][...] = start[k] + (frac * dt) * prev[k]
            m.enforce(s, t + frac * dt)
            k1 = m.rate(s, t + frac * dt)
            for k in m.fields:
                acc[k] += weight * k1[k]
        for k in m.fields:
            s[k][...] = start[k] + (dt / 6.0) * acc[k]

    def request_stop(self, why: str):
        """Stop after the current step (signals, wall-time limits)."""
        self.stop_requested = why

    def done(self) -> bool:
        if self.stop_requested:
            self.stopped_reason = f"stop requested ({self.stop_requested})"
            return True
        if self.clock.time >= self.stop_time * (1 - 1e-12):
            self.stopped_reason = "stop time reached"
            return True
        if self.max_steps is not None and self.clock.iteration >= self.max_steps:
            self.stopped_reason = "max_steps reached"
            return True
        return False

    def run(self, resumed: bool = False):
        if not resumed:
            for cb in self.callbacks:
                if cb.at_start:
                    cb.func(self)
        while not self.done():
            last = self.clock.time
            try:
                self.time_step(*self.next_step())
            except StopRun as end:  # the state is that of the last completed step
                self.stopped_reason = end.reason
                self.end_details = end.details
                self.ended_by_model = True
                break
            for cb in self.callbacks:
                if cb.schedule.due(self.clock, last):
                    cb.func(self)
        finished = self.ended_by_model or self.stopped_reason == "stop time reached"
        for cb in self.callbacks:
            if cb.at_end is True or (cb.at_end == "finished" and finished):
                cb.func(self)

    # --- checks ----------------------------------------------------------------------
    def check_finite(self):
        xp = self.model.xp
        for name in self.model.fields:
            peak = float(xp.max(xp.abs(self.state[name])))
            if not np.isfinite(peak) or peak > self.model.blowup_bound:
                raise SimulationBlowUp(name, self.clock.iteration, self.clock.time)
