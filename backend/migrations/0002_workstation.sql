-- Workstation: the client's applications/loans for the card, call-event idempotency, operator state, and
-- the per-operator event log whose seq numbers the WebSocket resumes from.

-- Applications and loans of a phone (seed appendix З, ProductDto). Amounts in kopecks.
CREATE TABLE client_products (
    id               bigserial PRIMARY KEY,
    phone            varchar(11) NOT NULL CHECK (phone ~ '^[0-9]{11}$'),
    do_id            varchar(32) NOT NULL,
    start_time       timestamptz NOT NULL,
    end_time         timestamptz,
    status           jsonb,        -- {"dictionaryKey","dictionaryValue"}
    product          jsonb,
    requested_amount bigint CHECK (requested_amount >= 0),
    approved_amount  bigint CHECK (approved_amount >= 0),
    term             integer NOT NULL DEFAULT 0 CHECK (term >= 0),
    term_unit        jsonb,
    grace            integer NOT NULL DEFAULT 0 CHECK (grace >= 0),
    grace_unit       jsonb,
    filling          jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [AppDocument]
    is_current       boolean NOT NULL DEFAULT false,
    retail_chain     jsonb,
    device_os        jsonb,
    credit_method    jsonb,
    interest_rate    integer CHECK (interest_rate >= 0),  -- % per day * 100
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The card lists a phone's products, newest first.
CREATE INDEX client_products_phone_idx ON client_products (phone, start_time DESC);
CREATE TRIGGER client_products_touch BEFORE UPDATE ON client_products FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Every call event ever applied, by its id: a redelivered or re-posted event is a no-op.
CREATE TABLE call_events (
    event_id    varchar(128) PRIMARY KEY,
    event_type  text        NOT NULL,
    call_id     varchar(128) NOT NULL,
    operator_id bigint,
    outcome     text        NOT NULL,  -- APPLIED, IGNORED (already applied by the other event), REJECTED
    detail      text,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- What telephony and supervisors read: is the operator free for the next call?
CREATE TABLE operator_states (
    operator_id      bigint PRIMARY KEY REFERENCES operators (id),
    state            text NOT NULL DEFAULT 'OFFLINE' CHECK (state IN ('OFFLINE', 'READY', 'ON_CALL', 'WRAP_UP')),
    communication_id bigint REFERENCES communications (id),
    wrap_up_deadline timestamptz,
    last_seq         bigint NOT NULL DEFAULT 0,  -- the operator's event counter (operator_events.seq)
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The operator's event log: seq is gap-free per operator (allocated from operator_states.last_seq in the
-- same transaction as the change it reports), so a client resumes from the last seq it saw.
CREATE TABLE operator_events (
    operator_id bigint      NOT NULL REFERENCES operators (id),
    seq         bigint      NOT NULL,
    event_type  text        NOT NULL,
    data        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (operator_id, seq)
);
-- Retention pruning deletes by age.
CREATE INDEX operator_events_created_idx ON operator_events (created_at);

-- The expiry loop finds communications whose result window has passed.
CREATE INDEX communications_deadline_idx ON communications (result_deadline) WHERE state = 'NEW' AND result_deadline IS NOT NULL;
