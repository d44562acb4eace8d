"""Typed settings, read once from the environment and validated by msgspec at start-up.

One field per variable (the env name is the field name in upper case); its ``Meta`` carries the bounds
msgspec checks and the meaning README prints (``python -m backend.core.settings``), so the code, the
validation and the docs cannot drift apart. A few checks msgspec cannot express (a time zone that
exists, a secret long enough, cross-field rules) follow in ``_CHECKS`` and ``from_env``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def _m(doc: str, *, required: bool = False, hint: str = "", **bounds: Any) -> Meta:
    """The field's bounds (ge/le/pattern, checked by msgspec) and its meaning (printed into README)."""
    meta: Meta = Meta(description=doc, extra={"required": required, "hint": hint}, **bounds)
    return meta


_PG = "must be a URL starting with postgresql:// or postgres://"
_REDIS = "must be a URL starting with redis:// or rediss:// or unix://"
_HTTP = "must be a URL starting with http:// or https://"
_KEY_HINT = "must be at least 32 characters (use a random value, e.g. `openssl rand -hex 32`)"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: Annotated[str, _m(
        "PostgreSQL URL; a primary/standby pair is listed as "
        "`postgresql://h1:5432,h2:5432/db?target_session_attrs=read-write` (the primary is whichever accepts "
        "writes). Unset: the run/test commands start an embedded server and set it.",
        pattern=r"^postgres(ql)?://", required=True, hint=_PG)] = ""
    redis_url: Annotated[str, _m(
        "Redis URL. Unset: the run/test commands start an embedded server and set it.",
        pattern=r"^(redis|rediss|unix)://", required=True, hint=_REDIS)] = ""
    redis_key_prefix: Annotated[str, _m(
        "Prefix of every Redis key, so that several deployments (or test runs) can share one Redis.")] = "tm:"
    host: Annotated[str, _m(
        "Address the web process listens on (the run command uses 127.0.0.1).")] = "0.0.0.0"  # noqa: S104 - a 12-factor web process binds all interfaces
    port: Annotated[int, _m(
        "Port the web process listens on.", ge=1, le=65535)] = 8000
    jwt_secret: Annotated[str, _m(
        "HMAC key that signs access tokens (HS256). Required.", required=True)] = ""
    jwt_issuer: Annotated[str, _m(
        "`iss` claim put in and required of tokens.")] = "telemarketing"
    jwt_audience: Annotated[str, _m(
        "`aud` claim put in and required of tokens.")] = "arm"
    session_idle_timeout: Annotated[int, _m(
        "Seconds without activity after which a session ends; activity and checkAccess(updateExpire) "
        "slide it.", ge=2, le=604800)] = 1800
    session_absolute_timeout: Annotated[int, _m(
        "Seconds after login after which a session ends whatever the activity (a shift).", ge=2, le=2592000)] = 43200
    result_window_seconds: Annotated[int, _m(
        "Seconds an operator has after a call ends to save its result.", ge=1, le=3600)] = 60
    operator_timezone: Annotated[str, _m(
        "Time zone of the dd.MM.yyyy HH:mm times shown to operators.")] = "Europe/Moscow"
    login_max_failures_per_login: Annotated[int, _m(
        "Failed logins for one login name from one address within the window before further attempts from "
        "that address get 429 (an attacker elsewhere cannot lock an operator out of their office).",
        ge=1, le=10000)] = 5
    login_max_failures_per_account: Annotated[int, _m(
        "Failed logins for one login name from all addresses within the window before any further attempt "
        "gets 429 (guessing spread over many addresses).", ge=1, le=100000)] = 50
    login_max_failures_per_address: Annotated[int, _m(
        "Failed logins from one client address within the window before 429 (offices share one address).",
        ge=1, le=100000)] = 100
    login_throttle_window: Annotated[int, _m(
        "Seconds the failed-login counters live.", ge=1, le=86400)] = 900
    password_hash_concurrency: Annotated[int, _m(
        "Argon2 hashes computed at once per process (each takes 19 MiB and one core for ~20 ms).", ge=1, le=64)] = 2
    max_request_body_bytes: Annotated[int, _m(
        "Largest accepted request body; larger gets 413.", ge=1024, le=67108864)] = 1048576
    db_pool_min_size: Annotated[int, _m(
        "Connections each process keeps open.", ge=0, le=100)] = 1
    db_pool_max_size: Annotated[int, _m(
        "Most connections one process opens.", ge=1, le=500)] = 10
    dependency_timeout: Annotated[float, _m(
        "Seconds to wait for a PostgreSQL/Redis connection before answering 503.", ge=0.1, le=60)] = 3.0
    trusted_proxies: Annotated[tuple[str, ...], _m(
        "Comma-separated addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed; "
        "empty: the header is ignored and the peer address is the client's.")] = ()
    permissions_max_age_seconds: Annotated[float, _m(
        "How long a web process trusts its cached role permissions when it cannot read their version in Redis; "
        "with Redis up a change reaches every process at its next guarded request.", ge=0.1, le=300)] = 2.0
    allowed_origins: Annotated[tuple[str, ...], _m(
        "Comma-separated browser origins allowed besides the server's own (CORS and WebSocket Origin).")] = ()
    log_level: Annotated[str, _m(
        "How much every process logs.", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
        hint="must be one of DEBUG, INFO, WARNING, ERROR")] = "INFO"
    telephony_webhook_secret: Annotated[str, _m(
        "Shared HMAC-SHA256 key of POST /api/telephony/v1/events; unset: that endpoint answers 503.")] = ""
    telephony_webhook_tolerance: Annotated[int, _m(
        "Seconds a signed telephony request's timestamp may differ from ours (replay window).", ge=1, le=3600)] = 300
    ws_implementation: Annotated[str, _m(
        "Uvicorn's WebSocket implementation: `lean` (its `websockets-sansio` holding less per idle socket: "
        "backend/web.py), `websockets-sansio`, `websockets` (legacy, a reader task per socket) or `wsproto` "
        "(README, Performance: each one's memory per idle socket).",
        pattern=r"^(lean|websockets-sansio|websockets|wsproto)$",
        hint="must be lean, websockets-sansio, websockets or wsproto")] = "lean"
    ws_heartbeat_seconds: Annotated[float, _m(
        "Seconds between WebSocket PINGs; a socket silent for three of them is closed.", ge=0.5, le=300)] = 15.0
    ws_max_sockets_per_operator: Annotated[int, _m(
        "Open workstation sockets one operator may hold on one web process (tabs); one more is refused "
        "with close code 4429.", ge=1, le=100)] = 5
    presence_grace_seconds: Annotated[float, _m(
        "Seconds an operator may have no open workstation socket (on any web process) nor hasChanges poll "
        "before READY or PAUSED becomes AWAY and telephony reports them BUSY; login and setReady grant one such "
        "period.",
        ge=1, le=3600)] = 45.0
    event_retention_hours: Annotated[int, _m(
        "Hours operator events are kept for resuming; an older lastSeq is told to resync.", ge=1, le=2160)] = 72
    session_retention_days: Annotated[int, _m(
        "Days ended sessions (logged out, revoked or expired; they hold addresses and user agents) are kept.",
        ge=1, le=3650)] = 30
    call_event_retention_days: Annotated[int, _m(
        "Days applied call events (idempotency records with the client's phone) are kept.", ge=1, le=3650)] = 30
    stream_retention_hours: Annotated[int, _m(
        "Hours entries of the call-event and telephony-command Redis Streams are kept (never an entry a "
        "consumer group has not acknowledged).", ge=1, le=8760)] = 24
    dead_letter_retention_days: Annotated[int, _m(
        "Days dead letters (table dead_letters) are kept for investigation.", ge=1, le=3650)] = 14
    housekeeping_interval_seconds: Annotated[float, _m(
        "Seconds between the worker's pruning passes (one worker at a time, under a leader lock in Redis).",
        ge=0.1, le=86400)] = 600.0
    housekeeping_lock_seconds: Annotated[float, _m(
        "Seconds the housekeeping leader lock lives unless its holder renews it: a dead leader's successor "
        "takes over within this time.", ge=1, le=3600)] = 60.0
    provider_url: Annotated[str, _m(
        "Base URL of the telephony provider's API (the telephony process needs it; the run command "
        "starts the simulator and sets it).", pattern=r"^https?://", hint=_HTTP)] = ""
    provider_api_key: Annotated[str, _m(
        "Sent to the provider as X-Api-Key when set.")] = ""
    provider_timeout: Annotated[float, _m(
        "Seconds before a provider request counts as failed (and is retried).", ge=0.1, le=120)] = 5.0
    metrics_token: Annotated[str, _m(
        "Bearer token that GET /metrics of a web process asks for (Prometheus' `authorization` credentials); "
        "unset: the web processes serve no /metrics (404).")] = ""
    worker_metrics_port: Annotated[int, _m(
        "Port of a worker's /metrics (Prometheus text, on WORKER_METRICS_HOST; one per worker on a host); "
        "0: not served.",
        ge=0, le=65535)] = 0
    worker_metrics_host: Annotated[str, _m(
        "Address a worker's /metrics listens on. It asks for no token (with PROMETHEUS_MULTIPROC_DIR it also "
        "serves the web processes' figures), so it stays on loopback unless the scraper is elsewhere.")] = \
        "127.0.0.1"
    telephony_port: Annotated[int, _m(
        "Port of the telephony process's /health and /metrics.", ge=1, le=65535)] = 8010
    poll_interval_seconds: Annotated[float, _m(
        "How often the telephony process polls each active operator's provider events (each operator at "
        "its own phase of the interval, so the load is flat).", ge=0.05, le=60)] = 0.5
    poll_concurrency: Annotated[int, _m(
        "Keep-alive connections to the provider, i.e. provider requests in flight at once (polls, "
        "availability and commands share them); needs at least polls/s x the provider's answer time.",
        ge=1, le=1000)] = 50
    provider_rate_limit: Annotated[float, _m(
        "Most provider requests per second from one telephony process; 0: no cap. Past it requests wait "
        "their turn, so a large floor is polled less often instead of overloading the provider.",
        ge=0, le=100000)] = 0.0
    campaign_engine_interval: Annotated[float, _m(
        "Seconds between the worker's passes that hand due campaign tasks to telephony.", ge=0.1, le=3600)] = 1.0
    command_concurrency: Annotated[int, _m(
        "Commands (ADD/DELETE task, open/close session) the telephony process carries out at once; one that "
        "keeps failing never blocks the others.", ge=1, le=1000)] = 16
    call_event_concurrency: Annotated[int, _m(
        "Call events a worker applies at once (of different operators; never more than DB_POOL_MAX_SIZE - 2, so "
        "its other loops keep connections). A burst beyond it waits its turn on warm connections instead of "
        "opening new ones: each new connection costs ~5 ms of CPU and its first statements ~1.5 ms each (issue "
        "16: that growth, mid-burst, was the screen pop's latency episode).", ge=1, le=100)] = 6
    stream_claim_idle_seconds: Annotated[float, _m(
        "Seconds a stream entry may stay unacknowledged by a consumer before another consumer takes it over "
        "(a consumer that died mid-entry).", ge=0.5, le=3600)] = 10.0
    call_check_seconds: Annotated[float, _m(
        "A call still on after this many seconds is checked with the provider every this many seconds: a "
        "lost hang-up is noticed within it.", ge=1, le=3600)] = 60.0
    task_check_seconds: Annotated[float, _m(
        "A dial task the provider accepted is checked with it every this many seconds; one it lost (e.g. in a "
        "restart) is queued again.", ge=5, le=86400)] = 60.0
    max_call_seconds: Annotated[float, _m(
        "Longest call: the telephony process hangs up a call that is still on after this many seconds.",
        ge=1, le=86400)] = 3600.0
    # -- telephony scale-out (issue 18): operators shared by leases ---------------------------------------
    telephony_lease_seconds: Annotated[float, _m(
        "Seconds an operator's lease lives unless its telephony process renews it (every third of it): a dead "
        "process's operators are polled by another within about this time plus one renewal.",
        ge=0.5, le=300)] = 3.0
    telephony_lease_slack: Annotated[int, _m(
        "Leases a telephony process may hold above its even share, ceil(operators / live processes), before "
        "it hands the excess back (so processes do not pass operators to and fro).", ge=0, le=10000)] = 1
    leads_dir: Annotated[str, _m(
        "Base folder of lead intake: one folder per stream (with success/ and error/ beside the incoming files), "
        "and .uploads/ for files sent over HTTP; web and worker processes must see the same folder. Unset: no "
        "folder intake and no uploads (the run command uses .data/leads).")] = ""
    leads_streams: Annotated[tuple[str, ...], _m(
        "Comma-separated lead streams as NAME=folder (a folder under LEADS_DIR).")] = (
        "MOBILE_LOANS=mobile_loans", "POS_REJECT=pos_reject")
    leads_import_valid_rows: Annotated[tuple[str, ...], _m(
        "Comma-separated streams whose files with bad rows still import their valid rows (the bad ones are "
        "reported); other streams reject such a file whole, as the seed says.")] = ()
    leads_product_types: Annotated[tuple[str, ...], _m(
        "Comma-separated product types (column 4.3) format control accepts.")] = (
        "express", "consumer", "overdraft", "securedByCar", "onlineCreditTransfer", "webExpress")
    leads_poll_seconds: Annotated[float, _m(
        "Seconds between the worker's looks into the stream folders and at queued uploads.", ge=0.05, le=3600)] = 2.0
    leads_stable_seconds: Annotated[float, _m(
        "Seconds a file must stay unchanged (size and modification time) before it is imported; files named "
        "*.part or *.tmp are never picked up.", ge=0, le=3600)] = 2.0
    leads_max_file_bytes: Annotated[int, _m(
        "Largest lead file imported; a larger one is rejected whole.", ge=1024, le=1099511627776)] = 1073741824
    leads_upload_max_bytes: Annotated[int, _m(
        "Largest lead file accepted by POST /api/admin/v1/lead-imports (413 beyond it).", ge=1024,
        le=1099511627776)] = 104857600
    leads_batch_rows: Annotated[int, _m(
        "Rows checked and written (COPY) per batch; memory grows with it.", ge=100, le=1000000)] = 20000
    leads_max_line_bytes: Annotated[int, _m(
        "Longest line of a lead file; a longer one is a bad row (and is never held in memory whole).",
        ge=1024, le=16777216)] = 65536
    leads_max_reported_errors: Annotated[int, _m(
        "Bad values listed in one error report; the report says how many more there were.", ge=1,
        le=100000000)] = 1000000
    # --- Integrations (issue 13): the BlackList, ML, products and client-data services the cascade asks ---
    integrations_url: Annotated[str, _m(
        "Base URL of the integration services (BlackList /blacklist, ML /ml, products /products, client data "
        "/client-data under it). Unset: the integration filters answer ERROR (the run command starts the "
        "simulator and sets it).", pattern=r"^https?://", hint=_HTTP)] = ""
    integration_timeout_seconds: Annotated[float, _m(
        "Seconds before one try of an integration request counts as failed (and is tried again while "
        "INTEGRATION_ATTEMPTS last).", ge=0.05, le=120)] = 2.0
    integration_attempts: Annotated[int, _m(
        "Tries of one integration request on a timeout, a connection error, 429 or 5xx (the retry policy's "
        "jittered backoff between them); then the leads get Check ERROR.", ge=1, le=10)] = 3
    integration_concurrency: Annotated[int, _m(
        "Requests in flight at once to each integration service (also its keep-alive connections).",
        ge=1, le=1000)] = 64
    integration_batch_size: Annotated[int, _m(
        "Leads per request to a service's batch endpoint; 0: one request per lead (services without a batch "
        "endpoint).", ge=0, le=10000)] = 200
    integration_breaker_failures: Annotated[int, _m(
        "Consecutive failed tries (each retry counts; a timeout, connection error, 429, 5xx or garbage answer) "
        "that open one service's circuit breaker: while open, nothing is sent to it and its checks answer "
        "ERROR CIRCUIT_OPEN.", ge=1, le=10000)] = 5
    integration_breaker_reset_seconds: Annotated[float, _m(
        "Seconds an open breaker waits before letting one trial request through (half-open): success closes "
        "it, failure opens it again.", ge=0.05, le=3600)] = 10.0
    # --- Campaign rules (issue 13): the filter cascade, recalls, do-not-call import, stale clients ---
    cascade_poll_seconds: Annotated[float, _m(
        "Seconds between the worker's looks for done lead imports to run through the campaigns' cascades.",
        ge=0.05, le=3600)] = 2.0
    cascade_batch_size: Annotated[int, _m(
        "Lead snapshots decided and written (paths by COPY, tasks, counts, cursor) per transaction.",
        ge=1, le=100000)] = 5000
    cascade_pipeline: Annotated[int, _m(
        "Batches of one run decided at once (their integration calls overlap); written one after another in "
        "line order.", ge=1, le=16)] = 3
    cascade_lease_seconds: Annotated[float, _m(
        "Seconds a worker's claim on a cascade run lasts without progress; then another worker takes it over "
        "from the run's cursor.", ge=1, le=86400)] = 60.0
    cascade_max_attempts: Annotated[int, _m(
        "Tries of one cascade batch whose non-ML integration gave no answer; the last records those leads as "
        "ERROR paths instead of waiting again.", ge=1, le=1000)] = 8
    cascade_retry_scale: Annotated[float, _m(
        "Multiplier of the shared backoff (0.2 s doubling to 5 s) between tries of such a batch.",
        ge=0.01, le=3600)] = 12.0
    cascade_streams: Annotated[tuple[str, ...], _m(
        "Comma-separated lead streams whose imports this worker runs through the cascades; empty: all (set it "
        "to give a heavy stream workers of its own).")] = ()
    cascade_lookback_hours: Annotated[int, _m(
        "Done imports finished within this many hours are matched with campaigns (a run per import and "
        "campaign); older ones are never cascaded again.", ge=1, le=87600)] = 168
    stale_campaign_id: Annotated[int, _m(
        "Campaign that gets a task for each stale client (seed 004); 0: the stale-client job is off.",
        ge=0, le=2**63 - 1)] = 0
    stale_days: Annotated[int, _m(
        "Days an application must stay in the same status since its last significant change to be stale.",
        ge=1, le=3650)] = 7
    stale_statuses: Annotated[tuple[str, ...], _m(
        "Comma-separated application statuses (column 1.6) in which a client can be stale.")] = (
        "registered", "scored")
    stale_run_at: Annotated[str, _m(
        "Time of day (HH:MM, OPERATOR_TIMEZONE) the daily stale-client job runs.",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", hint="must be HH:MM")] = "09:00"
    stale_lock_seconds: Annotated[float, _m(
        "Seconds the stale-client job's leader lock lives without renewal (one worker runs the job).",
        ge=1, le=3600)] = 60.0

    # -- High availability and scale-out (issue 18): Redis Sentinel, PostgreSQL replica --------------------
    redis_sentinels: Annotated[tuple[str, ...], _m(
        "Comma-separated host:port of Redis Sentinels; set: every process finds the Redis primary through them "
        "and follows a failover (REDIS_URL's database number, user and password still apply, its host does "
        "not). Empty: REDIS_URL is the one server.")] = ()
    redis_sentinel_master: Annotated[str, _m(
        "Name the Sentinels monitor the Redis primary under (`sentinel monitor <name> ...`).",
        pattern=r"^[A-Za-z0-9._-]{1,64}$", hint="must be 1 to 64 letters, digits, '.', '_' or '-'")] = "tm"
    redis_wait_replicas: Annotated[int, _m(
        "With REDIS_SENTINELS: replicas that must confirm (Redis WAIT) a call event appended to the stream "
        "before the telephony process moves its provider cursor past it, so a failover loses no call event; "
        "0: do not wait. A replica that does not confirm within half of DEPENDENCY_TIMEOUT is logged and appends "
        "are not waited for during the next 10 s (a lone primary keeps working); the unconfirmed events hold the "
        "saved cursor back and are appended again until a worker has applied them.",
        ge=0, le=10)] = 1
    database_replica_url: Annotated[str, _m(
        "PostgreSQL URL of a read replica for reports; unset: they read the primary (DATABASE_URL).",
        pattern=r"^postgres(ql)?://", hint=_PG)] = ""

    # -- Reports (issue 17): the hourly aggregate, the daily summary and its e-mail ------------------------
    reports_refresh_seconds: Annotated[float, _m(
        "Seconds between the worker's passes over changed communications into the report aggregate (one "
        "worker at a time, under a leader lock); reports lag the calls by at most this.", ge=0.2, le=3600)] = 10.0
    reports_refresh_margin_seconds: Annotated[float, _m(
        "Each aggregate pass re-reads communications changed this many seconds before its watermark (a "
        "transaction that committed late carries an older updated_at).", ge=0, le=86400)] = 300.0
    reports_refresh_batch: Annotated[int, _m(
        "Changed communications one aggregate slice takes (a big backlog goes in slices).",
        ge=100, le=10_000_000)] = 50_000
    reports_summary_at: Annotated[str, _m(
        "Time of day (HH:MM, OPERATOR_TIMEZONE) after which the worker builds and sends yesterday's summary.",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", hint="must be HH:MM")] = "07:00"
    reports_summary_attempts: Annotated[int, _m(
        "Times a daily summary's sending is tried (once per worker pass) before it is left unsent.",
        ge=1, le=1000)] = 10
    smtp_host: Annotated[str, _m(
        "SMTP server the daily summary is mailed through; unset: summaries are only saved (GET "
        "/api/reports/v1/daily-summaries).")] = ""
    smtp_port: Annotated[int, _m("SMTP server port.", ge=1, le=65535)] = 25
    smtp_starttls: Annotated[bool, _m("Upgrade the SMTP connection with STARTTLS before logging in.")] = False
    smtp_username: Annotated[str, _m("SMTP login; unset: no AUTH.")] = ""
    smtp_password: Annotated[str, _m("SMTP password (with SMTP_USERNAME).")] = ""
    smtp_from: Annotated[str, _m("From: address of the daily summary.")] = "reports@localhost"
    smtp_to: Annotated[tuple[str, ...], _m("Comma-separated recipients of the daily summary.")] = ()
    smtp_timeout_seconds: Annotated[float, _m(
        "Seconds an SMTP conversation may take before the send counts as failed.", ge=0.1, le=600)] = 20.0

    # -- Supervision (issue 14): the live floor pushed to supervisors -------------------------------------
    supervisor_tick_seconds: Annotated[float, _m(
        "Seconds between the floor computer's sweeps of operator states (a state change that sends no "
        "operator event, e.g. a login, and the alerts' clocks); operator events wake it at once.",
        ge=0.05, le=10)] = 0.5
    supervisor_publish_seconds: Annotated[float, _m(
        "Least seconds between two floor deltas: changes that come within it go out together in one, so a busy "
        "floor sends each supervisor socket a few frames a second instead of one per event (issue 14: 50 "
        "supervisors must not slow the operators' screen pop); the floor is at most this much later.",
        ge=0.02, le=1)] = 0.25
    supervisor_campaign_refresh_seconds: Annotated[float, _m(
        "Seconds between refreshes of the campaign tiles and the error counts (one aggregate query each, "
        "whatever the number of supervisors).", ge=0.2, le=300)] = 1.0
    supervisor_dial_rate_minutes: Annotated[int, _m(
        "Minutes of dialling the recent dial rate (and so a campaign's run-dry estimate) is measured over.",
        ge=1, le=1440)] = 10
    supervisor_alert_long_call_seconds: Annotated[int, _m(
        "An operator on one call longer than this is an alert.", ge=1, le=86400)] = 600
    supervisor_alert_wrap_up_seconds: Annotated[int, _m(
        "Seconds past the end of the result window an operator may still be in wrap-up before it is an alert "
        "(the worker closes an expired window within a fraction of a second, so an alert means it is stuck; "
        "0: at once).", ge=0, le=3600)] = 5
    supervisor_alert_long_pause_seconds: Annotated[int, _m(
        "An operator paused longer than this is an alert.", ge=1, le=86400)] = 900
    supervisor_rework_idle_seconds: Annotated[int, _m(
        "A ready or paused operator shows as in rework on the supervisors' floor for this long after opening a "
        "rework card or saving its draft (fixing its result ends it at once).", ge=5, le=86400)] = 300
    supervisor_alert_errors_per_minute: Annotated[int, _m(
        "Telephony and integration errors (dead letters, failed dial tasks) in the last minute at or above "
        "which an alert is raised; it clears when the count falls below.", ge=1, le=1000000)] = 10
    supervisor_delta_history: Annotated[int, _m(
        "Floor deltas kept in Redis for supervisors resuming from a seq; an older lastSeq gets a RESYNC "
        "with a snapshot.", ge=10, le=1000000)] = 2000
    exchange_poll_seconds: Annotated[float, _m(
        "Seconds between a worker's looks for outcome pushes due for delivery (and exchange tasks past their "
        "validity).", ge=0.05, le=60)] = 0.5
    exchange_push_timeout_seconds: Annotated[float, _m(
        "Seconds a push receiver has to answer one delivery attempt; no answer counts as a failure.",
        ge=0.1, le=120)] = 5.0
    exchange_push_lease_seconds: Annotated[float, _m(
        "Seconds a worker's claim on a push lasts (more than the push timeout): a worker that died while "
        "delivering leaves its pushes to another worker after this.", ge=0.5, le=3600)] = 30.0
    exchange_retry_max_seconds: Annotated[float, _m(
        "Longest wait between two delivery attempts of one push (the backoff doubles from 1 s up to this, "
        "with jitter).", ge=1, le=86400)] = 300.0
    exchange_push_max_age_seconds: Annotated[int, _m(
        "Seconds after which a push still not answered with 2xx is marked FAILED (admins may re-send it).",
        ge=1, le=2592000)] = 86400
    exchange_key_cache_seconds: Annotated[float, _m(
        "Seconds a web process remembers a checked integration API key (0: look it up on every request); a "
        "revoked key stops working within this time.", ge=0, le=300)] = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = ()) -> Settings:
        """Parse every field; a required-but-missing or malformed one raises SettingsError naming it.

        ``require`` lists the variables this process needs (the web needs DATABASE_URL, REDIS_URL and
        JWT_SECRET; the migrator only DATABASE_URL): an unneeded unset one stays empty."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (kind, meta) in _fields().items():
            var = name.upper()
            raw = env.get(var, "")
            if raw == "":
                if var in require:
                    raise SettingsError(f"{var} is not set: {meta.description}")
                continue
            values[name] = _parse(var, kind, meta, raw)
        settings = cls(**values)
        if settings.db_pool_min_size > settings.db_pool_max_size:
            raise SettingsError("DB_POOL_MIN_SIZE is invalid: must not exceed DB_POOL_MAX_SIZE")
        if settings.session_idle_timeout > settings.session_absolute_timeout:
            raise SettingsError("SESSION_IDLE_TIMEOUT is invalid: must not exceed SESSION_ABSOLUTE_TIMEOUT")
        if settings.redis_sentinels and not settings.redis_url.startswith("redis://"):
            raise SettingsError("REDIS_URL is invalid: with REDIS_SENTINELS it must be redis:// (plain TCP: "
                                "keep Redis and its Sentinels on a private network)")
        names = {item.split("=", 1)[0] for item in settings.leads_streams}
        if unknown := [n for n in settings.leads_import_valid_rows if n not in names]:
            raise SettingsError(f"LEADS_IMPORT_VALID_ROWS is invalid: {', '.join(unknown)} not in LEADS_STREAMS")
        return settings


def _zone(raw: str) -> None:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Moscow") from None


def _secret(raw: str) -> None:
    if len(raw) < 32:
        raise ValueError(_KEY_HINT)


_STREAM = re.compile(r"^[A-Z][A-Z0-9_]{0,63}=[a-z0-9_][a-z0-9_.-]{0,63}$")


def _streams(raw: tuple[str, ...]) -> None:
    names: set[str] = set()
    folders: set[str] = set()
    for item in raw:
        if not _STREAM.match(item):
            raise ValueError(f"{item!r} must look like MOBILE_LOANS=mobile_loans (NAME=folder)")
        name, folder = item.split("=", 1)
        if folder in ("success", "error") or name in names or folder in folders:
            raise ValueError(f"{item!r}: stream names and folders must be unique, folders not success/error")
        names.add(name)
        folders.add(folder)
    if not raw:
        raise ValueError("at least one stream is needed")


def _networks(raw: tuple[str, ...]) -> None:
    for item in raw:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None


def _host_ports(raw: tuple[str, ...]) -> None:
    for item in raw:
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{item!r} must look like host:port (e.g. 10.0.0.7:26379)")


# What msgspec's constraints cannot say.
_CHECKS: dict[str, Callable[[Any], None]] = {
    "operator_timezone": _zone, "jwt_secret": _secret, "telephony_webhook_secret": _secret,
    "trusted_proxies": _networks, "leads_streams": _streams, "redis_sentinels": _host_ports,
}


def _fields() -> dict[str, tuple[Any, Meta]]:
    hints = typing.get_type_hints(Settings, include_extras=True)
    return {name: (hint, next(m for m in hint.__metadata__ if isinstance(m, Meta))) for name, hint in hints.items()}


def _parse(var: str, kind: Any, meta: Meta, raw: str) -> Any:
    value: Any = raw.upper() if var == "LOG_LEVEL" else raw
    if typing.get_origin(kind.__origin__) is tuple:
        value = [part.strip() for part in raw.split(",") if part.strip()]
    try:
        parsed = msgspec.convert(value, kind, strict=False)
        if (check := _CHECKS.get(var.lower())) is not None:
            check(parsed)
        return parsed
    except (msgspec.ValidationError, ValueError) as exc:
        reason = str(exc)
        if reason.startswith("Expected `"):
            if meta.ge is not None and meta.le is not None and "got `str`" not in reason:
                reason = f"must be between {_num(meta.ge)} and {_num(meta.le)}"
            elif "got `str`" in reason:
                reason = "must be a number"
            else:
                reason = (meta.extra or {}).get("hint") or reason
        raise SettingsError(f"{var}={_shown(var, raw)} is invalid: {reason}") from None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


WEB_REQUIRES = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET")


def _shown(var: str, raw: str) -> str:
    """Never echo secrets or credentials embedded in URLs into logs."""
    if var.endswith("_SECRET"):
        return "<hidden>"
    if var.endswith("_URL"):
        parts = urlsplit(raw)
        if parts.password:
            return raw.replace(parts.password, "***")
    return raw


def load_or_exit(require: tuple[str, ...] = WEB_REQUIRES) -> Settings:
    """Entry points call this: a bad setting prints one clear line and exits with status 2."""
    try:
        return Settings.from_env(require=require)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def markdown_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    defaults = Settings()
    for name, (_, meta) in _fields().items():
        var, default = name.upper(), getattr(defaults, name)
        if (meta.extra or {}).get("required"):
            shown = "(required)"
        elif isinstance(default, tuple):
            shown = f"`{','.join(default)}`" if default else "(empty)"
        elif default == "":
            shown = "(unset)"
        else:
            shown = f"`{_num(default) if isinstance(default, float) else default}`"
        limits = _limits(name, meta)
        rows.append(f"| `{var}` | {shown} | {meta.description}{f' *Limits:* {limits}.' if limits else ''} |")
    return "\n".join(rows)


# The rules of _CHECKS and from_env, as README states them.
_CHECK_TEXT = {
    "jwt_secret": "at least 32 characters", "telephony_webhook_secret": "at least 32 characters when set",
    "operator_timezone": "an IANA time zone name such as Europe/Moscow",
    "db_pool_min_size": "at most DB_POOL_MAX_SIZE", "session_idle_timeout": "at most SESSION_ABSOLUTE_TIMEOUT",
    "trusted_proxies": "each an IP address or network such as 10.0.0.0/8",
    "redis_sentinels": "each host:port; REDIS_URL then redis://",
}


def _limits(name: str, meta: Meta) -> str:
    """The field's bounds in words: ge/le, the pattern (or its hint), and the checks msgspec cannot express."""
    parts: list[str] = []
    if meta.ge is not None and meta.le is not None:
        parts.append(f"{_num(meta.ge)} to {_num(meta.le)}")
    elif meta.ge is not None:
        parts.append(f"at least {_num(meta.ge)}")
    elif meta.le is not None:
        parts.append(f"at most {_num(meta.le)}")
    if meta.pattern is not None:
        hint = str((meta.extra or {}).get("hint") or "")
        parts.append(hint.removeprefix("must be ") if hint else f"matches `{meta.pattern}`")
    if name in _CHECK_TEXT:
        parts.append(_CHECK_TEXT[name])
    return "; ".join(parts)


if __name__ == "__main__":
    print(markdown_table())
