"""Memory per idle authenticated operator socket.

Starts the Procfile's stack (2 `web`, `worker`, `telephony` with the provider simulator; real PostgreSQL and
Redis, a scratch database), seeds N operators with live sessions, measures each fresh web process's RSS and
PSS (/proc/<pid>/smaps_rollup) after a warm-up of a few sockets, connects the N operators by WebSocket (HELLO
with lastSeq null, half on each web process), lets them idle for --idle seconds (heartbeats answered), measures
again, and reports (after - before) / sockets per process. A run is a fresh stack; the table is the median of
--runs runs.

The sockets open in two halves; "marginal" is the RSS the second half added per socket (no one-time growth).
--env KEY=VALUE sets the stack's environment (WS_IMPLEMENTATION=wsproto, MALLOC_ARENA_MAX=2, ...); --trace runs
the web processes under tracemalloc (bench/traced_web.py) and prints what the second half added per socket, by
line, by traceback and by object type.

Usage: .venv/bin/python -m bench.idle_sockets [--sockets 5000] [--idle 10] [--runs 3] [--env KEY=VALUE]
       [--trace --batch 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import uvloop
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Stack, load_average, median_run, print_table, scratch_services, wait_quiet
from bench.ws_push import seed


def descendants(pid: int) -> list[int]:
    """The process and all its children's (Granian serves from a worker process it spawns)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += descendants(int(child))
    return out


def memory_kib(pid: int) -> dict[str, int]:
    """RSS and PSS in KiB (smaps_rollup) of a web process with its children."""
    out = {"rss": 0, "pss": 0}
    for one in descendants(pid):
        for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                out[key.lower()] += int(rest.split()[0])
    return out


async def connect(url: str, token: str) -> Any:
    ws = await websockets.connect(url.replace("http://", "ws://") + "/api/arm/v1/ws", max_size=2**20,
                                  compression=None, ping_interval=None, open_timeout=120)
    await ws.send(json.dumps({"type": "HELLO", "token": token, "lastSeq": None}))
    hello = json.loads(await ws.recv())
    assert hello["type"] == "HELLO_OK", hello
    return ws


async def keep_alive(ws: Any) -> None:
    """Answer the server's heartbeat, as the page does."""
    try:
        async for text in ws:
            if '"PING"' in text:
                await ws.send('{"type":"PONG"}')
    except websockets.ConnectionClosed:
        pass


async def one_run(args: argparse.Namespace) -> dict[str, Any]:
    quiet = await asyncio.to_thread(wait_quiet, args.quiet_load, args.quiet_timeout)
    async with scratch_services("bench") as services:
        _, toks, _ = await seed(services, args.sockets + 20, 1)
        extra = dict(kv.split("=", 1) for kv in args.env)
        if args.trace:
            trace_dir = Path(tempfile.mkdtemp(prefix="tm-trace-"))
            extra["TM_TRACE_DIR"] = str(trace_dir)
        stack = Stack(services, "idle", **extra)
        if args.trace:
            stack.web_module, stack.ready_timeout = "bench.traced_web", 180.0
        sockets: list[Any] = []
        try:
            urls = await asyncio.to_thread(stack.start)
            pids = stack.pids("web")
            # Warm-up: the code paths of a socket loaded, the pools opened, then closed again.
            warm = [await connect(urls[i % 2], toks[args.sockets + i]) for i in range(20)]
            for ws in warm:
                await ws.close()
            await asyncio.sleep(3)
            before = [memory_kib(pid) for pid in pids]
            t0 = time.perf_counter()
            readers = []
            half = args.sockets // 2
            middle: list[dict[str, int]] = []
            for first, last in ((0, half), (half, args.sockets)):
                for start in range(first, last, args.batch):
                    batch = range(start, min(start + args.batch, last))
                    connected = await asyncio.gather(*(connect(urls[i % 2], toks[i]) for i in batch))
                    sockets += connected
                    readers += [asyncio.create_task(keep_alive(ws)) for ws in connected]
                await asyncio.sleep(args.idle)
                if args.trace:
                    await asyncio.to_thread(snapshot, pids, trace_dir)
                if not middle:
                    middle = [memory_kib(pid) for pid in pids]
            connect_s = time.perf_counter() - t0
            after = [memory_kib(pid) for pid in pids]
            alive = sum(1 for ws in sockets if ws.close_code is None)
            per_process = alive / len(pids)
            row = {"sockets": args.sockets, "alive": alive, "connect_s": round(connect_s, 1),
                   "rss_kib_per_socket": round(sum(a["rss"] - b["rss"] for a, b in zip(after, before, strict=True))
                                               / len(pids) / per_process, 2),
                   "pss_kib_per_socket": round(sum(a["pss"] - b["pss"] for a, b in zip(after, before, strict=True))
                                               / len(pids) / per_process, 2),
                   "rss_kib_marginal": round(sum(a["rss"] - m["rss"] for a, m in zip(after, middle, strict=True))
                                             / len(pids) / (per_process - half / len(pids)), 2),
                   "rss_mib_before": round(sum(b["rss"] for b in before) / len(pids) / 1024, 1),
                   "rss_mib_after": round(sum(a["rss"] for a in after) / len(pids) / 1024, 1),
                   "load": load_average()}
            if args.trace:
                report_trace(trace_dir, pids, (args.sockets - half) / len(pids))
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers, return_exceptions=True)
        finally:
            stack.stop()
    return {**quiet, "row": row}


