//! Health windows: a sliding window of samples per metric, giving the average, the gradient
//! (per second) and the second derivative (per second²) at any moment.
//!
//! Stratos' CEP computed these over one-minute batches, and only when a batch closed. Here a
//! window is updated incrementally on every sample and can be read at any time: with one sample
//! the average is that sample and both derivatives are 0.
//!
//! # How the values are computed
//!
//! A window keeps the samples whose time lies within `length_seconds` of the newest sample,
//! plus running sums of `t⁰…t⁴`, `y`, `t·y` and `t²·y` (times relative to a moving origin so the
//! powers stay small). From the sums, in O(1):
//!
//! - **average**: the arithmetic mean of the values (Stratos' `avg(value)`),
//! - **gradient**: the slope of the least-squares line through the samples,
//! - **second derivative**: twice the quadratic coefficient of the least-squares parabola.
//!
//! Adding a sample is O(1); evicting old samples is O(1) each, so `apply` is O(1) amortised.
//! Every few window lengths the sums are rebuilt from the kept samples (O(n) once per
//! window's worth of samples, so still O(1) amortised): this re-centres the time origin and
//! throws away floating-point drift from the add/subtract updates.
//!
//! # Bunched samples
//!
//! Stratos divided by the time between the first and last event and had to clamp that gap to
//! ≥ 1 s after events milliseconds apart produced gradients of −1000/s. The least-squares
//! version of that clamp used here: the fit never assumes the samples are spread over less than
//! `min_fit_span_seconds` (default: half the window, never below 1 s). Denominators are floored
//! at the value a uniform spread over that span would give, so two samples at the same instant
//! give gradient 0, and a young window's derivatives grow smoothly as it fills instead of
//! jumping on two nearby samples. A degenerate fit yields 0, never NaN or infinity.
//!
//! # Out-of-order and invalid samples
//!
//! A sample older than the newest one is inserted at its place in time if it still falls inside
//! the window, and dropped ([`SampleOutcome::TooOld`]) if it does not. Non-finite times, and
//! values that are NaN, infinite, negative (none of the metrics can be negative) or above
//! [`MAX_VALUE`] (10¹²), are rejected ([`SampleOutcome::Invalid`]) and leave the window
//! untouched.

use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

/// The three health metrics Stratos scales on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    /// Load average, as a percentage of the member's CPU capacity (Stratos' agents report it so).
    LoadAverage,
    /// Memory consumption in percent.
    MemoryConsumption,
    /// Requests in flight (per cluster, as the load balancer reports them).
    RequestsInFlight,
}

impl Metric {
    pub const ALL: [Metric; 3] = [
        Metric::LoadAverage,
        Metric::MemoryConsumption,
        Metric::RequestsInFlight,
    ];

    /// The name used in traces and logs (`load_average`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LoadAverage => "load_average",
            Metric::MemoryConsumption => "memory_consumption",
            Metric::RequestsInFlight => "requests_in_flight",
        }
    }

    /// Index into per-metric arrays (same order as [`Metric::ALL`]).
    pub fn index(self) -> usize {
        match self {
            Metric::LoadAverage => 0,
            Metric::MemoryConsumption => 1,
            Metric::RequestsInFlight => 2,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A metric name that is none of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric {0:?} (expected load_average, memory_consumption or requests_in_flight)")]
pub struct UnknownMetric(pub String);

impl FromStr for Metric {
    type Err = UnknownMetric;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Accept Stratos' camelCase policy names too, so a metric can be named as in a policy.
        match s.trim() {
            "load_average" | "loadAverage" => Ok(Metric::LoadAverage),
            "memory_consumption" | "memoryConsumption" => Ok(Metric::MemoryConsumption),
            "requests_in_flight" | "requestsInFlight" => Ok(Metric::RequestsInFlight),
            other => Err(UnknownMetric(other.to_string())),
        }
    }
}

/// How long a window is and how its fit is regularised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowConfig {
    /// Samples older than this (relative to the newest sample) leave the window.
    pub length_seconds: f64,
    /// The fit never assumes a spread of sample times narrower than this (see module docs).
    pub min_fit_span_seconds: f64,
    /// Hard cap on kept samples, so a runaway reporter cannot grow memory without bound; when
    /// exceeded the oldest sample leaves early.
    pub max_samples: usize,
}

