//! What one cluster's evaluations remember between runs: cooldown times, the stabilization
//! window's recommendations, start backoff.

use super::record::DecisionRecord;
use super::settings::ScalingSettings;
use crate::backoff::PartitionBackoff;
use std::collections::{HashMap, VecDeque};

/// Sliding maximum of recommendations (monotonic deque: times increase, values decrease), so
/// the stabilization window costs O(1) amortised per evaluation and stays small.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RecommendationHistory {
    pub(super) entries: VecDeque<(f64, u32)>,
}

impl RecommendationHistory {
    pub(super) fn push(&mut self, time: f64, recommendation: u32, window: f64) {
        while let Some(&(_, value)) = self.entries.back() {
            if value > recommendation {
                break;
            }
            self.entries.pop_back();
        }
        self.entries.push_back((time, recommendation));
        let cutoff = time - window;
        while let Some(&(t, _)) = self.entries.front() {
            if t >= cutoff {
                break;
            }
            self.entries.pop_front();
        }
    }

    pub(super) fn highest_since(&self, cutoff: f64) -> Option<u32> {
        self.entries
            .iter()
            .find(|(t, _)| *t >= cutoff)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct NetworkPartitionMemory {
    pub(super) observing_since: Option<f64>,
    pub(super) history: RecommendationHistory,
    pub(super) last_scale_up_at: Option<f64>,
    pub(super) last_scale_down_at: Option<f64>,
}

/// What one cluster's evaluations remember between runs. Owned by the controller, one per
/// cluster; updated only through [`ScalingMemory::commit`] and the backoff's methods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalingMemory {
    /// Failed starts per partition: the controller records each start's outcome here.
    pub backoff: PartitionBackoff,
    pub(super) network_partitions: HashMap<String, NetworkPartitionMemory>,
}

impl ScalingMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remember an evaluation: its recommendations (for the stabilization window) and, unless
    /// it was a dry run, its scale-up/scale-down times (for the cooldowns).
    pub fn commit(&mut self, record: &DecisionRecord, settings: &ScalingSettings) {
        if !record.time.is_finite() {
            return;
        }
        let window = settings.sanitized().scale_down_stabilization_seconds;
        for np in &record.network_partitions {
            let memory = self
                .network_partitions
                .entry(np.network_partition_id.clone())
                .or_default();
            memory.observing_since.get_or_insert(record.time);
            memory.history.push(record.time, np.recommendation, window);
            if !record.dry_run {
                if np.scaled_up {
                    memory.last_scale_up_at = Some(record.time);
                }
                if np.scaled_down {
                    memory.last_scale_down_at = Some(record.time);
                }
            }
        }
    }

    /// Forget a network partition's history (e.g. after it left the deployment policy).
    pub fn forget_network_partition(&mut self, network_partition_id: &str) {
        self.network_partitions.remove(network_partition_id);
    }
}
