"""Material parameters of Li and the SSE, with their sources (docs/physics parameter table).

Each default below carries its source tag from the physics reference: [checked] read in the
full text or a public input file, [memory] recalled and to be verified.
"""

from typing import Literal

import numpy as np
from pydantic import Field

from ..schema import Section, quantity
from .constants import EV, GAS


class LithiumConfig(Section):
    molar_volume: quantity("molar volume", gt=0) = Field(13.0e-6, description="Omega; 13.0 cm^3/mol [checked] Roy 2021")
    tracer_diffusivity_prefactor: quantity("diffusivity", gt=0) = Field(
        1.4e-5, description="D0 of the tracer self-diffusivity D* = D0 exp(-Q/kT); 0.14 cm^2/s [memory]")
    tracer_activation_energy: quantity("energy", gt=0) = Field(
        0.55 * EV, description="Q of D*; 0.55 eV [memory]; gives D*(300 K) of order 1e-14 m^2/s ([checked] 8e-15)")
    vacancy_formation_energy: quantity("energy", gt=0) = Field(
        0.50 * EV, description="E_f of the equilibrium vacancy fraction x_v0 = exp(-E_f/kT); 0.4-0.55 eV [memory]")
    correlation_factor: float = Field(0.73, gt=0, le=1, description="f in D* = f D_v x_v0 (bcc) [memory]")
    surface_energy: quantity("surface energy", gt=0) = Field(0.5, description="gamma of Li; 0.45-0.5 J/m^2 [memory]")
    surface_diffusivity: quantity("diffusivity", gt=0) = Field(
        1.0e-9, description="D_s of Li on Li surfaces, for the void surfaces' relaxation by surface diffusion "
                            "(interface.relaxation: surface_diffusion); no room-temperature measurement found: terrace hops "
                            "of 0.03-0.14 eV [memory] give 1e-9 to 7e-8 m^2/s, step crossings of 0.2 to over 0.5 eV "
                            "[memory] 1e-10 to under 1e-15; 1e-9 [assumed] (docs/stripping.md section 4)")
    electronic_conductivity: quantity("conductivity", gt=0) = Field(1.1e7, description="of Li metal; 1.1e7 S/m at 25 C [memory]")
    sink_length: quantity("length", gt=0) | None = Field(
        None, description="mean distance to vacancy sinks in the bulk, 1/sqrt(Z rho_d + k_gb^2) (dislocations, grain "
                          "boundaries); physical range 0.1-10 um, 1 um for rho_d = 1e12 m^-2 [memory] (docs/stripping.md "
                          "section 3); none = no bulk sinks (the upper bound of void formation)")
    foil_thickness: quantity("length", gt=0) | None = Field(
        1.0e-4, description="Li foil thickness from the flat SSE surface; the part beyond the resolved Li layer enters as a "
                            "far-field condition for the vacancies (docs/stripping.md section 3); 100 um, a typical foil "
                            "(50-750 um in Li|SSE cells) [memory]; none = no-flux collector at the resolved layer")


