//! What the autoscaler remembers per cluster between evaluations: the members' health windows
//! and the cluster's scaling memory (cooldowns, stabilization, per-partition backoff).
//!
//! In memory by design: windows refill within one window length of stats and the cooldowns
//! and backoff only ever delay a decision, so a restarted controller is at worst a little
//! more cautious. Entries go when their cluster or member goes.

use alto_registry::Member;
use autoscaler::{
    ClusterHealth, DecisionRecord, FailureClass, MemberStatus, Metric, MetricWindows,
    NetworkPartitionHealth, ScalingMemory, ScalingSettings,
};
use iaas::{ErrorClass, IaasError};
use messaging::events::{ClusterRequestsInFlightEvent, MemberHealthStatsEvent};
use messaging::MemberState;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

struct ClusterScaling {
    health: ClusterHealth,
    memory: ScalingMemory,
    /// The members the windows track (to forget the ones that went).
    members: HashSet<String>,
    /// The cluster's cartridge type, as its members say (set once one is seen).
    service_name: Option<String>,
    /// The deployment policy's network partitions, as of the last evaluation: cluster-level
    /// stats for any other network partition are dropped (the map stays bounded).
    network_partitions: HashSet<String>,
    /// Cluster-level stats without a network partition (the whole cluster's figure).
    whole_cluster: MetricWindows,
}

pub(crate) struct ScalingState {
    clusters: Mutex<HashMap<String, ClusterScaling>>,
}

/// What the evaluation needs to know of a member beyond its registry row.
pub(crate) struct MemberFacts {
    /// When it was last heard from (`None`: unknown).
    pub last_heard_at: Option<f64>,
    /// Asked to clean up (an Active member on its way out counts as leaving).
    pub leaving: bool,
}

impl ScalingState {
    pub(crate) fn new() -> ScalingState {
        ScalingState {
            clusters: Mutex::new(HashMap::new()),
        }
    }

    /// Feed one stat into its cluster's windows (by arrival time: agents' clocks may differ).
    /// Stats of clusters and members the controller does not track are dropped, so the map
    /// never grows with what the network sends.
    /// Is `member_id` a live member of `cluster_id` (as the scaling loop last saw it)?
    pub(crate) fn tracks(&self, cluster_id: &str, member_id: &str) -> bool {
        self.clusters
            .lock()
            .map(|clusters| {
                clusters
                    .get(cluster_id)
                    .is_some_and(|c| c.members.contains(member_id))
            })
            .unwrap_or(false)
    }

    /// The cartridge type of a tracked cluster.
    pub(crate) fn service_of(&self, cluster_id: &str) -> Option<String> {
        self.clusters
            .lock()
            .ok()?
            .get(cluster_id)
            .and_then(|c| c.service_name.clone())
    }

    pub(crate) fn apply_health(&self, stats: &MemberHealthStatsEvent, now: f64) {
        let Ok(mut clusters) = self.clusters.lock() else {
            return;
        };
        let Some(cluster) = clusters.get_mut(&stats.member.cluster_id) else {
            return;
        };
        if !cluster.members.contains(&stats.member.member_id) {
            return;
        }
        for (metric, value) in [
            (Metric::LoadAverage, stats.load_average),
            (Metric::MemoryConsumption, stats.memory_consumption),
            (Metric::RequestsInFlight, stats.requests_in_flight),
        ] {
            if let Some(v) = value {
                cluster
                    .health
                    .apply_member(&stats.member.member_id, metric, now, v);
            }
        }
    }

    /// Feed a load balancer's requests-in-flight figure into the cluster-level windows (by
    /// arrival time). Dropped for clusters not tracked and for network partitions the
    /// cluster's deployment policy does not have.
    pub(crate) fn apply_cluster_requests(&self, event: &ClusterRequestsInFlightEvent, now: f64) {
        let Ok(mut clusters) = self.clusters.lock() else {
            return;
        };
        let Some(cluster) = clusters.get_mut(&event.cluster_id) else {
            return;
        };
        let value = event.requests_in_flight;
        match &event.network_partition_id {
            None => {
                cluster
                    .whole_cluster
                    .apply(Metric::RequestsInFlight, now, value);
            }
            Some(np) if cluster.network_partitions.contains(np) => {
                cluster
                    .health
                    .apply_network_partition(np, Metric::RequestsInFlight, now, value);
            }
            Some(_) => {}
        }
    }

