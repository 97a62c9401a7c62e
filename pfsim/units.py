"""Physical quantities in configs: "1 mA/cm^2", "5 MPa", "200 nm" -> float in SI.

A bare number is taken as SI. Strings are parsed by a strict grammar (a number, then a
unit expression of names, powers with small integer exponents, * and /) before pint
sees them, so no config string can make pfsim compute anything expensive.
"""

import math
import re
from functools import lru_cache

import pint

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)

# name -> (pint dimensionality, SI unit written in outputs)
DIMENSIONS = {
    "dimensionless": ("", "1"),
    "length": ("[length]", "m"),
    "time": ("[time]", "s"),
    "temperature": ("[temperature]", "K"),
    "pressure": ("[mass] / [length] / [time] ** 2", "Pa"),
    "current density": ("[current] / [length] ** 2", "A/m^2"),
    "charge density": ("[current] * [time] / [length] ** 2", "C/m^2"),
    "voltage": ("[mass] * [length] ** 2 / [current] / [time] ** 3", "V"),
    "conductivity": ("[current] ** 2 * [time] ** 3 / [mass] / [length] ** 3", "S/m"),
    "diffusivity": ("[length] ** 2 / [time]", "m^2/s"),
    "surface energy": ("[mass] / [time] ** 2", "J/m^2"),
    "energy density": ("[mass] / [length] / [time] ** 2", "J/m^3"),
    "molar volume": ("[length] ** 3 / [substance]", "m^3/mol"),
    "concentration": ("[substance] / [length] ** 3", "mol/m^3"),
    "energy": ("[mass] * [length] ** 2 / [time] ** 2", "J"),
    "molar energy": ("[mass] * [length] ** 2 / [time] ** 2 / [substance]", "J/mol"),
    "rate": ("1 / [time]", "1/s"),
    "velocity": ("[length] / [time]", "m/s"),
    "mobility": ("[length] ** 3 * [time] / [mass]", "m^3/(J s)"),
    "fracture toughness": ("[mass] / [length] ** 0.5 / [time] ** 2", "Pa*m^(1/2)"),
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,3})?"
_UNIT_CHARS = r"[A-Za-z_µμΩ°%]"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")
_UNIT_OK = re.compile(rf"^(?:{_UNIT_CHARS}|[0-9\s\*/\^\(\)\.\-])*$")
# an exponent is at most two digits and never itself raised to a power
_BAD_POWER = re.compile(r"(\^|\*\*)\s*-?\s*(\d{3,}|\d*\.\d)|(\^|\*\*)[^A-Za-z(]*(\^|\*\*)")


class QuantityError(ValueError):
    """Raised with a message that says what was expected."""


@lru_cache(maxsize=256)
def _unit_factor(unit: str, dimension: str) -> tuple[float, float]:
    """(scale, offset) that convert a value in `unit` to SI of `dimension`."""
    try:
        u = ureg.parse_units(unit) if unit else ureg.dimensionless
    except Exception as exc:  # pint raises several kinds
        raise QuantityError(f"unknown unit '{unit}'") from exc
    want = ureg.get_dimensionality(DIMENSIONS[dimension][0]) if DIMENSIONS[dimension][0] else ureg.dimensionless.dimensionality
    if u.dimensionality != want:
        raise QuantityError(f"unit '{unit}' is not a {dimension}")
    try:
        si = ureg.Quantity(0.0, u).to_base_units()
        one = ureg.Quantity(1.0, u).to_base_units()
    except (ArithmeticError, pint.PintError) as exc:  # e.g. "Ym^99/km^98" overflows
        raise QuantityError(f"unit '{unit}' cannot be converted to {si_unit(dimension)}") from exc
    return float(one.magnitude - si.magnitude), float(si.magnitude)


def to_si(value, dimension: str) -> float:
    """Convert a config value (bare number in SI, or "number unit" string) to SI."""
    result = _to_si(value, dimension)
    if not math.isfinite(result):
        raise QuantityError(f"expected {_article(dimension)} {dimension} (a finite number), got {short(value)}")
    return result


def any_to_si(text: str) -> float:
    """The SI value of a quantity string of whichever dimension its unit has ("0.5 um" -> 5e-07);
    raises QuantityError where no dimension fits."""
    for dimension in DIMENSIONS:
        try:
            return to_si(text, dimension)
        except QuantityError:
            continue
    raise QuantityError(f"not a quantity of a known dimension: {short(text)}")


def _article(dimension: str) -> str:
    return "an" if dimension[0] in "aeiou" else "a"


def _to_si(value, dimension: str) -> float:
    if dimension not in DIMENSIONS:
        raise KeyError(dimension)
    expected = f"expected {_article(dimension)} {dimension}"
    if isinstance(value, bool):
        raise QuantityError(f"{expected}, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond the float range
            return math.inf
    if not isinstance(value, str):
        raise QuantityError(f"{expected}, got {short(value)}")
    # the length check comes first: the lazy unit group is quadratic on long strings
    m = _QUANTITY.match(value) if len(value) <= 80 else None
    if m is None or not _UNIT_OK.match(m.group(2)) or _BAD_POWER.search(m.group(2)):
        raise QuantityError(
            f"{expected} (a number in {si_unit(dimension)}, or a string such as "
            f"'2 {si_unit(dimension)}'), got {short(value)}"
        )
    number, unit = float(m.group(1)), m.group(2)
    if not unit:  # a number written as a string (YAML 1.1 reads 1e-3 as one): SI
        return number
    try:
        scale, offset = _unit_factor(unit, dimension)
    except QuantityError as exc:
        raise QuantityError(f"{expected}, got {short(value)} ({exc})") from None
    return number * scale + offset


def si_unit(dimension: str) -> str:
    return DIMENSIONS[dimension][1]


def short(value) -> str:
    """repr(value), cut to 60 characters: what an error message quotes of a value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
