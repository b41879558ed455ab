//! Topology events: each member's state change as it is committed, and the complete topology
//! at start, every topology interval and on `initializer.CompleteTopologyRequestEvent`, so a
//! late subscriber catches up.
//!
//! A member's state event the bus refused (the broker away) is announced again, with the
//! member's state by then, every [`RETRY_INTERVAL`] until the bus takes it: its agent waits
//! for it to take the next step of the handshake, so it must not be lost to an outage.

use super::definitions::Definitions;
use super::store::Store;
use super::tenant_bus::{TenantBuses, ANONYMOUS};
use crate::error::Result;
use alto_registry::{Cluster, Member};
use messaging::events::{
    ClusterInfo as TopologyCluster, CompleteTopologyEvent, MemberActivatedEvent, MemberAddresses,
    MemberCreatedEvent, MemberInitializedEvent, MemberRef, MemberStateManager, MemberStatusEvent,
    MemberTerminatedEvent, Topology, TopologyCluster as TopologyClusterEntry, TopologyMember,
    TopologyService,
};
use messaging::{Bus, Event, MemberState, Subscription};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often refused member state events are announced again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Refused announcements remembered at most (beyond, the complete topology repairs).
const MAX_UNSENT: usize = 100_000;

pub(crate) struct TopologyPublisher {
    bus: Arc<dyn Bus>,
    /// Each tenant's virtual host gets the events of its own members and clusters.
    tenants: Arc<TenantBuses>,
    definitions: Arc<Definitions>,
    /// Members whose latest state event the bus refused.
    unsent: Mutex<BTreeSet<String>>,
}

impl TopologyPublisher {
    pub(crate) fn new(
        bus: Arc<dyn Bus>,
        tenants: Arc<TenantBuses>,
        definitions: Arc<Definitions>,
    ) -> TopologyPublisher {
        TopologyPublisher {
            bus,
            tenants,
            definitions,
            unsent: Mutex::new(BTreeSet::new()),
        }
    }

    pub(crate) fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Publish; a failure is logged (the periodic complete topology repairs what was missed).
    pub(crate) async fn publish(&self, event: &Event) {
        self.try_publish(event).await;
    }

    /// Publish on the platform's bus; `false` (and a log line) when the bus did not take it.
    pub(crate) async fn try_publish(&self, event: &Event) -> bool {
        publish_on(self.bus.as_ref(), event).await
    }

    /// Publish an event about `tenant_id`'s member or cluster of `service_name`: on the
    /// platform's bus, on the tenant's virtual host, and on the anonymous MQTT one when the
    /// cartridge opted in. `true` when every bus that should have it took it.
    pub(crate) async fn try_publish_for(
        &self,
        tenant_id: i64,
        service_name: &str,
        event: &Event,
    ) -> bool {
        let mut sent = self.try_publish(event).await;
        if let Some(bus) = self.tenants.bus_for(tenant_id) {
            sent &= publish_on(bus.as_ref(), event).await;
        }
        if let Some(bus) = self.tenants.anonymous_bus() {
            if self.definitions.anonymous_mqtt(service_name) {
                sent &= publish_on(bus.as_ref(), event).await;
            }
        }
        sent
    }

    /// Like [`TopologyPublisher::try_publish_for`]; a failure is logged only.
    pub(crate) async fn publish_for(&self, tenant_id: i64, service_name: &str, event: &Event) {
        self.try_publish_for(tenant_id, service_name, event).await;
    }

