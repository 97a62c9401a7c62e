"""benchmarks/gpu_check.sh, the one command for a GPU machine, runs end to end on the CPU
(--dry-run: NumPy, tiny sizes, no install), so it cannot rot between GPU runs."""

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_gpu_check_dry_run(tmp_path):
    out = tmp_path / "check"
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["bench.csv", "bench.json", "creep_flow.txt", "device_compare.json", "info.txt", "log.txt",
                     "pfhub.txt", "pytest_gpu.txt"]  # at most 8 files come back from a device call
    rows = json.loads((out / "device_compare.json").read_text())
    assert len(rows) >= 9 and all(r["ok"] for r in rows)
    log = (out / "log.txt").read_text()
    assert "0 step(s) failed" in log and "exit 0" in log
    flow = (out / "creep_flow.txt").read_text()
    assert "multigrid" in flow and "converged True" in flow and "potential stages" in flow
