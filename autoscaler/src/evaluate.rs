//! One evaluation of one cluster: members, health and policies in, a [`DecisionRecord`] out.
//!
//! [`evaluate`] is pure: it reads an [`EvaluationInput`] and the cluster's [`ScalingMemory`]
//! (cooldowns, stabilization history, start backoff) and returns what should be done and why.
//! The controller actuates [`DecisionRecord::actions`] (empty in dry-run, the one place that
//! refuses) and then calls [`ScalingMemory::commit`] so the next evaluation knows what happened.
//!
//! Per network partition, in order:
//!
//! 1. **Faults.** An Active member silent for longer than the fault timeout gets `MarkFaulty`;
//!    a member still starting after the pending timeout gets `ExpirePending`. Both stop counting
//!    at once, so their replacement is started in the same evaluation.
//! 2. **Minimum.** Every partition keeps its `min` counting members (no cooldown).
//! 3. **Scale-up.** The required count (Stratos 4.1 rules over the network partition's
//!    predicted values, clamped to its min/max) is compared with the members that count —
//!    members still starting count, so a slow boot never causes a redundant spawn. Up to
//!    `max_scale_up_step` members start at once, placed by the partition algorithm, skipping
//!    partitions that are full or backed off, then falling over to the next network partition.
//! 4. **Scale-down.** Only when every configured metric is fresh for every Active member, the
//!    partition has been observed for a full stabilization window, the cooldowns have passed,
//!    and even the highest recommendation of the stabilization window is below the current
//!    count: one member, the least loaded of the partition the algorithm picks, is terminated
//!    gracefully (cleanup → ReadyToShutDown → terminate, carried out by the controller).

use crate::backoff::PartitionBackoff;
use crate::partition::{partition_for_scale_down, partition_for_scale_up};
use crate::policy::{DeploymentPolicy, LoadThresholds, NetworkPartition};
use crate::rules;
use crate::window::{aggregate_members, Metric, MetricStats, WindowConfig, WindowStats};
use messaging::MemberState;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

/// Everything that tunes the scaling of one cluster. All durations are seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingSettings {
    /// Upper threshold per metric (the config layer has normalised 4.0 `average` and 4.1
    /// `threshold`); `None` = metric not used.
    pub thresholds: LoadThresholds,
    /// Health window length.
    pub window_seconds: f64,
    /// How far ahead the prediction looks (`t` in `avg + grad·t + ½·sd·t²`).
    pub prediction_horizon_seconds: f64,
    /// After a scale-up, no further scale-up for this long (the minimum rule and replacements
    /// of faulty members are exempt).
    pub scale_up_cooldown_seconds: f64,
    /// After any scale-up or scale-down, no scale-down for this long.
    pub scale_down_cooldown_seconds: f64,
    /// A scale-down goes only as low as the highest recommendation made in this window.
    pub scale_down_stabilization_seconds: f64,
    /// Most members one scale-up step may add per network partition.
    pub max_scale_up_step: u32,
    /// Most start attempts one evaluation may make for the whole cluster (minimum rule,
    /// replacements and scale-up together): a hard brake on runaway spawning.
    pub max_starts_per_evaluation: u32,
    /// A metric with no sample for longer than this is stale (never grounds a scale-down).
    pub stale_after_seconds: f64,
    /// An Active member silent for longer than this is faulty.
    pub fault_timeout_seconds: f64,
    /// A member not Active this long after its start request is expired and replaced.
    pub pending_timeout_seconds: f64,
    /// Decide and record, but actuate nothing.
    pub dry_run: bool,
}

impl ScalingSettings {
    pub const DEFAULT_WINDOW_SECONDS: f64 = 60.0;
    pub const DEFAULT_PREDICTION_HORIZON_SECONDS: f64 = 15.0;
    pub const DEFAULT_SCALE_UP_COOLDOWN_SECONDS: f64 = 10.0;
    pub const DEFAULT_SCALE_DOWN_COOLDOWN_SECONDS: f64 = 120.0;
    pub const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: f64 = 300.0;
    pub const DEFAULT_MAX_SCALE_UP_STEP: u32 = 4;
    pub const DEFAULT_MAX_STARTS_PER_EVALUATION: u32 = 500;
    pub const DEFAULT_STALE_AFTER_SECONDS: f64 = 60.0;
    pub const DEFAULT_FAULT_TIMEOUT_SECONDS: f64 = 60.0;
    pub const DEFAULT_PENDING_TIMEOUT_SECONDS: f64 = 900.0;

    /// Defaults for everything but the thresholds.
    pub fn new(thresholds: LoadThresholds) -> Self {
        ScalingSettings {
            thresholds,
            window_seconds: Self::DEFAULT_WINDOW_SECONDS,
            prediction_horizon_seconds: Self::DEFAULT_PREDICTION_HORIZON_SECONDS,
            scale_up_cooldown_seconds: Self::DEFAULT_SCALE_UP_COOLDOWN_SECONDS,
            scale_down_cooldown_seconds: Self::DEFAULT_SCALE_DOWN_COOLDOWN_SECONDS,
            scale_down_stabilization_seconds: Self::DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
            max_scale_up_step: Self::DEFAULT_MAX_SCALE_UP_STEP,
            max_starts_per_evaluation: Self::DEFAULT_MAX_STARTS_PER_EVALUATION,
            stale_after_seconds: Self::DEFAULT_STALE_AFTER_SECONDS,
            fault_timeout_seconds: Self::DEFAULT_FAULT_TIMEOUT_SECONDS,
            pending_timeout_seconds: Self::DEFAULT_PENDING_TIMEOUT_SECONDS,
            dry_run: false,
        }
    }

    /// The window configuration matching `window_seconds`.
    pub fn window_config(&self) -> WindowConfig {
        WindowConfig::with_length(self.window_seconds)
    }

    /// The threshold of a metric, when it is used (finite and > 0).
    pub fn threshold(&self, metric: Metric) -> Option<f64> {
        let t = match metric {
            Metric::LoadAverage => self.thresholds.load_average,
            Metric::MemoryConsumption => self.thresholds.memory_consumption,
            Metric::RequestsInFlight => self.thresholds.requests_in_flight,
        };
        t.filter(|t| t.is_finite() && *t > 0.0)
    }

