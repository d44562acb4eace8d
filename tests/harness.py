"""Test harness: real PostgreSQL and Redis (services from DATABASE_URL/REDIS_URL, or embedded ones), a
scratch database per run, and real `web` processes started as subprocesses and driven over HTTP."""

from __future__ import annotations

import os
import secrets
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


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def free_port() -> int:
    from backend.dev.embedded import free_port as _free_port

    return _free_port()


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

    def wait_ready(self, path: str = "/health", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
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
