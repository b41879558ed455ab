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
//! 4. **Scale-down.** Only when every configured metric that has a source is fresh for every
//!    Active member (a metric no Active member ever reported is `Unreported` and ignored), the
//!    partition has been observed for a full stabilization window, the cooldowns have passed,
//!    and even the highest recommendation of the stabilization window is below the current
//!    count: one member, the least loaded of the partition the algorithm picks, is terminated
//!    gracefully (cleanup → ReadyToShutDown → terminate, carried out by the controller).

use crate::backoff::PartitionBackoff;
use crate::partition::{partition_for_scale_down, partition_for_scale_up};
use crate::policy::{DeploymentPolicy, NetworkPartition};
use crate::rules;
use crate::window::{aggregate_members, Metric, MetricStats, WindowStats};
use messaging::MemberState;
use serde::Serialize;
use std::fmt::Write as _;

mod memory;
mod record;
mod settings;

pub use memory::ScalingMemory;
pub use record::{
    DecisionRecord, Freshness, MemberCounts, MetricDecision, NetworkPartitionDecision,
    ScalingAction, StartCause,
};
pub use settings::ScalingSettings;

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
                    .filter(|m| !matches!(m.freshness, Freshness::Fresh | Freshness::Unreported))
                    .map(|m| m.metric.as_str())
                    .collect();
                np_reasons.push(if !names.is_empty() {
                    format!("{} stale or missing: no scale-down", names.join(", "))
                } else if metrics.is_empty() {
                    format!("no metric configured: no scale-down (have {counted}, min {np_min})")
                } else {
                    "no configured metric reported yet: no scale-down".to_string()
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

        let unreported: Vec<&str> = metrics
            .iter()
            .filter(|m| m.freshness == Freshness::Unreported)
            .map(|m| m.metric.as_str())
            .collect();
        if !unreported.is_empty() {
            np_reasons.push(format!("{} unreported: ignored", unreported.join(", ")));
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
        let cluster_reported = np_health.is_some_and(|h| h.health.reported(metric));
        let (stats, freshness) = if let Some(s) = cluster_level {
            (Some(s), Freshness::Fresh)
        } else {
            member_stats.clear();
            let mut active = 0usize;
            let mut member_reported = false;
            for (member, place) in input.members.iter().zip(placement) {
                if place.map(|(mj, _)| mj) != Some(j) || member.state != MemberState::Active {
                    continue;
                }
                active += 1;
                member_reported |= member.health.reported(metric);
                if let Some(s) = member
                    .health
                    .get(metric)
                    .filter(|s| is_fresh(s, now, settings.stale_after_seconds))
                {
                    member_stats.push(s);
                }
            }
            // Unreported is a property of the whole network partition: one Active member
            // that has not reported yet (a newcomer) leaves a metric its peers report
            // partial, never unreported. Without Active members nobody could have reported.
            let freshness = if member_stats.is_empty() {
                if member_reported || cluster_reported || active == 0 {
                    Freshness::Missing
                } else {
                    Freshness::Unreported
                }
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
    // Unreported metrics have no source and are ignored; at least one metric must be fresh.
    let complete = metrics.iter().any(|m| m.freshness == Freshness::Fresh)
        && metrics
            .iter()
            .all(|m| matches!(m.freshness, Freshness::Fresh | Freshness::Unreported));
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
mod tests;