    /// Every duration replaced by its default when it is not a finite, non-negative number.
    fn sanitized(&self) -> ScalingSettings {
        fn pick(value: f64, default: f64) -> f64 {
            if value.is_finite() && value >= 0.0 {
                value
            } else {
                default
            }
        }
        ScalingSettings {
            thresholds: self.thresholds,
            window_seconds: pick(self.window_seconds, Self::DEFAULT_WINDOW_SECONDS),
            prediction_horizon_seconds: pick(
                self.prediction_horizon_seconds,
                Self::DEFAULT_PREDICTION_HORIZON_SECONDS,
            ),
            scale_up_cooldown_seconds: pick(
                self.scale_up_cooldown_seconds,
                Self::DEFAULT_SCALE_UP_COOLDOWN_SECONDS,
            ),
            scale_down_cooldown_seconds: pick(
                self.scale_down_cooldown_seconds,
                Self::DEFAULT_SCALE_DOWN_COOLDOWN_SECONDS,
            ),
            scale_down_stabilization_seconds: pick(
                self.scale_down_stabilization_seconds,
                Self::DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
            ),
            max_scale_up_step: self.max_scale_up_step.max(1),
            max_starts_per_evaluation: self.max_starts_per_evaluation.max(1),
            stale_after_seconds: pick(self.stale_after_seconds, Self::DEFAULT_STALE_AFTER_SECONDS),
            fault_timeout_seconds: pick(
                self.fault_timeout_seconds,
                Self::DEFAULT_FAULT_TIMEOUT_SECONDS,
            ),
            pending_timeout_seconds: pick(
                self.pending_timeout_seconds,
                Self::DEFAULT_PENDING_TIMEOUT_SECONDS,
            ),
            dry_run: self.dry_run,
        }
    }
}

impl Default for ScalingSettings {
    fn default() -> Self {
        ScalingSettings::new(LoadThresholds::default())
    }
}

/// A member as the evaluation sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub member_id: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub state: MemberState,
    /// When its start was requested (seconds).
    pub started_at: f64,
    /// When it entered `state` (for an Active member: when it activated).
    pub state_since: f64,
    /// Its own health windows' values (load average, memory; RIF when reported per member).
    pub health: MetricStats,
    /// When anything was last heard from it (any event, not only health stats); `None` when
    /// only its health samples tell.
    pub last_heard_at: Option<f64>,
}

impl MemberStatus {
    /// Created, Initialized or Starting: on its way to Active.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            MemberState::Created | MemberState::Initialized | MemberState::Starting
        )
    }
}

/// Cluster-level health of one network partition (e.g. requests in flight from the LB).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPartitionHealth {
    pub network_partition_id: String,
    pub health: MetricStats,
}

/// What one evaluation reads (borrowed: the controller keeps ownership).
#[derive(Debug, Clone, Copy)]
pub struct EvaluationInput<'a> {
    pub cluster_id: &'a str,
    pub deployment_policy: &'a DeploymentPolicy,
    pub settings: &'a ScalingSettings,
    pub members: &'a [MemberStatus],
    /// Cluster-level values per network partition; when fresh they take precedence over the
    /// aggregate of the members' windows for that metric.
    pub network_partition_health: &'a [NetworkPartitionHealth],
}

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
    /// No fresh value at all.
    Missing,
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

/// Sliding maximum of recommendations (monotonic deque: times increase, values decrease), so
/// the stabilization window costs O(1) amortised per evaluation and stays small.
#[derive(Debug, Clone, Default, PartialEq)]
struct RecommendationHistory {
    entries: VecDeque<(f64, u32)>,
}

