#!/usr/bin/env bash
# pfsim on a GPU machine in one command (docs/performance.md, "Checking pfsim on a GPU"):
#   1 install what the machine lacks from .gpu-wheels/ (benchmarks/gpu_wheels.sh, run beforehand)
#   2 pfsim info: device, memory, kernels compile
#   3 the GPU tests: python -m pytest -m gpu
#   4 PFHub BM1a (to t = 10, against MEMPHIS) and BM7a (three grids) on the device backend
#   5 the first steps of every scenario on the device and on NumPy, fields and observables compared
#   6 the solved creep flow's multigrid solve against the potential stage (benchmarks/creep_flow_solve.py)
#   7 pfsim bench sections sized to end the whole script within about 8 minutes on an H100
# Everything goes into OUT (default runs/gpu-check): log.txt, info.txt, pytest_gpu.txt,
# pfhub.txt, device_compare.json, creep_flow.txt, bench.csv, bench.json (8 files). Exit 0 when
# every step passed.
#
#   bash benchmarks/gpu_check.sh [--out DIR]      on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run        the same on NumPy with tiny sizes, no install
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=runs/gpu-check
DRY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT=$2; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        *) echo "gpu_check.sh: unknown argument $1 (expected --out DIR or --dry-run)"; exit 2 ;;
    esac
done
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
FAILED=0
step() {  # step NAME SECONDS OUTFILE COMMAND...: run under a time limit, keep the output, record status and time
    local name=$1 limit=$2 out=$3; shift 3
    local start=$SECONDS
    echo "== $name (limit ${limit} s): $*" | tee -a "$LOG"
    timeout "$limit" "$@" > "$out" 2>&1
    local rc=$?
    [ $rc -eq 124 ] && echo "== $name: stopped at its time limit" >> "$out"
    tail -n 25 "$out" >> "$LOG"
    echo "== $name: exit $rc in $((SECONDS - start)) s" | tee -a "$LOG"
    [ $rc -eq 0 ] || FAILED=$((FAILED + 1))
}

if [ $DRY -eq 1 ]; then
    BACKEND=numpy
    BENCH=(--backend numpy --quick --sizes 32,8 --budget 0 --only bandwidth,kernels,elliptic --no-fipy)
    PFHUB=(-k "bm1a_matches_memphis_to_t10")
    STEPS=2
    CREEP=(--backend numpy --only 2d --repeat 1)
    # the plumbing only: the 3D scenarios' NumPy steps take a minute on a laptop CPU
    SCENARIOS=(--configs $(ls configs/*.yaml configs/pfhub/*.yaml | grep -v '_3d\.yaml$'))
else
    BACKEND=cupy
    if [ -d .gpu-wheels ]; then
        step install 120 "$OUT/install.txt" "$PY" -m pip install --no-index --find-links .gpu-wheels zarr pint pydantic pyamg
        cat "$OUT/install.txt" >> "$LOG"; rm -f "$OUT/install.txt"
    else
        echo "== install: no .gpu-wheels/ (run benchmarks/gpu_wheels.sh beforehand); using what is installed" | tee -a "$LOG"
    fi
    # BM1a at 2048^2 (its NumPy legs take minutes) is a second call:
    #   python -m pfsim.cli bench --backend cupy --only peers --peer-grids 2048 --no-fipy --out DIR
    BENCH=(--backend cupy --only bandwidth,kernels,elliptic,peers,memory,ensemble --no-fipy --budget 1 --peer-grids 256)
    PFHUB=()
    STEPS=4
    CREEP=(--backend cupy --repeat 2)
    SCENARIOS=()
fi

# time limits: they sum to 9 minutes (the whole script stays under 10)
step info 30 "$OUT/info.txt" "$PY" -m pfsim.cli info
step gpu-tests 120 "$OUT/pytest_gpu.txt" "$PY" -m pytest -q -p no:cacheprovider -m gpu
step pfhub 60 "$OUT/pfhub.txt" "$PY" -m pytest -q -p no:cacheprovider tests/test_pfhub.py --pfsim-backend "$BACKEND" "${PFHUB[@]}"
step scenarios 150 "$OUT/compare.txt" "$PY" benchmarks/device_compare.py --backend "$BACKEND" --steps "$STEPS" --out "$OUT" "${SCENARIOS[@]}"
cat "$OUT/compare.txt" >> "$LOG"; rm -f "$OUT/compare.txt"
step creep-flow 50 "$OUT/creep_flow.txt" "$PY" benchmarks/creep_flow_solve.py "${CREEP[@]}"
step bench 130 "$OUT/bench.txt" "$PY" -m pfsim.cli bench "${BENCH[@]}" --out "$OUT"
cat "$OUT/bench.txt" >> "$LOG"; rm -f "$OUT/bench.txt"

echo "gpu_check: $FAILED step(s) failed; results in $OUT" | tee -a "$LOG"
[ $FAILED -eq 0 ]
