"""Sections `bandwidth` (the roofline: a large device-to-device copy) and `kernels` (every
field-stepping kernel: cell updates/s, effective bandwidth, fraction of the copy bandwidth)."""

import numpy as np

from ..kernels import plating as pk
from ..kernels import grid_args, twin
from ..kernels import voids as vk
from ..kernels import allen_cahn as ac
from ..kernels import cahn_hilliard as ch
from ..kernels import elliptic as ek
from ..solvers.elliptic import JACOBI_WEIGHT
from . import cases, costs
from .report import grid_label, row

COPY_BYTES = {"gpu": 2**30, "cpu": 2**28}  # per array


def bandwidth(ctx):
    """Median time of dst[...] = src for two float64 arrays; bytes read + written per second."""
    be = cases.with_precision(ctx.backend, "float64")
    xp, n = be.xp, COPY_BYTES["gpu" if be.is_gpu else "cpu"] // 8
    src = cases.random_field(be, (n,), 0.0, 1.0, 4)
    dst = xp.empty_like(src)
    t = ctx.timer.measure(lambda: xp.copyto(dst, src))
    moved = 2 * src.nbytes
    ctx.copy_gbps = moved / t.seconds / 1e9
    note = f"{src.nbytes / 2**20:.0f} MiB array; bytes read + written"
    return [row("bandwidth", "copy", backend=be.name, precision="float64", grid=str(n), cells=n,
                time_s=t.seconds, time_per="per copy", repeats=t.repeats, value=ctx.copy_gbps, unit="GB/s",
                bytes_per_cell=16, gbps=ctx.copy_gbps, frac_copy=1.0, note=note)]


def masked_laplacian_cuda(be, grid, f, li_side):
    """The void_masked_laplacian kernel (kernels/voids.cu), lap_Li(f): the stripping step fuses
    it into void_rates; measured and tested on its own."""
    f, li = vk._field(be, f), vk._field(be, li_side)
    lap = be.xp.empty_like(f)
    be.launch(vk.KERNELS, "void_masked_laplacian", f.size, (f, li, lap) + grid_args(be, grid))
    return lap


masked_laplacian = twin(vk.masked_laplacian_numpy, masked_laplacian_cuda)


# --- one callable per kernel: (backend, shape) -> fn() -------------------------------------------
def _ch_step(be, shape):
    return cases.stepper(*cases.cahn_hilliard(be, shape))


def _ch_step_two_launches(be, shape):
    """The unfused CUDA step, in place: ch_chemical_potential then ch_euler_update (5 words per
    node against the fused step's 2)."""
    model, state = cases.cahn_hilliard(be, shape)
    dt, c, g, s = 0.2 * model.stability_limit(), state["c"], model.grid, be.scalar

    def step():
        mu = ch.chemical_potential_cuda(be, g, model.params, c)
        be.launch(ch.KERNELS, "ch_euler_update", c.size, (c, mu) + grid_args(be, g) + (s(model.params.mobility), s(dt)))
    return step


def _ac_step_three_launches(be, shape):
    model, state = cases.allen_cahn(be, shape)
    dt, eta = 0.2 * model.stability_limit(), state["eta"]

    def step():
        eta[...] += dt * ac.rate_cuda(be, model.grid, model.params, eta, 0.0)
    return step


def _ch_chemical_potential(be, shape):
    model, state = cases.cahn_hilliard(be, shape)
    c = state["c"]
    mu = be.xp.empty_like(c)
    return lambda: ch.chemical_potential(be, model.grid, model.params, c, model.scratch, out=mu)


def _ac_rate(be, shape):
    model, state = cases.allen_cahn(be, shape)
    return lambda: ac.rate(be, model.grid, model.params, state["eta"], 0.0)


def _ac_step(be, shape):
    return cases.stepper(*cases.allen_cahn(be, shape))


def _void(name):
    def make(be, shape):
        v = cases.void_fields(be, shape)
        g, xi, li = v["grid"], v["xi"], v["li"]
        if name == "void_rates":
            return lambda: vk.void_rates(be, g, xi, li, 1e-10, 1e6, 1e-6)
        if name == "void_update":
            return lambda: vk.void_update(be, xi, v["S"], li, v["band"], 1e-5, 1e3, v["relax"], 1e-4, 1e-4, 0.5)
        if name == "void_contact_weight":
            return lambda: vk.contact_weight(be, g, xi, li)
        if name == "void_chemical_potential":
            return lambda: vk.void_chemical_potential(be, g, xi, li, v["band"], 7.5e-7, 6e6, -4.9)
        if name == "void_surface_diffusion":
            return lambda: vk.void_surface_diffusion(be, g, xi, v["relax"], li, 2.2e-21)
        return lambda: masked_laplacian(be, g, xi, li)
    return make