impl RecommendationHistory {
    fn push(&mut self, time: f64, recommendation: u32, window: f64) {
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

    fn highest_since(&self, cutoff: f64) -> Option<u32> {
        self.entries
            .iter()
            .find(|(t, _)| *t >= cutoff)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct NetworkPartitionMemory {
    observing_since: Option<f64>,
    history: RecommendationHistory,
    last_scale_up_at: Option<f64>,
    last_scale_down_at: Option<f64>,
}

/// What one cluster's evaluations remember between runs. Owned by the controller, one per
/// cluster; updated only through [`ScalingMemory::commit`] and the backoff's methods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalingMemory {
    /// Failed starts per partition: the controller records each start's outcome here.
    pub backoff: PartitionBackoff,
    network_partitions: HashMap<String, NetworkPartitionMemory>,
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

/// Seconds as a short human string ("12s", "1.5s").
fn secs(x: f64) -> String {
    if x >= 10.0 || (x - x.round()).abs() < 0.05 {
        format!("{:.0}s", x.ceil())
    } else {
        format!("{x:.1}s")
    }
}

/// Per-partition bookkeeping while placing starts.
struct PartitionSlots {
    /// Members that count (pending + Active, not faulty/expired), plus starts placed so far.
    live: Vec<Vec<u32>>,
    /// Failed starts still counting against the maximum.
    failed: Vec<Vec<u32>>,
    /// Whether the partition is backed off now.
    backed_off: Vec<Vec<bool>>,
}

impl PartitionSlots {
    /// Occupancy as the partition algorithm should see it: failures count, and a backed-off
    /// partition looks full so the algorithm passes over it.
    fn occupancy(&self, np: &NetworkPartition, np_index: usize) -> Vec<u32> {
        np.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if self.backed_off[np_index][i] {
                    p.max
                } else {
                    self.live[np_index][i].saturating_add(self.failed[np_index][i])
                }
            })
            .collect()
    }

    fn has_room(&self, np: &NetworkPartition, np_index: usize, p_index: usize) -> bool {
        !self.backed_off[np_index][p_index]
            && self.live[np_index][p_index].saturating_add(self.failed[np_index][p_index])
                < np.partitions[p_index].max
    }

    /// The partition the algorithm picks in network partition `j`, if any has room.
    fn place_in(&self, policy: &DeploymentPolicy, j: usize) -> Option<(usize, usize)> {
        let np = policy.network_partitions.get(j)?;
        let occupancy = self.occupancy(np, j);
        let partition = partition_for_scale_up(np, &occupancy)?;
        let p = np.partitions.iter().position(|q| q.id == partition.id)?;
        self.has_room(np, j, p).then_some((j, p))
    }

    /// Fallback placement: the algorithm's pick in `j`, then in the following network
    /// partitions in policy order.
    fn place_with_fallover(&self, policy: &DeploymentPolicy, j: usize) -> Option<(usize, usize)> {
        let count = policy.network_partitions.len();
        (0..count).find_map(|offset| self.place_in(policy, (j + offset) % count))
    }

    fn counted(&self, j: usize) -> u32 {
        self.live[j].iter().fold(0, |sum, n| sum.saturating_add(*n))
    }

    fn counted_total(&self) -> u32 {
        self.live
            .iter()
            .flatten()
            .fold(0, |sum, n| sum.saturating_add(*n))
    }
}

/// Why nothing more can be started in a network partition, for the reason string.
fn blocked_reason(
    np: &NetworkPartition,
    np_index: usize,
    slots: &PartitionSlots,
    backoff: &PartitionBackoff,
    now: f64,
) -> String {
    let mut parts = Vec::new();
    for (i, p) in np.partitions.iter().enumerate() {
        if slots.backed_off[np_index][i] {
            if let Some(f) = backoff.backed_off(&p.id, now) {
                parts.push(format!(
                    "partition {} backed off: {} ({} left)",
                    p.id,
                    f.last_class,
                    secs(f.backed_off_until - now)
                ));
            }
        }
    }
    let failed = slots.failed[np_index]
        .iter()
        .fold(0u32, |sum, n| sum.saturating_add(*n));
    if parts.is_empty() {
        if failed > 0 {
            format!(
                "at max {} ({} failed start(s) count)",
                np_bounds(np).1,
                failed
            )
        } else {
            format!("at max {}", np_bounds(np).1)
        }
    } else {
        parts.join(", ")
    }
}

/// A network partition's (min, max): the sums over its partitions, saturating so an absurd
/// policy cannot overflow (the policy types' own `min()`/`max()` add plainly).
pub fn np_bounds(np: &NetworkPartition) -> (u32, u32) {
    np.partitions.iter().fold((0u32, 0u32), |(min, max), p| {
        (min.saturating_add(p.min), max.saturating_add(p.max))
    })
}

/// The cluster's (min, max) over all network partitions, saturating.
pub fn cluster_bounds(policy: &DeploymentPolicy) -> (u32, u32) {
    policy
        .network_partitions
        .iter()
        .map(np_bounds)
        .fold((0u32, 0u32), |(min, max), (a, b)| {
            (min.saturating_add(a), max.saturating_add(b))
        })
}

fn is_fresh(stats: &WindowStats, now: f64, stale_after: f64) -> bool {
    // A sample from the future (clock skew) counts as fresh; NaN never does.
    now - stats.last_sample_at <= stale_after
}

/// The load score used to pick the member to remove: mean of the member's predicted load
/// average and memory (Stratos' `(predictedLoadAvg + predictedMemory) / 2`), falling back to
/// its requests in flight; members without values sort last.
fn member_load(member: &MemberStatus, horizon: f64) -> f64 {
    let predicted = |m: Metric| {
        member
            .health
            .get(m)
            .map(|s| rules::predict_stats(&s, horizon))
    };
    match (
        predicted(Metric::LoadAverage),
        predicted(Metric::MemoryConsumption),
    ) {
        (Some(la), Some(mc)) => (la + mc) / 2.0,
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => predicted(Metric::RequestsInFlight).unwrap_or(f64::INFINITY),
    }
}

/// One evaluation of one cluster at `now` (seconds). Pure; never panics.
pub fn evaluate(input: &EvaluationInput<'_>, memory: &ScalingMemory, now: f64) -> DecisionRecord {
    let settings = input.settings.sanitized();
    let policy = input.deployment_policy;
    let mut record = DecisionRecord {
        cluster_id: input.cluster_id.to_string(),
        time: now,
        dry_run: settings.dry_run,
        members: MemberCounts::default(),
        network_partitions: Vec::with_capacity(policy.network_partitions.len()),
        required: 0,
        planned_actions: Vec::new(),
        reason: String::new(),
    };
    if !now.is_finite() {
        record.reason = "clock not finite: no decision".to_string();
        return record;
    }

    // 1. Faults, and which members count.
    let np_count = policy.network_partitions.len();
    let mut slots = PartitionSlots {
        live: Vec::with_capacity(np_count),
        failed: Vec::with_capacity(np_count),
        backed_off: Vec::with_capacity(np_count),
    };
    for np in &policy.network_partitions {
        slots.live.push(vec![0; np.partitions.len()]);
        slots.failed.push(
            np.partitions
                .iter()
                .map(|p| memory.backoff.failures_in_flight(&p.id, now))
                .collect(),
        );
        slots.backed_off.push(
            np.partitions
                .iter()
                .map(|p| memory.backoff.is_backed_off(&p.id, now))
                .collect(),
        );
    }
    // Per member: Some((np, partition)) when it counts, and whether it is Active.
    let mut placement: Vec<Option<(usize, usize)>> = Vec::with_capacity(input.members.len());
    let mut replacements = vec![0u32; np_count];
    let mut fault_reasons: Vec<String> = Vec::new();
    for member in input.members {
        let location = policy
            .network_partitions
            .iter()
            .position(|np| np.id == member.network_partition_id)
            .and_then(|j| {
                policy.network_partitions[j]
                    .partitions
                    .iter()
                    .position(|p| p.id == member.partition_id)
                    .map(|p| (j, p))
            });
        if member.state.is_leaving() {
            record.members.leaving += 1;
            placement.push(None);
            continue;
        }
        let Some((j, p)) = location else {
            record.members.outside_policy += 1;
            placement.push(None);
            continue;
        };
        if member.is_pending() {
            let pending_for = now - member.started_at;
            if pending_for > settings.pending_timeout_seconds {
                record.members.expired += 1;
                replacements[j] += 1;
                fault_reasons.push(format!(
                    "member {} not active after {}",
                    member.member_id,
                    secs(pending_for)
                ));
                record.planned_actions.push(ScalingAction::ExpirePending {
                    member_id: member.member_id.clone(),
                    network_partition_id: member.network_partition_id.clone(),
                    partition_id: member.partition_id.clone(),
                    pending_seconds: pending_for,
                });
                placement.push(None);
                continue;
            }
            record.members.pending += 1;
        } else {
            // Active: silent since it was last heard from (a health sample or any other
            // message), or since activation if it never spoke.
            let heard_at = [member.health.last_sample_at(), member.last_heard_at]
                .into_iter()
                .flatten()
                .filter(|t| t.is_finite())
                .fold(member.state_since, f64::max);
            let silent_for = now - heard_at;
            if silent_for > settings.fault_timeout_seconds {
                record.members.faulty += 1;
                replacements[j] += 1;
                fault_reasons.push(format!(
                    "member {} faulty: silent {}",
                    member.member_id,
                    secs(silent_for)
                ));
                record.planned_actions.push(ScalingAction::MarkFaulty {
                    member_id: member.member_id.clone(),
                    network_partition_id: member.network_partition_id.clone(),
                    partition_id: member.partition_id.clone(),
                    silent_seconds: silent_for,
                });
                placement.push(None);
                continue;
            }
            record.members.active += 1;
        }
        slots.live[j][p] += 1;
        placement.push(Some((j, p)));
    }

    // 2. What each network partition requires (all first: placement may cross partitions).
    let analyses: Vec<NetworkPartitionAnalysis> = policy
        .network_partitions
        .iter()
        .enumerate()
        .map(|(j, np)| analyse(input, &settings, memory, &placement, &slots, np, j, now))
        .collect();
    let total_required = analyses
        .iter()
        .fold(0u32, |sum, a| sum.saturating_add(a.required));
    // Starts away from where they are needed (another partition for a minimum, another network
    // partition for a scale-up) are allowed only while the cluster as a whole is short: members
    // placed elsewhere count too, so a backed-off partition cannot cause endless spawning.
    let mut cluster_shortfall = i64::from(total_required) - i64::from(slots.counted_total());

    let mut starts_left = settings.max_starts_per_evaluation;
    let mut reasons: Vec<String> = Vec::new();

    for (j, (np, analysis)) in policy.network_partitions.iter().zip(analyses).enumerate() {
        let NetworkPartitionAnalysis {
            metrics,
            required,
            complete,
            recommendation,
            stabilized_required,
            observed_for,
            last_scale_up_at,
            last_change_at,
        } = analysis;
        let (np_min, np_max) = np_bounds(np);
        let counted_before = slots.counted(j);
        let mut np_reasons: Vec<String> = Vec::new();
        let mut blocked = false;

        // 3. Minimum rule, per partition, no cooldown.
        let mut min_started = 0u32;
        for (p, partition) in np.partitions.iter().enumerate() {
            while slots.live[j][p] < partition.min && !blocked {
                if starts_left == 0 {
                    blocked = true;
                    np_reasons.push(format!(
                        "below minimum: start budget of {} per evaluation used",
                        settings.max_starts_per_evaluation
                    ));
                    break;
                }
                let target = if slots.has_room(np, j, p) {
                    Some((j, p))
                } else if cluster_shortfall > 0 {
                    slots.place_with_fallover(policy, j)
                } else {
                    None
                };
                let Some((tj, tp)) = target else {
                    np_reasons.push(format!(
                        "below minimum: {}",
                        blocked_reason(np, j, &slots, &memory.backoff, now)
                    ));
                    blocked = true;
                    break;
                };
                push_start(&mut record, policy, tj, tp, StartCause::Minimum);
                slots.live[tj][tp] += 1;
                starts_left -= 1;
                cluster_shortfall -= 1;
                min_started += 1;
                if (tj, tp) != (j, p) {
                    // Covered elsewhere: the partition's own deficit waits for its backoff.
                    break;
                }
            }
        }
        if min_started > 0 {
            np_reasons.push(format!("below minimum: starting {min_started}"));
        }

        // 4. Scale-up (replacements of faulty members bypass the cooldown).
        let counted = slots.counted(j);
        let mut up_started = 0u32;
        let mut scaled_up = false;
        if required > counted && !blocked {
            let needed = required - counted;
            let cooldown_left = last_scale_up_at
                .map(|t| t + settings.scale_up_cooldown_seconds - now)
                .filter(|left| *left > 0.0);
            let replacing = replacements[j].min(needed);
            let allowed = if cooldown_left.is_some() {
                replacing
            } else {
                needed.min(settings.max_scale_up_step.max(replacing))
            };
            while up_started < allowed && starts_left > 0 {
                let target = slots.place_in(policy, j).or_else(|| {
                    (cluster_shortfall > 0)
                        .then(|| slots.place_with_fallover(policy, j))
                        .flatten()
                });
                let Some((tj, tp)) = target else {
                    np_reasons.push(blocked_reason(np, j, &slots, &memory.backoff, now));
                    blocked = true;
                    break;
                };
                let cause = if up_started < replacing {
                    StartCause::Replacement
                } else {
                    scaled_up = true;
                    StartCause::ScaleUp
                };
                push_start(&mut record, policy, tj, tp, cause);
                slots.live[tj][tp] += 1;
                starts_left -= 1;
                cluster_shortfall -= 1;
                up_started += 1;
            }
            if up_started > 0 {
                let mut reason = format!(
                    "scale-up: starting {up_started} (required {required}, have {counted})"
                );
                if up_started < needed && !blocked {
                    if let Some(left) = cooldown_left {
                        let _ = write!(reason, "; cooldown (scale-up {} left)", secs(left));
                    } else if starts_left == 0 {
                        let _ = write!(
                            reason,
                            "; start budget of {} per evaluation used",
                            settings.max_starts_per_evaluation
                        );
                    } else {
                        let _ = write!(reason, "; at most {} per step", settings.max_scale_up_step);
                    }
                }
                np_reasons.push(reason);
            } else if !blocked {
                if let Some(left) = cooldown_left {
                    np_reasons.push(format!(
                        "cooldown (scale-up {} left, required {required}, have {counted})",
                        secs(left)
                    ));
                } else if starts_left == 0 {
                    np_reasons.push(format!(
                        "start budget of {} per evaluation used",
                        settings.max_starts_per_evaluation
                    ));
                }
            }
        }

        // 5. Scale-down: one member, only when everything agrees.
        let mut scaled_down = false;
        let counted = slots.counted(j);
        let floor = stabilized_required.max(np_min);
        let stabilization = settings.scale_down_stabilization_seconds;
        if np_reasons.is_empty() && counted > required.max(np_min) {
            let cooldown_left = last_change_at + settings.scale_down_cooldown_seconds - now;
            if !complete {
                let names: Vec<&str> = metrics
                    .iter()
                    .filter(|m| m.freshness != Freshness::Fresh)
                    .map(|m| m.metric.as_str())
                    .collect();
                np_reasons.push(if names.is_empty() {
                    format!("no metric configured: no scale-down (have {counted}, min {np_min})")
                } else {
                    format!("{} stale or missing: no scale-down", names.join(", "))
                });
            } else if observed_for < stabilization {
                np_reasons.push(format!(
                    "stabilizing scale-down (observed {} of {})",
                    secs(observed_for.max(0.0)),
                    secs(stabilization)
                ));
            } else if floor >= counted {
                np_reasons.push(format!(
                    "stabilizing scale-down (highest recommendation {stabilized_required} in last {})",
                    secs(stabilization)
                ));
            } else if cooldown_left > 0.0 {
                np_reasons.push(format!(
                    "cooldown (scale-down {} left)",
                    secs(cooldown_left)
                ));
            } else if cluster_shortfall >= 0 {
                np_reasons.push(
                    "scale-down held: another network partition is short of members".to_string(),
                );
            } else {
                match pick_member_to_remove(input, &placement, np, j, &slots.live[j], &settings) {
                    Some(index) => {
                        let member = &input.members[index];
                        record.planned_actions.push(ScalingAction::TerminateMember {
                            member_id: member.member_id.clone(),
                            network_partition_id: member.network_partition_id.clone(),
                            partition_id: member.partition_id.clone(),
                        });
                        if let Some((mj, mp)) = placement[index] {
                            slots.live[mj][mp] = slots.live[mj][mp].saturating_sub(1);
                        }
                        cluster_shortfall += 1;
                        scaled_down = true;
                        np_reasons.push(format!(
                            "scale-down: terminating {} (required {floor}, have {counted})",
                            member.member_id
                        ));
                    }
                    None => np_reasons.push(
                        "scale-down wanted but no Active member above a partition minimum"
                            .to_string(),
                    ),
                }
            }
        }
        if np_reasons.is_empty() {
            np_reasons.push(if required >= np_max && counted >= np_max {
                format!("at max {np_max}")
            } else {
                format!("within thresholds (required {required}, have {counted})")
            });
        }

        let reason = np_reasons.join("; ");
        reasons.push(if np_count > 1 {
            format!("{}: {reason}", np.id)
        } else {
            reason.clone()
        });
        record.required = record.required.saturating_add(required);
        record.network_partitions.push(NetworkPartitionDecision {
            network_partition_id: np.id.clone(),
            min: np_min,
            max: np_max,
            members: counted_before,
            failed_starts: slots.failed[j]
                .iter()
                .fold(0, |sum, n| sum.saturating_add(*n)),
            metrics,
            required,
            recommendation,
            stabilized_required,
            started: min_started + up_started,
            scaled_up,
            scaled_down,
            reason,
        });
    }

    let mut all_reasons = fault_reasons;
    all_reasons.extend(reasons);
    let mut reason = all_reasons.join("; ");
    if settings.dry_run && !record.planned_actions.is_empty() {
        let starts = record
            .planned_actions
            .iter()
            .filter(|a| matches!(a, ScalingAction::StartMember { .. }))
            .count();
        let others = record.planned_actions.len() - starts;
        let mut summary = String::from("dry-run: would");
        if starts > 0 {
            let _ = write!(summary, " start {starts}");
        }
        if others > 0 {
            let _ = write!(
                summary,
                "{} terminate {others}",
                if starts > 0 { " and" } else { "" }
            );
        }
        reason = format!("{summary}; {reason}");
    }
    record.reason = reason;
    record
}

/// What the metrics say about one network partition, before any placement.
struct NetworkPartitionAnalysis {
    metrics: Vec<MetricDecision>,
    required: u32,
    /// Every configured metric fresh for every Active member (or cluster-level).
    complete: bool,
    recommendation: u32,
    stabilized_required: u32,
    observed_for: f64,
    last_scale_up_at: Option<f64>,
    /// Latest scale-up or scale-down (−∞ when none).
    last_change_at: f64,
}

#[allow(clippy::too_many_arguments)]
fn analyse(
    input: &EvaluationInput<'_>,
    settings: &ScalingSettings,
    memory: &ScalingMemory,
    placement: &[Option<(usize, usize)>],
    slots: &PartitionSlots,
    np: &NetworkPartition,
    j: usize,
    now: f64,
) -> NetworkPartitionAnalysis {
    let (np_min, np_max) = np_bounds(np);
    let counted = slots.counted(j);
    let np_health = input
        .network_partition_health
        .iter()
        .find(|h| h.network_partition_id == np.id);
    let mut metrics = Vec::with_capacity(3);
    let mut member_stats: Vec<WindowStats> = Vec::new();
    for metric in Metric::ALL {
        let Some(threshold) = settings.threshold(metric) else {
            continue;
        };
        // Cluster-level values (the LB's view) when fresh, else the Active members' windows.
        let cluster_level = np_health
            .and_then(|h| h.health.get(metric))
            .filter(|s| is_fresh(s, now, settings.stale_after_seconds));
        let (stats, freshness) = if let Some(s) = cluster_level {
            (Some(s), Freshness::Fresh)
        } else {
            member_stats.clear();
            let mut active = 0usize;
            for (member, place) in input.members.iter().zip(placement) {
                if place.map(|(mj, _)| mj) != Some(j) || member.state != MemberState::Active {
                    continue;
                }
                active += 1;
                if let Some(s) = member
                    .health
                    .get(metric)
                    .filter(|s| is_fresh(s, now, settings.stale_after_seconds))
                {
                    member_stats.push(s);
                }
            }
            let freshness = if member_stats.is_empty() {
                Freshness::Missing
            } else if member_stats.len() == active {
                Freshness::Fresh
            } else {
                Freshness::Partial
            };
            (aggregate_members(metric, &member_stats), freshness)
        };
        let prediction =
            stats.map(|s| rules::predict_stats(&s, settings.prediction_horizon_seconds));
        let required = prediction.map(|pred| match metric {
            Metric::RequestsInFlight => rules::required_by_requests_in_flight(pred, threshold),
            Metric::MemoryConsumption => {
                rules::required_by_memory_consumption(pred, threshold, np_min, np_max)
            }
            Metric::LoadAverage => rules::required_by_load_average(pred, threshold, np_min),
        });
        metrics.push(MetricDecision {
            metric,
            threshold,
            freshness,
            average: stats.map(|s| s.average),
            gradient: stats.map(|s| s.gradient),
            second_derivative: stats.map(|s| s.second_derivative),
            prediction,
            required,
        });
    }
    let per_metric: Vec<Option<u32>> = metrics.iter().map(|m| m.required).collect();
    let required = rules::required_instances(&per_metric, np_min, np_max);
    let complete = !metrics.is_empty() && metrics.iter().all(|m| m.freshness == Freshness::Fresh);
    // Incomplete data must not pull the history down: it votes to keep what we have.
    let recommendation = if complete {
        required
    } else {
        rules::clamp_count(required.max(counted), np_min, np_max)
    };
    let np_memory = memory.network_partitions.get(&np.id);
    let stabilized_required = np_memory
        .and_then(|m| {
            m.history
                .highest_since(now - settings.scale_down_stabilization_seconds)
        })
        .map_or(recommendation, |h| h.max(recommendation));
    let observed_for = np_memory
        .and_then(|m| m.observing_since)
        .map_or(0.0, |since| now - since);
    let last_scale_up_at = np_memory.and_then(|m| m.last_scale_up_at);
    let last_change_at = np_memory
        .map(|m| {
            [m.last_scale_up_at, m.last_scale_down_at]
                .into_iter()
                .flatten()
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .unwrap_or(f64::NEG_INFINITY);
    NetworkPartitionAnalysis {
        metrics,
        required,
        complete,
        recommendation,
        stabilized_required,
        observed_for,
        last_scale_up_at,
        last_change_at,
    }
}

fn push_start(
    record: &mut DecisionRecord,
    policy: &DeploymentPolicy,
    np_index: usize,
    p_index: usize,
    cause: StartCause,
) {
    let np = &policy.network_partitions[np_index];
    let partition = &np.partitions[p_index];
    record.planned_actions.push(ScalingAction::StartMember {
        network_partition_id: np.id.clone(),
        partition_id: partition.id.clone(),
        provider_type: partition.provider_type.clone(),
        cause,
    });
}

/// The least-loaded Active member of the partition the algorithm picks for scale-down.
fn pick_member_to_remove(
    input: &EvaluationInput<'_>,
    placement: &[Option<(usize, usize)>],
    np: &NetworkPartition,
    np_index: usize,
    live: &[u32],
    settings: &ScalingSettings,
) -> Option<usize> {
    let partition = partition_for_scale_down(np, live)?;
    let p_index = np.partitions.iter().position(|p| p.id == partition.id)?;
    input
        .members
        .iter()
        .enumerate()
        .filter(|(i, m)| {
            placement.get(*i).copied().flatten() == Some((np_index, p_index))
                && m.state == MemberState::Active
        })
        .map(|(i, m)| (i, member_load(m, settings.prediction_horizon_seconds)))
        .min_by(|(ia, la), (ib, lb)| {
            la.total_cmp(lb).then_with(|| {
                input.members[*ia]
                    .member_id
                    .cmp(&input.members[*ib].member_id)
            })
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::FailureClass;
    use crate::policy::{PartitionAlgorithm, PartitionPolicy};

    const NOW: f64 = 10_000.0;

    fn policy(partitions: &[(u32, u32)]) -> DeploymentPolicy {
        DeploymentPolicy {
            id: "dp".into(),
            network_partitions: vec![NetworkPartition {
                id: "np1".into(),
                algorithm: PartitionAlgorithm::OneAfterAnother,
                partitions: partitions
                    .iter()
                    .enumerate()
                    .map(|(i, (min, max))| PartitionPolicy {
                        id: format!("p{}", i + 1),
                        provider_type: "mock".into(),
                        min: *min,
                        max: *max,
                    })
                    .collect(),
            }],
        }
    }

    fn rif_settings(threshold: f64) -> ScalingSettings {
        ScalingSettings::new(LoadThresholds {
            requests_in_flight: Some(threshold),
            ..LoadThresholds::default()
        })
    }

    fn stats(value: f64, at: f64) -> WindowStats {
        WindowStats {
            average: value,
            gradient: 0.0,
            second_derivative: 0.0,
            samples: 10,
            last_sample_at: at,
        }
    }

    fn member(id: &str, partition: &str, state: MemberState, rif: Option<f64>) -> MemberStatus {
        let mut health = MetricStats::default();
        health.set(Metric::RequestsInFlight, rif.map(|v| stats(v, NOW - 1.0)));
        MemberStatus {
            member_id: id.into(),
            network_partition_id: "np1".into(),
            partition_id: partition.into(),
            state,
            started_at: NOW - 100.0,
            state_since: NOW - 50.0,
            health,
            last_heard_at: None,
        }
    }

    fn active(id: &str, partition: &str, rif: f64) -> MemberStatus {
        member(id, partition, MemberState::Active, Some(rif))
    }

    fn run(
        policy: &DeploymentPolicy,
        settings: &ScalingSettings,
        members: &[MemberStatus],
        memory: &ScalingMemory,
    ) -> DecisionRecord {
        let input = EvaluationInput {
            cluster_id: "c1",
            deployment_policy: policy,
            settings,
            members,
            network_partition_health: &[],
        };
        evaluate(&input, memory, NOW)
    }

    /// Memory of a partition observed for a long time with a given recommendation history.
    fn seasoned(history: &[(f64, u32)]) -> ScalingMemory {
        let mut memory = ScalingMemory::new();
        let mut np = NetworkPartitionMemory {
            observing_since: Some(NOW - 10_000.0),
            ..Default::default()
        };
        for (t, r) in history {
            np.history.push(*t, *r, 300.0);
        }
        memory.network_partitions.insert("np1".into(), np);
        memory
    }

    fn starts(record: &DecisionRecord) -> Vec<(String, StartCause)> {
        record
            .planned_actions
            .iter()
            .filter_map(|a| match a {
                ScalingAction::StartMember {
                    partition_id,
                    cause,
                    ..
                } => Some((partition_id.clone(), *cause)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn within_thresholds_does_nothing() {
        let p = policy(&[(1, 10)]);
        // Members each carry 15 requests, threshold 20: 30/20 → 2 required, have 2.
        let members = [active("a", "p1", 15.0), active("b", "p1", 15.0)];
        let r = run(&p, &rif_settings(20.0), &members, &seasoned(&[]));
        assert!(r.planned_actions.is_empty(), "{r:?}");
        assert_eq!(r.reason, "within thresholds (required 2, have 2)");
        let m = &r.network_partitions[0].metrics[0];
        assert_eq!(m.metric, Metric::RequestsInFlight);
        assert_eq!(
            (m.average, m.prediction, m.required),
            (Some(30.0), Some(30.0), Some(2))
        );
        assert_eq!(r.members.active, 2);
    }

    #[test]
    fn scale_up_adds_several_members_bounded_by_the_step() {
        let p = policy(&[(1, 10)]);
        // 2 × 50 = 100 in flight / 20 → 5 required, have 2 → start 3.
        let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
        let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
        assert_eq!(starts(&r).len(), 3);
        assert!(starts(&r).iter().all(|(_, c)| *c == StartCause::ScaleUp));
        assert_eq!(r.reason, "scale-up: starting 3 (required 5, have 2)");
        assert!(r.network_partitions[0].scaled_up);
        assert_eq!(r.members_after(), 5);
        // 2 × 200 / 20 → 20 required, clamped to max 10: still only 4 per step.
        let members = [active("a", "p1", 200.0), active("b", "p1", 200.0)];
        let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
        assert_eq!(starts(&r).len(), 4);
        assert_eq!(r.required, 10);
        assert!(r.reason.ends_with("at most 4 per step"), "{}", r.reason);
    }

    #[test]
    fn starting_members_count_toward_capacity() {
        let p = policy(&[(1, 10)]);
        let members = [
            active("a", "p1", 50.0),
            active("b", "p1", 50.0),
            member("c", "p1", MemberState::Starting, None),
            member("d", "p1", MemberState::Created, None),
            member("e", "p1", MemberState::Initialized, None),
        ];
        let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
        assert!(starts(&r).is_empty(), "{r:?}");
        assert_eq!(r.members.pending, 3);
        assert_eq!(r.reason, "within thresholds (required 5, have 5)");
    }

    #[test]
    fn scale_up_waits_for_its_cooldown() {
        let p = policy(&[(1, 10)]);
        let mut memory = seasoned(&[]);
        memory
            .network_partitions
            .get_mut("np1")
            .unwrap()
            .last_scale_up_at = Some(NOW - 4.0);
        let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
        let r = run(&p, &rif_settings(20.0), &members, &memory);
        assert!(r.planned_actions.is_empty());
        assert_eq!(r.reason, "cooldown (scale-up 6s left, required 5, have 2)");
    }

    #[test]
    fn at_max_says_so() {
        let p = policy(&[(1, 3)]);
        let members = [
            active("a", "p1", 100.0),
            active("b", "p1", 100.0),
            active("c", "p1", 100.0),
        ];
        let r = run(&p, &rif_settings(20.0), &members, &seasoned(&[]));
        assert!(r.planned_actions.is_empty());
        assert_eq!(r.reason, "at max 3");
    }

    #[test]
    fn backed_off_partition_falls_over_to_the_next_and_failures_count() {
        let p = policy(&[(0, 2), (0, 5)]);
        let members = [active("a", "p1", 30.0)];
        let mut memory = ScalingMemory::new();
        memory
            .backoff
            .record_failure("p1", FailureClass::Quota, NOW - 10.0, None);
        // 30/10 → 3 required, have 1; p1 (room for 1) is backed off → both go to p2.
        let r = run(&p, &rif_settings(10.0), &members, &memory);
        assert_eq!(
            starts(&r),
            [
                ("p2".to_string(), StartCause::ScaleUp),
                ("p2".to_string(), StartCause::ScaleUp)
            ]
        );
        assert_eq!(r.network_partitions[0].failed_starts, 1);
        // Both backed off: nothing starts, and the record says why.
        memory
            .backoff
            .record_failure("p2", FailureClass::Capacity, NOW - 10.0, None);
        let r = run(&p, &rif_settings(10.0), &members, &memory);
        assert!(r.planned_actions.is_empty());
        assert_eq!(
            r.reason,
            "partition p1 backed off: quota (290s left), partition p2 backed off: capacity (50s left)"
        );
    }

    #[test]
    fn failed_starts_count_against_the_maximum() {
        let p = policy(&[(0, 3)]);
        let members = [active("a", "p1", 100.0)];
        let mut memory = ScalingMemory::new();
        memory
            .backoff
            .record_failure("p1", FailureClass::Other, NOW - 100.0, None);
        memory
            .backoff
            .record_failure("p1", FailureClass::Other, NOW - 100.0, None);
        // Backoff (60 s for the 2nd failure) expired: the failures no longer count, retry.
        let r = run(&p, &rif_settings(10.0), &members, &memory);
        assert_eq!(starts(&r).len(), 2);
        memory
            .backoff
            .record_failure("p1", FailureClass::Other, NOW - 1.0, None);
        let r = run(&p, &rif_settings(10.0), &members, &memory);
        assert!(starts(&r).is_empty());
        assert_eq!(r.network_partitions[0].failed_starts, 3);
    }

    #[test]
    fn scale_down_respects_stabilization_then_removes_the_least_loaded() {
        let p = policy(&[(1, 10)]);
        let settings = rif_settings(20.0);
        // 4 members, 10 requests each: 40/20 → 2 required.
        let members = [
            active("a", "p1", 12.0),
            active("b", "p1", 8.0),
            active("c", "p1", 10.0),
            active("d", "p1", 10.0),
        ];
        // A recommendation of 4 a minute ago holds the count.
        let r = run(&p, &settings, &members, &seasoned(&[(NOW - 60.0, 4)]));
        assert!(r.planned_actions.is_empty());
        assert_eq!(
            r.reason,
            "stabilizing scale-down (highest recommendation 4 in last 300s)"
        );
        // It was 3: one member goes, the least loaded ("b").
        let r = run(&p, &settings, &members, &seasoned(&[(NOW - 60.0, 3)]));
        assert_eq!(
            r.planned_actions,
            [ScalingAction::TerminateMember {
                member_id: "b".into(),
                network_partition_id: "np1".into(),
                partition_id: "p1".into()
            }]
        );
        assert_eq!(r.reason, "scale-down: terminating b (required 3, have 4)");
        // Recommendations older than the window no longer count.
        let r = run(&p, &settings, &members, &seasoned(&[(NOW - 400.0, 4)]));
        assert_eq!(r.planned_actions.len(), 1);
        // Fresh memory (controller restart): observe a full window first.
        let r = run(&p, &settings, &members, &ScalingMemory::new());
        assert!(r.planned_actions.is_empty());
        assert_eq!(r.reason, "stabilizing scale-down (observed 0s of 300s)");
    }

    #[test]
    fn scale_down_waits_for_its_cooldown_and_never_goes_below_min() {
        let p = policy(&[(3, 10)]);
        let settings = rif_settings(20.0);
        let members = [
            active("a", "p1", 1.0),
            active("b", "p1", 1.0),
            active("c", "p1", 1.0),
            active("d", "p1", 1.0),
        ];
        let mut memory = seasoned(&[]);
        memory
            .network_partitions
            .get_mut("np1")
            .unwrap()
            .last_scale_down_at = Some(NOW - 100.0);
        let r = run(&p, &settings, &members, &memory);
        assert_eq!(r.reason, "cooldown (scale-down 20s left)");
        let r = run(&p, &settings, &members, &seasoned(&[]));
        assert_eq!(r.planned_actions.len(), 1);
        let r = run(&p, &settings, &members[..3], &seasoned(&[]));
        assert!(r.planned_actions.is_empty(), "at min 3");
    }

    #[test]
    fn stale_or_missing_metrics_never_scale_down() {
        let p = policy(&[(1, 10)]);
        let settings = rif_settings(20.0);
        let mut stale = active("b", "p1", 0.0);
        stale
            .health
            .set(Metric::RequestsInFlight, Some(stats(0.0, NOW - 61.0)));
        // The member still sends other metrics, so it is not faulty.
        stale
            .health
            .set(Metric::LoadAverage, Some(stats(1.0, NOW - 1.0)));
        let members = [active("a", "p1", 0.0), stale];
        let r = run(&p, &settings, &members, &seasoned(&[]));
        assert!(r.planned_actions.is_empty(), "{r:?}");
        assert_eq!(
            r.reason,
            "requests_in_flight stale or missing: no scale-down"
        );
        assert_eq!(
            r.network_partitions[0].metrics[0].freshness,
            Freshness::Partial
        );
        // No metric configured at all: the count stays.
        let members = [active("a", "p1", 0.0), active("b", "p1", 0.0)];
        let r = run(&p, &ScalingSettings::default(), &members, &seasoned(&[]));
        assert!(r.planned_actions.is_empty());
    }

    #[test]
    fn silent_members_are_faulty_and_replaced_even_in_cooldown() {
        let p = policy(&[(2, 10)]);
        let mut silent = active("b", "p1", 5.0);
        silent.state_since = NOW - 500.0;
        silent
            .health
            .set(Metric::RequestsInFlight, Some(stats(5.0, NOW - 75.0)));
        let members = [active("a", "p1", 5.0), silent];
        let mut memory = seasoned(&[]);
        memory
            .network_partitions
            .get_mut("np1")
            .unwrap()
            .last_scale_up_at = Some(NOW - 1.0);
        let r = run(&p, &rif_settings(20.0), &members, &memory);
        assert_eq!(r.members.faulty, 1);
        assert!(matches!(
            &r.planned_actions[0],
            ScalingAction::MarkFaulty { member_id, silent_seconds, .. }
                if member_id == "b" && *silent_seconds == 75.0
        ));
        // Replaced through the minimum rule (p1 min 2).
        assert_eq!(starts(&r), [("p1".to_string(), StartCause::Minimum)]);
        assert!(
            r.reason.starts_with("member b faulty: silent 75s"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn replacements_bypass_the_scale_up_cooldown() {
        let p = policy(&[(1, 10)]);
        let mut silent = active("c", "p1", 50.0);
        silent.state_since = NOW - 500.0;
        silent
            .health
            .set(Metric::RequestsInFlight, Some(stats(50.0, NOW - 90.0)));
        // a + b carry 60 (fresh): 60/20 = 3 required; c is faulty → have 2.
        let members = [active("a", "p1", 30.0), active("b", "p1", 30.0), silent];
        let mut memory = seasoned(&[]);
        memory
            .network_partitions
            .get_mut("np1")
            .unwrap()
            .last_scale_up_at = Some(NOW - 1.0);
        let r = run(&p, &rif_settings(20.0), &members, &memory);
        assert_eq!(starts(&r), [("p1".to_string(), StartCause::Replacement)]);
    }

    #[test]
    fn members_that_never_activate_expire() {
        let p = policy(&[(1, 10)]);
        let mut stuck = member("s", "p1", MemberState::Starting, None);
        stuck.started_at = NOW - 901.0;
        let r = run(&p, &rif_settings(20.0), &[stuck], &ScalingMemory::new());
        assert!(matches!(
            &r.planned_actions[0],
            ScalingAction::ExpirePending { member_id, .. } if member_id == "s"
        ));
        assert_eq!(starts(&r), [("p1".to_string(), StartCause::Minimum)]);
        assert_eq!(r.members.expired, 1);
    }

    #[test]
    fn minimum_rule_fills_every_partition() {
        let p = policy(&[(2, 3), (1, 3)]);
        let r = run(&p, &rif_settings(20.0), &[], &ScalingMemory::new());
        let got: Vec<String> = starts(&r).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, ["p1", "p1", "p2"]);
        assert_eq!(r.reason, "below minimum: starting 3");
    }

    #[test]
    fn dry_run_plans_but_actuates_nothing() {
        let p = policy(&[(1, 10)]);
        let mut settings = rif_settings(20.0);
        settings.dry_run = true;
        let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
        let r = run(&p, &settings, &members, &ScalingMemory::new());
        assert!(r.actions().is_empty());
        assert_eq!(r.planned_actions().len(), 3);
        assert!(r.is_dry_run());
        assert_eq!(
            r.reason,
            "dry-run: would start 3; scale-up: starting 3 (required 5, have 2)"
        );
        // Committing a dry run does not start a cooldown.
        let mut memory = ScalingMemory::new();
        memory.commit(&r, &settings);
        let again = run(&p, &settings, &members, &memory);
        assert_eq!(again.planned_actions().len(), 3);
    }

    #[test]
    fn commit_starts_cooldowns_and_history() {
        let p = policy(&[(1, 10)]);
        let settings = rif_settings(20.0);
        let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
        let mut memory = ScalingMemory::new();
        let r = run(&p, &settings, &members, &memory);
        memory.commit(&r, &settings);
        let np = &memory.network_partitions["np1"];
        assert_eq!(np.last_scale_up_at, Some(NOW));
        assert_eq!(np.history.highest_since(NOW - 300.0), Some(5));
        let r = run(&p, &settings, &members, &memory);
        assert!(
            r.reason.starts_with("cooldown (scale-up 10s left"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn multiple_network_partitions_fall_over_and_hold_scale_down() {
        let mut p = policy(&[(1, 2)]);
        let mut np2 = p.network_partitions[0].clone();
        np2.id = "np2".into();
        np2.partitions[0].id = "q1".into();
        p.network_partitions.push(np2);
        let in_np2 = |id: &str| {
            let mut m = active(id, "q1", 0.0);
            m.network_partition_id = "np2".into();
            m
        };
        let mut memory = seasoned(&[]);
        let np_memory = memory.network_partitions["np1"].clone();
        memory.network_partitions.insert("np2".into(), np_memory);
        memory
            .backoff
            .record_failure("p1", FailureClass::Capacity, NOW, None);
        // np1 needs 2 (30/20), has 1, p1 is backed off: the start falls over to np2's q1.
        let members = [active("a", "p1", 30.0), in_np2("x")];
        let r = run(&p, &rif_settings(20.0), &members, &memory);
        assert_eq!(
            starts(&r),
            [("q1".to_string(), StartCause::ScaleUp)],
            "{}",
            r.reason
        );
        assert!(
            r.reason.starts_with("np1: scale-up: starting 1"),
            "{}",
            r.reason
        );
        // Next time np2 holds the extra member: no more spawning, and np2 keeps it while np1
        // is short instead of scaling it down.
        let members = [active("a", "p1", 30.0), in_np2("x"), in_np2("y")];
        let r = run(&p, &rif_settings(20.0), &members, &memory);
        assert!(r.planned_actions.is_empty(), "{r:?}");
        assert_eq!(
            r.reason,
            "np1: partition p1 backed off: capacity (60s left); \
             np2: scale-down held: another network partition is short of members"
        );
    }

    #[test]
    fn garbage_inputs_do_not_panic() {
        let p = policy(&[(5, 2)]);
        let mut weird = active("a", "p1", f64::NAN);
        weird.started_at = f64::NAN;
        weird.state_since = f64::INFINITY;
        let members = [
            weird,
            member("x", "nowhere", MemberState::Active, Some(1.0)),
        ];
        let mut settings = rif_settings(f64::NAN);
        settings.window_seconds = -1.0;
        settings.prediction_horizon_seconds = f64::INFINITY;
        let r = run(&p, &settings, &members, &ScalingMemory::new());
        assert!(r.members_after() <= 2, "max wins over min: {r:?}");
        assert_eq!(r.members.outside_policy, 1);
        let input = EvaluationInput {
            cluster_id: "c",
            deployment_policy: &p,
            settings: &settings,
            members: &members,
            network_partition_health: &[],
        };
        let r = evaluate(&input, &ScalingMemory::new(), f64::NAN);
        assert!(r.planned_actions.is_empty());
        let empty = DeploymentPolicy {
            id: "e".into(),
            network_partitions: vec![],
        };
        let input = EvaluationInput {
            deployment_policy: &empty,
            ..input
        };
        assert!(evaluate(&input, &ScalingMemory::new(), NOW)
            .planned_actions
            .is_empty());
    }

    #[test]
    fn absurd_policy_sizes_do_not_overflow() {
        let p = policy(&[(0, u32::MAX), (0, u32::MAX)]);
        let members = [active("a", "p1", 1e300)];
        let r = run(&p, &rif_settings(1e-300), &members, &ScalingMemory::new());
        assert_eq!(r.network_partitions[0].max, u32::MAX);
        assert_eq!(starts(&r).len(), 4, "bounded by the step");
        assert_eq!(cluster_bounds(&p), (0, u32::MAX));
    }

    #[test]
    fn cluster_level_values_take_precedence() {
        let p = policy(&[(1, 10)]);
        let members = [active("a", "p1", 0.0)];
        let mut health = MetricStats::default();
        health.set(Metric::RequestsInFlight, Some(stats(60.0, NOW - 2.0)));
        let np_health = [NetworkPartitionHealth {
            network_partition_id: "np1".into(),
            health,
        }];
        let settings = rif_settings(20.0);
        let input = EvaluationInput {
            cluster_id: "c1",
            deployment_policy: &p,
            settings: &settings,
            members: &members,
            network_partition_health: &np_health,
        };
        let r = evaluate(&input, &ScalingMemory::new(), NOW);
        assert_eq!(r.required, 3);
        assert_eq!(starts(&r).len(), 2);
    }

    #[test]
    fn record_serialises_in_camel_case() {
        let p = policy(&[(1, 10)]);
        let members = [active("a", "p1", 50.0)];
        let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["clusterId"], "c1");
        assert_eq!(json["dryRun"], false);
        assert_eq!(json["actions"][0]["action"], "startMember");
        assert_eq!(json["actions"][0]["partitionId"], "p1");
        assert_eq!(json["actions"][0]["cause"], "scaleUp");
        let metric = &json["networkPartitions"][0]["metrics"][0];
        assert_eq!(metric["metric"], "requestsInFlight");
        assert_eq!(metric["secondDerivative"], 0.0);
        assert_eq!(metric["prediction"], 50.0);
        assert_eq!(json["members"]["active"], 1);
        assert!(matches!(
            &r.planned_actions[0],
            ScalingAction::StartMember { partition_id, .. } if partition_id == "p1"
        ));
    }

    #[test]
    fn stabilization_history_is_a_sliding_maximum() {
        let mut h = RecommendationHistory::default();
        h.push(0.0, 5, 300.0);
        h.push(10.0, 3, 300.0);
        h.push(20.0, 4, 300.0);
        assert_eq!(h.highest_since(-1.0), Some(5));
        assert_eq!(h.highest_since(5.0), Some(4));
        assert_eq!(h.entries.len(), 2, "3 was dominated by the later 4");
        h.push(400.0, 1, 300.0);
        assert_eq!(h.highest_since(100.0), Some(1));
        assert_eq!(h.entries.len(), 1);
    }
}
