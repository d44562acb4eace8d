"""How the daily summary leaves the system: the ``Notifier`` interface and its first implementation, e-mail
through SMTP (stdlib smtplib in a thread: nothing blocks the event loop)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Protocol

from backend.core.settings import Settings


class Notifier(Protocol):
    async def send(self, subject: str, text: str, html: str | None = None) -> None:
        """Deliver one message; raise on failure (the caller records it and tries again later)."""


class SmtpNotifier:
    def __init__(self, settings: Settings) -> None:
        self._s = settings

    def _send_sync(self, message: EmailMessage) -> None:
        s = self._s
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as client:
            if s.smtp_starttls:
                client.starttls()
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password)
            client.send_message(message)

    async def send(self, subject: str, text: str, html: str | None = None) -> None:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self._s.smtp_from
        message["To"] = ", ".join(self._s.smtp_to)
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        await asyncio.to_thread(self._send_sync, message)


def notifier_of(settings: Settings) -> Notifier | None:
    """E-mail when SMTP_HOST and SMTP_TO are set; else None (summaries are only saved)."""
    if settings.smtp_host and settings.smtp_to:
        return SmtpNotifier(settings)
    return None
