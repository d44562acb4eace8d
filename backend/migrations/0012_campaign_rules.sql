-- Campaign rules (issue 13): versioned per-campaign configuration, the filter cascade's runs, paths and
-- counts, do-not-call, bookings, recall bookkeeping on campaign tasks, and stale-client episodes.

-- Every save of a campaign's rules is a new version; nothing is updated in place, so a task or a lead path
-- names the version it was decided under. The latest version (highest id of the campaign) is the one in force.
CREATE TABLE campaign_rule_versions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  bigint      NOT NULL REFERENCES campaigns (id),
    version      integer     NOT NULL CHECK (version >= 1),
    config       jsonb       NOT NULL,
    data_streams text[]      NOT NULL,  -- copied out of config: the cascade's discovery joins on it
    created_by   bigint      REFERENCES operators (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, version)  -- also "the latest version of a campaign" (ORDER BY version DESC LIMIT 1)
);
CREATE TRIGGER campaign_rule_versions_append_only
    BEFORE UPDATE OR DELETE ON campaign_rule_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Tasks: the rules version they were entered under, attempts (dials handed to telephony), why a task closed
-- without a call or after one (DO_NOT_CALL at hand-over, SUCCESS, REFUSAL, MAX_ATTEMPTS, REENTERED...), the
-- outcome of the last call and the campaign's priority at entry (the hand-over takes higher first).
-- rules_version_id has no foreign key: versions are never deleted (append-only), and a per-row check would
-- cost the cascade's bulk entry of tasks for nothing.
ALTER TABLE campaign_tasks
    ADD COLUMN rules_version_id bigint,
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN priority         integer NOT NULL DEFAULT 0,
    ADD COLUMN close_reason     text,
    ADD COLUMN last_outcome     text,
    ADD COLUMN application_no   bigint;

-- Do-not-call: one row per phone; until NULL = permanent. A later entry for the same phone replaces the
-- earlier one (the admin API's PUT and the CSV import upsert; a permanent entry is never shortened by a
-- temporary one, see rules/queries.py).
CREATE TABLE do_not_call (
    phone      varchar(11) PRIMARY KEY CHECK (phone ~ '^[0-9]{11}$'),
    until      timestamptz,
    reason     text        NOT NULL,
    source     text        NOT NULL,  -- ADMIN, CSV, RESULT (the client asked during a call), ...
    created_by bigint      REFERENCES operators (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER do_not_call_touch BEFORE UPDATE ON do_not_call FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Bookings (seed 000): a client (phone) reserved for one campaign until a moment; other campaigns skip it.
CREATE TABLE bookings (
    phone       varchar(11) PRIMARY KEY CHECK (phone ~ '^[0-9]{11}$'),
    campaign_id bigint      NOT NULL REFERENCES campaigns (id),
    until       timestamptz NOT NULL,
    reason      text,
    created_by  bigint      REFERENCES operators (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER bookings_touch BEFORE UPDATE ON bookings FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- One cascade run per (import, campaign): the durable claim and cursor that make the cascade exactly once.
-- A worker takes a run by lease; each batch commits its paths, tasks, counts and the new cursor together,
-- and only while the cursor is still the one it read (a worker whose lease lapsed writes nothing).
CREATE TABLE cascade_runs (
    import_id        bigint      NOT NULL REFERENCES lead_imports (id),
    campaign_id      bigint      NOT NULL REFERENCES campaigns (id),
    rules_version_id bigint      NOT NULL REFERENCES campaign_rule_versions (id),
    stream           text        NOT NULL,  -- the import's (CASCADE_STREAMS lets a worker take some streams only)
    state            text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    cursor_line      bigint      NOT NULL DEFAULT 0,  -- the last line_no whose path is recorded
    passed           bigint      NOT NULL DEFAULT 0,
    rejected         bigint      NOT NULL DEFAULT 0,
    errored          bigint      NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    attempts         integer     NOT NULL DEFAULT 0,  -- failed batch attempts in a row (integration errors)
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    PRIMARY KEY (import_id, campaign_id)
);
-- The claim: pending runs whose time has come.
CREATE INDEX cascade_runs_pending_idx ON cascade_runs (next_attempt_at) WHERE state = 'pending';
-- Discovery: done imports by finish time (imports finished since a campaign's rules began).
CREATE INDEX lead_imports_done_idx ON lead_imports (finished_at) WHERE state = 'done';

-- Every lead's path through one campaign's cascade: PASSED (with its task), REJECTED by a filter (reason,
-- value) or ERROR (an integration kept failing). Written by COPY, one batch per transaction.
CREATE TABLE cascade_paths (
    import_id        bigint      NOT NULL,
    campaign_id      bigint      NOT NULL,
    line_no          bigint      NOT NULL,
    application_no   bigint      NOT NULL,
    phone            text        NOT NULL,
    outcome          text        NOT NULL,  -- PASSED | REJECTED | ERROR
    filter           text,                  -- the filter that stopped it (NULL when PASSED)
    reason           text,
    value            text,
    rules_version_id bigint      NOT NULL,
    campaign_task_id bigint,
    decided_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (import_id, campaign_id, line_no)
);

-- Counts per filter per campaign per import (what supervisors chart): upserted per batch with the paths.
CREATE TABLE cascade_counts (
    import_id   bigint NOT NULL,
    campaign_id bigint NOT NULL,
    filter      text   NOT NULL,  -- a filter name, or PASSED
    outcome     text   NOT NULL,  -- PASSED | REJECTED | ERROR
    n           bigint NOT NULL,
    PRIMARY KEY (import_id, campaign_id, filter, outcome)
);

-- Stale clients (seed 004): one task per application and status episode, ever. The episode is the status
-- with the change time it began at; the unique key is what makes a second run (or a second worker) harmless.
CREATE TABLE stale_episodes (
    application_no     bigint      NOT NULL,
    application_status text        NOT NULL,
    status_since       timestamptz NOT NULL,
    campaign_id        bigint      NOT NULL REFERENCES campaigns (id),
    campaign_task_id   bigint      REFERENCES campaign_tasks (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_no, application_status, status_since)
);

-- The hand-over takes due NEW tasks by priority, then time: the due index follows that order.
DROP INDEX campaign_tasks_due_idx;
CREATE INDEX campaign_tasks_due_idx ON campaign_tasks (priority DESC, task_time) WHERE task_state = 'NEW';