class CreepConfig(Section):
    """Power-law creep of Li: strain rate = eps0 (sigma/sigma0)^m exp(-Q/R (1/T - 1/T_ref))."""

    reference_stress: quantity("pressure", gt=0) = Field(1.0e6, description="sigma0; 1 MPa [checked] Roy 2021")
    reference_strain_rate: quantity("rate", gt=0) = Field(0.01, description="eps0; 0.01 1/s [checked] Roy 2021")
    exponent: float = Field(5.0, ge=1, le=10, description="m; 5 [checked] Roy 2021 (6.6 in Masias/LePage [memory])")
    activation_energy: quantity("molar energy", ge=0) = Field(37e3, description="Q; 37 kJ/mol [memory] Masias 2019")
    reference_temperature: quantity("temperature", gt=0) = Field(298.15, description="T at which eps0 holds")
    length: quantity("length", gt=0) = Field(
        1.0e-6, description="creep length l_c: metal velocity toward the interface = l_c * strain rate "
                            "(coarse-grained: the size of the deforming zone under the contacts)")
    closure_depth: quantity("length", gt=0) = Field(
        0.5e-6, description="reduced model: voids within this distance of the SSE surface close at the rate of a void in "
                            "a power-law creeping solid (the zone under the contacts that creeps); 0.5 um [assumed], "
                            "a physical length, not the interface width, so the closure converges under grid refinement")
    enabled: bool = Field(True, description="switch creep off (checks against analytic limits)")
    model: Literal["reduced", "solved"] = Field(
        "solved", description="solved: the power-law creep flow of the Li solved on the grid (docs/stripping.md, Solved "
                              "mechanics); reduced: the cheap lumped model, load spread over the contact, feed velocity "
                              "l_c eps_dot and a closure band (where it is good enough: docs/stripping.md)")
    resolve_change: float = Field(
        0.05, gt=0, le=1, description="solved: the flow is solved again once xi has changed by this much at some node "
                                      "since the last solve (and whenever the pressure or temperature changes)")
    solver: Literal["auto", "direct", "amg", "multigrid"] = Field(
        "auto", description="solved: the linear algebra of the flow solve. direct: SuperLU factor of the assembled "
                            "saddle point (2D); amg: block preconditioner with smoothed-aggregation AMG (PyAMG) on the "
                            "viscous block; multigrid: matrix-free, the geometric multigrid per velocity component, on "
                            "the run's backend (NumPy or CuPy); auto: multigrid on a GPU backend, else direct in 2D up "
                            "to 60 000 unknowns and amg beyond (docs/stripping.md, Solved mechanics)")
    surface_tension: bool = Field(
        True, description="solved: the Li surface tension (lithium.surface_energy) on void surfaces, a capillary body "
                          "force gamma kappa grad xi in the flow (pfsim.solvers.capillary); it loads the flow at any "
                          "stack pressure, 0 included (docs/stripping.md, Solved mechanics). reduced: not used")
    size_effect: bool = Field(
        False, description="size-dependent strength: sigma0 becomes max(sigma0, size_strength (size_length / 1 um)^-size_exponent), "
                           "the micropillar law of single-crystal Li (docs/stripping.md, Solved mechanics)")
    size_length: quantity("length", gt=0) | Literal["contacts"] = Field(
        1.0e-6, description="the size of the deforming Li (contacts, ligaments between voids) that sets its strength; "
                            "no documented range (configs/materials use 20 um, fitted: docs/validation.md); "
                            "contacts (stripping): the run's own mean contact-patch size, measured every step "
                            "(docs/stripping.md, Size-dependent strength)")
    size_strength: quantity("pressure", gt=0) = Field(
        1.0e8, description="strength of 1 um Li at 298 K: 105 MPa [checked] Xu 2017 (PNAS 114, 57; abstract); "
                           "the group's pillar data: about 95 MPa at 1 um, 16 MPa at 8.5 um [checked]")
    size_exponent: float = Field(
        0.68, ge=0, le=2, description="strengthening exponent, sigma_y ~ D^-n: 0.68 at 298 K, 1.00 at 90 C [checked] Xu 2017")


    def strain_rate(self, T):
        """eps0 with the Arrhenius factor at temperature T."""
        return self.reference_strain_rate * np.exp(-self.activation_energy / GAS * (1 / T - 1 / self.reference_temperature))

    def strength(self, size, xp=np):
        """sigma0, or with size_effect the micropillar strength of Li of this size (m):
        max(sigma0, size_strength (size / 1 um)^-size_exponent)."""
        if not self.size_effect:
            return self.reference_stress
        if isinstance(size, str):
            raise ValueError(f"size_length: {size!r} is measured by the stripping model; pass the size in m")
        return xp.maximum(self.reference_stress, self.size_strength * (size / 1e-6) ** -self.size_exponent)

class ElectrolyteConfig(Section):
    conductivity: quantity("conductivity", gt=0) = Field(0.04, description="ionic; LLZO 0.4 mS/cm (seed 001; Roy 2021)")


class KineticsConfig(Section):
    exchange_current_density: quantity("current density", gt=0) = Field(
        51.4, description="i0; 5.1 mA/cm^2 = RT/(F Z) for Z = 5 Ohm cm^2 [checked] Roy 2021")
    alpha_anodic: float = Field(0.5, gt=0, lt=1)
    alpha_cathodic: float = Field(0.5, gt=0, lt=1)
    interphase_resistance: float = Field(
        0.0, ge=0, description="ASR0 (Ohm cm^2, a bare number in these units) of an interphase in series with the "
                               "Butler-Volmer contact (stripping): ASR(t) = ASR0 + interphase_growth sqrt(t / 1 h); "
                               "0 for LLZO (stable against Li); Li|Li6PS5Cl: see configs/materials/ and docs/validation.md")
    interphase_growth: float = Field(
        0.0, ge=0, description="k of the interphase ASR(t) = ASR0 + k sqrt(t / 1 h) (Ohm cm^2 per sqrt(hour), a bare "
                               "number in these units): parabolic growth of the SEI argyrodites form with Li [memory] "
                               "Wenzel et al. 2016, 2018")
