-- The telephony process's watches (issue 10): calls whose end may be lost, dial tasks the provider may have lost.

-- Every communication whose call has not ended, by when it started: the hang-up watch reads these.
CREATE INDEX communications_open_call_idx ON communications (call_started_at)
    WHERE state = 'NEW' AND call_ended_at IS NULL;

-- When telephony last asked the provider about a dial task it holds; the task watch takes the stalest first.
ALTER TABLE telephony_tasks ADD COLUMN checked_at timestamptz;
CREATE INDEX telephony_tasks_held_idx ON telephony_tasks (coalesce(checked_at, updated_at))
    WHERE task_type = 'ADD' AND task_state = 'IN_PROGRESS';
