"""Run the integrations simulator: ``python -m integrations_sim [--host H] [--port N]`` (default
127.0.0.1:8030; env INTEGRATIONS_SIM_HOST / INTEGRATIONS_SIM_PORT). Served by uvicorn on uvloop with httptools."""

from __future__ import annotations

import argparse
import os

import uvicorn

from integrations_sim.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m integrations_sim", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("INTEGRATIONS_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("INTEGRATIONS_SIM_PORT", "8030")))
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", timeout_keep_alive=60)


if __name__ == "__main__":
    main()
