//! Read views for the REST API: subscriptions, clusters and their members, decision records,
//! the last reconciliation. A tenant sees only its own; another tenant's cluster is a 404,
//! never a 403 — its existence is not theirs to know.

use super::Controller;
use crate::auth::Principal;
use crate::error::{ControllerError, Result};
use crate::model::{ClusterInfo, MemberInfo, SubscriptionInfo};
use alto_registry::{Cluster, Member};
use messaging::MemberState;

impl Controller {
    pub async fn list_subscriptions(&self, p: &Principal) -> Result<Vec<SubscriptionInfo>> {
        let tenant = (!p.is_admin()).then_some(p.tenant_id);
        let subscriptions = self
            .store
            .run(move |r| r.list_subscriptions(tenant))
            .await?;
        let mut out = Vec::new();
        for s in subscriptions {
            out.push(self.subscription_info(s).await?);
        }
        Ok(out)
    }

    pub(crate) async fn subscription_info(
        &self,
        s: alto_registry::Subscription,
    ) -> Result<SubscriptionInfo> {
        let cluster_id = s.cluster_id.clone();
        let (cluster, members) = self
            .store
            .run(move |r| {
                Ok((
                    r.get_cluster(&cluster_id)?,
                    r.list_members(&cluster_id, false)?,
                ))
            })
            .await?;
        let min_members = self
            .definitions
            .resolve(&s.cartridge_type, &s.deployment_policy)
            .map(|(_, policy)| policy.min())
            .unwrap_or(0);
        Ok(SubscriptionInfo {
            host_name: cluster.map(|c| c.host_name).unwrap_or_default(),
            members_total: members.len(),
            members_active: members
                .iter()
                .filter(|m| m.state == MemberState::Active)
                .count(),
            status: format!("{:?}", s.status),
            alias: s.alias,
            cartridge_type: s.cartridge_type,
            autoscale_policy: s.autoscale_policy,
            deployment_policy: s.deployment_policy,
            cluster_id: s.cluster_id,
            tenant_id: s.tenant_id,
            min_members,
        })
    }

    pub async fn list_clusters(&self, p: &Principal) -> Result<Vec<ClusterInfo>> {
        let tenant = (!p.is_admin()).then_some(p.tenant_id);
        let clusters = self
            .store
            .run(move |r| r.list_clusters(tenant, false))
            .await?;
        let mut out = Vec::new();
        for c in clusters {
            out.push(self.cluster_info(c).await?);
        }
        Ok(out)
    }

    pub async fn get_cluster(&self, p: &Principal, cluster_id: &str) -> Result<ClusterInfo> {
        let cluster = self.visible_cluster(p, cluster_id).await?;
        self.cluster_info(cluster).await
    }

    async fn visible_cluster(&self, p: &Principal, cluster_id: &str) -> Result<Cluster> {
        let id = cluster_id.to_string();
        self.store
            .run(move |r| r.get_cluster(&id))
            .await?
            .filter(|c| p.is_admin() || c.tenant_id == p.tenant_id)
            .ok_or_else(|| ControllerError::NotFound(format!("cluster {cluster_id}")))
    }

    async fn cluster_info(&self, c: Cluster) -> Result<ClusterInfo> {
        let id = c.cluster_id.clone();
        let members = self.store.run(move |r| r.list_members(&id, true)).await?;
        Ok(ClusterInfo {
            members: members.into_iter().map(member_info).collect(),
            status: format!("{:?}", c.status),
            cluster_id: c.cluster_id,
            alias: c.alias,
            service_name: c.service_name,
            host_name: c.host_name,
            tenant_id: c.tenant_id,
            autoscale_policy: c.autoscale_policy,
            deployment_policy: c.deployment_policy,
        })
    }

    /// The recent decision records of a cluster the principal may see, oldest first.
    pub async fn cluster_decisions(
        &self,
        p: &Principal,
        cluster_id: &str,
    ) -> Result<Vec<serde_json::Value>> {
        self.visible_cluster(p, cluster_id).await?;
        self.decisions.list(cluster_id).await
    }

    /// The last reconciliation pass (platform admin).
    pub async fn reconcile_report(&self, p: &Principal) -> Result<serde_json::Value> {
        p.require_admin("reading the reconciliation report")?;
        let leading = self.leadership.fence().is_some();
        self.reconciler.shared_report(leading).await
    }

    /// The payload behind a payload-by-URL token, once.
    pub async fn payload_by_token(&self, token: &str) -> Result<String> {
        self.grants.take(token).await
    }
}

fn member_info(m: Member) -> MemberInfo {
    MemberInfo {
        state: m.state.as_str().to_string(),
        member_id: m.member_id,
        instance_id: m.instance_id,
        provider_type: m.provider_type,
        network_partition_id: m.network_partition_id,
        partition_id: m.partition_id,
        private_ips: m.private_ips,
        public_ips: m.public_ips,
        last_error: m.last_error,
        termination_reason: m.termination_reason,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}
