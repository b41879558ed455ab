//! What an evaluation decided, and why: the actions and the decision record.

use crate::window::Metric;
use serde::Serialize;

/// Why a member is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StartCause {
    /// A partition is below its minimum.
    Minimum,
    /// Replaces a faulty or expired member.
    Replacement,
    /// The load requires more members.
    ScaleUp,
}

/// Something the controller must do for the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ScalingAction {
    #[serde(rename_all = "camelCase")]
    StartMember {
        network_partition_id: String,
        partition_id: String,
        provider_type: String,
        cause: StartCause,
    },
    /// Graceful scale-down: send the cleanup event, wait for ReadyToShutDown, then terminate.
    #[serde(rename_all = "camelCase")]
    TerminateMember {
        member_id: String,
        network_partition_id: String,
        partition_id: String,
    },
    /// An Active member went silent: terminate it (its replacement is already decided).
    #[serde(rename_all = "camelCase")]
    MarkFaulty {
        member_id: String,
        network_partition_id: String,
        partition_id: String,
        silent_seconds: f64,
    },
    /// A member never became Active: terminate it (its replacement is already decided).
    #[serde(rename_all = "camelCase")]
    ExpirePending {
        member_id: String,
        network_partition_id: String,
        partition_id: String,
        pending_seconds: f64,
    },
}

/// How trustworthy a metric's value is in this evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Freshness {
    /// A fresh cluster-level value, or fresh values from every Active member.
    Fresh,
    /// Fresh values from only some Active members (still used to scale up).
    Partial,
    /// No fresh value at all, though the metric was reported before (by an Active member of
    /// the network partition or cluster-level): stale, so it blocks scale-down.
    Missing,
    /// No Active member of the network partition has ever reported it and no cluster-level
    /// value ever came: the metric has no source, and is ignored for both directions.
    Unreported,
}

/// One metric of one network partition in a decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricDecision {
    pub metric: Metric,
    pub threshold: f64,
    pub freshness: Freshness,
    /// Window values the prediction used (absent when missing).
    pub average: Option<f64>,
    pub gradient: Option<f64>,
    pub second_derivative: Option<f64>,
    pub prediction: Option<f64>,
    /// Members this metric asks for (absent when missing).
    pub required: Option<u32>,
}

/// The decision for one network partition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPartitionDecision {
    pub network_partition_id: String,
    pub min: u32,
    pub max: u32,
    /// Members that count toward capacity after this evaluation's faults (pending + Active).
    pub members: u32,
    /// Failed starts that still count against the maximum.
    pub failed_starts: u32,
    pub metrics: Vec<MetricDecision>,
    /// Required count from the rules, clamped to [min, max].
    pub required: u32,
    /// What this evaluation adds to the stabilization history.
    pub recommendation: u32,
    /// Highest recommendation within the stabilization window (the scale-down floor).
    pub stabilized_required: u32,
    pub started: u32,
    pub scaled_up: bool,
    pub scaled_down: bool,
    pub reason: String,
}

/// Member counts by state, for the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberCounts {
    pub pending: u32,
    pub active: u32,
    pub leaving: u32,
    pub faulty: u32,
    pub expired: u32,
    /// Members whose partition is not in the deployment policy (ignored by scaling).
    pub outside_policy: u32,
}

/// The outcome of one evaluation: what to do, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    pub cluster_id: String,
    pub time: f64,
    pub dry_run: bool,
    pub members: MemberCounts,
    pub network_partitions: Vec<NetworkPartitionDecision>,
    /// Sum of the network partitions' required counts.
    pub required: u32,
    /// Everything the evaluation decided (also in dry-run, where nothing is actuated).
    #[serde(rename = "actions")]
    pub planned_actions: Vec<ScalingAction>,
    pub reason: String,
}

impl DecisionRecord {
    /// The actions to actuate: empty in dry-run. The controller actuates only these, so dry-run
    /// is enforced in this one place.
    pub fn actions(&self) -> &[ScalingAction] {
        if self.dry_run {
            &[]
        } else {
            &self.planned_actions
        }
    }

    /// What was decided, actuated or not.
    pub fn planned_actions(&self) -> &[ScalingAction] {
        &self.planned_actions
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Members that count after this decision's actions (pending + Active, starts added,
    /// terminations, faults and expiries removed).
    pub fn members_after(&self) -> u32 {
        let counted = self
            .network_partitions
            .iter()
            .fold(0u32, |sum, n| sum.saturating_add(n.members));
        let terminating = self
            .planned_actions
            .iter()
            .filter(|a| matches!(a, ScalingAction::TerminateMember { .. }))
            .count() as u32;
        let started = self
            .planned_actions
            .iter()
            .filter(|a| matches!(a, ScalingAction::StartMember { .. }))
            .count() as u32;
        counted.saturating_add(started).saturating_sub(terminating)
    }
}