    /// The topology event announcing a member's current state.
    pub(crate) async fn member_state(&self, member: &Member) {
        let member_ref = member_ref(member);
        let status_event = |status| MemberStatusEvent {
            member: member_ref.clone(),
            status,
            properties: BTreeMap::new(),
        };
        let addresses =
            || MemberAddresses::new(member.private_ips.clone(), member.public_ips.clone());
        let event = match member.state {
            MemberState::Created => Event::MemberCreatedEvent(MemberCreatedEvent {
                member: member_ref.clone(),
                init_time: member.created_at,
                properties: BTreeMap::new(),
            }),
            MemberState::Initialized => Event::MemberInitializedEvent(MemberInitializedEvent {
                member: member_ref.clone(),
                instance_id: member.instance_id.clone().unwrap_or_default(),
                addresses: addresses(),
                properties: BTreeMap::new(),
            }),
            MemberState::Starting => Event::MemberStartedEvent(status_event(MemberState::Starting)),
            MemberState::Active => Event::MemberActivatedEvent(MemberActivatedEvent {
                member: member_ref.clone(),
                port_map: self.definitions.port_map(&member.service_name),
                addresses: addresses(),
            }),
            MemberState::InMaintenance => {
                Event::MemberMaintenanceModeEvent(status_event(MemberState::InMaintenance))
            }
            MemberState::ReadyToShutDown => {
                Event::MemberReadyToShutdownEvent(status_event(MemberState::ReadyToShutDown))
            }
            MemberState::Terminated => Event::MemberTerminatedEvent(MemberTerminatedEvent {
                member: member_ref.clone(),
                properties: BTreeMap::new(),
            }),
        };
        let sent = self
            .try_publish_for(member.tenant_id, &member.service_name, &event)
            .await;
        if let Ok(mut unsent) = self.unsent.lock() {
            if sent {
                unsent.remove(&member.member_id);
            } else if unsent.len() < MAX_UNSENT {
                unsent.insert(member.member_id.clone());
            }
        }
    }

