"""Administration: role permissions (what each role may do) and the audit log's viewer and export. Users and
teams are ``backend.operators``; the audit writer is ``backend.auth.audit``."""
