-- Crash safety: what the controller used to keep only in memory. Kept column-for-column
-- identical to migrations/sqlite (TEXT and BIGINT only).

-- When the controller asked for a member to be cleaned up (ms since epoch); set once.
ALTER TABLE members ADD COLUMN cleanup_requested_at BIGINT;
CREATE INDEX members_by_cleanup ON members (cleanup_requested_at);
-- Live-member counts per provider (quota, max.iaas.workers) without scanning every cluster.
CREATE INDEX members_by_provider ON members (provider_type, state);

-- The newest decision records per cluster, seq allocated by the registry (max + 1).
CREATE TABLE decision_records (
    cluster_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (cluster_id, seq)
);

-- Payloads served once by URL; the key is a hash of the one-time token, never the token.
CREATE TABLE payload_grants (
    token_hash TEXT PRIMARY KEY NOT NULL,
    member_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX payload_grants_by_member ON payload_grants (member_id);