    /// The cluster-level health per network partition of `network_partition_ids` (the
    /// deployment policy's): a network partition's own figure when it has one, else its share
    /// of the whole cluster's figure in proportion to its Active members (equal shares when no
    /// member is Active). Also remembers the ids, for [`Self::apply_cluster_requests`].
    pub(crate) fn network_partition_health(
        &self,
        cluster_id: &str,
        network_partition_ids: &[&str],
        statuses: &[MemberStatus],
        now: f64,
    ) -> Vec<NetworkPartitionHealth> {
        let Ok(mut clusters) = self.clusters.lock() else {
            return Vec::new();
        };
        let Some(cluster) = clusters.get_mut(cluster_id) else {
            return Vec::new();
        };
        cluster.network_partitions = network_partition_ids
            .iter()
            .map(|id| id.to_string())
            .collect();
        cluster.whole_cluster.expire(now);
        let whole = cluster.whole_cluster.all_stats();
        let active_in = |np: &str| {
            statuses
                .iter()
                .filter(|m| m.state == MemberState::Active && m.network_partition_id == np)
                .count()
        };
        let total_active: usize = network_partition_ids.iter().map(|np| active_in(np)).sum();
        network_partition_ids
            .iter()
            .filter_map(|np| {
                let mut health = cluster
                    .health
                    .network_partition(np)
                    .map(MetricWindows::all_stats)
                    .unwrap_or_default();
                let metric = Metric::RequestsInFlight;
                if health.get(metric).is_none() {
                    let share = if total_active == 0 {
                        1.0 / network_partition_ids.len().max(1) as f64
                    } else {
                        active_in(np) as f64 / total_active as f64
                    };
                    health.set(
                        metric,
                        whole.get(metric).map(|s| autoscaler::WindowStats {
                            average: s.average * share,
                            gradient: s.gradient * share,
                            second_derivative: s.second_derivative * share,
                            ..s
                        }),
                    );
                }
                if whole.reported(metric) {
                    health.set_reported(metric, true);
                }
                let any = Metric::ALL.iter().any(|m| health.reported(*m));
                any.then(|| NetworkPartitionHealth {
                    network_partition_id: np.to_string(),
                    health,
                })
            })
            .collect()
    }

    /// The evaluation's view of the cluster's live members, and its scaling memory. Members
    /// no longer live are forgotten here.
    pub(crate) fn prepare(
        &self,
        cluster_id: &str,
        members: &[Member],
        settings: &ScalingSettings,
        facts: impl Fn(&Member) -> MemberFacts,
        now: f64,
    ) -> (Vec<MemberStatus>, ScalingMemory) {
        let Ok(mut clusters) = self.clusters.lock() else {
            return (Vec::new(), ScalingMemory::default());
        };
        let cluster = clusters
            .entry(cluster_id.to_string())
            .or_insert_with(|| ClusterScaling {
                health: ClusterHealth::new(settings.window_config()),
                memory: ScalingMemory::default(),
                members: HashSet::new(),
                service_name: None,
                network_partitions: HashSet::new(),
                whole_cluster: MetricWindows::new(settings.window_config()),
            });
        let live: HashSet<String> = members.iter().map(|m| m.member_id.clone()).collect();
        for gone in cluster.members.difference(&live) {
            cluster.health.forget_member(gone);
        }
        cluster.members = live;
        if let Some(m) = members.first() {
            cluster.service_name = Some(m.service_name.clone());
        }
        cluster.health.expire(now);
        let mut statuses = Vec::with_capacity(members.len());
        for m in members {
            cluster
                .health
                .track_member(&m.member_id, &m.network_partition_id);
            let health = cluster
                .health
                .member(&m.member_id)
                .map(|w| w.all_stats())
                .unwrap_or_default();
            let facts = facts(m);
            statuses.push(MemberStatus {
                member_id: m.member_id.clone(),
                network_partition_id: m.network_partition_id.clone(),
                partition_id: m.partition_id.clone(),
                state: if facts.leaving && m.state == MemberState::Active {
                    MemberState::InMaintenance
                } else {
                    m.state
                },
                started_at: m.created_at as f64 / 1000.0,
                state_since: state_since(m) as f64 / 1000.0,
                health,
                last_heard_at: facts.last_heard_at,
            });
        }
        (statuses, cluster.memory.clone())
    }

