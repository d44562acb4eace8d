-- Administration (issue 17): permissions per role that admins change, and one append-only audit log of every
-- admin and supervisor action.

-- Which role may do what. The catalogue of permissions is fixed in code (backend/auth/permissions.py); this
-- table holds which of them each role has. Defaults equal the behaviour before permissions existed.
CREATE TABLE role_permissions (
    role       text        NOT NULL CHECK (role IN ('operator', 'supervisor', 'analyst', 'admin')),
    permission text        NOT NULL CHECK (permission ~ '^[a-z]+\.[a-z]+$'),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, permission)
);
INSERT INTO role_permissions (role, permission)
SELECT r.role, p.permission
  FROM (VALUES ('supervisor'), ('admin')) AS r (role),
       (VALUES ('floor.view'), ('floor.control'), ('users.view'), ('campaigns.view'), ('rules.view'),
               ('dnc.view'), ('bookings.view'), ('leads.import')) AS p (permission)
UNION ALL
SELECT 'admin', p.permission
  FROM (VALUES ('users.manage'), ('permissions.manage'), ('audit.view'), ('campaigns.manage'),
               ('rules.manage'), ('dnc.manage'), ('bookings.manage'), ('integrations.manage')) AS p (permission)
UNION ALL
SELECT r.role, p.permission
  FROM (VALUES ('analyst'), ('supervisor'), ('admin')) AS r (role),
       (VALUES ('reports.view'), ('reports.export')) AS p (permission);

-- The audit log: who (the actor, and their login as it was), what (action), to what (target type and id),
-- when, from where (the client address as the app's forwarded-header policy sees it), and the target before and
-- after. Written in the transaction of the action itself: an action that fails leaves no row.
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    actor_id    bigint      REFERENCES operators (id),   -- NULL: the CLI or the system
    actor_login text,
    action      text        NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_type text        NOT NULL CHECK (target_type ~ '^[a-z_]+$'),
    target_id   text,
    client_addr text,
    before      jsonb,
    after       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The viewer pages newest first (the primary key), optionally by actor, action, target or period.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, id DESC);
CREATE INDEX audit_log_created_idx ON audit_log (created_at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The supervisors' audit (0014) moves into the audit log; supervisor_audit stays as a view of the supervisors'
-- actions on operators (the supervisor API's /audit reads it). An UPDATE or DELETE through the view reaches
-- audit_log's triggers and is refused like before.
INSERT INTO audit_log (actor_id, actor_login, action, target_type, target_id, client_addr, before, after, created_at)
SELECT a.actor_id, o.login,
       CASE a.action WHEN 'PAUSE' THEN 'operator.pause' WHEN 'UNPAUSE' THEN 'operator.unpause'
                     ELSE 'operator.end_sessions' END,
       'operator', a.target_id::text, a.client_addr, a.before, a.after, a.created_at
  FROM supervisor_audit a JOIN operators o ON o.id = a.actor_id
 ORDER BY a.id;
DROP TABLE supervisor_audit;
CREATE VIEW supervisor_audit AS
SELECT id, actor_id,
       CASE action WHEN 'operator.pause' THEN 'PAUSE' WHEN 'operator.unpause' THEN 'UNPAUSE'
                   ELSE 'END_SESSIONS' END AS action,
       target_id::bigint AS target_id, client_addr, before, after, created_at
  FROM audit_log
 WHERE target_type = 'operator' AND action IN ('operator.pause', 'operator.unpause', 'operator.end_sessions');
