CREATE INDEX subscriptions_by_cluster ON subscriptions (cluster_id);
CREATE INDEX clusters_by_tenant ON clusters (tenant_id);
