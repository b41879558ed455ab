//! Health ingestion, from two sources: the bounded, lossy `health.#` queue (our agents), and
//! the Thrift receiver (Stratos 4.1 agents, `crate::thrift_receiver`). Both call
//! [`HealthSink::ingest`]: a stat for a live member of the cluster it names is its member's
//! heartbeat, feeds the cluster's health windows and its load history (the console's chart),
//! and wakes the scaling loop, rate-limited by the loop's gate, so a load change is evaluated
//! within a fraction of a second; any other stat is dropped and counted as refused.

use super::heartbeats::Heartbeats;
use super::history::LoadHistory;
use super::scaling::ScalingWake;
use super::scaling_state::ScalingState;
use super::store::now_secs;
use crate::metrics::{BusOutcome, Metrics};
use crate::thrift_receiver::StatSink;
use messaging::events::MemberHealthStatsEvent;
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
        self.ingest(stat, THRIFT_KIND)
    }
}

pub(crate) async fn run(mut queue: Subscription, sink: Arc<HealthSink>) {
    while let Some(delivery) = queue.next().await {
        match &delivery.event {
            Event::MemberHealthStatsEvent(stats) => {
                sink.ingest(stats, delivery.event.name());
            }
            other => sink.metrics.bus_message(other.name(), BusOutcome::Consumed),
        }
        let _ = delivery.ack().await;
    }
}
