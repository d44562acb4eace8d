-- Supervision (issue 14): the audit of what supervisors do to operators, and the indexes the floor's
-- counters need when they are rebuilt from PostgreSQL and the campaign tiles are refreshed.

-- Append-only: who did what to whom, when, from where, and the state before and after.
CREATE TABLE supervisor_audit (
    id          bigserial   PRIMARY KEY,
    actor_id    bigint      NOT NULL REFERENCES operators (id),
    action      text        NOT NULL CHECK (action IN ('PAUSE', 'UNPAUSE', 'END_SESSIONS')),
    target_id   bigint      NOT NULL REFERENCES operators (id),
    client_addr text,
    before      jsonb       NOT NULL,
    after       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The audit is read newest first, optionally for one operator.
CREATE INDEX supervisor_audit_target_idx ON supervisor_audit (target_id, id DESC);
CREATE TRIGGER supervisor_audit_append_only BEFORE UPDATE OR DELETE ON supervisor_audit
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER supervisor_audit_no_truncate BEFORE TRUNCATE ON supervisor_audit
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Counters rebuilt from PostgreSQL (calls today, saved in the window today, per operator and campaign) and
-- the calls-per-minute chart read communications by creation time.
CREATE INDEX communications_created_idx ON communications (created_at);
-- Rework backlog per operator and campaign: the drafts (the rework list's index covers NEW ones too).
CREATE INDEX communications_draft_idx ON communications (operator_id, created_at) WHERE state = 'DRAFT';
-- Campaign tiles: queued and dialling tasks per campaign, without reading the done ones.
CREATE INDEX campaign_tasks_open_by_campaign_idx ON campaign_tasks (campaign_id, task_state, task_time)
    WHERE task_state <> 'DONE';
-- Dial rate and answer rate: ADD commands per campaign task created recently.
CREATE INDEX telephony_tasks_created_idx ON telephony_tasks (created_at) WHERE task_type = 'ADD';
-- The "errors rising" alert: dial tasks the provider failed recently.
CREATE INDEX telephony_tasks_failed_idx ON telephony_tasks (updated_at) WHERE task_state = 'FAILED';
