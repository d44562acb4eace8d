-- The cascade's bulk task entry (issue 13) and the supervisors' "in rework" state (issue 14).

-- campaign_tasks.campaign_id: the same rule as the foreign key it replaces, checked once per statement
-- instead of once per row. The per-row RI trigger cost ~6 µs of every task the cascade enters (a fifth of
-- the insert's execution: EXPLAIN ANALYZE of a 4,000-row entry showed 25 ms of 115 ms in it); the cascade
-- enters thousands of tasks per statement, all of one campaign. A new row's campaign must exist (and is
-- locked FOR KEY SHARE until the transaction ends, as the foreign key did); a task's campaign never
-- changes; a campaign with tasks is never deleted nor renumbered.
ALTER TABLE campaign_tasks DROP CONSTRAINT campaign_tasks_campaign_id_fkey;

CREATE FUNCTION campaign_tasks_campaign_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.campaign_id INTO missing
      FROM (SELECT DISTINCT campaign_id FROM new_tasks) n
     WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = n.campaign_id FOR KEY SHARE)
     LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('insert into campaign_tasks: campaign %s does not exist', missing),
            CONSTRAINT = 'campaign_tasks_campaign_id_fkey', TABLE = 'campaign_tasks';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER campaign_tasks_campaign_exists AFTER INSERT ON campaign_tasks
    REFERENCING NEW TABLE AS new_tasks FOR EACH STATEMENT EXECUTE FUNCTION campaign_tasks_campaign_exists();

CREATE FUNCTION campaign_tasks_campaign_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING MESSAGE = 'a campaign task''s campaign never changes',
        CONSTRAINT = 'campaign_tasks_campaign_id_fkey', TABLE = 'campaign_tasks';
END $$;
CREATE TRIGGER campaign_tasks_campaign_fixed BEFORE UPDATE OF campaign_id ON campaign_tasks
    FOR EACH ROW WHEN (OLD.campaign_id IS DISTINCT FROM NEW.campaign_id)
    EXECUTE FUNCTION campaign_tasks_campaign_fixed();

CREATE FUNCTION campaigns_keep_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- campaign_tasks_campaign_idx
    IF EXISTS (SELECT 1 FROM campaign_tasks WHERE campaign_id = OLD.id) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('campaign %s still has tasks', OLD.id),
            CONSTRAINT = 'campaign_tasks_campaign_id_fkey', TABLE = 'campaigns';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER campaigns_keep_tasks_delete BEFORE DELETE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaigns_keep_tasks();
CREATE TRIGGER campaigns_keep_tasks_renumber BEFORE UPDATE OF id ON campaigns
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION campaigns_keep_tasks();
CREATE FUNCTION campaigns_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM campaign_tasks) THEN
        RAISE foreign_key_violation USING MESSAGE = 'campaigns cannot be truncated while tasks refer to them';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER campaigns_no_truncate BEFORE TRUNCATE ON campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION campaigns_no_truncate();

-- "In rework" on the supervisors' floor (issue 14): the rework card (a DRAFT communication of theirs) the
-- operator last opened or saved a draft of, since when they work it and their last action on it. The floor
-- shows a READY or PAUSED operator as IN_REWORK while that action is newer than their state and no older
-- than SUPERVISOR_REWORK_IDLE_SECONDS; fixing the result clears it.
ALTER TABLE operator_states
    ADD COLUMN rework_communication_id bigint,
    ADD COLUMN rework_since            timestamptz,
    ADD COLUMN rework_at               timestamptz;