    /// Remember an evaluation (cooldowns, stabilization).
    pub(crate) fn commit(
        &self,
        cluster_id: &str,
        record: &DecisionRecord,
        settings: &ScalingSettings,
    ) {
        if let Ok(mut clusters) = self.clusters.lock() {
            if let Some(cluster) = clusters.get_mut(cluster_id) {
                cluster.memory.commit(record, settings);
            }
        }
    }

    /// A start's outcome goes to the cluster's backoff, which the next evaluation honours
    /// (per error class; a rate limit's retry-after is kept).
    pub(crate) fn record_start(
        &self,
        cluster_id: &str,
        partition_id: &str,
        error: Option<&IaasError>,
        now: f64,
    ) {
        let Ok(mut clusters) = self.clusters.lock() else {
            return;
        };
        let Some(cluster) = clusters.get_mut(cluster_id) else {
            return;
        };
        let backoff = &mut cluster.memory.backoff;
        match error {
            None => backoff.record_success(partition_id),
            Some(e) => {
                let (class, retry_after) = match &e.class {
                    ErrorClass::Quota => (FailureClass::Quota, None),
                    ErrorClass::Capacity => (FailureClass::Capacity, None),
                    ErrorClass::RateLimited { retry_after } => (
                        FailureClass::RateLimited,
                        retry_after.map(|d| d.as_secs_f64()),
                    ),
                    ErrorClass::Auth => (FailureClass::Auth, None),
                    ErrorClass::Transient => (FailureClass::Transient, None),
                    _ => (FailureClass::Other, None),
                };
                backoff.record_failure(partition_id, class, now, retry_after);
            }
        }
    }

    /// Keep only the clusters still alive.
    pub(crate) fn retain_clusters(&self, live: &HashSet<&str>) {
        if let Ok(mut clusters) = self.clusters.lock() {
            clusters.retain(|id, _| live.contains(id.as_str()));
        }
    }

