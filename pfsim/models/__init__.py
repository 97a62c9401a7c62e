"""Models a scenario can pick with `model.kind`."""

from .allen_cahn import AllenCahn, AllenCahnParams
from .anisotropic_allen_cahn_heat import AnisotropicAllenCahnHeat, AnisotropicAllenCahnHeatParams
from .cahn_hilliard import CahnHilliard, CahnHilliardParams
from .cahn_hilliard_allen_cahn import CahnHilliardAllenCahn, CahnHilliardAllenCahnParams
from .cahn_hilliard_electrostatic import CahnHilliardElectrostatic, CahnHilliardElectrostaticParams
from .li_cycling import LiCycling, LiCyclingParams
from .plating import LiPlating, LiPlatingParams
from .stripping import LiStripping, LiStrippingParams

MODELS = {
    "cahn_hilliard": (CahnHilliardParams, CahnHilliard),
    "allen_cahn": (AllenCahnParams, AllenCahn),
    "cahn_hilliard_electrostatic": (CahnHilliardElectrostaticParams, CahnHilliardElectrostatic),
    "cahn_hilliard_allen_cahn": (CahnHilliardAllenCahnParams, CahnHilliardAllenCahn),
    "anisotropic_allen_cahn_heat": (AnisotropicAllenCahnHeatParams, AnisotropicAllenCahnHeat),
    "li_stripping": (LiStrippingParams, LiStripping),
    "li_plating": (LiPlatingParams, LiPlating),
    "li_cycling": (LiCyclingParams, LiCycling),
}

ModelParams = (CahnHilliardParams | AllenCahnParams | CahnHilliardElectrostaticParams | CahnHilliardAllenCahnParams
               | AnisotropicAllenCahnHeatParams | LiStrippingParams | LiPlatingParams | LiCyclingParams)


def build_model(params, grid, backend, drive=None, seed=0):
    return MODELS[params.kind][1](params, grid, backend, drive=drive, seed=seed)
