-- PostgreSQL schema. Kept column-for-column identical to migrations/sqlite (TEXT and BIGINT only,
-- ids allocated by the registry) so one diesel schema and one query path serve both backends.
CREATE TABLE definitions (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE tenants (
    id BIGINT PRIMARY KEY NOT NULL,
    domain TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    login TEXT PRIMARY KEY NOT NULL,
    tenant_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL
);

CREATE TABLE clusters (
    cluster_id TEXT PRIMARY KEY NOT NULL,
    tenant_id BIGINT NOT NULL,
    alias TEXT NOT NULL,
    service_name TEXT NOT NULL,
    host_name TEXT NOT NULL,
    autoscale_policy TEXT NOT NULL,
    deployment_policy TEXT NOT NULL,
    cartridge_key TEXT NOT NULL,
    properties TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE subscriptions (
    id BIGINT PRIMARY KEY NOT NULL,
    tenant_id BIGINT NOT NULL,
    alias TEXT NOT NULL,
    cartridge_type TEXT NOT NULL,
    autoscale_policy TEXT NOT NULL,
    deployment_policy TEXT NOT NULL,
    cluster_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, alias)
);

CREATE TABLE members (
    member_id TEXT PRIMARY KEY NOT NULL,
    cluster_id TEXT NOT NULL,
    tenant_id BIGINT NOT NULL,
    service_name TEXT NOT NULL,
    network_partition_id TEXT NOT NULL,
    partition_id TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    instance_id TEXT,
    state TEXT NOT NULL,
    private_ips TEXT NOT NULL,
    public_ips TEXT NOT NULL,
    tags TEXT NOT NULL,
    last_error TEXT,
    termination_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    initialized_at BIGINT,
    started_at BIGINT,
    activated_at BIGINT,
    terminate_requested_at BIGINT,
    terminated_at BIGINT
);

CREATE INDEX members_by_cluster ON members (cluster_id);
CREATE INDEX members_by_state ON members (state);
