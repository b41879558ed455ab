//! Health ingestion: the bounded, lossy `health.#` queue. Every member stat is its member's
//! heartbeat, feeds the cluster's health windows and its load history (the console's chart);
//! a load balancer's `ClusterRequestsInFlightEvent` feeds the cluster-level windows. Either
//! wakes the scaling loop, rate-limited by the loop's gate, so a load change is evaluated
//! within a fraction of a second.

use super::heartbeats::Heartbeats;
use super::history::LoadHistory;
use super::scaling::ScalingWake;
use super::scaling_state::ScalingState;
use super::store::now_secs;
use crate::metrics::{BusOutcome, Metrics};
use messaging::events::ClusterRequestsInFlightEvent;
use messaging::{Event, Subscription};
use std::sync::Arc;

pub(crate) async fn run(
    mut queue: Subscription,
    heartbeats: Arc<Heartbeats>,
    scaling: Arc<ScalingState>,
    wake: Arc<ScalingWake>,
    history: Arc<LoadHistory>,
    metrics: Arc<Metrics>,
) {
    while let Some(delivery) = queue.next().await {
        if let Event::MemberHealthStatsEvent(stats) = &delivery.event {
            heartbeats.heard(&stats.member.member_id);
            scaling.apply_health(stats, now_secs());
            wake.for_health();
            history.record(stats, now_secs());
        }
        if let Event::ClusterRequestsInFlightEvent(event) = &delivery.event {
            ingest_cluster_requests(event, &scaling, &wake);
        }
        metrics.bus_message(delivery.event.name(), BusOutcome::Consumed);
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