    /// Announce again what the bus refused, with each member's state as it is now.
    async fn retry_unsent(&self, store: &Store) {
        let ids: Vec<String> = match self.unsent.lock() {
            Ok(mut unsent) => std::mem::take(&mut *unsent).into_iter().collect(),
            Err(_) => return,
        };
        if ids.is_empty() {
            return;
        }
        tracing::info!(
            members = ids.len(),
            "announcing member states the bus refused"
        );
        for id in ids {
            let lookup = id.clone();
            match store.run(move |r| r.get_member(&lookup)).await {
                Ok(Some(m)) => self.member_state(&m).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(member = %id, error = %e, "cannot read a member to announce it again");
                    if let Ok(mut unsent) = self.unsent.lock() {
                        unsent.insert(id);
                    }
                }
            }
        }
    }

    /// The complete topology: everything, only a tenant's clusters and members, or only
    /// those of cartridges whose agents use the anonymous MQTT virtual host.
    async fn complete(&self, store: &Store, tenant: Option<i64>) -> Result<CompleteTopologyEvent> {
        let (mut clusters, mut members) = store
            .run(|r| Ok((r.list_clusters(None, false)?, r.list_live_members()?)))
            .await?;
        match tenant {
            None => {}
            Some(ANONYMOUS) => {
                clusters.retain(|c| self.definitions.anonymous_mqtt(&c.service_name));
                members.retain(|m| self.definitions.anonymous_mqtt(&m.service_name));
            }
            Some(t) => {
                clusters.retain(|c| c.tenant_id == t);
                members.retain(|m| m.tenant_id == t);
            }
        }
        let mut by_cluster: BTreeMap<String, Vec<Member>> = BTreeMap::new();
        for m in members {
            by_cluster.entry(m.cluster_id.clone()).or_default().push(m);
        }
        let mut service_map: BTreeMap<String, TopologyService> = BTreeMap::new();
        for cluster in clusters {
            let service = service_map
                .entry(cluster.service_name.clone())
                .or_insert_with(|| TopologyService {
                    service_name: cluster.service_name.clone(),
                    service_type: "SingleTenant".into(),
                    port_map: self.definitions.port_map(&cluster.service_name),
                    cluster_id_cluster_map: BTreeMap::new(),
                });
            let port_map = self.definitions.port_map(&cluster.service_name);
            let member_map = by_cluster
                .remove(&cluster.cluster_id)
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    let mut member = member_ref(m);
                    member.cluster_instance_id =
                        Some(crate::payload::cluster_instance_id(&cluster.alias));
                    (
                        m.member_id.clone(),
                        TopologyMember {
                            member,
                            status: m.state,
                            instance_id: m.instance_id.clone(),
                            addresses: MemberAddresses::new(
                                m.private_ips.clone(),
                                m.public_ips.clone(),
                            ),
                            init_time: m.created_at,
                            member_state_manager: MemberStateManager::current(m.state),
                            port_map: port_map.clone(),
                            properties: BTreeMap::new(),
                        },
                    )
                })
                .collect();
            service.cluster_id_cluster_map.insert(
                cluster.cluster_id.clone(),
                TopologyClusterEntry {
                    cluster: topology_cluster(&cluster),
                    member_map,
                },
            );
        }
        Ok(CompleteTopologyEvent {
            topology: Topology {
                service_map,
                initialized: true,
            },
        })
    }

    /// CompleteTopologyEvent at start, every `interval` and on request: on the platform's
    /// bus with everything, on each tenant's virtual host with its own.
    pub(crate) async fn run(
        self: Arc<Self>,
        store: Store,
        interval: Duration,
        mut requests: Subscription,
        mut tenant_requests: mpsc::Receiver<i64>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        let mut retry = tokio::time::interval(RETRY_INTERVAL);
        loop {
            let audience: Vec<Option<i64>> = tokio::select! {
                _ = retry.tick() => {
                    self.retry_unsent(&store).await;
                    continue;
                }
                _ = ticker.tick() => std::iter::once(None)
                    .chain(self.tenants.tenants().into_iter().map(Some))
                    .chain(self.tenants.anonymous_bus().map(|_| Some(ANONYMOUS)))
                    .collect(),
                request = requests.next() => match request {
                    Some(d) => {
                        let _ = d.ack().await;
                        vec![None]
                    }
                    None => return,
                },
                Some(tenant) = tenant_requests.recv() => vec![Some(tenant)],
            };
            for tenant in audience {
                match self.complete(&store, tenant).await {
                    Ok(topology) => {
                        let event = Event::CompleteTopologyEvent(topology);
                        match tenant {
                            None => self.publish(&event).await,
                            Some(t) => {
                                if let Some(bus) = self.tenants.bus_for(t) {
                                    publish_on(bus.as_ref(), &event).await;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot build the complete topology"),
                }
            }
            super::free_memory::release_after_pass();
        }
    }
}

async fn publish_on(bus: &dyn Bus, event: &Event) -> bool {
    match bus.publish(event).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(event = event.name(), error = %e, "publish failed");
            false
        }
    }
}

/// A cluster as topology events carry it.
pub(crate) fn topology_cluster(cluster: &Cluster) -> TopologyCluster {
    TopologyCluster {
        service_name: cluster.service_name.clone(),
        cluster_id: cluster.cluster_id.clone(),
        autoscale_policy_name: cluster.autoscale_policy.clone(),
        deployment_policy_name: cluster.deployment_policy.clone(),
        host_names: vec![cluster.host_name.clone()],
        tenant_range: cluster.tenant_id.to_string(),
        is_lb_cluster: false,
        is_kubernetes_cluster: false,
        app_id: crate::payload::application_id(&cluster.alias),
        kubernetes_services: Vec::new(),
        properties: BTreeMap::new(),
    }
}

pub(crate) fn member_ref(m: &Member) -> MemberRef {
    MemberRef {
        service_name: m.service_name.clone(),
        cluster_id: m.cluster_id.clone(),
        cluster_instance_id: None,
        network_partition_id: m.network_partition_id.clone(),
        partition_id: m.partition_id.clone(),
        member_id: m.member_id.clone(),
    }
}
