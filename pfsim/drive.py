"""The `drive` section: what the experimentalist controls, as functions of time; and `Drive`, the
same at run time (its protocols built once and shared by every model of a run)."""

from pydantic import Field

from .protocol import Protocol, protocol_type
from .schema import Section


class DriveConfig(Section):
    current_density: protocol_type("current density") = Field(
        description="applied current density (A/m^2); > 0 strips the Li electrode, < 0 plates it")
    stack_pressure: protocol_type("pressure") = Field(0.0, description="stack pressure on the cell (Pa)")
    temperature: protocol_type("temperature") = Field(
        298.15, description="cell temperature (K); a protocol like the others (steps between segments)")


class Drive:
    """The drive protocols of a run: `current` (A/m^2), `pressure` (Pa), `temperature` (K)."""

    def __init__(self, section):
        self.current = Protocol(section.current_density)
        self.pressure = Protocol(section.stack_pressure)
        self.temperature = Protocol(section.temperature)
        if min(self.temperature.samples()) <= 0:
            raise ValueError("drive.temperature: expected temperatures above 0 K throughout")

    @classmethod
    def of(cls, drive):
        """`drive` itself if it is a Drive already (models composed into one share it), else built."""
        return drive if isinstance(drive, cls) else cls(drive)

    def breakpoints(self) -> list[float]:
        """Every breakpoint of the three protocols after t = 0, in order."""
        return sorted(set(t for p in (self.current, self.pressure, self.temperature) for t in p.breakpoints() if t > 0))
