#!/usr/bin/env python3
"""Set-up and entry point for a fresh machine: needs only Python 3.11+ and the package index.

    python3 dev.py run     # venv, install, embedded PostgreSQL/Redis unless *_URL set, migrate, demo, all processes
    python3 dev.py test    # venv, install, ruff, mypy, import rule, the whole pytest suite (extra args: pytest)

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TM_VENV", ROOT / ".venv"))
PY = VENV / "bin" / "python"
EXTRAS = "embedded,test"


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".tm-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        print("installing dependencies ...", flush=True)
        subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([str(PY), "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]"], cwd=ROOT, check=True)
        stamp.write_text(wanted)


def ensure_debian_package(command: str, package: str, why: str, *, check: bool = True) -> None:
    """Install a Debian package the tests drive when its command is missing (root with apt-get only)."""
    if shutil.which(command) or Path("/usr/sbin", command).exists():
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing Debian's {package} for {why} ...", flush=True)
        subprocess.run(["apt-get", "update", "-q"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=check, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    else:
        print(f"{command} is missing: install it (e.g. `sudo apt-get install {package}`) for {why}")


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium (browser downloads are not possible here)."""
    ensure_debian_package("chromium", "chromium", "the browser tests")


def ensure_nginx() -> None:
    """The scale-out test puts three web processes behind nginx; without it that test skips, saying why."""
    ensure_debian_package("nginx", "nginx-light", "the load-balancer test", check=False)


def ensure_faketime() -> None:
    """The fault suite skews processes' clocks with libfaketime; without it that fault kind is left out, saying why."""
    ensure_debian_package("faketime", "faketime", "the fault suite's clock skew", check=False)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    ensure_env()
    command, rest = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "run":
        # exec, not a child: Ctrl-C and SIGTERM from a process manager reach the runner directly.
        os.execv(PY, [str(PY), "-m", "backend.dev.run", *rest])
    ensure_chromium()
    ensure_nginx()
    ensure_faketime()
    checks = ([str(PY), "-m", "ruff", "check", "backend", "telephony", "integrations_sim", "tests", "bench",
               "dev.py"],
              [str(PY), "-m", "mypy"],
              [str(VENV / "bin" / "lint-imports")])  # the import rule of docs/architecture.md
    for check in checks:
        print(f"$ {' '.join(check[1:]) or check[0]}", flush=True)
        if subprocess.call(check) != 0:
            return 1
    os.execv(PY, [str(PY), "-m", "pytest", *rest])
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
