//! Load history for the web console's charts: per cluster, one sample every
//! [`SAMPLE_SECONDS`] for the last [`KEPT_SECONDS`] — the mean load average, memory and
//! requests in flight of the members that reported in the interval, and how many did.
//!
//! Recorded where health stats arrive, so every replica has it (each sees every stat). It lives
//! in memory only: it is for looking at, the autoscaler never reads it, and a restart starts
//! it afresh. Bounded: [`MAX_CLUSTERS`] clusters (stats for more are not recorded), at most
//! `KEPT_SECONDS / SAMPLE_SECONDS` samples each, [`MAX_MEMBERS_PER_SAMPLE`] members in one
//! sample; a cluster whose last stat is older than `KEPT_SECONDS` (a cluster that is gone sends
//! none) is dropped.

use super::Controller;
use crate::auth::Principal;
use crate::error::Result;
use messaging::events::MemberHealthStatsEvent;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// One sample per this many seconds.
pub const SAMPLE_SECONDS: f64 = 10.0;
/// How far back the history goes.
pub const KEPT_SECONDS: f64 = 3600.0;
/// Clusters with a history at once.
const MAX_CLUSTERS: usize = 10_000;
/// Members counted in one sample (the rest of a huge cluster's stats are not averaged in).
const MAX_MEMBERS_PER_SAMPLE: usize = 1_000;

/// One interval of a cluster's load. Metrics no member reported are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSample {
    /// Start of the interval, seconds since the Unix epoch.
    pub time: f64,
    pub load_average: Option<f64>,
    pub memory_consumption: Option<f64>,
    pub requests_in_flight: Option<f64>,
    /// Members that reported in the interval (the live ones).
    pub members: usize,
}

/// The last stat of each member in the open interval.
#[derive(Default)]
struct OpenInterval {
    start: f64,
    latest: BTreeMap<String, [Option<f64>; 3]>,
}

impl OpenInterval {
    fn sample(&self) -> LoadSample {
        let mean = |i: usize| {
            let values: Vec<f64> = self.latest.values().filter_map(|v| v[i]).collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        LoadSample {
            time: self.start,
            load_average: mean(0),
            memory_consumption: mean(1),
            requests_in_flight: mean(2),
            members: self.latest.len(),
        }
    }
}

#[derive(Default)]
struct ClusterHistory {
    closed: VecDeque<LoadSample>,
    open: OpenInterval,
    last_heard: f64,
}

/// Every cluster's recent load (see the module docs).
pub(crate) struct LoadHistory {
    clusters: Mutex<HashMap<String, ClusterHistory>>,
}

impl LoadHistory {
    pub(crate) fn new() -> LoadHistory {
        LoadHistory {
            clusters: Mutex::new(HashMap::new()),
        }
    }

    /// Count one member's stat, heard at `now` (seconds).
    pub(crate) fn record(&self, stats: &MemberHealthStatsEvent, now: f64) {
        let Ok(mut clusters) = self.clusters.lock() else {
            return;
        };
        let cluster_id = &stats.member.cluster_id;
        if !clusters.contains_key(cluster_id) {
            clusters.retain(|_, h| now - h.last_heard <= KEPT_SECONDS);
            if clusters.len() >= MAX_CLUSTERS {
                return;
            }
        }
        let history = clusters.entry(cluster_id.clone()).or_default();
        history.last_heard = now;
        let interval_start = (now / SAMPLE_SECONDS).floor() * SAMPLE_SECONDS;
        if history.open.start != interval_start {
            if !history.open.latest.is_empty() {
                let sample = history.open.sample();
                history.closed.push_back(sample);
            }
            while history
                .closed
                .front()
                .is_some_and(|s| now - s.time > KEPT_SECONDS)
            {
                history.closed.pop_front();
            }
            history.open = OpenInterval {
                start: interval_start,
                latest: BTreeMap::new(),
            };
        }
        let values = [
            stats.load_average,
            stats.memory_consumption,
            stats.requests_in_flight,
        ];
        let member_id = &stats.member.member_id;
        if history.open.latest.len() < MAX_MEMBERS_PER_SAMPLE
            || history.open.latest.contains_key(member_id)
        {
            history.open.latest.insert(member_id.clone(), values);
        }
    }

    /// A cluster's samples of the last hour before `now`, oldest first, the open interval last.
    pub(crate) fn samples(&self, cluster_id: &str, now: f64) -> Vec<LoadSample> {
        let Ok(clusters) = self.clusters.lock() else {
            return Vec::new();
        };
        let Some(history) = clusters.get(cluster_id) else {
            return Vec::new();
        };
        let mut out: Vec<LoadSample> = history
            .closed
            .iter()
            .filter(|s| now - s.time <= KEPT_SECONDS)
            .cloned()
            .collect();
        if !history.open.latest.is_empty() && now - history.open.start <= KEPT_SECONDS {
            out.push(history.open.sample());
        }
        out
    }
}

/// A cluster's load history and its autoscale policy's thresholds, as the console charts them.
pub struct ClusterLoad {
    pub samples: Vec<LoadSample>,
    pub thresholds: autoscaler::LoadThresholds,
}

impl Controller {
    /// The last hour of a cluster the principal may see (another tenant's is a 404).
    pub async fn cluster_load(&self, p: &Principal, cluster_id: &str) -> Result<ClusterLoad> {
        let cluster = self.get_cluster(p, cluster_id).await?;
        let policy = self.definitions.autoscale(&cluster.autoscale_policy);
        Ok(ClusterLoad {
            samples: self.history.samples(cluster_id, super::store::now_secs()),
            thresholds: policy.thresholds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging::events::MemberRef;

    fn stat(cluster: &str, member: &str, load: f64) -> MemberHealthStatsEvent {
        MemberHealthStatsEvent {
            member: MemberRef {
                service_name: "web".into(),
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

    #[test]
    fn samples_average_the_members_of_an_interval() {
        let history = LoadHistory::new();
        history.record(&stat("c", "m1", 10.0), 1000.0);
        history.record(&stat("c", "m1", 30.0), 1001.0);
        history.record(&stat("c", "m2", 50.0), 1002.0);
        history.record(&stat("c", "m1", 70.0), 1011.0);
        let samples = history.samples("c", 1012.0);
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].time, 1000.0);
        assert_eq!(samples[0].load_average, Some(40.0));
        assert_eq!(samples[0].members, 2);
        assert_eq!(samples[0].memory_consumption, None);
        assert_eq!(samples[1].load_average, Some(70.0));
        assert_eq!(samples[1].members, 1);
        assert!(history.samples("other", 1012.0).is_empty());
    }

    #[test]
    fn old_samples_and_silent_clusters_are_dropped() {
        let history = LoadHistory::new();
        history.record(&stat("old", "m1", 10.0), 0.0);
        history.record(&stat("c", "m1", 10.0), 0.0);
        history.record(&stat("c", "m1", 20.0), 10.0);
        history.record(&stat("c", "m1", 30.0), KEPT_SECONDS + 5.0);
        let samples = history.samples("c", KEPT_SECONDS + 5.0);
        assert_eq!(
            samples.iter().map(|s| s.time).collect::<Vec<_>>(),
            vec![10.0, KEPT_SECONDS]
        );
        // A new cluster's first stat sweeps out the ones silent for longer than the history.
        history.record(&stat("new", "m1", 10.0), KEPT_SECONDS + 30.0);
        assert!(history.samples("old", KEPT_SECONDS + 30.0).is_empty());
        assert_eq!(
            history.clusters.lock().unwrap().len(),
            2,
            "c and new remain"
        );
    }
}
