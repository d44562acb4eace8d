"""The README's run command: embedded services if needed, release, demo data, then every Procfile process.

The Procfile is the one list of processes; this runner reads it (like foreman/honcho would), runs
``release`` to completion, then starts the rest with their output prefixed, and stops everything on
Ctrl-C or when any process dies.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from backend.dev.embedded import DATA, REPO, RUN_ENV, services_from_env, write_run_env


def read_procfile(path: Path = REPO / "Procfile") -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def _jwt_secret() -> str:
    path = DATA / "jwt-secret"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _pump(name: str, stream: object) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sys.stdout.write(f"{name:>10} | {line}")
        sys.stdout.flush()


def _spawn(name: str, command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(  # noqa: S603 - commands come from our own Procfile
        ["/bin/sh", "-c", f"exec {command}"], env=env, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    threading.Thread(target=_pump, args=(name, proc.stdout), daemon=True).start()
    return proc


def _wait_http(url: str, proc: subprocess.Popen[str], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
                return bool(response.status == 200)
        except OSError:
            time.sleep(0.2)
    return False


def main() -> int:
    env = dict(os.environ)
    stops: list[Callable[[], None]] = []
    try:
        for name in ("DATABASE_URL", "REDIS_URL"):
            if not env.get(name):
                print(f"{name} is not set: starting an embedded server with its data in .data/", flush=True)
        env["DATABASE_URL"], env["REDIS_URL"], started = services_from_env("run", "telemarketing")
        stops.extend(started)
        write_run_env(env)  # for tm-admin in another terminal
        stops.insert(0, lambda: RUN_ENV.unlink(missing_ok=True))  # stops run in reverse: removed last
        if not env.get("PROVIDER_URL"):
            # No real provider here: run the simulator as it (dev only; not a Procfile process).
            sim_port = env.get("SIM_PORT", "8020")
            env["SIM_PORT"] = sim_port
            env["PROVIDER_URL"] = f"http://127.0.0.1:{sim_port}"
            simulator = _spawn("simulator", f"{sys.executable} -m telephony.simulator", env)
            stops.append(simulator.terminate)
        own_receiver = False
        if not env.get("INTEGRATIONS_URL"):
            # Nor real BlackList/ML/products/client-data services: the integrations simulator stands in for them.
            integ_port = env.get("INTEGRATIONS_SIM_PORT", "8030")
            env["INTEGRATIONS_URL"] = f"http://127.0.0.1:{integ_port}"
            integrations = _spawn("integ-sim", f"{sys.executable} -m integrations_sim --port {integ_port}", env)
            stops.append(integrations.terminate)
            own_receiver = True  # it also plays the demo integration client's push receiver
        env.setdefault("JWT_SECRET", _jwt_secret())
        env.setdefault("PORT", "8000")
        env.setdefault("HOST", "127.0.0.1")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("LEADS_DIR", str(DATA / "leads"))

        procfile = read_procfile()
        release = subprocess.run(["/bin/sh", "-c", procfile.pop("release", "true")], env=env, cwd=REPO,  # noqa: S603
                                 check=False)
        if release.returncode != 0:
            print("release failed; not starting", file=sys.stderr)
            return release.returncode
        subprocess.run([sys.executable, "-m", "backend.cli", "seed-demo"], env=env, cwd=REPO, check=True)
        # A small lead file in a stream folder: the worker imports it within seconds (see its log lines).
        subprocess.run([sys.executable, "-m", "backend.cli", "gen-leads", "200", "--bad-fraction", "0",
                        "--into-stream", "MOBILE_LOANS"], env=env, cwd=REPO, check=False)

        exchange = _exchange_demo(env, own_receiver=own_receiver)

        procs = {name: _spawn(name, command, env) for name, command in procfile.items()}
        url = f"http://127.0.0.1:{env['PORT']}"
        if "web" in procs and _wait_http(f"{url}/health", procs["web"]):
            print(f"\n  Workstation: {url}/  (ready: {url}/ready)\n  API docs:    {url}/schema/swagger\n"
                  f"  Telephony:   simulator at {env['PROVIDER_URL']} (/_state, /_call); health "
                  f"http://127.0.0.1:{env.get('TELEPHONY_PORT', '8010')}/health\n"
                  f"  Integration: simulator at {env['INTEGRATIONS_URL']} (/_control/stats, /_control/faults/...,\n"
                  "               /_control/verdicts: README, Integrations)\n"
                  f"  Leads:       LEADS_DIR={env['LEADS_DIR']}\n"
                  "               drop CSV or XLSX files into its mobile_loans/ or pos_reject/ (a 200-row demo file\n"
                  "               was just dropped into mobile_loans/; results land in success/ and error/),\n"
                  f"               or upload: POST {url}/api/admin/v1/lead-imports (as supervisor1 or admin1)\n"
                  f"{exchange}"
                  "  Demo logins: operator1 / operator1-demo, operator2 / operator2-demo,\n"
                  "               supervisor1 / supervisor1-demo, admin1 / admin1-demo\n"
                  "  Ctrl-C stops everything.\n", flush=True)
        return _supervise(procs)
    finally:
        for stop in reversed(stops):
            stop()


def _exchange_demo(env: dict[str, str], *, own_receiver: bool) -> str:
    """The demo integration client (a new API key each start) pushing to the integrations simulator's
    receiver "demo" (whose signature check gets the client's secret); the banner lines that show how to use it."""
    push_url = f"{env['INTEGRATIONS_URL']}/exchange/demo/push" if own_receiver else None
    made = subprocess.run([sys.executable, "-m", "backend.cli", "exchange-demo",  # noqa: S603
                           *(["--push-url", push_url] if push_url else [])],
                          env=env, cwd=REPO, check=False, capture_output=True, text=True)
    if made.returncode != 0:
        return f"  Exchange:    demo client not made: {made.stderr.strip()[-200:]}\n"
    demo = json.loads(made.stdout.strip().splitlines()[-1])
    if push_url:
        body = json.dumps({"secret": demo["signingSecret"]}).encode()
        for _ in range(50):  # the simulator may still be starting
            try:
                request = urllib.request.Request(  # noqa: S310 - our own loopback URL
                    f"{env['INTEGRATIONS_URL']}/_exchange/demo/config", data=body,
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=1):  # noqa: S310 - our own loopback URL
                    break
            except OSError:
                time.sleep(0.2)
    url = f"http://127.0.0.1:{env.get('PORT', '8000')}"
    return (f"  Exchange:    X-Api-Key: {demo['apiKey']}  (client demo-crm, campaign \"Доведи до займа\")\n"
            f"               POST {url}/api/integration/v1/communication-requests (README, Integration exchange);\n"
            f"               pushes: {env['INTEGRATIONS_URL']}/_exchange/demo/pushes\n" if push_url else
            f"  Exchange:    X-Api-Key: {demo['apiKey']} (polling only: no push receiver)\n")


def _supervise(procs: dict[str, subprocess.Popen[str]]) -> int:
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"process {name} exited with {proc.returncode}; stopping the rest", file=sys.stderr)
                code = proc.returncode or 1
                stopping = True
        time.sleep(0.2)
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
