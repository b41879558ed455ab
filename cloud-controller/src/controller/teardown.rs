//! Unsubscribing: the subscription is `Unsubscribing` and its cluster `Terminating`; each
//! scaling pass drives the cluster's members out — a member whose agent reported is asked to
//! clean up, one that never reported (or is already leaving) is terminated at once — and
//! removes the cluster when no live member remains.

use super::scaling::ScalingLoop;
use super::topology::topology_cluster;
use crate::error::Result;
use alto_registry::{Cluster, ClusterStatus, Member};
use messaging::events::ClusterRemovedEvent;
use messaging::{Event, MemberState};

impl ScalingLoop {
    pub(crate) async fn teardown(&self, cluster: &Cluster, members: &[Member]) -> Result<()> {
        for member in members {
            match member.state {
                MemberState::Created | MemberState::Initialized | MemberState::ReadyToShutDown => {
                    self.actuator.terminate(member, "unsubscribed").await?;
                }
                MemberState::Starting | MemberState::Active | MemberState::InMaintenance => {
                    self.cleanup.request(member, "unsubscribed").await?;
                }
                MemberState::Terminated => {}
            }
        }
        for member in self.cleanup.follow_up(members).await {
            tracing::warn!(member = %member.member_id, "no ReadyToShutdown before the termination timeout; terminating anyway");
            self.actuator
                .terminate(member, "termination timeout")
                .await?;
        }
        if members.iter().any(|m| m.state != MemberState::Terminated) {
            return Ok(());
        }
        let (cluster_id, tenant, alias) = (
            cluster.cluster_id.clone(),
            cluster.tenant_id,
            cluster.alias.clone(),
        );
        self.store
            .run(move |r| {
                r.set_cluster_status(&cluster_id, ClusterStatus::Removed)?;
                r.delete_subscription(tenant, &alias)?;
                Ok(())
            })
            .await?;
        self.decisions.forget(&cluster.cluster_id).await?;
        let removed = topology_cluster(cluster);
        self.topology
            .publish_for(
                cluster.tenant_id,
                &cluster.service_name,
                &Event::ClusterRemovedEvent(ClusterRemovedEvent {
                    service_name: removed.service_name,
                    cluster_id: removed.cluster_id,
                    deployment_policy: removed.deployment_policy_name,
                    is_lb_cluster: false,
                }),
            )
            .await;
        tracing::info!(cluster = %cluster.cluster_id, "cluster removed");
        Ok(())
    }
}
