-- The admin API lists a campaign's tasks page by page (GET /api/admin/v1/campaigns/{id}/tasks):
-- WHERE campaign_id = $1 [AND task_state = $2] ORDER BY id LIMIT/OFFSET walks this index in order.
CREATE INDEX campaign_tasks_campaign_idx ON campaign_tasks (campaign_id, id);
