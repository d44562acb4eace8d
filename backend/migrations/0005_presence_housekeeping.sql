-- Presence: the operator's own availability (READY, or PAUSED with a reason) and AWAY when no workstation
-- socket has been seen for PRESENCE_GRACE_SECONDS, kept in the one operator_states table with the time the
-- state began; socket liveness as an expiry time per operator. Housekeeping: the indexes pruning and the
-- call path need.

ALTER TABLE operator_states DROP CONSTRAINT operator_states_state_check;
ALTER TABLE operator_states ADD CONSTRAINT operator_states_state_check
    CHECK (state IN ('OFFLINE', 'READY', 'PAUSED', 'AWAY', 'ON_CALL', 'WRAP_UP'));
ALTER TABLE operator_states
    -- Why PAUSED (and only PAUSED has one).
    ADD COLUMN reason text CHECK (reason IN ('BREAK', 'TRAINING', 'TECHNICAL')),
    -- When the current state (with its reason) began; set by the trigger below on every change.
    ADD COLUMN state_since timestamptz NOT NULL DEFAULT now(),
    -- A pause asked for during a call (ON_CALL / WRAP_UP): it begins when the operator is released.
    ADD COLUMN pause_requested text CHECK (pause_requested IN ('BREAK', 'TRAINING', 'TECHNICAL'));
ALTER TABLE operator_states ADD CONSTRAINT operator_states_paused_has_reason
    CHECK ((state = 'PAUSED') = (reason IS NOT NULL));

CREATE FUNCTION operator_states_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state OR NEW.reason IS DISTINCT FROM OLD.reason THEN
        NEW.state_since := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER operator_states_since BEFORE UPDATE ON operator_states
    FOR EACH ROW EXECUTE FUNCTION operator_states_since();

-- Socket liveness: each web process pushes seen_until forward (now() + PRESENCE_GRACE_SECONDS) for the
-- operators whose sockets it holds; login and setReady grant one grace period too. An operator whose
-- seen_until has passed has had no socket for the grace period. Looked up by primary key.
CREATE TABLE operator_liveness (
    operator_id bigint      PRIMARY KEY REFERENCES operators (id),
    seen_until  timestamptz NOT NULL
);

-- telephony save_cursor: UPDATE telephony_tasks ... WHERE provider_task_id = ANY($1) (every polled hang-up).
CREATE INDEX telephony_tasks_provider_idx ON telephony_tasks (provider_task_id) WHERE provider_task_id IS NOT NULL;

-- Housekeeping deletes call events by age.
CREATE INDEX call_events_received_idx ON call_events (received_at);
