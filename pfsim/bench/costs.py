"""Bytes and flops per cell update of every field-stepping kernel: the one table the benchmark
and docs/performance.md use.

words: arrays of the working precision a cell update must read or write at least once (each
read once and written once, neighbours from cache), summed over the launches of the case as
pfsim runs it; bytes = words x 4 (float32) or 8 (float64). flops: add, subtract, multiply and
divide as written in kernels/*.cu (a multiply-add counts 2; index arithmetic, compares and
sign flips count 0), for an interior node. Per case: (words 2D, words 3D, flops 2D, flops 3D,
what is moved).
"""

COSTS = {
    "copy": (2, 2, 0, 0, "read a, write b"),
    "ch_step": (2, 2, 130, 208, "ch_step_fused: read c, write c_new (mu recomputed at the 4 or 6 neighbours)"),
    "ch_step_two_launches": (5, 5, 38, 46,
                             "ch_chemical_potential (read c, write mu) + ch_euler_update (read mu, c; write c)"),
    "ch_chemical_potential": (2, 2, 23, 27, "read c, write mu: f'(c) - kappa lap(c)"),
    "ac_rate": (2, 2, 30, 34, "read eta, write rate"),
    "ac_step": (2, 2, 32, 36, "ac_euler_update: read eta, write eta_new"),
    "ac_step_three_launches": (7, 7, 32, 36, "ac_rate (2) + rate * dt (2) + eta += (3)"),
    "void_rates": (4, 4, 29, 35, "read xi, li; write relax, q"),
    "void_update": (8, 8, 23, 23, "read xi, S, li, band, relax; write xi_new, exchange, closed"),
    "void_contact_weight": (3, 3, 8, 12, "read xi, li; write w (flops on electrolyte nodes next to Li only)"),
    "void_masked_laplacian": (3, 3, 12, 18, "read f, li; write lap"),
    "void_chemical_potential": (4, 4, 27, 33, "read xi, li, wall; write mu"),
    "void_surface_diffusion": (4, 4, 49, 73, "read xi, mu, li; write relax (q of each face's mean xi)"),
    "plating_interface_terms": (3, 3, 67, 102, "read xi; write w, relax (gradient, normal second derivative)"),
    "plating_metal_update": (8, 8, 18, 18, "read xi, w, relax, current, gate, noise; write xi_new, displaced"),
    "elliptic_apply": (5, 6, 13, 19, "read u, K per axis, c; write A u"),
    "elliptic_smooth_rb": (6, 7, 15, 21, "one red-black sweep: read u, b, K per axis, c; write u (two launches)"),
    "elliptic_smooth_jacobi": (6, 7, 18, 24, "read u, b, K per axis, c; write u_new"),
}


def flops(case, ndim):
    return COSTS[case][2 if ndim == 2 else 3]


def bytes_per_cell(case, ndim, itemsize):
    return COSTS[case][0 if ndim == 2 else 1] * itemsize
