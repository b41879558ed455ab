//! Replay a load trace through the real evaluation with a simulated clock.
//!
//! The simulator owns simulated members (named `m1`, `m2`, … in start order), their health
//! windows and the cluster's [`ScalingMemory`]; every tick it feeds the trace samples that are
//! due, lets booting members become Active after `boot_seconds`, runs [`evaluate`] — the same
//! function the controller runs — and carries out the decision's actions. Nothing here does
//! I/O: the trace is parsed from a `&str` and the report is a value that implements `Display`.
//!
//! # Trace format
//!
//! CSV, one sample per line: `time,target,metric,value`.
//!
//! - `time`: seconds from the start of the trace (a finite number ≥ 0; lines need not be
//!   sorted, they are replayed in time order);
//! - `target`: `cluster` for a cluster-wide value, or a member id (`m1`, …) for that member
//!   only (ignored while that member does not exist or is not Active);
//! - `metric`: `load_average`, `memory_consumption` or `requests_in_flight`;
//! - `value`: a finite number ≥ 0 (percent for load and memory, requests for RIF).
//!
//! A first line `time,target,metric,value` is an optional header; blank lines are skipped and
//! `#` starts a comment (whole line or end of line). A cluster-wide load average or memory value
//! is what every Active member reports at that time (so the cluster average equals it); a
//! cluster-wide requests-in-flight value is the cluster's total, reported at cluster level per
//! network partition the way Stratos' load balancer does (split over network partitions in
//! proportion to their Active members).

use crate::backoff::FailureClass;
use crate::evaluate::{
    cluster_bounds, evaluate, DecisionRecord, EvaluationInput, MemberStatus,
    NetworkPartitionHealth, ScalingAction, ScalingMemory, ScalingSettings,
};
use crate::policy::DeploymentPolicy;
use crate::window::{Metric, MetricWindows, UnknownMetric};
use messaging::MemberState;
use std::fmt;

/// Who a trace sample is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceTarget {
    Cluster,
    Member(String),
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSample {
    pub time: f64,
    pub target: TraceTarget,
    pub metric: Metric,
    pub value: f64,
    /// 1-based line in the source, for messages.
    pub line: usize,
}

/// A parsed trace, sorted by time (stable: lines at the same time keep their order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub samples: Vec<TraceSample>,
}

/// A trace line that could not be read; `line` is 1-based, `field` names the column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    #[error("line {line}: expected 4 fields time,target,metric,value but found {found}")]
    FieldCount { line: usize, found: usize },
    #[error("line {line}, field 1 (time): {text:?} is not a finite number of seconds >= 0")]
    Time { line: usize, text: String },
    #[error("line {line}, field 2 (target): empty (use `cluster` or a member id)")]
    Target { line: usize },
    #[error("line {line}, field 3 (metric): {source}")]
    Metric {
        line: usize,
        #[source]
        source: UnknownMetric,
    },
    #[error("line {line}, field 4 (value): {text:?} is not a finite number >= 0")]
    Value { line: usize, text: String },
}

impl TraceError {
    pub fn line(&self) -> usize {
        match self {
            TraceError::FieldCount { line, .. }
            | TraceError::Time { line, .. }
            | TraceError::Target { line }
            | TraceError::Metric { line, .. }
            | TraceError::Value { line, .. } => *line,
        }
    }
}

