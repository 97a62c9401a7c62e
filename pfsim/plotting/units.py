"""Battery units for plots: the store keeps SI values with their units in attributes; a plot shows
lengths in um, current densities in mA/cm^2, capacity in mAh/cm^2, pressure in MPa, voltages in
mV or V and times in s, min or h by range, fractions in %."""

import numpy as np

# the quantity each store name stands for (axis and colour-bar labels)
NAMES = {
    "cell_voltage": "cell voltage", "interface_overpotential": "interface overpotential",
    "current_density": "current density", "peak_local_current_density": "peak local current density",
    "stack_pressure": "stack pressure", "temperature": "temperature", "contact_fraction": "contact fraction",
    "void_volume_fraction": "void fraction", "void_count": "void count", "largest_void_size": "largest void",
    "mean_interface_supersaturation": "mean interface supersaturation",
    "peak_interface_supersaturation": "peak interface supersaturation", "li_thickness": "Li thickness",
    "charge_passed": "charge passed", "charge_throughput": "charge throughput",
    "li_site_balance_error": "Li-site balance error", "charge_balance_error": "charge balance error",
    "nucleation_events": "nucleation events", "penetration_depth_max": "deepest penetration",
    "penetration_depth_mean": "mean penetration", "li_volume_in_sse": "Li in the SSE",
    "isolated_nuclei": "isolated nuclei", "damaged_volume": "damaged SSE",
    "time_to_short_circuit": "time to short circuit", "half_cycle_capacity": "half-cycle capacity",
    "conversion_thickness": "hand-over thickness", "failure_current_density": "failure current density",
    "cycle": "cycle", "half_cycle": "half-cycle",
    "xi": "metal fraction \u03be", "supersaturation": "vacancy supersaturation S", "potential": "Li\u207a potential \u03c6",
    "electron_potential": "electron potential \u03c6\u2091", "damage": "SSE damage d",
}
PERCENT = {"contact_fraction", "void_volume_fraction"}
COUNTS = {"void_count", "nucleation_events", "isolated_nuclei", "cycle", "half_cycle"}


def name_of(name: str) -> str:
    return NAMES.get(name, name.replace("_", " "))


def time_unit(t_max: float) -> tuple[float, str]:
    """(divisor, unit) of a time axis reaching t_max seconds: s up to 2 min, min up to 2 h, h beyond."""
    t_max = abs(float(t_max)) if np.isfinite(t_max) else 0.0
    if t_max <= 120:
        return 1.0, "s"
    if t_max <= 7200:
        return 60.0, "min"
    return 3600.0, "h"


def length_unit(extent: float) -> tuple[float, str]:
    """(factor from m, unit) of lengths up to `extent` m: um up to 1 mm, mm up to 1 m, m beyond
    (a generic model's nondimensional lengths are stored as m)."""
    extent = abs(float(extent)) if np.isfinite(extent) else 0.0
    if extent <= 1e-3:
        return 1e6, "\u00b5m"
    if extent <= 1.0:
        return 1e3, "mm"
    return 1.0, "m"


def _peak(values) -> float:
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else 0.0


def convert(values, units: str, name: str = "") -> tuple[np.ndarray, str]:
    """(values in display units, the unit's label: '' for a count) of SI `values` in `units`."""
    v = np.asarray(values, dtype=float)
    units = (units or "1").strip()
    if name in PERCENT and units == "1":
        return 100 * v, "%"
    if units == "1":
        return v, "" if name in COUNTS else "\u2013"
    if units == "V":
        return (1e3 * v, "mV") if _peak(v) < 1 else (v, "V")
    if units == "s":
        d, u = time_unit(_peak(v))
        return v / d, u
    if units == "m":
        f, u = length_unit(_peak(v))
        return v * f, u
    scale, label = {
        "m^2": (1e12, "\u00b5m\u00b2"), "m^3": (1e18, "\u00b5m\u00b3"),
        "m^3/m": (1e12, "\u00b5m\u00b3/\u00b5m"), "A/m^2": (0.1, "mA/cm\u00b2"), "C/m^2": (1 / 36000, "mAh/cm\u00b2"),
        "Pa": (1e-6, "MPa"),
    }.get(units, (1.0, units))
    if units == "K":
        return v - 273.15, "\u00b0C"
    return v * scale, label


def label(name: str, unit: str) -> str:
    """'quantity [unit]' (a count: the quantity alone)."""
    return f"{name_of(name)} [{unit}]" if unit else name_of(name)
