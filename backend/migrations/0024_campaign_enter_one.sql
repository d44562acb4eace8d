-- One client entering a campaign, as one call a statement can make (issue 19): the campaigns' entry
-- (CampaignEntry, backend/campaigns/service.py) for a single entry, so that an integration request claims its
-- requestID and enters its task in ONE statement (no BEGIN/COMMIT round trips). The semantics of
-- CampaignEntry.enter: the client's open task in the campaign is closed REENTERED, a DELETE queued for
-- telephony if it was handed over, and the new task inserted (with p_task_id when the caller allocated it
-- from campaign_tasks_id_seq, else a new id). One row: the task's id, the DELETEs' ids and their tasks (to
-- send once the transaction commits).
--
-- PL/pgSQL, not SQL: its statement's plan is kept per connection (a SQL function's is made again on every
-- call). The open task is found by campaign_tasks_phone_idx on the phone alone (a client has few tasks), the
-- campaign a filter: "campaign_id + 0" keeps campaign_tasks_open_by_campaign_idx out of reach, which a plan
-- made over a near-empty table chose and then walked all the campaign's open tasks on every entry.
CREATE FUNCTION campaign_enter_one(p_task_id bigint, p_campaign_id bigint, p_phone text, p_client_info jsonb,
                                   p_task_time timestamptz, p_rules_version_id bigint, p_priority integer,
                                   p_application_no bigint)
    RETURNS TABLE (task_id bigint, delete_ids bigint[], deleted_tasks bigint[])
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    WITH open AS (SELECT t.id, t.task_state FROM campaign_tasks t
                   WHERE t.phone = p_phone AND t.campaign_id + 0 = p_campaign_id AND t.task_state <> 'DONE'
                     FOR UPDATE),
         closed AS (UPDATE campaign_tasks t SET task_state = 'DONE', close_reason = 'REENTERED'
                      FROM open o WHERE t.id = o.id RETURNING t.id, o.task_state AS was),
         deletes AS (INSERT INTO telephony_tasks (campaign_task_id, task_type)
                     SELECT c.id, 'DELETE' FROM closed c WHERE c.was = 'IN_PROGRESS' ORDER BY c.id
                     RETURNING telephony_tasks.id, telephony_tasks.campaign_task_id),
         task AS (INSERT INTO campaign_tasks (id, campaign_id, phone, client_info, task_time, rules_version_id,
                                              priority, application_no)
                  VALUES (coalesce(p_task_id, nextval('campaign_tasks_id_seq')), p_campaign_id, p_phone,
                          p_client_info, p_task_time, p_rules_version_id, p_priority, p_application_no)
                  RETURNING campaign_tasks.id)
    SELECT (SELECT n.id FROM task n),
           (SELECT array_agg(d.id ORDER BY d.id) FROM deletes d),
           (SELECT array_agg(d.campaign_task_id ORDER BY d.id) FROM deletes d);
END $$;
