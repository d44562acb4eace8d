"""The fault suite's full run (issue 18): the whole stack as real processes under steady traffic while a
seeded scheduler injects faults, then the invariant checker; see tests/faults/ and README "Fault suite".

Prints the seed first (the same seed gives the same fault schedule), then every fault as it is injected,
then the tables (faults by kind, invariants with violation counts, figures); writes the report as JSON
(test-artifacts/faults/<run>/report.json, and --json FILE). Exit status 1 if any invariant is violated.

Usage: .venv/bin/python -m bench.faults [--faults 1000] [--seed N] [--web 3 --telephony 2 --worker 2]
                                        [--redis sentinel|plain] [--no-balancer]
                                        [--operators 6] [--mean-gap 2.0] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.faults.suite import Config, run


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--web", type=int, default=3)
    parser.add_argument("--telephony", type=int, default=2)
    parser.add_argument("--worker", type=int, default=2)
    parser.add_argument("--operators", type=int, default=6)
    parser.add_argument("--mean-gap", type=float, default=2.0, help="seconds between faults on average")
    parser.add_argument("--clients-per-second", type=float, default=1.5)
    parser.add_argument("--redis", choices=("sentinel", "plain"), default="sentinel")
    parser.add_argument("--no-balancer", action="store_true", help="bots talk to the web processes directly")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    report = asyncio.run(run(Config(faults=args.faults, seed=args.seed, web=args.web, telephony=args.telephony,
                                    worker=args.worker, operators=args.operators, mean_gap=args.mean_gap,
                                    clients_per_second=args.clients_per_second, redis=args.redis,
                                    balancer=not args.no_balancer)))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1, default=str))
    print(f"\nseed {report.seed}: {report.injected()} faults injected, {report.violations} violations", flush=True)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
