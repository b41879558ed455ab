//! Read views for the REST API: subscriptions, clusters and their members, decision records,
//! the last reconciliation; lists a page at a time ([`crate::paging`]). A tenant sees only its own; another tenant's cluster is a 404,
//! never a 403 — its existence is not theirs to know.

use super::Controller;
use crate::auth::Principal;
use crate::error::{ControllerError, Result};
use crate::model::{ClusterInfo, MemberInfo, SubscriptionInfo};
use crate::paging::{self, CursorList, PageRequest, Paged};
use alto_registry::{Cluster, Member};
use messaging::MemberState;
use std::collections::BTreeMap;

impl Controller {
    /// One page of the principal's subscriptions (all, for the platform admin), oldest first.
    pub async fn list_subscriptions(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Paged<SubscriptionInfo>> {
        let tenant = (!p.is_admin()).then_some(p.tenant_id);
        let after = paging::numeric_key(page, CursorList::Subscriptions)?;
        let limit = page.limit;
        let (subscriptions, mut counts) = self
            .store
            .run(move |r| {
                let subscriptions = r.subscriptions_page(tenant, after, limit)?;
                let ids: Vec<String> = subscriptions
                    .items
                    .iter()
                    .map(|s| s.cluster_id.clone())
                    .collect();
                Ok((subscriptions, r.member_counts(&ids)?))
            })
            .await?;
        let next_cursor = subscriptions
            .next
            .map(|id| paging::encode(CursorList::Subscriptions, &id.to_string()));
        let mut items = Vec::with_capacity(subscriptions.items.len());
        for s in subscriptions.items {
            let counts = counts.remove(&s.cluster_id).unwrap_or_default();
            items.push(self.subscription_summary(s, &counts).await?);
        }
        Ok(Paged { items, next_cursor })
    }

    pub(crate) async fn subscription_info(
        &self,
        s: alto_registry::Subscription,
    ) -> Result<SubscriptionInfo> {
        let ids = vec![s.cluster_id.clone()];
        let mut counts = self.store.run(move |r| r.member_counts(&ids)).await?;
        let counts = counts.remove(&s.cluster_id).unwrap_or_default();
        self.subscription_summary(s, &counts).await
    }

    /// A subscription with its cluster's host name and member counts (Terminated left out).
    async fn subscription_summary(
        &self,
        s: alto_registry::Subscription,
        counts: &BTreeMap<MemberState, i64>,
    ) -> Result<SubscriptionInfo> {
        let cluster_id = s.cluster_id.clone();
        let cluster = self.store.run(move |r| r.get_cluster(&cluster_id)).await?;
        let min_members = self
            .definitions
            .resolve(&s.cartridge_type, &s.deployment_policy)
            .map(|(_, policy)| policy.min())
            .unwrap_or(0);
        let count = |state| counts.get(&state).copied().unwrap_or(0);
        let live: i64 = counts.values().sum::<i64>() - count(MemberState::Terminated);
        Ok(SubscriptionInfo {
            host_name: cluster.map(|c| c.host_name).unwrap_or_default(),
            members_total: usize::try_from(live).unwrap_or(0),
            members_active: usize::try_from(count(MemberState::Active)).unwrap_or(0),
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

    /// One page of the principal's clusters in id order, each with its member counts and the
    /// first page of its members.
    pub async fn list_clusters(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Paged<ClusterInfo>> {
        let tenant = (!p.is_admin()).then_some(p.tenant_id);
        let after = page.after(CursorList::Clusters)?;
        let limit = page.limit;
        let clusters = self
            .store
            .run(move |r| r.clusters_page(tenant, false, after.as_deref(), limit))
            .await?;
        let mut items = Vec::with_capacity(clusters.items.len());
        for c in clusters.items {
            items.push(self.cluster_info(c, &PageRequest::default()).await?);
        }
        Ok(Paged {
            items,
            next_cursor: clusters
                .next
                .map(|id| paging::encode(CursorList::Clusters, &id)),
        })
    }

    /// A cluster with its member counts and the first page of its members.
    pub async fn get_cluster(&self, p: &Principal, cluster_id: &str) -> Result<ClusterInfo> {
        self.get_cluster_page(p, cluster_id, &PageRequest::default())
            .await
    }

    /// A cluster with its member counts and the page of its members `page` names.
    pub async fn get_cluster_page(
        &self,
        p: &Principal,
        cluster_id: &str,
        page: &PageRequest,
    ) -> Result<ClusterInfo> {
        let cluster = self.visible_cluster(p, cluster_id).await?;
        self.cluster_info(cluster, page).await
    }

    async fn visible_cluster(&self, p: &Principal, cluster_id: &str) -> Result<Cluster> {
        let id = cluster_id.to_string();
        self.store
            .run(move |r| r.get_cluster(&id))
            .await?
            .filter(|c| p.is_admin() || c.tenant_id == p.tenant_id)
            .ok_or_else(|| ControllerError::NotFound(format!("cluster {cluster_id}")))
    }

    async fn cluster_info(&self, c: Cluster, page: &PageRequest) -> Result<ClusterInfo> {
        let after = paging::member_key(page)?;
        let (id, limit) = (c.cluster_id.clone(), page.limit);
        let (members, mut counts) = self
            .store
            .run(move |r| {
                Ok((
                    r.members_page(&id, true, after.as_ref(), limit)?,
                    r.member_counts(std::slice::from_ref(&id))?,
                ))
            })
            .await?;
        let member_counts = counts
            .remove(&c.cluster_id)
            .unwrap_or_default()
            .into_iter()
            .map(|(state, n)| (state.as_str().to_string(), n))
            .collect();
        Ok(ClusterInfo {
            members: members.items.into_iter().map(member_info).collect(),
            next_cursor: members.next.as_ref().map(paging::member_cursor),
            member_counts,
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

    /// One page of [`Controller::cluster_decisions`], oldest first (a record that does not
    /// parse is skipped, as there).
    pub async fn cluster_decisions_page(
        &self,
        p: &Principal,
        cluster_id: &str,
        page: &PageRequest,
    ) -> Result<Paged<serde_json::Value>> {
        self.visible_cluster(p, cluster_id).await?;
        let after = paging::numeric_key(page, CursorList::Decisions)?;
        let (id, limit) = (cluster_id.to_string(), page.limit);
        let stored = self
            .store
            .run(move |r| r.decisions_page(&id, after, limit))
            .await?;
        let items = stored
            .items
            .into_iter()
            .filter_map(|d| match serde_json::from_str(&d.body) {
                Ok(value) => Some(value),
                Err(e) => {
                    tracing::warn!(cluster = cluster_id, seq = d.seq, error = %e, "unreadable decision record skipped");
                    None
                }
            })
            .collect();
        Ok(Paged {
            items,
            next_cursor: stored
                .next
                .map(|seq| paging::encode(CursorList::Decisions, &seq.to_string())),
        })
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
