"""Butler-Volmer kinetics at the Li | electrolyte contact.

    j(eta) = i0 [exp(alpha_a F eta / RT) - exp(-alpha_c F eta / RT)]

j > 0 is anodic (stripping: Li -> Li+ + e-), eta = phi_metal - phi_electrolyte. For
alpha_a = alpha_c = 1/2 the inverse is eta = (2RT/F) asinh(j / 2 i0).
"""

import numpy as np

from .constants import FARADAY, GAS

_EXP_CAP = 60.0  # exponents are capped so a wild Newton iterate cannot overflow


class ButlerVolmer:
    def __init__(self, exchange_current, alpha_anodic, alpha_cathodic, temperature):
        self.i0 = exchange_current
        self.aa = alpha_anodic * FARADAY / (GAS * temperature)
        self.ac = alpha_cathodic * FARADAY / (GAS * temperature)

    def current(self, eta, xp=np):
        a = xp.clip(self.aa * eta, -_EXP_CAP, _EXP_CAP)
        c = xp.clip(-self.ac * eta, -_EXP_CAP, _EXP_CAP)
        return self.i0 * (xp.exp(a) - xp.exp(c))

    def slope(self, eta, xp=np):
        """dj/deta (> 0)."""
        a = xp.clip(self.aa * eta, -_EXP_CAP, _EXP_CAP)
        c = xp.clip(-self.ac * eta, -_EXP_CAP, _EXP_CAP)
        return self.i0 * (self.aa * xp.exp(a) + self.ac * xp.exp(c))

    def symmetric_overpotential(self, j):
        """eta for a given j when alpha_a = alpha_c (the check of physics.md section 4)."""
        return float(np.arcsinh(j / (2 * self.i0)) / self.aa)
