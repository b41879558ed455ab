//! Subscribing and unsubscribing: requests only record intent (subscription and cluster rows,
//! or their leaving status) and wake the scaling loop, which does the rest.

use super::launch::{member_payload, PayloadFor};
use super::topology::topology_cluster;
use super::Controller;
use crate::auth::Principal;
use crate::error::{ControllerError, Result};
use crate::model::{SubscribeRequest, SubscriptionInfo};
use crate::naming;
use alto_registry::{
    Cluster, ClusterStatus, NewCluster, NewSubscription, RegistryError, SubscriptionStatus,
};
use messaging::events::ClusterCreatedEvent;
use messaging::Event;
use std::collections::BTreeMap;

impl Controller {
    /// What the tenant's live clusters allow together (by their deployment policies' maximum),
    /// plus a new cluster of `new_max`, within `--max-members-per-tenant`.
    async fn check_tenant_limit(&self, tenant_id: i64, new_max: u32) -> Result<()> {
        let clusters = self
            .store
            .run(move |r| r.list_clusters(Some(tenant_id), false))
            .await?;
        let existing: u64 = clusters
            .iter()
            .filter(|c| c.status != ClusterStatus::Removed)
            .map(|c| {
                self.definitions
                    .resolve(&c.service_name, &c.deployment_policy)
                    .map(|(_, policy)| u64::from(policy.max()))
                    .unwrap_or(0)
            })
            .fold(0, u64::saturating_add);
        self.limits.check_tenant(tenant_id, existing, new_max)
    }

    /// The alias is checked against Stratos' pattern, the cartridge and policies must exist,
    /// every partition must resolve to a cloud we have a driver for, and a trial payload is
    /// built so that a value the payload format cannot carry is a 400 now rather than a failed
    /// start later. Subscription and cluster rows are written in one transaction.
    pub async fn subscribe(
        &self,
        p: &Principal,
        req: SubscribeRequest,
    ) -> Result<SubscriptionInfo> {
        if !alto_config::is_valid_alias(&req.alias) {
            return Err(ControllerError::invalid(format!(
                "alias {:?} does not match Stratos' alias pattern ([a-z0-9]+([-][a-z0-9])*)+",
                req.alias
            )));
        }
        let (cartridge, policy) = self
            .definitions
            .resolve(&req.cartridge_type, &req.deployment_policy)?;
        if !self
            .definitions
            .has_autoscale_policy(&req.autoscale_policy)?
        {
            return Err(ControllerError::invalid(format!(
                "autoscale policy {} is not deployed",
                req.autoscale_policy
            )));
        }
        self.clouds.check(&policy)?;
        self.limits.check_policy(&policy)?;
        self.check_tenant_limit(p.tenant_id, policy.max()).await?;
        let cluster_id = naming::cluster_id(&req.alias, &req.cartridge_type);
        let host_name = naming::host_name(
            &req.alias,
            naming::cartridge_host(cartridge.host.as_deref(), &cartridge.cartridge_type),
        );
        let new_cluster = NewCluster {
            cluster_id: cluster_id.clone(),
            service_name: req.cartridge_type.clone(),
            host_name: host_name.clone(),
            tenant_id: p.tenant_id,
            autoscale_policy: req.autoscale_policy.clone(),
            deployment_policy: req.deployment_policy.clone(),
            cartridge_key: naming::cartridge_key(),
            properties: BTreeMap::new(),
        };
        let trial = Cluster {
            cluster_id: cluster_id.clone(),
            tenant_id: p.tenant_id,
            alias: req.alias.clone(),
            service_name: req.cartridge_type.clone(),
            host_name,
            autoscale_policy: req.autoscale_policy.clone(),
            deployment_policy: req.deployment_policy.clone(),
            cartridge_key: new_cluster.cartridge_key.clone(),
            properties: BTreeMap::new(),
            status: ClusterStatus::Created,
            created_at: 0,
            updated_at: 0,
        };
        let (np_id, partition_id) = policy
            .network_partitions
            .first()
            .and_then(|np| np.partitions.first().map(|p| (np.id.clone(), p.id.clone())))
            .unwrap_or_default();
        member_payload(
            &cartridge,
            &PayloadFor {
                cluster: &trial,
                member_id: "member",
                network_partition_id: &np_id,
                partition_id: &partition_id,
                broker: None,
            },
            &crate::agent_endpoints::AgentEndpoints::default(),
        )
        .map_err(|e| ControllerError::invalid(e.to_string()))?;

        let new_subscription = NewSubscription {
            tenant_id: p.tenant_id,
            alias: req.alias.clone(),
            cartridge_type: req.cartridge_type.clone(),
            autoscale_policy: req.autoscale_policy.clone(),
            deployment_policy: req.deployment_policy.clone(),
        };
        let (subscription, cluster) = self
            .store
            .run(move |r| r.create_subscription(new_subscription, new_cluster))
            .await
            .map_err(|e| match e {
                ControllerError::Registry(RegistryError::Conflict(_)) => {
                    ControllerError::Conflict(format!(
                        "alias {} is taken (cluster {} exists)",
                        req.alias, cluster_id
                    ))
                }
                other => other,
            })?;
        self.topology
            .publish_for(
                cluster.tenant_id,
                &cluster.service_name,
                &Event::ClusterCreatedEvent(ClusterCreatedEvent {
                    cluster: topology_cluster(&cluster),
                }),
            )
            .await;
        self.tenant_buses.nudge();
        self.wake.now();
        Ok(SubscriptionInfo {
            alias: subscription.alias,
            cartridge_type: subscription.cartridge_type,
            autoscale_policy: subscription.autoscale_policy,
            deployment_policy: subscription.deployment_policy,
            cluster_id: cluster.cluster_id,
            host_name: cluster.host_name,
            tenant_id: subscription.tenant_id,
            status: format!("{:?}", subscription.status),
            min_members: policy.min(),
            members_total: 0,
            members_active: 0,
        })
    }

    /// Mark the subscription as leaving; the scaling loop cleans up and terminates every
    /// member gracefully, then removes the cluster.
    pub async fn unsubscribe(&self, p: &Principal, alias: &str) -> Result<SubscriptionInfo> {
        let (tenant, alias_owned) = (p.tenant_id, alias.to_string());
        let subscription = self
            .store
            .run(move |r| r.get_subscription(tenant, &alias_owned))
            .await?
            .ok_or_else(|| ControllerError::NotFound(format!("subscription {alias}")))?;
        let (alias_owned, cluster_id) = (alias.to_string(), subscription.cluster_id.clone());
        let subscription = self
            .store
            .run(move |r| {
                r.set_subscription_status(tenant, &alias_owned, SubscriptionStatus::Unsubscribing)?;
                r.set_cluster_status(&cluster_id, ClusterStatus::Terminating)?;
                r.get_subscription(tenant, &alias_owned)?
                    .ok_or_else(|| RegistryError::NotFound(format!("subscription {alias_owned}")))
            })
            .await?;
        self.wake.now();
        self.subscription_info(subscription).await
    }
}
