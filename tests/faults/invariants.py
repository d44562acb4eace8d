"""The invariant checker: after the drain, PostgreSQL, the simulator's state and what the bots were told and
shown. Each invariant is a name, a violation count and a few examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tests.faults.bots import Bot
from tests.faults.traffic import LeadFile


@dataclass
class Invariant:
    name: str
    violations: int | None  # None: not applicable here (printed "n/a")
    checked: int
    examples: list[str] = field(default_factory=list)
    note: str = ""


async def check(db: asyncpg.Pool, sim_state: dict[str, Any], bots: list[Bot], task_ids: list[int],
                files: list[LeadFile], dnc_available: bool = False) -> list[Invariant]:
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
    out.append(Invariant("no dial to a DNC phone", None if not dnc_available else 0, 0,
                         note="n/a: no do-not-call list yet (issue 13)" if not dnc_available else ""))

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
    return out


def _words(details: Any) -> frozenset[tuple[str, str]]:
    import json

    value = json.loads(details) if isinstance(details, str) else details
    return frozenset((value or {}).items())
