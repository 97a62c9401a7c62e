"""Building blocks of the config schema shared by every section and model.

Every section forbids unknown keys, rejects NaN and Inf, and takes physical quantities
through `quantity(dimension)`: a bare number in SI or a string with units.
"""

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .units import to_si


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def quantity(dimension: str, **constraints):
    """A float in SI parsed from a number or a "value unit" string of `dimension`."""
    return Annotated[
        float,
        BeforeValidator(lambda v: to_si(v, dimension)),
        Field(json_schema_extra={"dimension": dimension}, **constraints),
    ]


Length = quantity("length", gt=0)
Duration = quantity("time", gt=0)
Time = quantity("time", ge=0)
Temperature = quantity("temperature", gt=0)
