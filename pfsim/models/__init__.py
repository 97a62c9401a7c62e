"""Models a scenario can pick with `model.kind`."""

from .allen_cahn import AllenCahn, AllenCahnParams
from .cahn_hilliard import CahnHilliard, CahnHilliardParams

MODELS = {
    "cahn_hilliard": (CahnHilliardParams, CahnHilliard),
    "allen_cahn": (AllenCahnParams, AllenCahn),
}

ModelParams = CahnHilliardParams | AllenCahnParams


def build_model(params, grid, backend):
    return MODELS[params.kind][1](params, grid, backend)
