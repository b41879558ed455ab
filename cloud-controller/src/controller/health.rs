//! Health ingestion, from two sources: the bounded, lossy `health.#` queue (our agents, load
//! balancers), and the Thrift receiver (Stratos 4.1 agents, `crate::thrift_receiver`). Both
//! call [`HealthSink::ingest`]: a stat for a live member of the cluster it names is its
//! member's heartbeat, feeds the cluster's health windows and its load history (the console's
//! chart), and wakes the scaling loop, rate-limited by the loop's gate, so a load change is
//! evaluated within a fraction of a second; any other stat is dropped and counted as refused.
//! A load balancer's `ClusterRequestsInFlightEvent` feeds the cluster-level windows.

use super::definitions::Definitions;
use super::heartbeats::Heartbeats;
use super::history::LoadHistory;
use super::scaling::ScalingWake;
use super::scaling_state::ScalingState;
use super::store::now_secs;
use crate::metrics::{BusOutcome, Metrics};
use crate::thrift_receiver::StatSink;
use messaging::events::{ClusterRequestsInFlightEvent, MemberHealthStatsEvent};
use messaging::{Event, Subscription};
use std::sync::Arc;

/// The `kind` under which Thrift stats are counted in the bus metrics.
pub const THRIFT_KIND: &str = "thrift.cartridge_agent_health_stats";

/// Where every health stat goes.
pub struct HealthSink {
    pub(crate) heartbeats: Arc<Heartbeats>,
    pub(crate) scaling: Arc<ScalingState>,
    pub(crate) wake: Arc<ScalingWake>,
    pub(crate) history: Arc<LoadHistory>,
    pub(crate) metrics: Arc<Metrics>,
    /// The controller's runtime: the Thrift receiver calls from threads of its own, and the
    /// scaling wake schedules on the runtime.
    pub(crate) runtime: tokio::runtime::Handle,
    /// When tenants are kept apart on the bus: Thrift stats (one login shared by every
    /// Stratos agent) are applied only to clusters of cartridges whose agents use the shared
    /// channels (`bus.anonymous.mqtt`; docs/SECURITY.md).
    pub(crate) thrift_only_for_shared: Option<Arc<Definitions>>,
}

impl HealthSink {
    /// Apply one stat counted as `kind`; `false` when it names no live member of its cluster.
    pub fn ingest(&self, stats: &MemberHealthStatsEvent, kind: &str) -> bool {
        if !self
            .scaling
            .tracks(&stats.member.cluster_id, &stats.member.member_id)
        {
            self.metrics
                .bus_message(kind, BusOutcome::RefusedUnknownMember);
            return false;
        }
        let now = now_secs();
        self.heartbeats.heard(&stats.member.member_id);
        self.scaling.apply_health(stats, now);
        {
            let _runtime = self.runtime.enter();
            self.wake.for_health();
        }
        self.history.record(stats, now);
        self.metrics.bus_message(kind, BusOutcome::Consumed);
        true
    }
}

impl StatSink for HealthSink {
    fn apply(&self, stat: &MemberHealthStatsEvent) -> bool {
        if let Some(definitions) = &self.thrift_only_for_shared {
            let shared = self
                .scaling
                .service_of(&stat.member.cluster_id)
                .is_some_and(|service| definitions.anonymous_mqtt(&service));
            if !shared {
                self.metrics
                    .bus_message(THRIFT_KIND, BusOutcome::RefusedWrongTenant);
                return false;
            }
        }
        self.ingest(stat, THRIFT_KIND)
    }
}

pub(crate) async fn run(mut queue: Subscription, sink: Arc<HealthSink>) {
    while let Some(delivery) = queue.next().await {
        match &delivery.event {
            Event::MemberHealthStatsEvent(stats) => {
                sink.ingest(stats, delivery.event.name());
            }
            Event::ClusterRequestsInFlightEvent(event) => {
                ingest_cluster_requests(event, &sink.scaling, &sink.wake);
                sink.metrics
                    .bus_message(delivery.event.name(), BusOutcome::Consumed);
            }
            other => sink.metrics.bus_message(other.name(), BusOutcome::Consumed),
        }
        let _ = delivery.ack().await;
    }
}

/// The one entry point for a cluster-level requests-in-flight figure. Who may publish it for
/// a cluster is checked before it gets here: on a tenant's virtual host only for the
/// tenant's own clusters (controller/tenant_bus.rs); the platform's is trusted.
pub(crate) fn ingest_cluster_requests(
    event: &ClusterRequestsInFlightEvent,
    scaling: &ScalingState,
    wake: &Arc<ScalingWake>,
) {
    scaling.apply_cluster_requests(event, now_secs());
    wake.for_health();
}
