"""Log format and levels shared by every process, and what never reaches a log."""

from __future__ import annotations

import logging


class _NoQueryStrings(logging.Filter):
    """uvicorn's access line carries the path with its query string, which may hold personal data or a
    token sent by a careless client: only the path is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def configure_logging(level: str) -> None:
    """The one logging set-up (Litestar's own is turned off where an app is built, so LOG_LEVEL holds)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per provider poll is noise
    logging.getLogger("uvicorn.access").addFilter(_NoQueryStrings())
