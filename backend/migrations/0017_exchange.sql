-- The integration exchange (issue 19, seed 004): outside systems ask for a call (a communication request),
-- get the seed's response at once, and hear the outcome later by a signed push, delivered from an outbox that
-- is written in the same transaction as the task's final state change.

-- An integration client: an outside system, mapped to the campaign its requests enter, with the URL its
-- outcomes are pushed to and the HMAC key that signs them (and its signed requests).
CREATE TABLE exchange_clients (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                    varchar(64)  NOT NULL,
    campaign_id             bigint       REFERENCES campaigns (id),
    push_url                varchar(2048),
    signing_secret          text         NOT NULL,
    require_signed_requests boolean      NOT NULL DEFAULT false,
    task_validity_hours     integer      NOT NULL DEFAULT 72 CHECK (task_validity_hours BETWEEN 1 AND 8760),
    active                  boolean      NOT NULL DEFAULT true,
    created_at              timestamptz  NOT NULL DEFAULT now(),
    updated_at              timestamptz  NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX exchange_clients_name_key ON exchange_clients (lower(name));
CREATE TRIGGER exchange_clients_touch BEFORE UPDATE ON exchange_clients FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- API keys: "<id>.<secret>"; only sha256(secret) is kept (the secret is 32 random bytes, so a fast hash is
-- enough and a request is checked in microseconds). A key may name its own campaign (overrides the client's).
CREATE TABLE exchange_keys (
    id          varchar(32) PRIMARY KEY,
    client_id   bigint      NOT NULL REFERENCES exchange_clients (id),
    secret_hash bytea       NOT NULL,
    campaign_id bigint      REFERENCES campaigns (id),
    label       varchar(200),
    created_by  bigint      REFERENCES operators (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX exchange_keys_client_idx ON exchange_keys (client_id, created_at);

-- One row per (client, requestID): the idempotency key. The stored response is returned verbatim to a
-- repeated request; body_hash tells a repeat from a different request under the same id (409).
CREATE TABLE exchange_requests (
    client_id        bigint       NOT NULL REFERENCES exchange_clients (id),
    request_id       varchar(200) NOT NULL,
    body_hash        bytea        NOT NULL,
    reply_id         uuid         NOT NULL,   -- our response's requestID (the seed's response names its own)
    request          jsonb        NOT NULL,
    response         text,                    -- the exact response body
    status_code      smallint,                -- 0 created, 1 client not found, 2 other error
    campaign_id      bigint,
    campaign_task_id bigint       REFERENCES campaign_tasks (id),
    expires_at       timestamptz,             -- the task's validity: still open then, it is closed EXPIRED
    task_status      smallint,                -- 3 processed, 5 not processed (once closed)
    closed_at        timestamptz,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, request_id)
);
-- The outbox trigger finds the request of a task; the expiry pass finds open requests past validity.
CREATE UNIQUE INDEX exchange_requests_task_key ON exchange_requests (campaign_task_id) WHERE campaign_task_id IS NOT NULL;
CREATE INDEX exchange_requests_open_idx ON exchange_requests (expires_at) WHERE closed_at IS NULL AND campaign_task_id IS NOT NULL;

-- Clients known by the ids of outside systems (clientIdList), with the phone a request carried: a later
-- request naming one of the ids needs no phone.
CREATE TABLE exchange_known_clients (
    client_id   bigint       NOT NULL REFERENCES exchange_clients (id),
    system_code varchar(64)  NOT NULL,
    external_id varchar(200) NOT NULL,
    phone       varchar(11)  NOT NULL CHECK (phone ~ '^[0-9]{11}$'),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, system_code, external_id)
);

-- The outbox: one push per request (the unique key), body as signed and sent. PENDING rows are claimed by a
-- worker under a lease (lease_until); a worker that dies leaves its claim to expire. SKIPPED: the client has
-- no push URL (the body is still what polling answers).
CREATE TABLE exchange_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      uuid         NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    client_id        bigint       NOT NULL REFERENCES exchange_clients (id),
    request_id       varchar(200) NOT NULL,
    campaign_task_id bigint       NOT NULL,
    body             text         NOT NULL,
    state            text         NOT NULL DEFAULT 'PENDING'
                     CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED', 'SKIPPED')),
    attempts         integer      NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz  NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_until      timestamptz,
    last_status      integer,
    last_error       text,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    failed_at        timestamptz,
    resent_at        timestamptz,
    UNIQUE (client_id, request_id)
);
-- The claim: pending rows whose time has come.
CREATE INDEX exchange_outbox_due_idx ON exchange_outbox (next_attempt_at) WHERE state = 'PENDING';
-- Admins list failed deliveries, newest first.
CREATE INDEX exchange_outbox_failed_idx ON exchange_outbox (failed_at DESC) WHERE state = 'FAILED';

