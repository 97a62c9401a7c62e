"""Building blocks of the config schema shared by every section and model.

Every section forbids unknown keys, rejects NaN and Inf (and booleans where a number belongs),
and takes physical quantities through `quantity(dimension)`: a bare number in SI or a string
with units.
"""

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .units import to_si

_NUMBERS = (int, float, int | None, float | None)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans(cls, data):
        # pydantic would read true (YAML 1.1 also: yes, on) as 1 in a number setting
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if isinstance(value, bool) and field is not None and field.annotation in _NUMBERS:
                    raise ValueError(f"{key}: expected a number, got {value!r}")
        return data


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
