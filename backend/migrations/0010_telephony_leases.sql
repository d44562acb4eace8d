-- Issue 18: several telephony processes share the operators. Each operator is polled by the holder of its
-- lease (a Redis key with an expiry); every time a lease changes hands its fencing token here goes up. The
-- counter lives in PostgreSQL, not Redis, so a Redis restart can never hand out a token at or below one
-- already issued. A row is never deleted while its operator exists (a logout keeps it), so a token only grows.
CREATE TABLE telephony_leases (
    operator_id bigint      PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    token       bigint      NOT NULL,
    holder      text        NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
);

-- The token of the lease under which the session row (its provider session and event cursor) was last
-- written: a write under an older token is refused, so a process that lost the lease cannot move a cursor.
ALTER TABLE telephony_active_sessions ADD COLUMN lease_token bigint NOT NULL DEFAULT 0;
