#!/usr/bin/env bash
# Prepare a working tree for a GPU machine without network (run here, where PyPI is reachable):
#   .gpu-wheels/   the wheels its Python 3.12 lacks (zarr, pint, pydantic, pyamg and their
#                  dependencies) for manylinux x86_64; benchmarks/gpu_check.sh installs them
#   shared/pfhub/  the PFHub reference data, copied from ../shared beside the checkout
# Both are git-ignored; name them in the device call's carry list (shared/ travels by itself).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
rm -rf .gpu-wheels && mkdir -p .gpu-wheels
"$PY" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    --platform any -d .gpu-wheels "zarr>=3.0" "pint>=0.23" "pydantic>=2.6" "pyamg>=5.0" 2>&1 | grep -v "^WARNING: Location" || true
# the GPU machine has NumPy and SciPy (with CuPy built against them): leave them out (51 MB, and the
# working tree that travels is limited to 64 MiB)
rm -f .gpu-wheels/numpy-*.whl .gpu-wheels/scipy-*.whl
if [ -d ../shared/pfhub/data ] && [ ! -d shared/pfhub/data ]; then
    mkdir -p shared/pfhub && cp -r ../shared/pfhub/data shared/pfhub/
fi
echo "wheels: $(ls .gpu-wheels | wc -l) files, $(du -sh .gpu-wheels | cut -f1); PFHub data: $(ls shared/pfhub/data 2>/dev/null | wc -l) files"