impl WindowConfig {
    pub const DEFAULT_LENGTH_SECONDS: f64 = 60.0;
    pub const DEFAULT_MAX_SAMPLES: usize = 4096;

    /// A window of `length_seconds` (invalid lengths fall back to the 60 s default) with the
    /// default fit span: half the window, at least Stratos' 1 s.
    pub fn with_length(length_seconds: f64) -> Self {
        let length_seconds = if length_seconds.is_finite() && length_seconds > 0.0 {
            length_seconds
        } else {
            Self::DEFAULT_LENGTH_SECONDS
        };
        WindowConfig {
            length_seconds,
            min_fit_span_seconds: (length_seconds / 2.0).max(1.0),
            max_samples: Self::DEFAULT_MAX_SAMPLES,
        }
    }

    fn sanitized(self) -> Self {
        let mut config = WindowConfig::with_length(self.length_seconds);
        if self.min_fit_span_seconds.is_finite() && self.min_fit_span_seconds > 0.0 {
            config.min_fit_span_seconds = self.min_fit_span_seconds;
        }
        config.max_samples = self.max_samples.max(1);
        config
    }
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig::with_length(Self::DEFAULT_LENGTH_SECONDS)
    }
}

/// What a window says at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowStats {
    pub average: f64,
    /// Per second.
    pub gradient: f64,
    /// Per second².
    pub second_derivative: f64,
    /// Samples in the window.
    pub samples: u32,
    /// Time of the newest sample (seconds), for staleness checks.
    pub last_sample_at: f64,
}

/// What happened to a sample offered to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleOutcome {
    Accepted,
    /// Older than the window: dropped.
    TooOld,
    /// Non-finite time or value, or a negative value: rejected.
    Invalid,
}

/// Running sums over the kept samples, in time relative to `origin`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    n: f64,
    t: f64,
    t2: f64,
    t3: f64,
    t4: f64,
    y: f64,
    ty: f64,
    t2y: f64,
}

impl Sums {
    #[inline]
    fn add(&mut self, t: f64, y: f64, sign: f64) {
        let t2 = t * t;
        self.n += sign;
        self.t += sign * t;
        self.t2 += sign * t2;
        self.t3 += sign * t2 * t;
        self.t4 += sign * t2 * t2;
        self.y += sign * y;
        self.ty += sign * t * y;
        self.t2y += sign * t2 * y;
    }
}

/// A sliding window over one metric of one member (or one network partition).
#[derive(Debug, Clone)]
pub struct HealthWindow {
    config: WindowConfig,
    /// (time, value), ordered by time.
    samples: VecDeque<(f64, f64)>,
    origin: f64,
    sums: Sums,
    /// Whether a sample was ever accepted, even if it has since left the window: tells a
    /// metric that went stale from one that was never reported.
    reported: bool,
}

impl Default for HealthWindow {
    fn default() -> Self {
        HealthWindow::new(WindowConfig::default())
    }
}

/// Largest accepted value. No metric comes near it (percentages, request counts); refusing
/// absurd values keeps the running sums' dynamic range small enough that subtracting an evicted
/// sample cannot wipe out the others (a 1e275 sample once turned a window's average negative).
pub const MAX_VALUE: f64 = 1e12;

/// Rebuild the sums once the newest sample is this many window lengths past the origin.
const REBASE_AFTER_WINDOWS: f64 = 4.0;

impl HealthWindow {
    pub fn new(config: WindowConfig) -> Self {
        HealthWindow {
            config: config.sanitized(),
            samples: VecDeque::new(),
            origin: 0.0,
            sums: Sums::default(),
            reported: false,
        }
    }

