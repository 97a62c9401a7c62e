"""The symmetric cell around the resolved stripping electrode (model.symmetric_cell,
pfsim/models/stripping/cell.py) and the voltage-divergence criterion (pfsim.analysis voltage)."""

import numpy as np
import pytest

from conftest import advance
from test_stripping import scenario
from pfsim.analysis import voltage_divergence
from pfsim.config import validate
from pfsim.errors import ConfigError
from pfsim.models.stripping.cell import counter_overpotential
from pfsim.physics.constants import FARADAY, GAS
from pfsim.physics.kinetics import ButlerVolmer


@pytest.mark.parametrize("j", [0.5, 20.0, 300.0])
@pytest.mark.parametrize("contact", [1.0, 0.3])
def test_counter_overpotential_is_the_symmetric_butler_volmer_inverse(j, contact):
    """alpha = 1/2, no interphase: eta = -(2RT/F) asinh(j / (2 i0 f)), to 1e-9 relative."""
    T, i0 = 298.15, 51.4
    eta = counter_overpotential(ButlerVolmer(i0, 0.5, 0.5, T), j, contact)
    exact = -(2 * GAS * T / FARADAY) * np.arcsinh(j / contact / (2 * i0))
    assert eta == pytest.approx(exact, rel=1e-9)


def test_counter_overpotential_with_an_interphase_and_unequal_alphas():
    """The plating current at the returned eta is -j / contact (series resistance 15 Ohm cm^2)."""
    bv = ButlerVolmer(26.0, 0.3, 0.7, 298.15, resistance=15e-4)
    eta = counter_overpotential(bv, 20.0, 0.8)
    assert float(bv.current(np.float64(eta))) == pytest.approx(-25.0, rel=1e-9)
    assert eta < -25.0 * 15e-4  # more than the interphase's ohmic share


def test_symmetric_cell_voltage_adds_the_pellet_and_the_counter_electrode():
    m, s = scenario(shape=(20, 30), current="0.5 mA/cm^2", nucleation=False,
                    extra_model={"symmetric_cell": {"electrolyte_thickness": "1 mm", "counter_contact_fraction": 0.5}})
    t = advance(m, s, 1.0, 3)
    obs = m.observables(s, t)
    pellet = 5.0 * (1e-3 - 3e-6) / m.params.electrolyte.conductivity
    assert obs["pellet_ohmic_drop"] == pytest.approx(pellet, rel=1e-12)
    eta = -(2 * GAS * m.temperature / FARADAY) * np.arcsinh(5.0 / 0.5 / (2 * m.params.kinetics.exchange_current_density))
    assert obs["counter_overpotential"] == pytest.approx(eta, rel=1e-9)
    assert obs["symmetric_cell_voltage"] == pytest.approx(obs["cell_voltage"] + pellet - eta, rel=1e-12)
    plain, s2 = scenario(shape=(20, 30), current="0.5 mA/cm^2", nucleation=False)
    assert "symmetric_cell_voltage" not in plain.observables(s2, 0.0)


def test_a_pellet_thinner_than_the_resolved_layer_is_refused():
    raw = {"name": "t", "grid": {"shape": [8, 20], "spacing": "0.2 um", "boundaries": {"x": "periodic", "y": "no_flux"}},
           "model": {"kind": "li_stripping", "geometry": {"electrolyte_thickness": "2 um"},
                     "interface": {"width": "0.5 um"}, "symmetric_cell": {"electrolyte_thickness": "1 um"}},
           "drive": {"current_density": "1 mA/cm^2"}, "time": {"stop": 1.0}}
    with pytest.raises(ConfigError, match="symmetric_cell.electrolyte_thickness"):
        validate(raw)


def test_voltage_divergence_ignores_the_ohmic_steps_between_holds():
    """Two holds: the jump at the breakpoint (the breakpoint sample carries the new current and
    the old voltage) does not count, a rise of 25 mV within the second hold does."""
    t = np.arange(8.0) * 60
    j = np.array([1, 1, 1, 2, 2, 2, 2, 2], float)
    v = np.array([10, 10, 10, 10, 40, 41, 50, 66], float) * 1e-3
    assert voltage_divergence(t, v, j, 0.02) == (420.0, 2.0)
    assert voltage_divergence(t, v, j, 0.03) is None
