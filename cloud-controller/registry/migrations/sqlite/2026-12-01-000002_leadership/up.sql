-- Leadership of several controller replicas on one database. Kept column-for-column
-- identical in migrations/sqlite and migrations/postgres (TEXT and BIGINT only).

-- The one lease row (id 1): who leads (the replica id, and the process: a restarted replica
-- with the same id is a new term), the fencing token of its term (one more for every new
-- term, never reused), when the term began and until when the lease holds (ms since epoch,
-- database clock).
CREATE TABLE leader_lease (
    id BIGINT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    fencing_token BIGINT NOT NULL,
    since_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
INSERT INTO leader_lease (id, holder, incarnation, fencing_token, since_ms, expires_at_ms)
    VALUES (1, '', '', 0, 0, 0);

-- The fencing token of the term that last recorded the intent of a cloud call for the member
-- (start or terminate): which leader acted, checked in the same transaction.
ALTER TABLE members ADD COLUMN action_token BIGINT;

-- Reports any replica serves the same (the leader's last reconciliation): JSON by name.
CREATE TABLE controller_reports (
    name TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