    /// Whether this window ever accepted a sample (expiry does not forget it).
    pub fn ever_reported(&self) -> bool {
        self.reported
    }

    pub fn config(&self) -> WindowConfig {
        self.config
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Time of the newest sample.
    pub fn last_sample_at(&self) -> Option<f64> {
        self.samples.back().map(|(t, _)| *t)
    }

    /// Offer one sample (time in seconds, value). O(1) amortised.
    #[inline]
    pub fn apply(&mut self, time: f64, value: f64) -> SampleOutcome {
        if !time.is_finite() || !value.is_finite() || !(0.0..=MAX_VALUE).contains(&value) {
            return SampleOutcome::Invalid;
        }
        match self.samples.back() {
            None => {
                self.origin = time;
                self.sums = Sums::default();
                self.samples.push_back((time, value));
                self.sums.add(0.0, value, 1.0);
            }
            Some(&(newest, _)) if time >= newest => {
                self.samples.push_back((time, value));
                self.sums.add(time - self.origin, value, 1.0);
                self.evict_before(time - self.config.length_seconds);
                if time - self.origin > REBASE_AFTER_WINDOWS * self.config.length_seconds {
                    self.rebuild_sums();
                }
            }
            Some(&(newest, _)) => {
                // Out of order: keep it if it still belongs to the window.
                if time < newest - self.config.length_seconds {
                    return SampleOutcome::TooOld;
                }
                let at = self.samples.partition_point(|(t, _)| *t <= time);
                self.samples.insert(at, (time, value));
                self.sums.add(time - self.origin, value, 1.0);
            }
        }
        while self.samples.len() > self.config.max_samples {
            self.pop_oldest();
        }
        self.reported = true;
        SampleOutcome::Accepted
    }

    /// Drop samples older than `now - length` even when no new sample arrives (a silent
    /// member's window empties instead of freezing).
    pub fn expire(&mut self, now: f64) {
        if now.is_finite() {
            self.evict_before(now - self.config.length_seconds);
        }
    }

    #[inline]
    fn evict_before(&mut self, cutoff: f64) {
        while let Some(&(t, _)) = self.samples.front() {
            if t >= cutoff {
                break;
            }
            self.pop_oldest();
        }
    }

    #[inline]
    fn pop_oldest(&mut self) {
        if let Some((t, y)) = self.samples.pop_front() {
            if self.samples.is_empty() {
                // Exactly zero rather than the residue of many subtractions.
                self.sums = Sums::default();
            } else {
                self.sums.add(t - self.origin, y, -1.0);
            }
        }
    }

    fn rebuild_sums(&mut self) {
        self.origin = self.samples.front().map(|(t, _)| *t).unwrap_or(0.0);
        let mut sums = Sums::default();
        for &(t, y) in &self.samples {
            sums.add(t - self.origin, y, 1.0);
        }
        self.sums = sums;
    }

    /// The window's values now; `None` when it holds no sample. O(1).
    pub fn stats(&self) -> Option<WindowStats> {
        let &(last_sample_at, _) = self.samples.back()?;
        let s = &self.sums;
        let n = s.n;
        if n < 0.5 {
            return None;
        }
        let average = s.y / n;
        // Central moments of time and time-value co-moments (u = t - mean t).
        let mt = s.t / n;
        let et2 = s.t2 / n;
        let et3 = s.t3 / n;
        let et4 = s.t4 / n;
        let m2 = (et2 - mt * mt).max(0.0);
        let m3 = et3 - 3.0 * mt * et2 + 2.0 * mt * mt * mt;
        let m4 = (et4 - 4.0 * mt * et3 + 6.0 * mt * mt * et2 - 3.0 * mt.powi(4)).max(0.0);
        let cov_uy = s.ty / n - mt * average;
        // E[u²·y] - M2·E[y]
        let cov_u2y = (s.t2y - 2.0 * mt * s.ty + mt * mt * s.y) / n - m2 * average;

        // Floors: the moments of samples spread uniformly over the minimum fit span.
        let span = self.config.min_fit_span_seconds;
        let m2_floor = span * span / 12.0;
        let gradient = finite_or_zero(cov_uy / m2.max(m2_floor));

        // Quadratic fit y = a + b·u + c·(u² - M2): normal equations
        // [M2 M3; M3 M4-M2²]·[b c]ᵀ = [cov_uy cov_u2y]ᵀ.
        let det = m2 * (m4 - m2 * m2) - m3 * m3;
        let det_floor = span.powi(6) / 2160.0;
        let second_derivative = if n >= 3.0 {
            let c = (m2 * cov_u2y - m3 * cov_uy) / det.max(det_floor);
            finite_or_zero(2.0 * c)
        } else {
            0.0
        };
        Some(WindowStats {
            // Values are never negative; rounding residue of the running sums must not be.
            average: finite_or_zero(average).max(0.0),
            gradient,
            second_derivative,
            samples: self.samples.len().min(u32::MAX as usize) as u32,
            last_sample_at,
        })
    }
}

#[inline]
fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// One window per metric.
#[derive(Debug, Clone)]
pub struct MetricWindows {
    windows: [HealthWindow; 3],
}

impl MetricWindows {
    pub fn new(config: WindowConfig) -> Self {
        MetricWindows {
            windows: [
                HealthWindow::new(config),
                HealthWindow::new(config),
                HealthWindow::new(config),
            ],
        }
    }

