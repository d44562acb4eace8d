-- Reports (issue 17): two coarser aggregates rolled up from report_hourly in the same pass, so a month's
-- report reads thousands of rows instead of tens of thousands (README "Reports", bench/reports.py). Both are
-- cut in UTC (hours, UTC days), never in OPERATOR_TIMEZONE: changing the zone needs no rebuild; the reads
-- cut the operators' days from them exactly (a UTC day inside the period from the daily table, the hours at
-- the period's edges from report_hourly).

-- Without operators: everything a report reads when it neither groups nor filters by operator or team (the
-- totals, per day / hour / hour of day / campaign, the outcome distribution, the heatmap and its segments).
CREATE TABLE report_campaign_hourly (
    hour            timestamptz NOT NULL,
    campaign_id     bigint      NOT NULL,
    segment         text        NOT NULL,
    result          text        NOT NULL,
    outcome         text        NOT NULL,
    calls           integer     NOT NULL,
    ended           integer     NOT NULL,
    talk_seconds    double precision NOT NULL,
    in_window       integer     NOT NULL,
    wrapup_seconds  double precision NOT NULL,
    expired         integer     NOT NULL,
    rework_done     integer     NOT NULL,
    rework_seconds  double precision NOT NULL,
    PRIMARY KEY (campaign_id, hour, segment, result, outcome)
);
-- Reports without a campaign filter read a period.
CREATE INDEX report_campaign_hourly_hour_idx ON report_campaign_hourly (hour);

-- Per operator and UTC day: the per-operator / per-team / operator- or team-filtered totals.
CREATE TABLE report_operator_daily (
    day             timestamptz NOT NULL,  -- the UTC midnight the day starts at
    campaign_id     bigint      NOT NULL,
    operator_id     bigint      NOT NULL,
    outcome         text        NOT NULL,
    calls           integer     NOT NULL,
    ended           integer     NOT NULL,
    talk_seconds    double precision NOT NULL,
    in_window       integer     NOT NULL,
    wrapup_seconds  double precision NOT NULL,
    expired         integer     NOT NULL,
    rework_done     integer     NOT NULL,
    rework_seconds  double precision NOT NULL,
    PRIMARY KEY (campaign_id, day, operator_id, outcome)
);
-- Reports without a campaign filter read a period.
CREATE INDEX report_operator_daily_day_idx ON report_operator_daily (day);
-- The aggregator's bucket: delete and recompute an operator's day.
CREATE INDEX report_operator_daily_bucket_idx ON report_operator_daily (operator_id, day);

-- false: report_hourly is there but the rollups are not (an installation migrated from 0018..0022); the
-- worker's next pass builds them from report_hourly once, under the same build lock.
ALTER TABLE report_watermark ADD COLUMN rollups_built boolean NOT NULL DEFAULT false;
