"""The invariant checker: after the drain, PostgreSQL, the simulator's state and what the bots were told and
shown. Each invariant is a name, a violation count and a few examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tests.faults.bots import Bot
from tests.faults.traffic import ML_REJECT_RATE, Floor, LeadFile


@dataclass
class Invariant:
    name: str
    violations: int | None  # None: not applicable here (printed "n/a")
    checked: int
    examples: list[str] = field(default_factory=list)
    note: str = ""


async def check(db: asyncpg.Pool, sim_state: dict[str, Any], bots: list[Bot], task_ids: list[int],
                files: list[LeadFile], floor: Floor | None = None,
                answered: dict[str, list[Any]] | None = None) -> list[Invariant]:
    out: list[Invariant] = []
    ours = {str(t) for t in task_ids}
    calls = {c["callId"]: c for c in sim_state["calls"] if c["externalId"] in ours}
    live = {c["callId"] for c in sim_state["calls"] if c["status"] == "IN_PROGRESS"}
    comms = Counter(r["call_id"] for r in await db.fetch("SELECT call_id FROM communications"))
    bad = [f"{c}: {comms[c]} communications" for c in calls if comms[c] != 1]
    stray = [c for c in comms if c is not None and c not in {x["callId"] for x in sim_state["calls"]}]
    out.append(Invariant("every provider call event → exactly one communication", len(bad) + len(stray), len(calls),
                         bad[:5] + [f"communication of unknown call {c}" for c in stray[:5]]))

    rows = await db.fetch("SELECT id, operator_id, call_id, state, result_deadline FROM communications "
                          "WHERE state = 'NEW'")
    out.append(Invariant("every communication FIXED or in rework (none NEW after the drain)", len(rows),
                         sum(comms.values()), [f"{r['id']} ({r['call_id']}, op {r['operator_id']}, deadline "
                                               f"{r['result_deadline']})" for r in rows[:5]]))

    rows = await db.fetch("""SELECT s.operator_id, c.call_id FROM operator_states s
                               LEFT JOIN communications c ON c.id = s.communication_id WHERE s.state = 'ON_CALL'""")
    stranded = [f"op {r['operator_id']} ({r['call_id']})" for r in rows if r["call_id"] not in live]
    out.append(Invariant("no operator ON_CALL without a live provider call", len(stranded), len(bots), stranded[:5]))

    # What the server said it saved is what it holds: the last result, else the last draft and its version.
    saved = {cid: (bot, s) for bot in bots for cid, s in bot.saved.items() if s.drafts or s.result}
    held = {r["id"]: r for r in await db.fetch(
        "SELECT id, operator_id, state, result_details, draft_version FROM communications WHERE id = ANY($1)",
        list(saved))}
    history = {(r["communication_id"], r["kind"], _words(r["details"])) for r in await db.fetch(
        "SELECT communication_id, kind, details FROM communication_result_versions WHERE communication_id = ANY($1)",
        list(saved))}
    lost, told = [], 0
    for cid, (_bot, s) in saved.items():
        row = held.get(cid)
        told += len(s.drafts) + (s.result is not None)
        if row is None:
            lost.append(f"{cid}: no communication")
            continue
        details = _words(row["result_details"])
        if s.result is not None:
            if row["state"] != "FIXED" or details != _words(s.result):
                lost.append(f"{cid}: result told saved, holds {row['state']} {dict(details)}")
        else:
            version, words = max(s.drafts, key=lambda d: d[0])
            if row["draft_version"] != version or details != _words(words):
                lost.append(f"{cid}: draft v{version} told saved, holds v{row['draft_version']} {dict(details)}")
        lost += [f"{cid}: draft v{v} missing from the history" for v, w in s.drafts
                 if (cid, "DRAFT", _words(w)) not in history]
    out.append(Invariant("every draft/result told saved is readable with its latest version", len(lost), told,
                         lost[:5]))

    # Frames: for each operator, the events after its first watermark as PostgreSQL holds them, against what
    # its sockets were pushed: none missing, none different, none of another operator's communication.
    owner = {r["id"]: r["operator_id"] for r in await db.fetch("SELECT id, operator_id FROM communications")}
    wrong, missing, gaps, frames = [], [], 0, 0
    for bot in bots:
        gaps += bot.gaps + bot.resyncs
        frames += len(bot.seqs)
        if bot.foreign:
            wrong.append(f"{bot.login}: HELLO_OK for another operator x{bot.foreign}")
        events = {r["seq"]: (r["event_type"], r["cid"]) for r in await db.fetch(
            """SELECT seq, event_type, (data->>'communicationId')::bigint AS cid FROM operator_events
                WHERE operator_id = $1 AND seq > $2""", bot.operator_id, bot.first_seq or 0)}
        for seq, (kind, cid) in bot.seqs.items():
            if cid is not None and owner.get(cid) != bot.operator_id:
                wrong.append(f"{bot.login} seq {seq}: {kind} of communication {cid} (operator {owner.get(cid)})")
            elif events.get(seq, (kind, cid)) != (kind, cid):
                wrong.append(f"{bot.login} seq {seq}: pushed {kind} {cid}, stored {events[seq]}")
        missing += [f"{bot.login} seq {s} {events[s][0]}" for s in sorted(events) if s not in bot.seqs]
    out.append(Invariant("no card delivered to the wrong operator", len(wrong), frames, wrong[:5]))
    out.append(Invariant("per-operator sequence gaps after resume (and events never pushed)", gaps + len(missing),
                         frames, missing[:5], note=f"{gaps} gaps/resyncs seen by the bots, {len(missing)} events "
                                                      "stored but never pushed"))

    per_task = Counter(c["externalId"] for c in calls.values())
    twice = [f"campaign task {k}: {n} calls" for k, n in per_task.items() if n > 1]
    ptasks = Counter((t["externalId"], t["taskId"].split("-")[1]) for t in sim_state["tasks"]
                     if t["externalId"] in ours)
    queued_twice = sum(n > 1 for n in ptasks.values())
    out.append(Invariant("no client dialled twice for one task", len(twice), len(per_task), twice[:5],
                         note=f"{queued_twice} campaign tasks with >1 provider task"))
    out.append(await _no_dial_to_dnc(db, sim_state))

    imports = await db.fetch("SELECT id, content_hash, state, reason, rows_accepted FROM lead_imports")
    by_hash: dict[str, list[Any]] = {}
    for r in imports:
        by_hash.setdefault(r["content_hash"], []).append(r)
    wrong_files = []
    for f in files:
        done = [r for r in by_hash.get(f.sha256, []) if r["state"] == "done"]
        if len(done) != 1 or done[0]["rows_accepted"] != f.rows:
            states = [(r["id"], r["state"], r["reason"], r["rows_accepted"]) for r in by_hash.get(f.sha256, [])]
            wrong_files.append(f"{f.name} ({f.via}): {states}")
    unfinished = [f"import {r['id']} {r['state']}" for r in imports if r["state"] in ("queued", "importing")]
    out.append(Invariant("every imported file imported exactly once", len(wrong_files) + len(unfinished),
                         len(files), (wrong_files + unfinished)[:5]))
    if floor is not None and floor.lead_campaigns:
        out += await _leads_decided(db, floor, answered or {})
    return out


async def _no_dial_to_dnc(db: asyncpg.Pool, sim_state: dict[str, Any]) -> Invariant:
    """No hand-over that began after a phone's do-not-call entry committed sent the phone to the provider.

    The rule, precisely: C = the commit time of the entry (PostgreSQL's commit timestamp of the row,
    ``track_commit_timestamp=on`` on the run's cluster); each task the provider holds for the phone carries in
    its Idempotency-Key H = telephony_tasks.created_at, the start of the hand-over transaction that dialled it.
    That transaction checks the list (rules.queries.dial_bars) after H under READ COMMITTED, so it sees every
    entry committed before H: H > C is a violation. H < C is a dial already decided when the entry was not yet
    committed — allowed, and counted apart when the provider got it or rang it after C (the entry's transaction
    withdraws a task already handed over, but its DELETE reaches the provider a command's trip later, or at the
    outbox's resend when Redis or telephony was down, and a call may be rung in between)."""
    from datetime import UTC, datetime

    tracked = await db.fetchval("SHOW track_commit_timestamp") == "on"
    rows = await db.fetch(
        "SELECT phone, created_at, pg_xact_commit_timestamp(xmin) AS committed FROM do_not_call" if tracked
        else "SELECT phone, created_at, NULL::timestamptz AS committed FROM do_not_call")
    exact = tracked and all(r["committed"] is not None for r in rows)
    entered = {r["phone"]: (r["committed"] or r["created_at"]).timestamp() for r in rows}
    # Without commit timestamps (a server without track_commit_timestamp) the insert time stands in, and a
    # hand-over within a second after it is given the benefit of the doubt.
    slack = 0.0 if exact else 1.0
    received: dict[str, float] = {}
    for r in sim_state.get("addRequests", []):
        key = (r.get("headers") or {}).get("Idempotency-Key")
        if key:
            received.setdefault(key, r["at"])
    started = {c["taskId"]: datetime.fromisoformat(c["startedAt"]).astimezone(UTC).timestamp()
               for c in sim_state["calls"]}
    bad, late_add, late_call, dials = [], 0, 0, 0
    for t in sim_state["tasks"]:
        c = entered.get(t["phone"])
        if c is None:
            continue
        dials += 1
        key = t.get("idempotencyKey") or ""
        try:
            handed_over = int(key.split("-")[2]) / 1e6
        except (IndexError, ValueError):
            bad.append(f"provider task {t['taskId']} for {t['phone']}: no hand-over key ({key!r})")
            continue
        if handed_over > c + slack:
            bad.append(f"{t['phone']}: handed over {handed_over - c:.3f} s after its do-not-call entry committed "
                       f"(provider task {t['taskId']}, {key})")
            continue
        late_add += received.get(key, 0.0) > c
        late_call += started.get(t["taskId"], 0.0) > c
    note = (f"{len(rows)} entries, {dials} provider tasks of their phones; handed over before the commit but "
            f"received by the provider after it {late_add}, rung after it {late_call}")
    if not exact:
        note += "; no commit timestamps: insert time + 1 s used"
    return Invariant("no dial to a DNC phone (no hand-over after the entry committed)", len(bad), dials, bad[:5],
                     note=note)


async def _leads_decided(db: asyncpg.Pool, floor: Floor, answered: dict[str, list[Any]]) -> list[Invariant]:
    """Integration outages: every lead of every done import has its path in each lead campaign (PASSED,
    REJECTED with a filter and reason, or ERROR after the last try), or its run is still retrying; and no lead
    passed an integration filter without that service's real answer (ML with ml-skip-error true excepted),
    nor got a verdict the service did not give (the simulator's verdicts are a stable function of the lead)."""
    from integrations_sim.model import fraction

    campaigns = list(floor.lead_campaigns)
    runs = {(r["import_id"], r["campaign_id"]): r for r in await db.fetch(
        "SELECT import_id, campaign_id, state, attempts, last_error FROM cascade_runs WHERE campaign_id = ANY($1)",
        campaigns)}
    imports = [r["id"] for r in await db.fetch("SELECT id FROM lead_imports WHERE state = 'done'")]
    leads = await db.fetch("SELECT import_id, line_no, application_no, phone, device_id FROM lead_snapshots "
                           "WHERE import_id = ANY($1)", imports)
    paths = {(r["import_id"], r["campaign_id"], r["line_no"]): r for r in await db.fetch(
        "SELECT import_id, campaign_id, line_no, outcome, filter, reason FROM cascade_paths "
        "WHERE campaign_id = ANY($1)", campaigns)}
    lost, retrying, decided = [], 0, 0
    for lead in leads:
        for cid in campaigns:
            if (lead["import_id"], cid, lead["line_no"]) in paths:
                decided += 1
                continue
            run = runs.get((lead["import_id"], cid))
            if run is not None and run["state"] == "pending" and run["attempts"] > 0:
                retrying += 1
            else:
                lost.append(f"import {lead['import_id']} line {lead['line_no']} in campaign {cid}: no path "
                            f"(run {dict(run) if run else None})")
    first = Invariant("every imported lead decided with a recorded path, or still retrying", len(lost),
                      len(leads) * len(campaigns), lost[:5],
                      note=f"{decided} paths, {retrying} leads in runs still retrying")

    got = {k: set(v) for k, v in answered.items()}
    by_line = {(r["import_id"], r["line_no"]): r for r in leads}
    wrong, checked, skipped = [], 0, 0
    for (import_id, cid, line), path in paths.items():
        lead = by_line.get((import_id, line))
        if lead is None:
            continue
        rules = floor.lead_campaigns[cid]
        order: list[str] = rules["filters-order"]
        stop = order.index(path["filter"]) if path["filter"] in order else len(order)
        for name in order[:stop + 1] if path["outcome"] == "REJECTED" else order[:stop]:
            if path["outcome"] == "REJECTED" and name == path["filter"] and (path["reason"] or "").startswith(
                    "ERROR:"):
                continue  # ML without an answer, ml-skip-error false: rejected with the error — as configured
            checked += 1
            if name == "PHONE_BLACK_LIST":
                ok = lead["phone"] in got.get("blacklist", set())
            elif name.startswith("ML_"):
                model = name.removeprefix("ML_")
                ok = lead["application_no"] in got.get(f"ml:{model}", set())
                reject = fraction("ml", model, lead["application_no"]) < ML_REJECT_RATE.get(model, 0.0)
                if (not ok or reject) and rules.get("ml-skip-error") and path["filter"] != name:
                    # Passed on an ML error (none reached us, or one that came too late): what ml-skip-error
                    # true asks for. A REJECT ignored is caught in the other campaign (ml-skip-error false).
                    skipped += 1
                    continue
                if ok and reject != (path["filter"] == name):
                    what = "passed a lead the service rejects" if reject else "rejected a lead the service passes"
                    wrong.append(f"import {import_id} line {line} campaign {cid}: {name} {what}")
                    continue
            else:
                ok = lead["application_no"] in got.get("products", set())
            if not ok:
                wrong.append(f"import {import_id} line {line} campaign {cid}: {path['outcome']} past {name} "
                             f"({path['reason']}) without the service's answer")
    second = Invariant("no lead passed an integration filter without the service's answer", len(wrong), checked,
                       wrong[:5], note=f"{skipped} passed an ML error under ml-skip-error true")
    return [first, second]


def _words(details: Any) -> frozenset[tuple[str, str]]:
    import json

    value = json.loads(details) if isinstance(details, str) else details
    return frozenset((value or {}).items())