    #[inline]
    pub fn apply(&mut self, metric: Metric, time: f64, value: f64) -> SampleOutcome {
        self.windows[metric.index()].apply(time, value)
    }

    pub fn window(&self, metric: Metric) -> &HealthWindow {
        &self.windows[metric.index()]
    }

    pub fn stats(&self, metric: Metric) -> Option<WindowStats> {
        self.windows[metric.index()].stats()
    }

    /// Per-metric stats, indexed like [`Metric::ALL`].
    pub fn all_stats(&self) -> MetricStats {
        MetricStats {
            values: [
                self.windows[0].stats(),
                self.windows[1].stats(),
                self.windows[2].stats(),
            ],
            reported: [
                self.windows[0].ever_reported(),
                self.windows[1].ever_reported(),
                self.windows[2].ever_reported(),
            ],
        }
    }

    /// Newest sample over all metrics: when this reporter was last heard from.
    pub fn last_sample_at(&self) -> Option<f64> {
        self.windows
            .iter()
            .filter_map(HealthWindow::last_sample_at)
            .reduce(f64::max)
    }

    pub fn expire(&mut self, now: f64) {
        for window in &mut self.windows {
            window.expire(now);
        }
    }
}

/// Window values for each metric (absent when the metric has no sample in the window), and
/// whether each metric was ever reported by this reporter (a metric absent now but reported
/// before is stale; one never reported has no source).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricStats {
    values: [Option<WindowStats>; 3],
    reported: [bool; 3],
}

impl MetricStats {
    pub fn get(&self, metric: Metric) -> Option<WindowStats> {
        self.values[metric.index()]
    }
    /// Set a metric's values; `Some` also marks it reported (a value implies a report).
    pub fn set(&mut self, metric: Metric, stats: Option<WindowStats>) {
        self.values[metric.index()] = stats;
        if stats.is_some() {
            self.reported[metric.index()] = true;
        }
    }
    /// Whether the reporter ever sent this metric (also when its samples have expired).
    pub fn reported(&self, metric: Metric) -> bool {
        self.reported[metric.index()] || self.values[metric.index()].is_some()
    }
    /// Mark a metric as reported before (its samples may have expired since).
    pub fn set_reported(&mut self, metric: Metric, reported: bool) {
        self.reported[metric.index()] = reported;
    }
    /// Newest sample over all metrics.
    pub fn last_sample_at(&self) -> Option<f64> {
        self.values
            .iter()
            .flatten()
            .map(|s| s.last_sample_at)
            .reduce(f64::max)
    }
}