-- The client's reaction on three levels from the campaign's result taxonomy: the labels (else keys) of the
-- status, level 1 and level 2 the operator saved (a campaign without a taxonomy: the saved words).
CREATE FUNCTION exchange_reaction(config jsonb, details jsonb) RETURNS text[] LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT st.v FROM jsonb_array_elements(coalesce(config -> 'result-taxonomy', '[]'::jsonb)) AS st(v)
                WHERE st.v ->> 'key' = details ->> 'result' LIMIT 1),
         l1 AS (SELECT c1.v FROM s, jsonb_array_elements(coalesce(s.v -> 'children', '[]'::jsonb)) AS c1(v)
                 WHERE c1.v ->> 'key' = details ->> 'reason' LIMIT 1),
         l2 AS (SELECT c2.v FROM l1, jsonb_array_elements(coalesce(l1.v -> 'children', '[]'::jsonb)) AS c2(v)
                 WHERE c2.v ->> 'key' = details ->> 'reasonDetail' LIMIT 1)
    SELECT ARRAY[
        coalesce((SELECT coalesce(v ->> 'label', v ->> 'key') FROM s), details ->> 'result', ''),
        coalesce((SELECT coalesce(v ->> 'label', v ->> 'key') FROM l1), details ->> 'reason', ''),
        coalesce((SELECT coalesce(v ->> 'label', v ->> 'key') FROM l2), details ->> 'reasonDetail', '')]
$$;

