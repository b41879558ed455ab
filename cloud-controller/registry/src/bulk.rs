//! Bulk loading: many subscriptions with their clusters and Active members in a few large
//! transactions, for benchmarks and migrations that bring an installation's members in at
//! once (not the start path: that records each member's intent before its cloud call).

use crate::schema::{clusters, members, subscriptions};
use crate::*;

/// Rows per multi-row insert: SQLite binds at most 32,766 parameters per statement and a
/// member row has 23 columns.
pub(crate) const ROWS_PER_INSERT: usize = 1_000;

/// An Active member already running on its cloud.
#[derive(Debug, Clone)]
pub struct BulkMember {
    pub member: NewMember,
    pub instance_id: String,
    pub private_ip: String,
    pub public_ip: String,
}

/// A subscription, its cluster and the cluster's members.
#[derive(Debug, Clone)]
pub struct BulkSubscription {
    pub subscription: NewSubscription,
    pub cluster: NewCluster,
    pub members: Vec<BulkMember>,
}

impl Registry {
    /// Insert `subscriptions` (Active), their clusters (Active) and members (Active, with
    /// their instances), each subscription in one transaction. Fails on the first id that
    /// exists already; the subscriptions before it stay loaded.
    pub fn bulk_load(&self, subscriptions: &[BulkSubscription]) -> Result<usize, RegistryError> {
        let mut loaded = 0;
        for bulk in subscriptions {
            let now = now_ms();
            let cluster_row = ClusterRow {
                cluster_id: bulk.cluster.cluster_id.clone(),
                tenant_id: bulk.cluster.tenant_id,
                alias: bulk.subscription.alias.clone(),
                service_name: bulk.cluster.service_name.clone(),
                host_name: bulk.cluster.host_name.clone(),
                autoscale_policy: bulk.cluster.autoscale_policy.clone(),
                deployment_policy: bulk.cluster.deployment_policy.clone(),
                cartridge_key: bulk.cluster.cartridge_key.clone(),
                properties: to_json(&bulk.cluster.properties)?,
                status: ClusterStatus::Active.as_str().into(),
                created_at: now,
                updated_at: now,
            };
            let member_rows = bulk
                .members
                .iter()
                .map(|m| active_row(m, now))
                .collect::<Result<Vec<_>, _>>()?;
            let cluster_id = bulk.cluster.cluster_id.clone();
            write_tx!(self, c => {
                // As create_subscription: the next subscription id is read, then used.
                c.lock_tables("subscriptions, clusters")?;
                diesel::insert_into(clusters::table)
                    .values(&cluster_row)
                    .execute(c)
                    .map_err(query("bulk_load", || format!("cluster {cluster_id} already exists")))?;
                let max: Option<i64> = subscriptions::table
                    .select(diesel::dsl::max(subscriptions::id))
                    .first(c)
                    .map_err(plain("bulk_load"))?;
                let sub_row = SubscriptionRow {
                    id: max.unwrap_or(0) + 1,
                    tenant_id: bulk.subscription.tenant_id,
                    alias: bulk.subscription.alias.clone(),
                    cartridge_type: bulk.subscription.cartridge_type.clone(),
                    autoscale_policy: bulk.subscription.autoscale_policy.clone(),
                    deployment_policy: bulk.subscription.deployment_policy.clone(),
                    cluster_id: cluster_id.clone(),
                    status: SubscriptionStatus::Active.as_str().into(),
                    created_at: now,
                };
                diesel::insert_into(subscriptions::table)
                    .values(&sub_row)
                    .execute(c)
                    .map_err(query("bulk_load", || format!("subscription {} already exists", sub_row.alias)))?;
                for rows in member_rows.chunks(ROWS_PER_INSERT) {
                    diesel::insert_into(members::table)
                        .values(rows)
                        .execute(c)
                        .map_err(query("bulk_load", || format!("a member id of {cluster_id} exists already")))?;
                }
                Ok(())
            })?;
            loaded += member_rows.len();
        }
        Ok(loaded)
    }
}

/// The row of a member that went through its whole start: Active, with its instance.
fn active_row(m: &BulkMember, now: i64) -> Result<MemberRow, RegistryError> {
    let mut row = MemberRow::created(m.member.clone(), now)?;
    row.instance_id = Some(m.instance_id.clone());
    row.state = MemberState::Active.as_str().into();
    row.private_ips = to_json(&[&m.private_ip])?;
    row.public_ips = to_json(&[&m.public_ip])?;
    row.initialized_at = Some(now);
    row.started_at = Some(now);
    row.activated_at = Some(now);
    Ok(row)
}