/// Where a health sample belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleTarget {
    /// A member's own health (agent-reported load average, memory; or per-member RIF).
    Member(String),
    /// A cluster-level value for one network partition (Stratos' load balancer reports requests
    /// in flight per cluster and network partition).
    NetworkPartition(String),
}

/// The health windows of one cluster: per member and per network partition.
#[derive(Debug, Clone, Default)]
pub struct ClusterHealth {
    config: WindowConfig,
    members: HashMap<String, MemberHealth>,
    network_partitions: HashMap<String, MetricWindows>,
}

#[derive(Debug, Clone)]
struct MemberHealth {
    network_partition_id: String,
    windows: MetricWindows,
}

impl ClusterHealth {
    pub fn new(config: WindowConfig) -> Self {
        ClusterHealth {
            config,
            members: HashMap::new(),
            network_partitions: HashMap::new(),
        }
    }

    /// Start tracking a member (idempotent). Samples for untracked members are dropped so a
    /// late sample from a terminated member cannot resurrect it.
    pub fn track_member(&mut self, member_id: &str, network_partition_id: &str) {
        if !self.members.contains_key(member_id) {
            self.members.insert(
                member_id.to_string(),
                MemberHealth {
                    network_partition_id: network_partition_id.to_string(),
                    windows: MetricWindows::new(self.config),
                },
            );
        }
    }

    pub fn forget_member(&mut self, member_id: &str) {
        self.members.remove(member_id);
    }

    /// Apply a member's sample: the hot path (one hash lookup plus an O(1) window update).
    /// `None` when the member is not tracked.
    #[inline]
    pub fn apply_member(
        &mut self,
        member_id: &str,
        metric: Metric,
        time: f64,
        value: f64,
    ) -> Option<SampleOutcome> {
        self.members
            .get_mut(member_id)
            .map(|m| m.windows.apply(metric, time, value))
    }

    /// Apply a cluster-level sample for one network partition.
    pub fn apply_network_partition(
        &mut self,
        network_partition_id: &str,
        metric: Metric,
        time: f64,
        value: f64,
    ) -> SampleOutcome {
        let config = self.config;
        self.network_partitions
            .entry(network_partition_id.to_string())
            .or_insert_with(|| MetricWindows::new(config))
            .apply(metric, time, value)
    }

    pub fn apply(
        &mut self,
        target: &SampleTarget,
        metric: Metric,
        time: f64,
        value: f64,
    ) -> Option<SampleOutcome> {
        match target {
            SampleTarget::Member(id) => self.apply_member(id, metric, time, value),
            SampleTarget::NetworkPartition(id) => {
                Some(self.apply_network_partition(id, metric, time, value))
            }
        }
    }

    pub fn member(&self, member_id: &str) -> Option<&MetricWindows> {
        self.members.get(member_id).map(|m| &m.windows)
    }

    pub fn member_network_partition(&self, member_id: &str) -> Option<&str> {
        self.members
            .get(member_id)
            .map(|m| m.network_partition_id.as_str())
    }

    pub fn network_partition(&self, network_partition_id: &str) -> Option<&MetricWindows> {
        self.network_partitions.get(network_partition_id)
    }

    /// Expire old samples everywhere (call occasionally, e.g. before an evaluation).
    pub fn expire(&mut self, now: f64) {
        for member in self.members.values_mut() {
            member.windows.expire(now);
        }
        for windows in self.network_partitions.values_mut() {
            windows.expire(now);
        }
    }
}