def snapshot(pids: list[int], trace_dir: Path) -> None:
    """Ask each traced web process for a tracemalloc snapshot (bench/traced_web.py) and wait for it."""
    for pid in pids:
        done = len(list(trace_dir.glob(f"{pid}-*.done")))
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + 300
        while len(list(trace_dir.glob(f"{pid}-*.done"))) == done and time.monotonic() < deadline:
            time.sleep(0.5)


def report_trace(trace_dir: Path, pids: list[int], added: float) -> None:
    """What the second half of the sockets added per socket: tracemalloc by line and by traceback, and live
    objects by type (the diff of each web process's two snapshots, averaged over the processes)."""
    by_line: dict[str, float] = {}
    by_type: dict[str, float] = {}
    total = 0.0
    traces: dict[str, tuple[float, list[str]]] = {}
    for pid in pids:
        first = tracemalloc.Snapshot.load(str(trace_dir / f"{pid}-1.snap"))
        second = tracemalloc.Snapshot.load(str(trace_dir / f"{pid}-2.snap"))
        for stat in second.compare_to(first, "lineno"):
            key = str(stat.traceback[0])
            by_line[key] = by_line.get(key, 0) + stat.size_diff / len(pids) / added
            total += stat.size_diff / len(pids) / added
        for stat in second.compare_to(first, "traceback")[:12]:
            key = "\n      ".join(str(f) for f in stat.traceback)
            prev = traces.get(key, (0.0, []))
            traces[key] = (prev[0] + stat.size_diff / len(pids) / added, stat.traceback.format())
        t1 = json.loads((trace_dir / f"{pid}-1.types.json").read_text())
        t2 = json.loads((trace_dir / f"{pid}-2.types.json").read_text())
        for name in set(t1) | set(t2):
            by_type[name] = by_type.get(name, 0) + (t2.get(name, 0) - t1.get(name, 0)) / len(pids) / added
    print(f"tracemalloc: {total:.0f} bytes per added socket (Python allocations the tracer sees)")
    for key, size in sorted(by_line.items(), key=lambda kv: -kv[1])[:30]:
        print(f"  {size:8.0f} B  {key}")
    print("largest tracebacks:")
    for size, lines in sorted(traces.values(), key=lambda v: -v[0])[:8]:
        print(f"  {size:8.0f} B")
        for line in lines[-16:]:
            print("      " + line)
    print("live objects per added socket (gc-tracked):")
    for name, count in sorted(by_type.items(), key=lambda kv: -kv[1])[:30]:
        if count >= 0.05:
            print(f"  {count:6.2f}  {name}")


COLS = ("sockets", "alive", "connect_s", "rss_kib_per_socket", "rss_kib_marginal", "pss_kib_per_socket",
        "rss_mib_before",
        "rss_mib_after", "load")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quiet-load", type=float, default=2.0)
    parser.add_argument("--quiet-timeout", type=float, default=120)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--batch", type=int, default=200, help="sockets opened at once")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="set in the stack's environment, e.g. WEB_SERVER=granian or MALLOC_ARENA_MAX=2")
    parser.add_argument("--trace", action="store_true",
                        help="run the web processes under tracemalloc (bench/traced_web.py) and print what the "
                             "second half of the sockets added, by line, traceback and object type")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.sockets * 2 + 1000)), hard))
    runs = []
    for n in range(args.runs):
        run = await one_run(args)
        runs.append(run)
        print_table(f"run {n + 1} (load average {run['load_before']} before)", [run["row"]], COLS)
    median = median_run([r["row"] for r in runs])
    print_table(f"idle authenticated operator sockets, 2 web processes: median of {args.runs} runs", [median], COLS)
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "runs": runs, "median": median}, indent=2))


if __name__ == "__main__":
    uvloop.run(main())  # the client must not be what limits the bench