fn non_negative(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

impl Trace {
    /// Parse the CSV trace format described in the module docs.
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        let mut samples = Vec::new();
        let mut seen_data = false;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split(',').map(str::trim).collect();
            if fields.len() != 4 {
                return Err(TraceError::FieldCount {
                    line,
                    found: fields.len(),
                });
            }
            if !seen_data {
                seen_data = true;
                let header = ["time", "target", "metric", "value"];
                if fields
                    .iter()
                    .zip(header)
                    .all(|(f, h)| f.eq_ignore_ascii_case(h))
                {
                    continue;
                }
            }
            let time = non_negative(fields[0]).ok_or_else(|| TraceError::Time {
                line,
                text: fields[0].to_string(),
            })?;
            let target = match fields[1] {
                "" => return Err(TraceError::Target { line }),
                "cluster" => TraceTarget::Cluster,
                member => TraceTarget::Member(member.to_string()),
            };
            let metric = fields[2]
                .parse::<Metric>()
                .map_err(|source| TraceError::Metric { line, source })?;
            let value = non_negative(fields[3]).ok_or_else(|| TraceError::Value {
                line,
                text: fields[3].to_string(),
            })?;
            samples.push(TraceSample {
                time,
                target,
                metric,
                value,
                line,
            });
        }
        samples.sort_by(|a, b| a.time.total_cmp(&b.time));
        Ok(Trace { samples })
    }

    /// Time of the last sample (0 for an empty trace).
    pub fn end(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| s.time)
    }
}

impl std::str::FromStr for Trace {
    type Err = TraceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trace::parse(s)
    }
}

/// How the simulated world behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seconds from a start request until the member is Active.
    pub boot_seconds: f64,
    /// Simulated time between two evaluations.
    pub tick_seconds: f64,
    /// How long to simulate; `None` = until the trace's last sample.
    pub duration_seconds: Option<f64>,
    /// Begin with every partition's minimum already Active (otherwise the cluster starts empty
    /// and the minimum rule boots it).
    pub start_at_minimum: bool,
    /// Partitions whose starts fail, with the error class the cloud answers.
    pub failing_partitions: Vec<(String, FailureClass)>,
    /// Members that fall silent (no health, no heartbeat) from the given time on.
    pub silent_members: Vec<(String, f64)>,
    pub cluster_id: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            boot_seconds: 60.0,
            tick_seconds: 1.0,
            duration_seconds: None,
            start_at_minimum: true,
            failing_partitions: Vec::new(),
            silent_members: Vec::new(),
            cluster_id: "simulated".to_string(),
        }
    }
}

/// The cluster at one tick.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPoint {
    pub time: f64,
    /// Members that count (pending + Active) after the tick's actions.
    pub members: u32,
    pub active: u32,
    pub required: u32,
}

/// A decision worth reporting: one that acted, or whose reason changed in kind.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimEvent {
    pub time: f64,
    pub members_before: u32,
    pub members_after: u32,
    pub active: u32,
    pub required: u32,
    pub actions: Vec<String>,
    pub reason: String,
}

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimReport {
    pub cluster_min: u32,
    pub cluster_max: u32,
    /// One point per tick.
    pub timeline: Vec<SimPoint>,
    pub events: Vec<SimEvent>,
    pub starts: u32,
    pub failed_starts: u32,
    pub terminations: u32,
    pub faults: u32,
    /// Trace samples addressed to members that did not exist or were not Active.
    pub ignored_samples: u32,
    pub evaluations: u32,
}

