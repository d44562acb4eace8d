"""Start the simulator as a subprocess on a free port (the tests' ``integrations_sim`` fixture, the bench)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from integrations_sim.client import SimControl

REPO = Path(__file__).resolve().parent.parent
ARTIFACT_LOG = REPO / "test-artifacts" / "integrations-sim.log"


class RunningSim(SimControl):
    """The control client of a running simulator; ``url`` is the base URL to give INTEGRATIONS_URL."""

    def __init__(self, base_url: str, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(base_url)
        self.proc = proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_simulator(port: int | None = None, log: Path | None = None) -> Iterator[RunningSim]:
    port = port or _free_port()
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "integrations_sim", "--port", str(port)],  # noqa: S603
                            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"integrations simulator exited with {proc.returncode}")
            try:
                if httpx.get(url + "/_health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("integrations simulator did not start")
            time.sleep(0.1)
        sim = RunningSim(url, proc)
        try:
            yield sim
        finally:
            sim.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log and not isinstance(out, int):
            out.close()