-- A task of an exchange request may have reached its final state: DONE with a close reason (a result's
-- outcome, MAX_ATTEMPTS, EXPIRED, DO_NOT_CALL/BOOKED at hand-over, REENTERED, CANCELLED), or DONE after a
-- call whose result is saved (a campaign without a taxonomy). Then the push goes into the outbox, once.
-- Called at commit by deferred constraint triggers, so it sees the transaction's final rows whatever path
-- closed the task (the workstation's result, the hand-over, re-entry, expiry) and in whatever order.
CREATE FUNCTION exchange_close(tid bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    req       record;
    task      record;
    comm      record;
    has_comm  boolean;
    cfg       jsonb;
    processed boolean;
    levels    text[];
    zone      text;
    push_url  text;
    close_day text;
BEGIN
    SELECT r.client_id, r.request_id, r.reply_id, r.closed_at INTO req
      FROM exchange_requests r WHERE r.campaign_task_id = tid;  -- exchange_requests_task_key
    IF NOT FOUND OR req.closed_at IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT t.id, t.campaign_id, t.task_state, t.close_reason, t.attempts, t.rules_version_id INTO task
      FROM campaign_tasks t WHERE t.id = tid;
    IF task.task_state <> 'DONE' THEN
        RETURN;
    END IF;
    SELECT c.state, c.result_details, c.fixed_at INTO comm
      FROM communications c WHERE c.campaign_task_id = tid ORDER BY c.id DESC LIMIT 1;  -- communications_task_idx
    has_comm := FOUND;
    IF task.close_reason IS NULL AND NOT (has_comm AND comm.state = 'FIXED') THEN
        RETURN;  -- on a call, in its result window or on the rework list: not over yet
    END IF;
    processed := has_comm AND comm.state = 'FIXED' AND (comm.fixed_at = now() OR task.close_reason IS NULL);
    SELECT v.config INTO cfg FROM campaign_rule_versions v
     WHERE (task.rules_version_id IS NOT NULL AND v.id = task.rules_version_id)
        OR (task.rules_version_id IS NULL AND v.campaign_id = task.campaign_id)
     ORDER BY v.version DESC LIMIT 1;
    zone := coalesce(cfg ->> 'time-zone', 'Europe/Moscow');
    BEGIN  -- a zone Python knows but this server's tzdata does not must not fail the closing transaction
        close_day := to_char(now() AT TIME ZONE zone, 'YYYY-MM-DD');
    EXCEPTION WHEN invalid_parameter_value THEN
        close_day := to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD');
    END;
    IF processed THEN
        levels := exchange_reaction(cfg, comm.result_details);
    ELSE
        levels := CASE task.close_reason
            WHEN 'EXPIRED' THEN ARRAY['Не обработано',
                CASE WHEN task.attempts = 0 THEN 'Не взята в работу' ELSE 'Завершено по сроку давности' END, '']
            WHEN 'MAX_ATTEMPTS' THEN ARRAY['Не обработано', 'Исчерпаны попытки дозвона', '']
            WHEN 'DO_NOT_CALL' THEN ARRAY['Не требует отработки', 'Клиент в списке «не звонить»', '']
            WHEN 'BOOKED' THEN ARRAY['Не требует отработки', 'Клиент закреплён за другой кампанией', '']
            WHEN 'REENTERED' THEN ARRAY['Не требует отработки', 'Задача заменена новой', '']
            WHEN 'CANCELLED' THEN ARRAY['Не требует отработки', 'Задача отменена', '']
            ELSE ARRAY['Не обработано', coalesce(task.close_reason, ''), ''] END;
    END IF;
    UPDATE exchange_requests SET task_status = CASE WHEN processed THEN 3 ELSE 5 END, closed_at = now()
     WHERE client_id = req.client_id AND request_id = req.request_id;
    SELECT c.push_url INTO push_url FROM exchange_clients c WHERE c.id = req.client_id;
    INSERT INTO exchange_outbox (client_id, request_id, campaign_task_id, body, state)
    VALUES (req.client_id, req.request_id, tid, json_build_object(
        'requestID', req.reply_id::text,
        'replyUID', req.request_id,
        'dt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"'),
        'statusCode', '0',
        'taskID', tid::text,
        'taskStatus', CASE WHEN processed THEN '3' ELSE '5' END,
        'taskCloseDate', close_day,
        'taskExecType', CASE WHEN processed THEN 'Ручной' ELSE 'Технический' END,
        'taskExecDescr', CASE WHEN processed THEN 'Обработано' ELSE 'Не обработано' END,
        'firstLevelClientReaction', levels[1],
        'secondLevelClientReaction', levels[2],
        'thirdLevelClientReaction', levels[3],
        'closeReason', task.close_reason)::text,
        CASE WHEN push_url IS NULL THEN 'SKIPPED' ELSE 'PENDING' END)
    ON CONFLICT (client_id, request_id) DO NOTHING;
END
$$;

CREATE FUNCTION exchange_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exchange_close(NEW.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION exchange_communication_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM exchange_close(NEW.campaign_task_id);
    RETURN NULL;
END
$$;

-- Deferred to commit: the push reflects the transaction's last word on the task (a result saves the task's
-- next step before the communication's FIXED; the trigger must see both).
CREATE CONSTRAINT TRIGGER exchange_task_closed AFTER UPDATE ON campaign_tasks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.task_state = 'DONE')
    EXECUTE FUNCTION exchange_task_changed();
CREATE CONSTRAINT TRIGGER exchange_result_fixed AFTER UPDATE ON communications
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.state = 'FIXED' AND OLD.state <> 'FIXED')
    EXECUTE FUNCTION exchange_communication_fixed();
