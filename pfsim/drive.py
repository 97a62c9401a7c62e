"""The `drive` section: what the experimentalist controls, as functions of time."""

from pydantic import Field

from .protocol import protocol_type
from .schema import Section


class DriveConfig(Section):
    current_density: protocol_type("current density") = Field(
        description="applied current density (A/m^2); > 0 strips the Li electrode, < 0 plates it")
    stack_pressure: protocol_type("pressure") = Field(0.0, description="stack pressure on the cell (Pa)")
    temperature: protocol_type("temperature") = Field(
        298.15, description="cell temperature (K); a protocol like the others (steps between segments)")
