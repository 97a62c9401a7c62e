"""Where the FiPy peer runs: a Python interpreter that can import FiPy, found or installed.

FiPy is never imported into pfsim's own process: the peer script runs in a subprocess of the
chosen interpreter, so FiPy may live in a separate virtual environment.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pfsim" / "fipy-venv"


def _venv_python(venv) -> Path:
    return Path(venv) / "bin" / "python"


def _has_fipy(python) -> bool:
    out = subprocess.run([str(python), "-c", "import fipy"], capture_output=True, timeout=300, check=False)
    return out.returncode == 0


def install(where, say) -> str:
    """pip install fipy into `where`: 'current' (this interpreter) or a venv folder (made if
    missing). Returns the interpreter to run FiPy with."""
    if where == "current":
        python = sys.executable
    else:
        venv = Path(where).expanduser()
        python = _venv_python(venv)
        if not python.exists():
            say(f"fipy: creating a virtual environment in {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    say(f"fipy: pip install fipy into {python}")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "fipy"], check=True)
    return str(python)


def find(explicit=None, install_into=None, say=print) -> tuple[str | None, str]:
    """(interpreter or None, how it was found or why not)."""
    if explicit:
        return (explicit, "--fipy-python") if _has_fipy(explicit) else (None, f"{explicit} cannot import fipy")
    if install_into:
        return install(install_into, say), f"installed into {install_into}"
    if importlib.util.find_spec("fipy") is not None:
        return sys.executable, "this interpreter"
    if _venv_python(DEFAULT_VENV).exists() and _has_fipy(_venv_python(DEFAULT_VENV)):
        return str(_venv_python(DEFAULT_VENV)), f"{DEFAULT_VENV}"
    return None, f"FiPy not found; pass --install-fipy (into {DEFAULT_VENV}) or --install-fipy current"


def run(python, script, n, dt, stop, steps=None, warmup=1, timeout=None) -> dict:
    """One run of the FiPy peer script; its JSON line as a dict."""
    cmd = [python, str(script), "--n", str(n), "--dt", repr(dt), "--stop", repr(stop)]
    if steps:
        cmd += ["--steps", str(steps), "--warmup", str(warmup)]
    return json_line(cmd, "FiPy peer", timeout)


def json_line(cmd, what, timeout=None) -> dict:
    """The last line a command prints, read as JSON; RuntimeError with the end of its stderr when it fails."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode:
        raise RuntimeError(f"{what} failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
