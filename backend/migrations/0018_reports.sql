-- Reports (issue 17): what each communication's result meant (its taxonomy outcome) and when it went to
-- rework, kept on the communication; an hourly aggregate maintained incrementally by the worker; the daily
-- summaries it sends. Why an incrementally maintained table and not a materialized view: README "Reports"
-- (bench/reports.py measured both).

-- The outcome the campaign's taxonomy gave the saved result (SUCCESS, REFUSAL, NO_ANSWER, BUSY, DROPPED,
-- DO_NOT_CALL); NULL: no result yet, or a campaign without a taxonomy.
ALTER TABLE communications ADD COLUMN outcome text;
-- When the communication went to the rework list (its result window expired, or the operator's sessions
-- ended during it); NULL: it never did.
ALTER TABLE communications ADD COLUMN expired_at timestamptz;
UPDATE communications c SET expired_at = v.at
  FROM (SELECT communication_id, min(created_at) AS at FROM communication_result_versions
         WHERE kind = 'EXPIRED_TO_DRAFT' GROUP BY communication_id) v
 WHERE v.communication_id = c.id;
UPDATE communications c SET outcome = t.last_outcome
  FROM campaign_tasks t
 WHERE t.id = c.campaign_task_id AND c.state = 'FIXED' AND t.last_outcome IS NOT NULL
   AND c.id = (SELECT max(id) FROM communications x WHERE x.campaign_task_id = t.id);

-- The aggregator recomputes the (operator, hour) buckets of communications changed since its watermark.
CREATE INDEX communications_updated_idx ON communications (updated_at);
-- A bucket's communications, and an operator's own statistics (today, this week).
CREATE INDEX communications_operator_started_idx ON communications (operator_id, call_started_at);
-- Per-client contactability and the detail export read a period of calls.
CREATE INDEX communications_started_idx ON communications (call_started_at);
-- Attempts per task: the tasks of a campaign that ended in a period.
CREATE INDEX campaign_tasks_done_idx ON campaign_tasks (campaign_id, updated_at)
    WHERE task_state = 'DONE' AND close_reason IS NOT NULL;

-- One row per (UTC hour the calls started in, campaign, operator, client segment, result status key,
-- outcome): sums that add up over any period, team and group (README "Reports" defines each KPI).
CREATE TABLE report_hourly (
    hour            timestamptz NOT NULL,
    campaign_id     bigint      NOT NULL,
    operator_id     bigint      NOT NULL,
    segment         text        NOT NULL,  -- client_info.clientType, or '' when unknown
    result          text        NOT NULL,  -- the saved result's status key, or '' (none yet)
    outcome         text        NOT NULL,  -- the taxonomy outcome, or '' (none)
    calls           integer     NOT NULL,
    ended           integer     NOT NULL,
    talk_seconds    double precision NOT NULL,
    in_window       integer     NOT NULL,
    wrapup_seconds  double precision NOT NULL,  -- over the in-window results
    expired         integer     NOT NULL,
    rework_done     integer     NOT NULL,
    rework_seconds  double precision NOT NULL,  -- over the completed rework
    PRIMARY KEY (campaign_id, hour, operator_id, segment, result, outcome)
);
-- Reports without a campaign filter read a period.
CREATE INDEX report_hourly_hour_idx ON report_hourly (hour);
-- The aggregator's bucket: delete and recompute an operator's hour.
CREATE INDEX report_hourly_bucket_idx ON report_hourly (operator_id, hour);

-- The aggregator's progress: communications updated after this moment (less a safety margin) are re-read.
CREATE TABLE report_watermark (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    updated_to timestamptz NOT NULL,
    passed_at  timestamptz NOT NULL DEFAULT now()
);

-- The morning report: one per day (the unique key makes the job idempotent whichever worker runs it).
CREATE TABLE daily_summaries (
    day        date        PRIMARY KEY,  -- the day summarised, in OPERATOR_TIMEZONE
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   integer     NOT NULL DEFAULT 0,
    last_error text
);
-- Unsent summaries are retried.
CREATE INDEX daily_summaries_unsent_idx ON daily_summaries (day) WHERE sent_at IS NULL;
