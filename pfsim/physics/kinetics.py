"""Butler-Volmer kinetics at the Li | electrolyte contact.

    j(eta) = i0 [exp(alpha_a F eta / RT) - exp(-alpha_c F eta / RT)]

j > 0 is anodic (stripping: Li -> Li+ + e-), eta = phi_metal - phi_electrolyte. For
alpha_a = alpha_c = 1/2 the inverse is eta = (2RT/F) asinh(j / 2 i0).

An interphase of area-specific resistance R (Ohm m^2) in series takes R j of the overpotential:
j solves j = BV(eta - R j) (Newton per face, j between 0 and eta / R), and
dj/deta = BV'(x) / (1 + R BV'(x)), x = eta - R j.

`cathodic` (optional, >= 0, a number or an array): a factor on the cathodic branch,
i0 [exp(alpha_a F eta / RT) - cathodic exp(-alpha_c F eta / RT)]: the Li+ concentration c / c0 of
a liquid electrolyte, with eta measured from the equilibrium potential at c0 (the Nernst shift of
c is then in the kinetics). None: the plain form (the same operations as without it).
"""

import numpy as np

from .constants import FARADAY, GAS

_EXP_CAP = 60.0  # exponents are capped so a wild Newton iterate cannot overflow


class ButlerVolmer:
    def __init__(self, exchange_current, alpha_anodic, alpha_cathodic, temperature, resistance=0.0):
        self.i0 = exchange_current
        self.aa = alpha_anodic * FARADAY / (GAS * temperature)
        self.ac = alpha_cathodic * FARADAY / (GAS * temperature)
        self.resistance = resistance  # series interphase ASR (Ohm m^2)

    def _bv(self, x, xp, cathodic=None):
        a = xp.clip(self.aa * x, -_EXP_CAP, _EXP_CAP)
        c = xp.clip(-self.ac * x, -_EXP_CAP, _EXP_CAP)
        ea, ec = xp.exp(a), xp.exp(c)
        if cathodic is not None:
            ec = cathodic * ec
        return self.i0 * (ea - ec), self.i0 * (self.aa * ea + self.ac * ec)

    def _series(self, eta, xp, cathodic=None):
        """(j, BV'(x)) of the contact with the series resistance: Newton on j - BV(eta - R j)."""
        R = self.resistance
        j = eta / (R + 1 / (self.i0 * (self.aa + self.ac)))  # linear start
        lo, hi = xp.minimum(0.0, eta / R), xp.maximum(0.0, eta / R)
        for _ in range(60):
            f, fp = self._bv(eta - R * j, xp, cathodic)
            step = (j - f) / (1 + R * fp)
            j = xp.clip(j - step, lo, hi)
            if float(xp.max(xp.abs(step))) <= 1e-12 * (float(xp.max(xp.abs(j))) + self.i0):
                break
        return j, self._bv(eta - R * j, xp, cathodic)[1]

    def current(self, eta, xp=np, cathodic=None):
        if self.resistance > 0:
            return self._series(eta, xp, cathodic)[0]
        return self._bv(eta, xp, cathodic)[0]

    def slope(self, eta, xp=np, cathodic=None):
        """dj/deta (> 0)."""
        if self.resistance > 0:
            fp = self._series(eta, xp, cathodic)[1]
            return fp / (1 + self.resistance * fp)
        return self._bv(eta, xp, cathodic)[1]