def _plating(name):
    def make(be, shape):
        v = cases.void_fields(be, shape)
        g, xi = v["grid"], v["xi"]
        delta, tau = 2.5 * g.spacing[0], 5.0
        if name == "plating_interface_terms":
            return lambda: pk.interface_terms(be, g, xi, delta, tau)
        w, relax = pk.interface_terms(be, g, xi, delta, tau)
        current = cases.random_field(be, shape, -100.0, 100.0, 6)
        gate = cases.random_field(be, shape, 0.0, 1.0, 7)
        noise = cases.random_field(be, shape, 0.8, 1.2, 8)
        return lambda: pk.metal_update(be, xi, w, relax, 1e-3, current, gate, noise, 1.35e-10, 0.5)
    return make


def _elliptic(name):
    def make(be, shape):
        problem, b = cases.elliptic(be, shape, preconditioner="jacobi")
        b = be.asarray(b)
        u = cases.random_field(be, shape, 0.0, 1.0, 5)
        if name == "elliptic_apply":
            return lambda: problem.apply_level(u)
        if name == "elliptic_smooth_rb":
            return lambda: problem.smooth(u, b, 1, reverse=False)
        return lambda: ek.smooth_jacobi(be, problem.level, u, b, JACOBI_WEIGHT)  # where red-black is not valid
    return make


KERNEL_CASES = {
    "ch_step": _ch_step,
    "ch_step_two_launches": _ch_step_two_launches,
    "ch_chemical_potential": _ch_chemical_potential,
    "ac_rate": _ac_rate,
    "ac_step": _ac_step,
    "ac_step_three_launches": _ac_step_three_launches,
    "void_rates": _void("void_rates"),
    "void_update": _void("void_update"),
    "void_contact_weight": _void("void_contact_weight"),
    "void_masked_laplacian": _void("void_masked_laplacian"),
    "void_chemical_potential": _void("void_chemical_potential"),
    "void_surface_diffusion": _void("void_surface_diffusion"),
    "plating_interface_terms": _plating("plating_interface_terms"),
    "plating_metal_update": _plating("plating_metal_update"),
    "elliptic_apply": _elliptic("elliptic_apply"),
    "elliptic_smooth_rb": _elliptic("elliptic_smooth_rb"),
    "elliptic_smooth_jacobi": _elliptic("elliptic_smooth_jacobi"),
}
# the unfused CUDA steps, measured against the fused ones (the NumPy step has one form)
GPU_ONLY = ("ch_step_two_launches", "ac_step_three_launches")


def kernels(ctx):
    rows = []
    for shape in ctx.kernel_shapes:
        for precision in ("float64", "float32"):
            be = cases.with_precision(ctx.backend, precision)
            for name, make in KERNEL_CASES.items():
                if name in GPU_ONLY and not be.is_gpu:
                    continue
                ctx.say(f"kernels: {name} {grid_label(shape)} {precision}")
                t = ctx.timer.measure(make(be, shape))
                rows.append(kernel_row(ctx, name, be, shape, t))
                ctx.free()
    return rows


def kernel_row(ctx, name, be, shape, t, section="kernels"):
    nd, cells = len(shape), int(np.prod(shape))
    per_cell = costs.bytes_per_cell(name, nd, be.dtype.itemsize)
    updates = cells / t.seconds
    gbps = per_cell * updates / 1e9
    if name == "ch_step":
        ctx.ch_step_seconds[(be.name, be.dtype.name, tuple(shape))] = t.seconds
    return row(section, name, backend=be.name, precision=be.dtype.name, grid=grid_label(shape), cells=cells,
               time_s=t.seconds, time_per="per call", repeats=t.repeats, value=updates, unit="cell/s",
               bytes_per_cell=per_cell, flops_per_cell=costs.flops(name, nd), gbps=gbps,
               frac_copy=gbps / ctx.copy_gbps if ctx.copy_gbps else "")
