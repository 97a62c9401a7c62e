"""The NumPy steps of the field models allocate no grid-sized array in steady state, and their
observables none either (tracemalloc: bytes allocated at the peak of a call beyond what it
started with). A grid-sized temporary per step costs page faults on large grids: a 625^2
Allen-Cahn run once spent 64 % of its CPU time in the kernel for them."""

import tracemalloc

import numpy as np
import pytest

from pfsim.backend import Backend
from pfsim.bench import cases

F64 = Backend("numpy", np.dtype("float64"), "cpu")
SHAPE = (512, 512)  # 2 MiB a field: a grid-sized temporary cannot hide under the bound


def transient_bytes(call):
    call()
    call()  # steady state: work arrays and spare buffers exist
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("make", [cases.allen_cahn, cases.cahn_hilliard], ids=["allen_cahn", "cahn_hilliard"])
def test_steps_and_observables_allocate_no_grid_array(make):
    model, state = make(F64, SHAPE)
    dt = 0.2 * model.stability_limit()
    field_bytes = 8 * SHAPE[0] * SHAPE[1]
    step = transient_bytes(lambda: model.euler_step(state, 0.0, dt))
    observe = transient_bytes(lambda: model.observables(state, 0.0))
    assert step < 0.25 * field_bytes, f"step: {step} bytes"
    assert observe < 0.5 * field_bytes, f"observables: {observe} bytes"
