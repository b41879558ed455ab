DROP INDEX subscriptions_by_tenant_page;
CREATE INDEX clusters_by_tenant ON clusters (tenant_id);
DROP INDEX clusters_by_tenant_page;
CREATE INDEX members_by_cluster ON members (cluster_id);
DROP INDEX members_by_cluster_state;
DROP INDEX members_by_cluster_page;
