DROP INDEX clusters_by_tenant;
DROP INDEX subscriptions_by_cluster;
