"""Time protocols: a quantity as a function of simulated time, written as data.

    current_density: "1 mA/cm^2"                       # constant
    current_density:                                   # segments, one after another
      - {duration: "1 h", value: "1 mA/cm^2"}          # hold
      - {duration: "10 min", value: 0}                 # rest
      - {duration: "1 h", start: "0.5 mA/cm^2", end: "2 mA/cm^2"}   # linear ramp
After the last segment its final value holds. Segment boundaries are events: time steps
land on them, so a step change happens exactly where the protocol says.
"""

from typing import Annotated

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from .schema import Duration, Section
from .units import to_si


def protocol_type(dimension: str):
    """The schema type of a protocol of quantities of `dimension`."""
    Q = Annotated[float, BeforeValidator(lambda v: to_si(v, dimension)), Field(json_schema_extra={"dimension": dimension})]

    class Segment(Section):
        duration: Duration = Field(description="length of the segment (s)")
        value: Q | None = Field(None, description="held value")
        start: Q | None = Field(None, description="ramp start value")
        end: Q | None = Field(None, description="ramp end value")

        @model_validator(mode="after")
        def _one_form(self):
            hold, ramp = self.value is not None, self.start is not None and self.end is not None
            if hold == ramp or (not ramp and (self.start is not None or self.end is not None)):
                raise ValueError("a segment has either value, or start and end (a ramp)")
            return self

    Segment.__name__ = f"Segment[{dimension}]"
    def convert(v):  # one clear error for a wrong scalar instead of one per union member
        return v if isinstance(v, list) else to_si(v, dimension)

    return Annotated[Q | Annotated[list[Segment], Field(min_length=1, max_length=100000)], BeforeValidator(convert)]


class Protocol:
    """Evaluate a validated protocol value (float or list of segments) at time t."""

    def __init__(self, spec):
        self.constant = spec if isinstance(spec, float) else None
        self.segments = [] if self.constant is not None else list(spec)
        self.starts = np.cumsum([0.0] + [s.duration for s in self.segments])

    def __call__(self, t: float) -> float:
        if self.constant is not None:
            return self.constant
        k = int(np.searchsorted(self.starts, t, side="right")) - 1
        if k >= len(self.segments):
            last = self.segments[-1]
            return last.value if last.value is not None else last.end
        s = self.segments[k]
        if s.value is not None:
            return s.value
        frac = (t - self.starts[k]) / s.duration
        return s.start + frac * (s.end - s.start)

    def breakpoints(self) -> list[float]:
        return [float(t) for t in self.starts[1:]]
