-- Initial schema: seed 001 ch. 2.7 normalised (campaigns, campaign tasks, communications, operators,
-- operator sessions, telephony operators / active sessions / tasks) plus an append-only history of
-- every result and draft an operator saved. States are text with CHECK constraints rather than enum
-- types, so that adding a state later is a plain ALTER ... CHECK in a new migration.

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE campaigns (
    id          bigserial PRIMARY KEY,
    name        varchar(64)  NOT NULL,
    domain      text         NOT NULL DEFAULT 'LOANS' CHECK (domain IN ('LOANS')),
    description varchar(4096),
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX campaigns_name_key ON campaigns (name);

CREATE TABLE campaign_tasks (
    id          bigserial PRIMARY KEY,
    campaign_id bigint      NOT NULL REFERENCES campaigns (id),
    phone       varchar(11) NOT NULL CHECK (phone ~ '^[0-9]{11}$'),
    client_info jsonb       NOT NULL DEFAULT '{}'::jsonb,
    task_time   timestamptz NOT NULL DEFAULT now(),
    task_type   text        NOT NULL DEFAULT 'PHONE' CHECK (task_type IN ('PHONE')),
    task_state  text        NOT NULL DEFAULT 'NEW' CHECK (task_state IN ('NEW', 'IN_PROGRESS', 'DONE')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The campaign engine picks due NEW tasks in time order.
CREATE INDEX campaign_tasks_due_idx ON campaign_tasks (task_time) WHERE task_state = 'NEW';
-- A client re-entering a campaign finds its open task by phone.
CREATE INDEX campaign_tasks_phone_idx ON campaign_tasks (phone, campaign_id);

CREATE TABLE operators (
    id            bigserial PRIMARY KEY,
    login         varchar(64)  NOT NULL CHECK (login ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash varchar(256) NOT NULL,
    role          text         NOT NULL DEFAULT 'operator' CHECK (role IN ('operator', 'supervisor', 'admin')),
    locked        boolean      NOT NULL DEFAULT false,
    first_name    varchar(32)  NOT NULL,
    last_name     varchar(32)  NOT NULL,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now()
);
-- Logins are case-insensitive: login looks operators up by lower(login).
CREATE UNIQUE INDEX operators_login_key ON operators (lower(login));

-- Seed table TM$OPERATOR_AUTHS: one row per issued token (id = the JWT's jti). A token is usable only
-- while its row is not revoked and neither expiry has passed, so logout/lock take effect at once.
CREATE TABLE operator_sessions (
    id                  uuid        PRIMARY KEY,
    operator_id         bigint      NOT NULL REFERENCES operators (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoked_reason      text CHECK (revoked_reason IN ('LOGOUT', 'LOCKED', 'ENDED_BY_ADMIN', 'PASSWORD_CHANGED')),
    client_addr         text,
    user_agent          varchar(512)
);
-- "End all sessions of operator X" and the supervisor view scan only live sessions.
CREATE INDEX operator_sessions_live_idx ON operator_sessions (operator_id) WHERE revoked_at IS NULL;

CREATE TABLE communications (
    id               bigserial PRIMARY KEY,
    campaign_task_id bigint      NOT NULL REFERENCES campaign_tasks (id),
    operator_id      bigint      NOT NULL REFERENCES operators (id),
    state            text        NOT NULL DEFAULT 'NEW' CHECK (state IN ('NEW', 'DRAFT', 'FIXED')),
    result_details   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    call_id          text,
    call_started_at  timestamptz,
    call_ended_at    timestamptz,
    result_deadline  timestamptz,
    fixed_at         timestamptz,
    completed_late   boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The rework list: an operator's unfinished communications.
CREATE INDEX communications_operator_open_idx ON communications (operator_id, created_at DESC) WHERE state <> 'FIXED';
-- The card's history: every communication of a campaign task (joined from the phone).
CREATE INDEX communications_task_idx ON communications (campaign_task_id);
-- One communication per provider call.
CREATE UNIQUE INDEX communications_call_key ON communications (call_id) WHERE call_id IS NOT NULL;

-- Append-only: every draft and result an operator saved, and the server's own draft at window expiry.
-- Later saves add rows; UPDATE and DELETE are refused by trigger, so no saved word is ever overwritten.
CREATE TABLE communication_result_versions (
    id               bigserial PRIMARY KEY,
    communication_id bigint      NOT NULL REFERENCES communications (id),
    operator_id      bigint      REFERENCES operators (id),
    kind             text        NOT NULL CHECK (kind IN ('DRAFT', 'RESULT', 'EXPIRED_TO_DRAFT')),
    details          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX communication_result_versions_comm_idx ON communication_result_versions (communication_id, id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER communication_result_versions_append_only
    BEFORE UPDATE OR DELETE ON communication_result_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER communication_result_versions_no_truncate
    BEFORE TRUNCATE ON communication_result_versions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Seed TM$MIGHTYCALL_OPERATORS: the operator's account at the telephony provider.
CREATE TABLE telephony_operators (
    id             bigserial PRIMARY KEY,
    operator_id    bigint      NOT NULL UNIQUE REFERENCES operators (id),
    provider_login varchar(64) NOT NULL,
    provider_secret varchar(256) NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Seed TM$MIGHTYCALL_ACTIVE_OPERATORS: operators whose provider session is open and polled; persisted
-- so that a restarted telephony process resumes polling all of them from its cursor.
CREATE TABLE telephony_active_sessions (
    id                  bigserial PRIMARY KEY,
    operator_id         bigint      NOT NULL UNIQUE REFERENCES operators (id),
    provider_session_id text,
    event_cursor        text,
    last_request_at     timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Seed TM$MIGHTYCALL_TASKS: ADD/DELETE commands sent to the provider's dial queue.
CREATE TABLE telephony_tasks (
    id               bigserial PRIMARY KEY,
    campaign_task_id bigint      NOT NULL REFERENCES campaign_tasks (id),
    task_type        text        NOT NULL CHECK (task_type IN ('ADD', 'DELETE')),
    task_state       text        NOT NULL DEFAULT 'NEW' CHECK (task_state IN ('NEW', 'IN_PROGRESS', 'DONE')),
    provider_task_id text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- "Already sent and still NEW at the provider" is looked up per campaign task.
CREATE INDEX telephony_tasks_campaign_task_idx ON telephony_tasks (campaign_task_id, task_type, task_state);

CREATE TRIGGER campaigns_touch BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER campaign_tasks_touch BEFORE UPDATE ON campaign_tasks FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER operators_touch BEFORE UPDATE ON operators FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER communications_touch BEFORE UPDATE ON communications FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER telephony_operators_touch BEFORE UPDATE ON telephony_operators FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER telephony_active_sessions_touch BEFORE UPDATE ON telephony_active_sessions FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER telephony_tasks_touch BEFORE UPDATE ON telephony_tasks FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
