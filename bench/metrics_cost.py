"""What the metrics cost on the screen pop's path: the observations a card makes (the web stage's histogram,
in the worker the stage, the lag gauge and the event counter), timed in a loop, against the card's own
path measured by bench/ws_push.py. Usage: .venv/bin/python -m bench.metrics_cost [--n 200000] [--json FILE]
(set PROMETHEUS_MULTIPROC_DIR to an empty directory to time the multi-process mode's mmap writes)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.metrics import CALL_EVENTS, SCREEN_POP, SOCKETS_OPEN, STREAM_LAG


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    web, worker = SCREEN_POP.labels("web"), SCREEN_POP.labels("worker")
    applied = CALL_EVENTS.labels("APPLIED")
    cases = {
        "web: card sent (1 histogram observe)": lambda: web.observe(0.003),
        "worker: event applied (histogram + gauge + counter)": lambda: (worker.observe(0.004), STREAM_LAG.set(0.004),
                                                                       applied.inc()),
        "web: socket opened and closed (gauge inc + dec)": lambda: (SOCKETS_OPEN.inc(), SOCKETS_OPEN.dec()),
    }
    rows = []
    for label, fn in cases.items():
        started = time.perf_counter()
        for _ in range(args.n):
            fn()
        rows.append({"case": label, "us_per_op": round((time.perf_counter() - started) / args.n * 1e6, 3)})
    mode = "multi-process" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "single-process"
    print(f"prometheus_client, {mode} mode, load average {os.getloadavg()[0]:.2f}")
    for row in rows:
        print(f"{row['case']:55}{row['us_per_op']:>10} µs")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
