"""Time protocols: a quantity as a function of simulated time, written as data.

    current_density: "1 mA/cm^2"                       # constant
    current_density:                                   # segments, one after another
      - {duration: "1 h", value: "1 mA/cm^2"}          # hold
      - {duration: "10 min", value: 0}                 # rest
      - {duration: "1 h", start: "0.5 mA/cm^2", end: "2 mA/cm^2"}   # linear ramp
      - {capacity: "0.5 mAh/cm^2", value: "-1 mA/cm^2"}  # a current held for a capacity
      - repeat: 10                                     # cycles: the block, 10 times
        segments:
          - {capacity: "0.5 mAh/cm^2", value: "1 mA/cm^2"}   # strip half-cycle
          - {duration: "10 min", value: 0}                   # rest
          - {capacity: "0.5 mAh/cm^2", value: "-1 mA/cm^2"}  # plate half-cycle
          - {duration: "10 min", value: 0}
      - {steps: 20, duration: "10 min", start: "0.1 mA/cm^2", step: "0.1 mA/cm^2"}  # staircase
After the last segment its final value holds. Segment boundaries are events: time steps
land on them, so a step change happens exactly where the protocol says. `capacity` (charge per
area) sets a hold's duration as capacity / |value| and exists for current densities only.
"""

from typing import Annotated, Union

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, model_validator

from .schema import Duration, Section, quantity
from .units import to_si

MAX_SEGMENTS = 100000


def protocol_type(dimension: str):
    """The schema type of a protocol of quantities of `dimension`."""
    Q = Annotated[float, BeforeValidator(lambda v: to_si(v, dimension)), Field(json_schema_extra={"dimension": dimension})]
    current = dimension == "current density"

    class Segment(Section):
        duration: Duration | None = Field(None, description="length of the segment (s)")
        value: Q | None = Field(None, description="held value")
        start: Q | None = Field(None, description="ramp start value")
        end: Q | None = Field(None, description="ramp end value")

        @model_validator(mode="after")
        def _one_form(self):
            hold, ramp = self.value is not None, self.start is not None and self.end is not None
            if hold == ramp or (not ramp and (self.start is not None or self.end is not None)):
                raise ValueError("a segment has either value, or start and end (a ramp)")
            capacity = getattr(self, "capacity", None)
            if (self.duration is None) == (capacity is None):
                raise ValueError("a segment has either duration or capacity" if current else "a segment needs a duration")
            if capacity is not None and (not hold or self.value == 0):
                raise ValueError("capacity needs a nonzero held value")
            return self

        def length(self):
            return self.duration if self.duration is not None else self.capacity / abs(self.value)

    if current:
        class Segment(Segment):  # noqa: F811 - a current-density segment may give a capacity instead
            capacity: quantity("charge density", gt=0) | None = Field(
                None, description="charge per area passed at the held value: sets the duration")

    class Staircase(Section):
        steps: int = Field(ge=1, le=MAX_SEGMENTS, description="number of holds")
        duration: Duration = Field(description="length of each hold (s)")
        start: Q = Field(description="value of the first hold")
        step: Q = Field(description="added at each next hold")

    for cls in (Segment, Staircase):
        cls.__name__ = f"{cls.__name__}[{dimension}]"

    def tagged(*classes):  # pick the form by its keys: one error message, not one per form
        return Annotated[Union[tuple(Annotated[c, Tag(c.__name__)] for c in classes)],
                         Discriminator(lambda v: _form(v, classes), custom_error_type="protocol_item",
                                       custom_error_message="expected a segment (a mapping with duration or capacity, "
                                                            "and value or start/end), a block (repeat) or a staircase (steps)")]

    class Repeat(Section):
        repeat: int = Field(ge=1, le=MAX_SEGMENTS, description="how many times the block runs")
        segments: list[tagged(Segment, Staircase)] = Field(min_length=1, description="the block")

    Repeat.__name__ = f"Repeat[{dimension}]"

    def convert(v):  # one clear error for a wrong scalar instead of one per union member
        return v if isinstance(v, list) else to_si(v, dimension)

    def bounded(items):
        if sum(_count(i) for i in items) > MAX_SEGMENTS:
            raise ValueError(f"the protocol expands to more than {MAX_SEGMENTS} segments")
        return items

    Item = tagged(Segment, Staircase, Repeat)
    return Annotated[Q | Annotated[list[Item], Field(min_length=1, max_length=MAX_SEGMENTS), AfterValidator(bounded)],
                     BeforeValidator(convert)]


def _form(v, classes):
    """The class name of the protocol item v: a block (repeat), a staircase (steps) or a segment."""
    if isinstance(v, dict):
        keys = v.keys()
    elif hasattr(type(v), "model_fields"):
        keys = type(v).model_fields.keys()
    else:
        return None  # not a mapping: pydantic reports it
    for c in classes:
        marker = {"Repeat": "repeat", "Staircase": "steps"}.get(c.__name__.split("[")[0])
        if marker and marker in keys:
            return c.__name__
    return next(c.__name__ for c in classes if c.__name__.startswith("Segment"))


def _count(item):
    if hasattr(item, "repeat"):
        return item.repeat * sum(_count(i) for i in item.segments)
    return getattr(item, "steps", 1)


def _flatten(items):
    """[(duration, start value, end value)] of the expanded protocol."""
    out = []
    for item in items:
        if hasattr(item, "repeat"):
            block = _flatten(item.segments)
            out.extend(block * item.repeat)
        elif hasattr(item, "steps"):
            out.extend((item.duration, item.start + k * item.step, item.start + k * item.step) for k in range(item.steps))
        elif item.value is not None:
            out.append((item.length(), item.value, item.value))
        else:
            out.append((item.length(), item.start, item.end))
    return out


class Protocol:
    """Evaluate a validated protocol value (float or list of segments) at time t."""

    def __init__(self, spec):
        self.constant = spec if isinstance(spec, float) else None
        self.segments = [] if self.constant is not None else _flatten(spec)
        self.starts = np.cumsum([0.0] + [d for d, _, _ in self.segments])

    def __call__(self, t: float) -> float:
        if self.constant is not None:
            return self.constant
        k = self.segment_index(t)
        duration, a, b = self.segments[k]
        if a == b or t >= self.starts[k + 1]:  # a hold, or after the end: the final value
            return b
        return a + (t - self.starts[k]) / duration * (b - a)

    def breakpoints(self) -> list[float]:
        return [float(t) for t in self.starts[1:]]

    def samples(self) -> list[float]:
        """The values at the start and at each breakpoint, from both sides (a ramp's end value is
        taken just before its breakpoint): the protocol's extremes are among them."""
        ends = self.breakpoints()
        return [self(t) for t in [0.0] + ends + [b * (1 - 1e-12) for b in ends]]

    def segment_index(self, t: float) -> int:
        """Which segment t lies in (the last one after the end)."""
        if self.constant is not None:
            return 0
        return min(int(np.searchsorted(self.starts, t, side="right")) - 1, len(self.segments) - 1)

