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

from .errors import SimulationBlowUp, StepTooSmall, StopRun

# a step that lands within this fraction of dt of an actuation time lands on it
_SNAP = 1e-6

# classic RK4's linear stability region reaches -2.785 on the real axis, forward Euler's -2:
# RK4's stability limit is taken as this multiple of Euler's
RK4_STABILITY_FACTOR = 1.39


# semi_implicit step control: dt grows by at most GROWTH and shrinks by at most SHRINK per step,
# to SAFETY of the step that would meet the tolerance; the discrete energy may rise by rounding only
GROWTH, SHRINK, SAFETY = 2.0, 0.2, 0.9
FREE_ENERGY_ROUNDING = 1e-13
# the smallest adaptive step as a fraction of forward Euler's stability limit: a step rejected
# below it ends the run (the scheme or the tolerance cannot be met)
DT_MIN_FRACTION = 1e-3


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
    # semi_implicit only: the step control (set_step_control); self.dt is its next step
    tolerance: float = 1e-3
    dt_min: float = 0.0
    dt_max: float = np.inf
    rejected_steps: int = 0
    _energy: float | None = None  # the model's discrete_energy of the state, from the last accepted step

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
        if self.integrator == "semi_implicit":
            dt, lands_on = self._controlled_step(dt, lands_on)
        elif self.integrator == "euler":
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

    # --- semi_implicit: IMEX Euler with step doubling ------------------------------------
    def set_step_control(self, tolerance, dt_min, dt_max=None, rejected_steps=0):
        self.tolerance, self.dt_min, self.rejected_steps = tolerance, dt_min, rejected_steps
        self.dt_max = np.inf if dt_max is None else dt_max
        self.dt = min(self.dt, self.dt_max)

    def _controlled_step(self, dt, lands_on):
        """One accepted step of at most dt: (dt taken, lands_on or None when a rejection shortened it).

        A step is one IMEX Euler step of dt (u1) and two of dt / 2 (u2); u2 - u1 estimates the local
        error of u2 (O(dt^2)), and 2 u2 - u1 (Richardson) is second order. The step is accepted when
        the root mean square of u2 - u1 over the nodes, the largest over the fields, is at most the
        tolerance and the model's discrete energy does not rise; else it is retried shorter. The
        next step, self.dt, follows the error (growth at most GROWTH per step) within [dt_min,
        dt_max]; a step shortened to land on a sampling time keeps self.dt."""
        m, s, t = self.model, self.state, self.clock.time
        if self._energy is None:
            self._energy = m.discrete_energy(s)
        landing = lands_on is not None and dt < self.dt * (1 - _SNAP)  # shortened to land on a sampling time
        while True:
            trial, error = self._doubled_step(dt)
            energy = m.discrete_energy(trial)
            factor = GROWTH if error == 0 else min(GROWTH, SAFETY * np.sqrt(self.tolerance / error))
            rises = energy > self._energy + FREE_ENERGY_ROUNDING * abs(self._energy)
            if error <= self.tolerance and not rises and np.isfinite(energy):
                break
            self.rejected_steps += 1
            dt = dt * (0.5 if rises or not np.isfinite(energy) else max(SHRINK, factor))
            lands_on, landing = None, False
            if dt < self.dt_min:
                raise StepTooSmall(self.clock.iteration, t, dt, self.dt_min)
        for name in m.fields:
            s[name][...] = trial[name]
        self._energy = energy
        if not landing or factor < 1:  # a shortened landing step that went well keeps self.dt
            self.dt = float(min(max(dt * factor, self.dt_min), self.dt_max))
        return dt, lands_on

    def _doubled_step(self, dt):
        """(2 u2 - u1, the error): u1 one IMEX Euler step of dt, u2 two of dt / 2; the error is the
        largest over the fields of the root mean square of u2 - u1 (a local event, a particle
        vanishing, does not hold the whole domain's step down)."""
        m, s, t, xp = self.model, self.state, self.clock.time, self.model.xp
        one = m.semi_implicit_step(s, t, dt)
        two = m.semi_implicit_step(m.semi_implicit_step(s, t, 0.5 * dt), t + 0.5 * dt, 0.5 * dt)
        error = max(float(xp.sqrt(xp.mean((two[n] - one[n]) ** 2))) for n in m.fields)
        return {n: 2 * two[n] - one[n] for n in m.fields}, error if np.isfinite(error) else np.inf

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