/// How per-member values combine into one cluster (network partition) value: load average and
/// memory are averaged over members (they are percentages of one member's capacity); requests
/// in flight are summed (Stratos aggregates RIF per cluster). The aggregate's `last_sample_at`
/// is the *oldest* of the members' newest samples, so one silent member makes the aggregate
/// look stale (and a stale aggregate never causes a scale-down).
pub fn aggregate_members(metric: Metric, members: &[WindowStats]) -> Option<WindowStats> {
    if members.is_empty() {
        return None;
    }
    let count = members.len() as f64;
    let mut sum = WindowStats {
        average: 0.0,
        gradient: 0.0,
        second_derivative: 0.0,
        samples: 0,
        last_sample_at: f64::INFINITY,
    };
    for m in members {
        sum.average += m.average;
        sum.gradient += m.gradient;
        sum.second_derivative += m.second_derivative;
        sum.samples = sum.samples.saturating_add(m.samples);
        sum.last_sample_at = sum.last_sample_at.min(m.last_sample_at);
    }
    if metric != Metric::RequestsInFlight {
        sum.average /= count;
        sum.gradient /= count;
        sum.second_derivative /= count;
    }
    sum.average = finite_or_zero(sum.average);
    sum.gradient = finite_or_zero(sum.gradient);
    sum.second_derivative = finite_or_zero(sum.second_derivative);
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    /// A window whose fit span floor is negligible, to check the plain least-squares values.
    fn unclamped(length: f64) -> HealthWindow {
        HealthWindow::new(WindowConfig {
            length_seconds: length,
            min_fit_span_seconds: 1e-6,
            max_samples: 10_000,
        })
    }

    #[test]
    fn one_sample_gives_its_value_and_flat_derivatives() {
        let mut w = HealthWindow::default();
        assert_eq!(w.stats(), None);
        assert_eq!(w.apply(100.0, 42.0), SampleOutcome::Accepted);
        let s = w.stats().unwrap();
        assert_eq!(
            (s.average, s.gradient, s.second_derivative, s.samples),
            (42.0, 0.0, 0.0, 1)
        );
        assert_eq!(s.last_sample_at, 100.0);
    }

    #[test]
    fn linear_samples_give_exact_slope_and_zero_curvature() {
        // y = 3 + 2t at t = 0..10 → mean 13, slope 2, curvature 0.
        let mut w = unclamped(60.0);
        for t in 0..=10 {
            w.apply(t as f64, 3.0 + 2.0 * t as f64);
        }
        let s = w.stats().unwrap();
        assert!(close(s.average, 13.0), "{s:?}");
        assert!(close(s.gradient, 2.0), "{s:?}");
        assert!(s.second_derivative.abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn quadratic_samples_give_exact_second_derivative() {
        // y = t² at t = 0..4 → values 0,1,4,9,16: mean 6, least-squares slope 4, y'' = 2.
        let mut w = unclamped(60.0);
        for t in 0..=4 {
            w.apply(t as f64, (t * t) as f64);
        }
        let s = w.stats().unwrap();
        assert!(close(s.average, 6.0), "{s:?}");
        assert!(close(s.gradient, 4.0), "{s:?}");
        assert!(close(s.second_derivative, 2.0), "{s:?}");
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut w = unclamped(10.0);
        w.apply(0.0, 1000.0);
        for t in 1..=20 {
            w.apply(t as f64, 5.0);
        }
        let s = w.stats().unwrap();
        // Kept: t = 10..=20 (cutoff is newest - 10 = 10).
        assert_eq!(s.samples, 11);
        assert!(close(s.average, 5.0), "{s:?}");
        assert!(s.gradient.abs() < 1e-9);
        w.expire(100.0);
        assert!(w.is_empty());
        assert_eq!(w.stats(), None);
    }

    #[test]
    fn bunched_samples_never_give_absurd_gradients() {
        // Stratos' bug: two events a millisecond apart. Same instant → gradient exactly 0.
        let mut w = HealthWindow::default();
        w.apply(10.0, 0.0);
        w.apply(10.0, 100.0);
        let s = w.stats().unwrap();
        assert_eq!(s.gradient, 0.0);
        assert_eq!(s.average, 50.0);
        let mut w = HealthWindow::default();
        w.apply(10.0, 0.0);
        w.apply(10.001, 100.0);
        w.apply(10.002, 100.0);
        let s = w.stats().unwrap();
        // Unclamped this would be ~50,000/s; with a 30 s floor it is tiny.
        assert!(s.gradient.abs() < 0.1, "{s:?}");
        assert!(s.second_derivative.abs() < 0.1, "{s:?}");
    }

    #[test]
    fn out_of_order_samples_are_inserted_or_dropped() {
        let mut in_order = unclamped(60.0);
        for t in [0.0, 1.0, 2.0, 3.0] {
            in_order.apply(t, t * t);
        }
        let mut shuffled = unclamped(60.0);
        for t in [0.0, 3.0, 1.0, 2.0] {
            assert_eq!(shuffled.apply(t, t * t), SampleOutcome::Accepted);
        }
        let (a, b) = (in_order.stats().unwrap(), shuffled.stats().unwrap());
        assert!(close(a.gradient, b.gradient) && close(a.second_derivative, b.second_derivative));
        assert_eq!(b.last_sample_at, 3.0);
        assert_eq!(shuffled.apply(-100.0, 1.0), SampleOutcome::TooOld);
        assert_eq!(shuffled.len(), 4);
    }

    #[test]
    fn invalid_samples_are_rejected() {
        let mut w = HealthWindow::default();
        for (t, v) in [
            (f64::NAN, 1.0),
            (1.0, f64::NAN),
            (1.0, f64::INFINITY),
            (f64::INFINITY, 1.0),
            (1.0, -0.5),
            (1.0, 1e13),
        ] {
            assert_eq!(w.apply(t, v), SampleOutcome::Invalid);
        }
        assert!(w.is_empty());
    }

    #[test]
    fn long_runs_stay_accurate_across_rebases() {
        // Epoch-sized times and a million samples: sums are re-centred, values stay exact.
        let mut w = unclamped(60.0);
        let start = 1.7e9;
        for i in 0..1_000_000u32 {
            let t = start + f64::from(i) * 0.5;
            w.apply(t, 7.0 + 0.25 * (t - start));
        }
        let s = w.stats().unwrap();
        assert!((s.gradient - 0.25).abs() < 1e-6, "{s:?}");
        assert!(s.second_derivative.abs() < 1e-6, "{s:?}");
        assert_eq!(s.samples, 121);
        let newest = 7.0 + 0.25 * 999_999.0 * 0.5;
        assert!((s.average - (newest - 0.25 * 30.0)).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn sample_cap_bounds_memory() {
        let mut w = HealthWindow::new(WindowConfig {
            max_samples: 8,
            ..WindowConfig::default()
        });
        for i in 0..100 {
            w.apply(f64::from(i) * 0.001, 1.0);
        }
        assert_eq!(w.len(), 8);
    }

    #[test]
    fn aggregation_averages_percentages_and_sums_requests() {
        let a = WindowStats {
            average: 10.0,
            gradient: 1.0,
            second_derivative: 0.5,
            samples: 3,
            last_sample_at: 50.0,
        };
        let b = WindowStats {
            average: 30.0,
            gradient: -3.0,
            second_derivative: 0.0,
            samples: 2,
            last_sample_at: 40.0,
        };
        let la = aggregate_members(Metric::LoadAverage, &[a, b]).unwrap();
        assert_eq!(
            (la.average, la.gradient, la.second_derivative),
            (20.0, -1.0, 0.25)
        );
        assert_eq!(la.last_sample_at, 40.0, "oldest member's newest sample");
        let rif = aggregate_members(Metric::RequestsInFlight, &[a, b]).unwrap();
        assert_eq!((rif.average, rif.gradient), (40.0, -2.0));
        assert_eq!(rif.samples, 5);
        assert_eq!(aggregate_members(Metric::MemoryConsumption, &[]), None);
    }

    #[test]
    fn cluster_health_routes_samples() {
        let mut health = ClusterHealth::new(WindowConfig::default());
        assert_eq!(
            health.apply_member("m1", Metric::LoadAverage, 1.0, 5.0),
            None
        );
        health.track_member("m1", "np1");
        assert_eq!(
            health.apply_member("m1", Metric::LoadAverage, 1.0, 5.0),
            Some(SampleOutcome::Accepted)
        );
        health.apply(
            &SampleTarget::NetworkPartition("np1".into()),
            Metric::RequestsInFlight,
            2.0,
            9.0,
        );
        assert_eq!(
            health
                .member("m1")
                .unwrap()
                .stats(Metric::LoadAverage)
                .unwrap()
                .average,
            5.0
        );
        assert_eq!(health.member_network_partition("m1"), Some("np1"));
        let np = health.network_partition("np1").unwrap();
        assert_eq!(np.stats(Metric::RequestsInFlight).unwrap().average, 9.0);
        assert_eq!(np.last_sample_at(), Some(2.0));
        health.forget_member("m1");
        assert!(health.member("m1").is_none());
    }

    #[test]
    fn a_window_remembers_it_was_reported_after_its_samples_expire() {
        let mut windows = MetricWindows::new(WindowConfig::with_length(10.0));
        windows.apply(Metric::LoadAverage, 1.0, f64::NAN);
        assert!(
            !windows.all_stats().reported(Metric::LoadAverage),
            "an invalid sample is no report"
        );
        windows.apply(Metric::LoadAverage, 1.0, 5.0);
        windows.expire(100.0);
        let stats = windows.all_stats();
        assert_eq!(stats.get(Metric::LoadAverage), None, "expired");
        assert!(stats.reported(Metric::LoadAverage), "but reported before");
        assert!(!stats.reported(Metric::RequestsInFlight), "never sent");
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>().unwrap(), m);
        }
        assert_eq!(
            "loadAverage".parse::<Metric>().unwrap(),
            Metric::LoadAverage
        );
        assert!("cpu".parse::<Metric>().is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_f64() -> impl Strategy<Value = f64> {
            prop_oneof![
                4 => -10.0f64..1000.0,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(0.0),
                1 => prop::num::f64::ANY,
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn stats_are_always_finite(samples in prop::collection::vec((any_f64(), any_f64()), 0..200)) {
                let mut w = HealthWindow::default();
                for (t, v) in samples {
                    w.apply(t, v);
                    if let Some(s) = w.stats() {
                        prop_assert!(s.average.is_finite() && s.gradient.is_finite());
                        prop_assert!(s.second_derivative.is_finite());
                        prop_assert!(s.average >= 0.0, "values are never negative");
                    }
                }
            }

            #[test]
            fn reported_means_some_sample_was_ever_accepted(
                samples in prop::collection::vec((any_f64(), any_f64()), 0..60),
                expire_at in any_f64(),
            ) {
                let mut w = HealthWindow::new(WindowConfig::with_length(5.0));
                let mut accepted = false;
                for (t, v) in samples {
                    accepted |= w.apply(t, v) == SampleOutcome::Accepted;
                }
                w.expire(expire_at);
                prop_assert_eq!(w.ever_reported(), accepted);
                prop_assert!(w.stats().is_none() || w.ever_reported());
            }

            #[test]
            fn arrival_order_does_not_matter_inside_the_window(
                mut samples in prop::collection::vec((0.0f64..50.0, 0.0f64..100.0), 1..60),
            ) {
                // All within one 60 s window: any arrival order keeps every sample.
                let mut shuffled = HealthWindow::default();
                for (t, v) in &samples {
                    prop_assert_eq!(shuffled.apply(*t, *v), SampleOutcome::Accepted);
                }
                samples.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut sorted = HealthWindow::default();
                for (t, v) in &samples {
                    sorted.apply(*t, *v);
                }
                let (a, b) = (sorted.stats().unwrap(), shuffled.stats().unwrap());
                prop_assert_eq!(a.samples, b.samples);
                prop_assert!((a.average - b.average).abs() < 1e-6);
                prop_assert!((a.gradient - b.gradient).abs() < 1e-6);
                prop_assert!((a.second_derivative - b.second_derivative).abs() < 1e-6);
            }
        }
    }
}