    #[cfg(test)]
    pub(crate) fn cluster_count(&self) -> usize {
        self.clusters.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// When the member entered its current state (ms); the row's last update when unknown. An
/// Active member's silence is counted from its activation at the earliest.
fn state_since(m: &Member) -> i64 {
    match m.state {
        MemberState::Created => Some(m.created_at),
        MemberState::Initialized => m.initialized_at,
        MemberState::Starting => m.started_at,
        MemberState::Active => m.activated_at,
        MemberState::ReadyToShutDown => m.terminate_requested_at,
        MemberState::InMaintenance | MemberState::Terminated => None,
    }
    .unwrap_or(m.updated_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging::events::MemberRef;

    fn member(id: &str) -> Member {
        crate::controller::test_support::member(id, MemberState::Active, None)
    }

    fn stat(cluster: &str, member: &str, load: f64) -> MemberHealthStatsEvent {
        MemberHealthStatsEvent {
            member: MemberRef {
                service_name: "php".into(),
                cluster_id: cluster.into(),
                cluster_instance_id: None,
                network_partition_id: "np".into(),
                partition_id: "p".into(),
                member_id: member.into(),
            },
            timestamp: 0,
            load_average: Some(load),
            memory_consumption: None,
            requests_in_flight: None,
        }
    }

    fn facts(_: &Member) -> MemberFacts {
        MemberFacts {
            last_heard_at: Some(100.0),
            leaving: false,
        }
    }

    #[test]
    fn silence_counts_from_the_state_change_not_the_last_row_update() {
        let mut m = member("a");
        m.activated_at = Some(5_000);
        m.updated_at = 9_000;
        let (statuses, _) = ScalingState::new().prepare(
            "c",
            &[m.clone()],
            &ScalingSettings::default(),
            facts,
            100.0,
        );
        assert_eq!(statuses[0].state_since, 5.0);
        m.activated_at = None;
        assert_eq!(state_since(&m), 9_000, "unknown: the row's last update");
    }

    fn lb(cluster: &str, np: Option<&str>, rif: f64) -> ClusterRequestsInFlightEvent {
        ClusterRequestsInFlightEvent {
            cluster_id: cluster.into(),
            cluster_instance_id: None,
            network_partition_id: np.map(str::to_string),
            requests_in_flight: rif,
            timestamp: 0,
        }
    }

    fn np_member(id: &str, np: &str) -> Member {
        let mut m = member(id);
        m.network_partition_id = np.into();
        m
    }

    #[test]
    fn a_load_balancers_figure_is_shared_by_active_members_or_taken_per_network_partition() {
        let state = ScalingState::new();
        let settings = ScalingSettings::default();
        let live = [
            np_member("a", "np1"),
            np_member("b", "np1"),
            np_member("c", "np2"),
        ];
        let (statuses, _) = state.prepare("c", &live, &settings, facts, 100.0);
        let rif = |health: &[NetworkPartitionHealth], np: &str| {
            health
                .iter()
                .find(|h| h.network_partition_id == np)
                .and_then(|h| h.health.get(Metric::RequestsInFlight))
                .map(|s| s.average)
        };
        // Nothing came yet: no cluster-level health at all.
        assert!(state
            .network_partition_health("c", &["np1", "np2"], &statuses, 100.0)
            .is_empty());
        // Before the first evaluation learned the network partitions, or for one the policy
        // does not have: dropped.
        state.apply_cluster_requests(&lb("c", Some("np9"), 5.0), 100.0);
        state.apply_cluster_requests(&lb("elsewhere", None, 5.0), 100.0);
        // The whole cluster's 30: np1 has 2 of the 3 Active members.
        state.apply_cluster_requests(&lb("c", None, 30.0), 101.0);
        let health = state.network_partition_health("c", &["np1", "np2"], &statuses, 101.0);
        assert_eq!(rif(&health, "np1"), Some(20.0));
        assert_eq!(rif(&health, "np2"), Some(10.0));
        // A network partition's own figure takes precedence over its share.
        state.apply_cluster_requests(&lb("c", Some("np2"), 7.0), 102.0);
        let health = state.network_partition_health("c", &["np1", "np2"], &statuses, 102.0);
        assert_eq!(rif(&health, "np2"), Some(7.0));
        assert_eq!(rif(&health, "np1"), Some(20.0));
        assert!(state
            .network_partition_health("c", &["np1", "np2"], &statuses, 102.0)
            .iter()
            .all(|h| h.network_partition_id != "np9"));
        // Long after: the values expired, the source is still known (stale, not unreported).
        let (statuses, _) = state.prepare("c", &live, &settings, facts, 1_000.0);
        let later = state.network_partition_health("c", &["np1", "np2"], &statuses, 1_000.0);
        assert_eq!(later.len(), 2);
        assert!(later
            .iter()
            .all(|h| h.health.get(Metric::RequestsInFlight).is_none()
                && h.health.reported(Metric::RequestsInFlight)));
    }

    #[test]
    fn windows_follow_the_live_members_and_clusters() {
        let state = ScalingState::new();
        let settings = ScalingSettings::default();
        let live = [member("a"), member("b")];
        state.prepare("c", &live, &settings, facts, 100.0);
        state.apply_health(&stat("c", "a", 3.0), 100.0);
        // Stats for members and clusters nobody tracks are dropped.
        state.apply_health(&stat("c", "stranger", 3.0), 100.0);
        state.apply_health(&stat("other", "a", 3.0), 100.0);
        assert_eq!(state.cluster_count(), 1);
        let (statuses, _) = state.prepare("c", &live, &settings, facts, 101.0);
        let a = statuses.iter().find(|s| s.member_id == "a").unwrap();
        assert!(
            a.health.get(Metric::LoadAverage).is_some(),
            "a's stat was kept"
        );
        // b goes: its window goes too; a later stat for it is dropped.
        state.prepare("c", &live[..1], &settings, facts, 102.0);
        state.apply_health(&stat("c", "b", 5.0), 102.0);
        let (statuses, _) = state.prepare("c", &live[..1], &settings, facts, 103.0);
        assert_eq!(statuses.len(), 1);
        state.retain_clusters(&HashSet::new());
        assert_eq!(
            state.cluster_count(),
            0,
            "a removed cluster leaves nothing behind"
        );
    }
}
