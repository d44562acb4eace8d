-- Faults on the call path (issue 10): a dead-letter record, and dial tasks that say how they are going.

-- What could not be applied, kept with its raw payload and the reason: an unparseable or unknown provider
-- event, a call event that contradicts the one stored under its id, a malformed command.
CREATE TABLE dead_letters (
    id         bigserial   PRIMARY KEY,
    source     text        NOT NULL CHECK (source IN ('provider-event', 'call-event', 'command')),
    reason     text        NOT NULL,
    payload    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);

-- A dial task is FAILED when the provider gave a final answer; last_error says what. send_started_at is
-- written before an ADD goes to the provider: a restarted telephony process that finds it set without a
-- provider_task_id asks the provider for the task instead of adding it again.
ALTER TABLE telephony_tasks DROP CONSTRAINT telephony_tasks_task_state_check;
ALTER TABLE telephony_tasks ADD CONSTRAINT telephony_tasks_task_state_check
    CHECK (task_state IN ('NEW', 'IN_PROGRESS', 'DONE', 'FAILED'));
ALTER TABLE telephony_tasks ADD COLUMN attempts int NOT NULL DEFAULT 0,
                            ADD COLUMN send_started_at timestamptz,
                            ADD COLUMN last_error text;

-- The campaign engine re-sends telephony tasks still NEW after a while (the outbox); this keeps that
-- look-up off the whole table.
CREATE INDEX telephony_tasks_outbox_idx ON telephony_tasks (updated_at) WHERE task_state = 'NEW';
