"""Test harness: real PostgreSQL and Redis (services from DATABASE_URL/REDIS_URL, or embedded ones), a
scratch database per run, and real `web` processes started as subprocesses and driven over HTTP."""

from __future__ import annotations

import os
import random
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
TELEPHONY_SECRET = "telephony-test-secret-0123456789abcdef"
# Every process a test starts, in order: on a failure conftest's report hook appends the end of each one's log
# (CI shows the test output only, and a process that died or stalled is usually the cause).
STARTED: list[WebProcess] = []


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


_HANDED_OUT: set[int] = set()
_PICK = random.SystemRandom()  # never the global generator: a seeded fault run must replay the same


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port to give a test's server, below the kernel's ephemeral range: a port from bind(0) is one the
    many client connections of a run (to PostgreSQL, Redis, the servers) may take as their own end before
    the server binds it, and the server then dies at start. Never the same port twice in a run."""
    low = _ephemeral_range()[0]
    if low <= 11000:  # an unusual kernel setting: nothing below it to pick from
        from backend.dev.embedded import free_port as kernel_pick

        return kernel_pick()
    for _ in range(1000):
        port = _PICK.randint(10000, low - 1)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


@dataclass
class Services:
    database_url: str  # the scratch database of this run
    admin_url: str  # the server's maintenance database, for CREATE/DROP DATABASE
    redis_url: str
    redis_prefix: str
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))

    def web_env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "JWT_"))}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            REDIS_KEY_PREFIX=self.redis_prefix,
            JWT_SECRET=self.jwt_secret,
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            # The shared processes allow many failures per address: every test logs in from 127.0.0.1.
            LOGIN_MAX_FAILURES_PER_ADDRESS="10000",
            TELEPHONY_WEBHOOK_SECRET=TELEPHONY_SECRET,
            # The shared worker cascades the configured streams only: rules tests use streams of their own
            # and drive (or start) the cascade themselves.
            CASCADE_STREAMS="MOBILE_LOANS,POS_REJECT",
        )
        env.update(overrides)
        return env


class WebProcess:
    """One `python -m backend.web` (or another module's) process on its own port, logging to a file under
    test-artifacts/."""

    def __init__(self, env: dict[str, str], name: str, module: str = "backend.web", port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(env, PORT=str(self.port), HOST="127.0.0.1")
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"{module.rsplit('.', 1)[-1]}-{name}-{self.port}.log"
        self._log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module], env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
        )
        STARTED.append(self)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process's log, with how it ended if it did."""
        try:
            text = self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            text = f"(log unreadable: {exc!r})"
        code = self.proc.poll()
        return f"[{'running' if code is None else f'exited with {code}'}]\n{text}"

    def wait_ready(self, path: str = "/health", timeout: float = 30, url: str | None = None,
                   answering: bool = False) -> None:
        """Until ``path`` (on ``url``, by default the process's PORT) answers 200, or any status if
        ``answering``; a process that exits meanwhile fails at once, with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                status = httpx.get((url or self.url) + path, timeout=1).status_code
                if status == 200 or answering:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"web did not become ready: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """A crash: no shutdown handlers run."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
