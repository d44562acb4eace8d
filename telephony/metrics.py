"""What the telephony process counts, in prometheus_client types (served on ``/metrics``), and the
provider's up/down verdict that ``/health`` reports."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from telephony.provider import ProviderError

log = logging.getLogger("telephony")


class Metrics:
    """One registry per adapter (so tests may build several); the process-wide registry (stamina's retry
    counter, process and GC collectors) is served beside it."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.provider_up_gauge = Gauge("telephony_provider_up", "1 while the provider answers", registry=r)
        self.active_sessions = Gauge("telephony_active_sessions", "Operators with a provider session", registry=r)
        self.events_appended = Counter("telephony_events_appended", "Provider events put on the stream", registry=r)
        self.commands_done = Counter("telephony_commands_done", "Commands carried out", registry=r)
        self.commands_refused = Counter("telephony_commands_refused", "Commands refused or malformed", registry=r)
        self.provider_errors = Counter("telephony_provider_errors", "Failed provider requests", registry=r)
        self.sessions_opened = Counter("telephony_sessions_opened", "Provider sessions opened", registry=r)
        self.sessions_closed = Counter("telephony_sessions_closed", "Provider sessions closed", registry=r)
        self.duplicate_tasks_suppressed = Counter(
            "telephony_duplicate_tasks_suppressed", "ADDs not sent because the provider holds the task", registry=r)
        self.dead_letters = Counter("telephony_dead_letters", "Provider events or commands set aside as unusable",
                                    registry=r)
        self.events_resent = Counter("telephony_events_resent",
                                     "Call events appended again: unconfirmed by a replica, not yet applied",
                                     registry=r)
        self.lost_hangups = Counter("telephony_lost_hangups", "Calls ended for the provider whose end event was lost",
                                    registry=r)
        self.calls_hung_up = Counter("telephony_calls_hung_up", "Calls hung up for exceeding MAX_CALL_SECONDS",
                                     registry=r)
        self.tasks_requeued = Counter("telephony_tasks_requeued", "Dial tasks the provider lost, queued again",
                                      registry=r)
        self.poll_cycles = Counter("telephony_poll_cycles", "Poll intervals in which some poll succeeded", registry=r)
        self.polls = Counter("telephony_polls", "Event polls sent to the provider", registry=r)
        self.throttled = Counter("telephony_provider_throttled", "Provider answers 429 (too many requests)",
                                 registry=r)
        self.leases_held = Gauge("telephony_leases_held", "Operator leases this process holds", registry=r)
        self.leases_taken = Counter("telephony_leases_taken", "Operator leases acquired (a new token each)",
                                    registry=r)
        self.leases_lost = Counter("telephony_leases_lost", "Operator leases found taken or expired", registry=r)
        self.fenced = Counter("telephony_fenced_writes", "Writes refused because the lease moved on (a newer "
                              "fencing token)", registry=r)
        self.last_event_lag = Gauge("telephony_last_event_lag_milliseconds",
                                    "Provider event time to stream append, last event", registry=r)
        self.provider_up = True
        self.provider_up_gauge.set(1)
        self.last_error = ""
        self.last_error_at = 0.0
        self.consecutive_failures = 0
        self.events_total = 0
        self.last_event_lag_ms = 0.0

    def failed(self, exc: ProviderError) -> None:
        self.provider_errors.inc()
        self.last_error, self.last_error_at = str(exc), time.time()
        if exc.status == 429:  # it answers, it only asks us to slow down: not down
            self.throttled.inc()
            return
        if exc.verdict == "retry":
            self.consecutive_failures += 1
            if self.consecutive_failures >= 3 and self.provider_up:
                log.warning("provider marked down: %s", exc)
                self.provider_up = False
                self.provider_up_gauge.set(0)

    def succeeded(self) -> None:
        if not self.provider_up:
            log.info("provider is back")
            self.provider_up_gauge.set(1)
        self.provider_up = True
        self.consecutive_failures = 0

    def appended(self, count: int, lag_ms: float) -> None:
        self.events_appended.inc(count)
        self.events_total += count
        self.last_event_lag_ms = lag_ms
        self.last_event_lag.set(lag_ms)