impl SimReport {
    pub fn max_members(&self) -> u32 {
        self.timeline.iter().map(|p| p.members).max().unwrap_or(0)
    }
    pub fn min_members(&self) -> u32 {
        self.timeline.iter().map(|p| p.members).min().unwrap_or(0)
    }
    /// Members that count at time `t` (the last tick at or before it).
    pub fn members_at(&self, t: f64) -> u32 {
        self.timeline
            .iter()
            .take_while(|p| p.time <= t)
            .last()
            .map_or(0, |p| p.members)
    }
    /// First tick at or after `from` where the member count differs from `count`.
    pub fn first_change_after(&self, from: f64, count: u32) -> Option<f64> {
        self.timeline
            .iter()
            .find(|p| p.time >= from && p.members != count)
            .map(|p| p.time)
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation: {} evaluations, members min {} max {} (policy {}..{}), {} started, \
             {} failed starts, {} terminated, {} faulty",
            self.evaluations,
            self.min_members(),
            self.max_members(),
            self.cluster_min,
            self.cluster_max,
            self.starts,
            self.failed_starts,
            self.terminations,
            self.faults
        )?;
        if self.ignored_samples > 0 {
            writeln!(
                f,
                "{} trace samples were for members that were not active",
                self.ignored_samples
            )?;
        }
        writeln!(
            f,
            "{:>8}  {:>7}  {:>6}  {:>8}  decision",
            "time", "members", "active", "required"
        )?;
        for e in &self.events {
            let members = if e.members_before == e.members_after {
                format!("{}", e.members_after)
            } else {
                format!("{}->{}", e.members_before, e.members_after)
            };
            write!(
                f,
                "{:>7.0}s  {:>7}  {:>6}  {:>8}  {}",
                e.time, members, e.active, e.required, e.reason
            )?;
            if !e.actions.is_empty() {
                write!(f, " [{}]", e.actions.join(", "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

struct SimMember {
    id: String,
    network_partition_id: String,
    partition_id: String,
    state: MemberState,
    started_at: f64,
    state_since: f64,
    windows: MetricWindows,
    last_heard_at: Option<f64>,
}

/// Hard cap on ticks, so a tiny tick over a long trace cannot run for ever.
const MAX_TICKS: usize = 2_000_000;

fn describe(action: &ScalingAction) -> String {
    match action {
        ScalingAction::StartMember { partition_id, .. } => format!("start in {partition_id}"),
        ScalingAction::TerminateMember { member_id, .. } => format!("terminate {member_id}"),
        ScalingAction::MarkFaulty { member_id, .. } => format!("faulty {member_id}"),
        ScalingAction::ExpirePending { member_id, .. } => format!("expire {member_id}"),
    }
}

/// Replay `trace` against a cluster with `policy` and `settings`.
pub fn run(
    settings: &ScalingSettings,
    policy: &DeploymentPolicy,
    trace: &Trace,
    options: &SimOptions,
) -> SimReport {
    let tick = if options.tick_seconds.is_finite() && options.tick_seconds > 0.0 {
        options.tick_seconds
    } else {
        1.0
    };
    let boot = if options.boot_seconds.is_finite() && options.boot_seconds >= 0.0 {
        options.boot_seconds
    } else {
        0.0
    };
    let end = options
        .duration_seconds
        .filter(|d| d.is_finite() && *d >= 0.0)
        .unwrap_or_else(|| trace.end());
    let ticks = ((end / tick).floor() as usize)
        .saturating_add(1)
        .min(MAX_TICKS);
    let window_config = settings.window_config();

    let (cluster_min, cluster_max) = cluster_bounds(policy);
    let mut report = SimReport {
        cluster_min,
        cluster_max,
        ..SimReport::default()
    };
    let mut members: Vec<SimMember> = Vec::new();
    let mut next_number = 1u32;
    let mut new_member = |np: &str, partition: &str, state: MemberState, t: f64| {
        let id = format!("m{next_number}");
        next_number += 1;
        SimMember {
            id,
            network_partition_id: np.to_string(),
            partition_id: partition.to_string(),
            state,
            started_at: t,
            state_since: t,
            windows: MetricWindows::new(window_config),
            last_heard_at: Some(t),
        }
    };
    if options.start_at_minimum {
        for np in &policy.network_partitions {
            for p in &np.partitions {
                for _ in 0..p.min.min(p.max) {
                    members.push(new_member(&np.id, &p.id, MemberState::Active, 0.0));
                }
            }
        }
    }
    let mut np_windows: Vec<(String, MetricWindows)> = policy
        .network_partitions
        .iter()
        .map(|np| (np.id.clone(), MetricWindows::new(window_config)))
        .collect();
    let mut memory = ScalingMemory::new();
    let mut cursor = 0usize;
    let mut last_reason = String::new();
    let is_silent = |id: &str, t: f64| {
        options
            .silent_members
            .iter()
            .any(|(m, from)| m == id && t >= *from)
    };

    for step in 0..ticks {
        let now = step as f64 * tick;

        // Boot: members become Active after boot_seconds.
        for m in members.iter_mut() {
            if m.state == MemberState::Starting && now - m.started_at >= boot {
                m.state = MemberState::Active;
                m.state_since = now;
                m.last_heard_at = Some(now);
            }
        }
        // Heartbeats of live agents.
        for m in members.iter_mut() {
            if m.state == MemberState::Active && !is_silent(&m.id, now) {
                m.last_heard_at = Some(now);
            }
        }

        // Trace samples due by now.
        while let Some(sample) = trace.samples.get(cursor).filter(|s| s.time <= now) {
            cursor += 1;
            apply_sample(
                sample,
                &mut members,
                &mut np_windows,
                &mut report,
                &is_silent,
            );
        }

        // Evaluate exactly as the controller does.
        let statuses: Vec<MemberStatus> = members
            .iter()
            .map(|m| MemberStatus {
                member_id: m.id.clone(),
                network_partition_id: m.network_partition_id.clone(),
                partition_id: m.partition_id.clone(),
                state: m.state,
                started_at: m.started_at,
                state_since: m.state_since,
                health: m.windows.all_stats(),
                last_heard_at: m.last_heard_at,
            })
            .collect();
        let np_health: Vec<NetworkPartitionHealth> = np_windows
            .iter()
            .map(|(id, w)| NetworkPartitionHealth {
                network_partition_id: id.clone(),
                health: w.all_stats(),
            })
            .collect();
        let input = EvaluationInput {
            cluster_id: &options.cluster_id,
            deployment_policy: policy,
            settings,
            members: &statuses,
            network_partition_health: &np_health,
        };
        let record = evaluate(&input, &memory, now);
        memory.commit(&record, settings);
        report.evaluations += 1;
        let members_before = counted(&members);
        let actions = carry_out(
            &record,
            &mut members,
            &mut memory,
            options,
            now,
            &mut report,
            &mut new_member,
        );
        let members_after = counted(&members);
        let active = members
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .count() as u32;
        report.timeline.push(SimPoint {
            time: now,
            members: members_after,
            active,
            required: record.required,
        });
        // Report a decision when it acts or its reason changes in kind (not every tick of a
        // countdown): compare reasons with the digits left out.
        let reason_kind: String = record
            .reason
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        if !record.planned_actions.is_empty() || reason_kind != last_reason {
            report.events.push(SimEvent {
                time: now,
                members_before,
                members_after,
                active,
                required: record.required,
                actions,
                reason: record.reason.clone(),
            });
            last_reason = reason_kind;
        }
    }
    report
}

fn counted(members: &[SimMember]) -> u32 {
    members.iter().filter(|m| !m.state.is_leaving()).count() as u32
}

fn apply_sample(
    sample: &TraceSample,
    members: &mut [SimMember],
    np_windows: &mut [(String, MetricWindows)],
    report: &mut SimReport,
    is_silent: &dyn Fn(&str, f64) -> bool,
) {
    let alive = |m: &SimMember| m.state == MemberState::Active && !is_silent(&m.id, sample.time);
    match (&sample.target, sample.metric) {
        (TraceTarget::Cluster, Metric::RequestsInFlight) => {
            // The load balancer's view: the cluster total, split by Active members.
            let total_active = members.iter().filter(|m| alive(m)).count();
            let share_count = np_windows.len().max(1);
            for (np_id, windows) in np_windows.iter_mut() {
                let np_active = members
                    .iter()
                    .filter(|m| alive(m) && &m.network_partition_id == np_id)
                    .count();
                let share = if total_active == 0 {
                    sample.value / share_count as f64
                } else {
                    sample.value * np_active as f64 / total_active as f64
                };
                windows.apply(sample.metric, sample.time, share);
            }
        }
        (TraceTarget::Cluster, metric) => {
            for m in members.iter_mut().filter(|m| alive(m)) {
                m.windows.apply(metric, sample.time, sample.value);
            }
        }
        (TraceTarget::Member(id), metric) => {
            match members.iter_mut().find(|m| &m.id == id && alive(m)) {
                Some(m) => {
                    m.windows.apply(metric, sample.time, sample.value);
                }
                None => report.ignored_samples += 1,
            }
        }
    }
}

fn carry_out(
    record: &DecisionRecord,
    members: &mut Vec<SimMember>,
    memory: &mut ScalingMemory,
    options: &SimOptions,
    now: f64,
    report: &mut SimReport,
    new_member: &mut dyn FnMut(&str, &str, MemberState, f64) -> SimMember,
) -> Vec<String> {
    let mut described = Vec::new();
    // Only actions(): a dry run changes nothing, exactly as in the controller.
    for action in record.actions() {
        let mut text = describe(action);
        match action {
            ScalingAction::StartMember {
                network_partition_id,
                partition_id,
                ..
            } => {
                let failure = options
                    .failing_partitions
                    .iter()
                    .find(|(p, _)| p == partition_id)
                    .map(|(_, class)| *class);
                match failure {
                    Some(class) => {
                        memory
                            .backoff
                            .record_failure(partition_id, class, now, None);
                        report.failed_starts += 1;
                        text.push_str(&format!(" failed: {class}"));
                    }
                    None => {
                        memory.backoff.record_success(partition_id);
                        let m = new_member(
                            network_partition_id,
                            partition_id,
                            MemberState::Starting,
                            now,
                        );
                        text = format!("start {} in {partition_id}", m.id);
                        members.push(m);
                        report.starts += 1;
                    }
                }
            }
            ScalingAction::TerminateMember { member_id, .. } => {
                members.retain(|m| &m.id != member_id);
                report.terminations += 1;
            }
            ScalingAction::MarkFaulty { member_id, .. }
            | ScalingAction::ExpirePending { member_id, .. } => {
                members.retain(|m| &m.id != member_id);
                report.faults += 1;
            }
        }
        described.push(text);
    }
    if record.is_dry_run() {
        described.extend(
            record
                .planned_actions()
                .iter()
                .map(|a| format!("would {}", describe(a))),
        );
    }
    described
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{LoadThresholds, NetworkPartition, PartitionAlgorithm, PartitionPolicy};
    use proptest::prelude::*;

    const SPIKE: &str = include_str!("../../conf/traces/spike.csv");
    const SLOW_RAMP: &str = include_str!("../../conf/traces/slow-ramp.csv");

    fn policy(partitions: &[(u32, u32)]) -> DeploymentPolicy {
        DeploymentPolicy {
            id: "dp".into(),
            network_partitions: vec![NetworkPartition {
                id: "np1".into(),
                algorithm: PartitionAlgorithm::RoundRobin,
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

    fn settings() -> ScalingSettings {
        ScalingSettings::new(LoadThresholds {
            requests_in_flight: Some(20.0),
            memory_consumption: Some(80.0),
            load_average: Some(70.0),
        })
    }

    #[test]
    fn parses_the_documented_format() {
        let trace = Trace::parse(
            "# comment\n\ntime,target,metric,value\n5,m1,load_average,10 # inline\n\
             1.5, cluster , requests_in_flight , 3\n",
        )
        .unwrap();
        assert_eq!(trace.samples.len(), 2);
        assert_eq!(trace.samples[0].time, 1.5, "sorted by time");
        assert_eq!(trace.samples[0].target, TraceTarget::Cluster);
        assert_eq!(trace.samples[0].line, 5);
        assert_eq!(trace.samples[1].target, TraceTarget::Member("m1".into()));
        assert_eq!(trace.samples[1].metric, Metric::LoadAverage);
        assert_eq!(trace.end(), 5.0);
        // The header is optional.
        assert_eq!(
            "0,cluster,load_average,1"
                .parse::<Trace>()
                .unwrap()
                .samples
                .len(),
            1
        );
    }

    #[test]
    fn parse_errors_name_line_and_field() {
        let err =
            Trace::parse("time,target,metric,value\n0,cluster,load_average,1\n3,cluster,cpu,1")
                .unwrap_err();
        assert_eq!(err.line(), 3);
        assert_eq!(
            err.to_string(),
            "line 3, field 3 (metric): unknown metric \"cpu\" (expected load_average, \
             memory_consumption or requests_in_flight)"
        );
        let err = Trace::parse("0,cluster,load_average").unwrap_err();
        assert_eq!(err, TraceError::FieldCount { line: 1, found: 3 });
        let err = Trace::parse("\n\n-1,cluster,load_average,1").unwrap_err();
        assert!(matches!(err, TraceError::Time { line: 3, .. }), "{err}");
        let err = Trace::parse("1,,load_average,1").unwrap_err();
        assert_eq!(err, TraceError::Target { line: 1 });
        for bad in ["NaN", "inf", "-3", "x", ""] {
            let err = Trace::parse(&format!("1,cluster,load_average,{bad}")).unwrap_err();
            assert!(
                matches!(err, TraceError::Value { line: 1, .. }),
                "{bad}: {err}"
            );
        }
        assert!(err_text("1,cluster,load_average,x").contains("line 1, field 4 (value)"));
    }

    fn err_text(trace: &str) -> String {
        Trace::parse(trace).unwrap_err().to_string()
    }

    #[test]
    fn shipped_spike_trace_scales_up_fast_and_down_only_after_stabilization() {
        let trace = Trace::parse(SPIKE).unwrap();
        let p = policy(&[(1, 5), (0, 5)]);
        let report = run(&settings(), &p, &trace, &SimOptions::default());
        let text = report.to_string();
        assert_eq!(report.members_at(299.0), 1, "{text}");
        let first_up = report.first_change_after(300.0, 1).expect("scaled up");
        assert!(first_up <= 330.0, "scale-up at {first_up}s\n{text}");
        assert!(report.members_at(first_up) > 1, "{text}");
        let peak = report.max_members();
        assert!((5..=10).contains(&peak), "peak {peak}\n{text}");
        // No scale-down until the spike (ending at 480 s) has left the stabilization window.
        let peak_reached = report
            .timeline
            .iter()
            .find(|p| p.members == peak)
            .map(|p| p.time)
            .unwrap();
        let first_down = report
            .timeline
            .iter()
            .find(|p| p.time > peak_reached && p.members < peak)
            .map(|p| p.time)
            .expect("scaled down");
        assert!(
            first_down >= 480.0 + 300.0,
            "scale-down at {first_down}s\n{text}"
        );
        assert_eq!(report.members_at(1800.0), 1, "back to the minimum\n{text}");
        assert!(report.min_members() >= 1);
        assert_eq!(report.faults, 0);
        assert!(text.contains("stabilizing scale-down"), "{text}");
        assert!(text.contains("scale-up: starting"), "{text}");
    }

    #[test]
    fn shipped_slow_ramp_follows_the_load_without_flapping() {
        let trace = Trace::parse(SLOW_RAMP).unwrap();
        let p = policy(&[(1, 5), (0, 5)]);
        let report = run(&settings(), &p, &trace, &SimOptions::default());
        let text = report.to_string();
        let counts = |from: f64, to: f64| -> Vec<u32> {
            report
                .timeline
                .iter()
                .filter(|p| p.time >= from && p.time < to)
                .map(|p| p.members)
                .collect()
        };
        let rising = counts(0.0, 1080.0);
        assert!(
            rising.windows(2).all(|w| w[0] <= w[1]),
            "never shrinks while rising\n{text}"
        );
        let falling = counts(1080.0, 2410.0);
        assert!(
            falling.windows(2).all(|w| w[0] >= w[1]),
            "never grows while falling\n{text}"
        );
        // 90 requests / 20 per member at the top → 5 members.
        assert!(report.members_at(1080.0) >= 4, "{text}");
        assert!(report.max_members() <= 6, "{text}");
        assert_eq!(report.members_at(2400.0), 1, "{text}");
    }

    #[test]
    fn failing_partition_backs_off_and_falls_over() {
        let trace = Trace::parse(SPIKE).unwrap();
        let p = policy(&[(1, 5), (0, 5)]);
        let options = SimOptions {
            failing_partitions: vec![("p2".into(), FailureClass::Quota)],
            duration_seconds: Some(600.0),
            ..SimOptions::default()
        };
        let report = run(&settings(), &p, &trace, &options);
        let text = report.to_string();
        // Quota backs p2 off for 300 s after its first failure: one failed attempt in 300 s,
        // at most two in the run, never a storm.
        assert!((1..=2).contains(&report.failed_starts), "{text}");
        assert!(
            report.max_members() <= 5,
            "p1 alone holds at most 5\n{text}"
        );
        assert!(text.contains("failed: quota"), "{text}");
        assert!(report.members_at(400.0) >= 4, "p1 takes over\n{text}");
    }

    #[test]
    fn silent_member_is_replaced() {
        let trace = Trace::parse(SPIKE).unwrap();
        let p = policy(&[(2, 5)]);
        let options = SimOptions {
            silent_members: vec![("m1".into(), 100.0)],
            duration_seconds: Some(250.0),
            ..SimOptions::default()
        };
        let report = run(&settings(), &p, &trace, &options);
        let text = report.to_string();
        assert_eq!(report.faults, 1, "{text}");
        assert!(text.contains("member m1 faulty: silent 61s"), "{text}");
        assert_eq!(report.members_at(250.0), 2, "{text}");
    }

    #[test]
    fn dry_run_changes_nothing_but_says_what_it_would_do() {
        let trace = Trace::parse(SPIKE).unwrap();
        let p = policy(&[(1, 5), (0, 5)]);
        let mut s = settings();
        s.dry_run = true;
        let options = SimOptions {
            duration_seconds: Some(400.0),
            ..SimOptions::default()
        };
        let report = run(&s, &p, &trace, &options);
        assert_eq!(report.max_members(), 1);
        assert_eq!(report.starts, 0);
        let text = report.to_string();
        assert!(text.contains("dry-run: would start"), "{text}");
    }

    #[test]
    fn empty_cluster_boots_its_minimum() {
        let p = policy(&[(2, 5)]);
        let options = SimOptions {
            start_at_minimum: false,
            boot_seconds: 30.0,
            duration_seconds: Some(40.0),
            ..SimOptions::default()
        };
        let report = run(&settings(), &p, &Trace::default(), &options);
        assert_eq!(report.members_at(0.0), 2);
        assert_eq!(report.timeline[0].active, 0);
        assert_eq!(report.timeline[30].active, 2);
        assert_eq!(report.starts, 2);
    }

    fn arb_policy() -> impl Strategy<Value = DeploymentPolicy> {
        let partition = (0u32..3, 0u32..5).prop_map(|(min, extra)| (min, min + extra));
        let np = (prop::collection::vec(partition, 1..4), prop::bool::ANY);
        prop::collection::vec(np, 1..3).prop_map(|nps| DeploymentPolicy {
            id: "dp".into(),
            network_partitions: nps
                .into_iter()
                .enumerate()
                .map(|(j, (parts, rr))| NetworkPartition {
                    id: format!("np{j}"),
                    algorithm: if rr {
                        PartitionAlgorithm::RoundRobin
                    } else {
                        PartitionAlgorithm::OneAfterAnother
                    },
                    partitions: parts
                        .into_iter()
                        .enumerate()
                        .map(|(i, (min, max))| PartitionPolicy {
                            id: format!("np{j}-p{i}"),
                            provider_type: "mock".into(),
                            min,
                            max,
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    fn arb_trace() -> impl Strategy<Value = Trace> {
        let sample = (
            0.0f64..600.0,
            0usize..3,
            0.0f64..300.0,
            prop::bool::weighted(0.1),
        );
        prop::collection::vec(sample, 0..200).prop_map(|samples| {
            let mut samples: Vec<TraceSample> = samples
                .into_iter()
                .enumerate()
                .map(|(line, (time, metric, value, per_member))| TraceSample {
                    time,
                    target: if per_member {
                        TraceTarget::Member(format!("m{}", line % 7 + 1))
                    } else {
                        TraceTarget::Cluster
                    },
                    metric: Metric::ALL[metric],
                    value,
                    line,
                })
                .collect();
            samples.sort_by(|a, b| a.time.total_cmp(&b.time));
            Trace { samples }
        })
    }

    fn arb_threshold(range: std::ops::Range<f64>) -> impl Strategy<Value = Option<f64>> {
        prop::option::weighted(0.8, range)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn count_stays_within_min_and_max(
            policy in arb_policy(),
            trace in arb_trace(),
            rif in arb_threshold(1.0..100.0),
            mc in arb_threshold(10.0..100.0),
            la in arb_threshold(10.0..150.0),
            boot in 0.0f64..120.0,
            step in 1u32..6,
        ) {
            let mut settings = ScalingSettings::new(LoadThresholds {
                requests_in_flight: rif,
                memory_consumption: mc,
                load_average: la,
            });
            settings.max_scale_up_step = step;
            let options = SimOptions {
                boot_seconds: boot,
                tick_seconds: 2.0,
                duration_seconds: Some(700.0),
                ..SimOptions::default()
            };
            let report = run(&settings, &policy, &trace, &options);
            prop_assert_eq!(report.faults, 0);
            for point in &report.timeline {
                prop_assert!(point.members <= report.cluster_max, "{} > max at {}", point.members, point.time);
                prop_assert!(point.members >= report.cluster_min, "{} < min at {}", point.members, point.time);
            }
        }

        #[test]
        fn flat_noisy_load_inside_thresholds_never_changes_the_count(
            partitions in prop::collection::vec((1u32..3, 0u32..4), 1..3),
            noise in prop::collection::vec((0.2f64..0.5, 0.2f64..0.5, 0.1f64..0.5), 120..121),
            rif_threshold in 5.0f64..50.0,
            mc_threshold in 50.0f64..95.0,
            la_threshold in 20.0f64..100.0,
        ) {
            let partitions: Vec<(u32, u32)> =
                partitions.into_iter().map(|(min, extra)| (min, min + extra)).collect();
            let policy = policy(&partitions);
            let min = f64::from(policy.min());
            let settings = ScalingSettings::new(LoadThresholds {
                requests_in_flight: Some(rif_threshold),
                memory_consumption: Some(mc_threshold),
                load_average: Some(la_threshold),
            });
            let mut samples = Vec::new();
            for (i, (la, mc, rif)) in noise.into_iter().enumerate() {
                let time = i as f64 * 5.0;
                for (metric, value) in [
                    (Metric::LoadAverage, la * la_threshold),
                    (Metric::MemoryConsumption, mc * mc_threshold),
                    // The cluster total stays under what the minimum can carry.
                    (Metric::RequestsInFlight, rif * rif_threshold * min),
                ] {
                    samples.push(TraceSample { time, target: TraceTarget::Cluster, metric, value, line: i });
                }
            }
            let trace = Trace { samples };
            let report = run(&settings, &policy, &trace, &SimOptions::default());
            prop_assert_eq!(report.starts + report.terminations + report.faults, 0, "{}", report);
            prop_assert!(report.timeline.iter().all(|p| f64::from(p.members) == min));
        }
    }
}
