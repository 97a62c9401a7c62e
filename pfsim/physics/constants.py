"""Physical constants (CODATA 2018, exact SI values where defined)."""

FARADAY = 96485.33212  # C/mol
GAS = 8.314462618  # J/(mol K)
BOLTZMANN = 1.380649e-23  # J/K
AVOGADRO = 6.02214076e23  # 1/mol
ELEMENTARY_CHARGE = 1.602176634e-19  # C
EV = ELEMENTARY_CHARGE  # J (1 eV = e x 1 V)
