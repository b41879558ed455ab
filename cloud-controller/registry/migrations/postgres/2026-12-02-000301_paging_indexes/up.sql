-- Keyset pages of the REST API (registry/src/pages.rs): a cluster's members in
-- (created_at, member_id) order, its counts by state from the index alone, and a tenant's
-- clusters and subscriptions in key order. Each new index starts with the column of the one
-- it replaces, so lookups by cluster or tenant alone still use them.
CREATE INDEX members_by_cluster_page ON members (cluster_id, created_at, member_id);
CREATE INDEX members_by_cluster_state ON members (cluster_id, state);
DROP INDEX members_by_cluster;
CREATE INDEX clusters_by_tenant_page ON clusters (tenant_id, cluster_id);
DROP INDEX clusters_by_tenant;
CREATE INDEX subscriptions_by_tenant_page ON subscriptions (tenant_id, id);
