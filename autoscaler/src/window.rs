//! Health windows: average, gradient and second derivative of one metric over the last
//! `length` seconds, updated incrementally.
//!
//! Stratos' CEP computed these over closed 1-minute windows (so it reacted ~150 s late) from the
//! first and last samples only (so one noisy sample swung the gradient). Here every sample
//! updates running sums of a least-squares fit at once (O(1) amortised, no rescans), the
//! gradient is the slope of the fitted line and the second derivative twice the curvature of
//! the fitted parabola, and a window answers as soon as it has one sample:
//!
//! - 1 sample: average = the value, gradient = second derivative = 0;
//! - samples spread over less than `min_span` seconds (bunched): the slope is not trusted
//!   (Stratos had to clamp the time step for the same reason): gradient and second derivative 0;
//! - out-of-order samples are inserted in time order; samples older than the window are dropped.
//!
//! Units: time in seconds, gradient per second, second derivative per second².

use serde::Serialize;
use std::collections::VecDeque;

/// The metrics an agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    LoadAverage,
    MemoryConsumption,
    RequestsInFlight,
}

impl Metric {
    pub const ALL: [Metric; 3] = [
        Metric::LoadAverage,
        Metric::MemoryConsumption,
        Metric::RequestsInFlight,
    ];
}

/// What a window says now.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowValues {
    pub average: f64,
    pub gradient: f64,
    pub second_derivative: f64,
    /// Samples in the window.
    pub samples: usize,
    /// Time of the newest sample, seconds.
    pub last_time: f64,
}

/// Running sums of a quadratic least-squares fit, times relative to `origin`.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: f64,
    t: f64,
    t2: f64,
    t3: f64,
    t4: f64,
    v: f64,
    tv: f64,
    t2v: f64,
}

impl Sums {
    fn add(&mut self, t: f64, v: f64, sign: f64) {
        let t2 = t * t;
        self.n += sign;
        self.t += sign * t;
        self.t2 += sign * t2;
        self.t3 += sign * t2 * t;
        self.t4 += sign * t2 * t2;
        self.v += sign * v;
        self.tv += sign * t * v;
        self.t2v += sign * t2 * v;
    }
}

/// One metric's window.
#[derive(Debug, Clone)]
pub struct HealthWindow {
    length: f64,
    min_span: f64,
    samples: VecDeque<(f64, f64)>,
    origin: f64,
    sums: Sums,
}

/// Default window length (Stratos' CEP window was one minute).
pub const DEFAULT_WINDOW_SECS: f64 = 60.0;
/// Below this time spread the fitted slope is noise.
pub const DEFAULT_MIN_SPAN_SECS: f64 = 1.0;

impl Default for HealthWindow {
    fn default() -> Self {
        HealthWindow::new(DEFAULT_WINDOW_SECS)
    }
}

impl HealthWindow {
    /// A window of `length` seconds (non-finite or non-positive lengths become the default).
    pub fn new(length: f64) -> Self {
        let length = if length.is_finite() && length > 0.0 {
            length
        } else {
            DEFAULT_WINDOW_SECS
        };
        HealthWindow {
            length,
            min_span: DEFAULT_MIN_SPAN_SECS.min(length / 2.0),
            samples: VecDeque::new(),
            origin: 0.0,
            sums: Sums::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Add a sample taken at `time` seconds. Non-finite values and times are ignored.
    pub fn push(&mut self, time: f64, value: f64) {
        if !time.is_finite() || !value.is_finite() {
            return;
        }
        if self.samples.is_empty() {
            self.origin = time;
        }
        let newest = self.samples.back().map_or(time, |&(t, _)| t.max(time));
        if time < newest - self.length {
            return; // older than the window: worthless
        }
        // Keep relative times small so the fourth powers stay precise; re-basing costs one
        // pass over the window, at most once per window length.
        if time - self.origin > 4.0 * self.length {
            self.rebase(newest - self.length);
        }
        match self.samples.back() {
            Some(&(t, _)) if time < t => {
                let at = self.samples.partition_point(|&(t, _)| t <= time);
                self.samples.insert(at, (time, value));
            }
            _ => self.samples.push_back((time, value)),
        }
        self.sums.add(time - self.origin, value, 1.0);
        self.evict(newest);
    }

    /// Drop samples older than the window ending at `now` (also done by `push`).
    pub fn evict(&mut self, now: f64) {
        let horizon = now - self.length;
        while let Some(&(t, v)) = self.samples.front() {
            if t >= horizon {
                break;
            }
            self.samples.pop_front();
            self.sums.add(t - self.origin, v, -1.0);
        }
        if self.samples.is_empty() {
            self.sums = Sums::default();
        }
    }

    fn rebase(&mut self, origin: f64) {
        self.origin = origin;
        self.sums = Sums::default();
        for &(t, v) in &self.samples {
            self.sums.add(t - origin, v, 1.0);
        }
    }

    /// Average, gradient and second derivative of the samples in the window.
    pub fn values(&self) -> Option<WindowValues> {
        let (&(first, _), &(last, _)) = (self.samples.front()?, self.samples.back()?);
        let s = &self.sums;
        let n = s.n;
        let average = s.v / n;
        let span = last - first;
        let mut gradient = 0.0;
        let mut second_derivative = 0.0;
        if n >= 2.0 && span >= self.min_span {
            let denominator = n * s.t2 - s.t * s.t;
            if denominator.abs() > f64::EPSILON * n * s.t2.abs().max(1.0) {
                gradient = (n * s.tv - s.t * s.v) / denominator;
            }
            if n >= 3.0 {
                // The gradient stays the slope of the fitted line (steadier under noise than the
                // parabola's slope at one end); the curvature comes from the parabola.
                if let Some(a) = quadratic(s) {
                    second_derivative = 2.0 * a;
                }
            }
        }
        let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
        Some(WindowValues {
            average: finite(average),
            gradient: finite(gradient),
            second_derivative: finite(second_derivative),
            samples: self.samples.len(),
            last_time: last,
        })
    }
}

/// Fit v = a·t² + b·t + c by least squares (Cramer's rule) and return `a`; `None` when
/// degenerate (fewer than three distinct times).
fn quadratic(s: &Sums) -> Option<f64> {
    // | t4 t3 t2 | |a|   |t2v|
    // | t3 t2 t  | |b| = |tv |
    // | t2 t  n  | |c|   |v  |
    let det3 = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let m = [[s.t4, s.t3, s.t2], [s.t3, s.t2, s.t], [s.t2, s.t, s.n]];
    let d = det3(m);
    let scale = s.t4.abs().max(1.0) * s.t2.abs().max(1.0) * s.n;
    if !d.is_finite() || d.abs() <= 1e-9 * scale {
        return None;
    }
    let da = det3([[s.t2v, s.t3, s.t2], [s.tv, s.t2, s.t], [s.v, s.t, s.n]]);
    Some(da / d)
}

/// The windows of one member: one per metric, plus when it was last heard from.
#[derive(Debug, Clone, Default)]
pub struct MemberWindows {
    pub load_average: HealthWindow,
    pub memory_consumption: HealthWindow,
    pub requests_in_flight: HealthWindow,
}

impl MemberWindows {
    pub fn new(length: f64) -> Self {
        MemberWindows {
            load_average: HealthWindow::new(length),
            memory_consumption: HealthWindow::new(length),
            requests_in_flight: HealthWindow::new(length),
        }
    }

    pub fn window(&self, metric: Metric) -> &HealthWindow {
        match metric {
            Metric::LoadAverage => &self.load_average,
            Metric::MemoryConsumption => &self.memory_consumption,
            Metric::RequestsInFlight => &self.requests_in_flight,
        }
    }

    /// Apply one health message (absent metrics stay absent).
    pub fn apply(
        &mut self,
        time: f64,
        load_average: Option<f64>,
        memory_consumption: Option<f64>,
        requests_in_flight: Option<f64>,
    ) {
        if let Some(v) = load_average {
            self.load_average.push(time, v);
        }
        if let Some(v) = memory_consumption {
            self.memory_consumption.push(time, v);
        }
        if let Some(v) = requests_in_flight {
            self.requests_in_flight.push(time, v);
        }
    }
}

/// A cluster's (or network partition's) view of one metric from its members' windows:
/// load average and memory are averaged over members (each member's share of the work), requests
/// in flight are summed (they are the cluster's load). Members whose newest sample is older
/// than `stale_after` seconds at `now` do not count; `None` when no member has a fresh value.
pub fn aggregate<'a>(
    metric: Metric,
    members: impl IntoIterator<Item = &'a MemberWindows>,
    now: f64,
    stale_after: f64,
) -> Option<WindowValues> {
    let mut total = WindowValues::default();
    let mut count = 0usize;
    for member in members {
        let Some(v) = member.window(metric).values() else {
            continue;
        };
        if now - v.last_time > stale_after {
            continue;
        }
        total.average += v.average;
        total.gradient += v.gradient;
        total.second_derivative += v.second_derivative;
        total.samples += v.samples;
        total.last_time = total.last_time.max(v.last_time);
        count += 1;
    }
    if count == 0 {
        return None;
    }
    if metric != Metric::RequestsInFlight {
        let n = count as f64;
        total.average /= n;
        total.gradient /= n;
        total.second_derivative /= n;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn one_sample_answers_at_once() {
        let mut w = HealthWindow::new(60.0);
        assert!(w.values().is_none());
        w.push(100.0, 42.0);
        let v = w.values().unwrap();
        assert_eq!(
            (v.average, v.gradient, v.second_derivative),
            (42.0, 0.0, 0.0)
        );
    }

    #[test]
    fn a_line_has_its_slope_and_no_curvature() {
        // v = 10 + 2t sampled every 5 s: average of 10,20,...,110 = 60.
        let mut w = HealthWindow::new(60.0);
        for i in 0..=10 {
            let t = 1000.0 + 5.0 * f64::from(i);
            w.push(t, 10.0 + 2.0 * (t - 1000.0));
        }
        let v = w.values().unwrap();
        assert!(close(v.average, 60.0), "{v:?}");
        assert!(close(v.gradient, 2.0), "{v:?}");
        assert!(v.second_derivative.abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn a_parabola_has_its_second_derivative() {
        // v = 0.5·t² on 0..=20 → second derivative 1; the fitted line's slope is the slope at
        // the middle, 10.
        let mut w = HealthWindow::new(60.0);
        for i in 0..=20 {
            let t = f64::from(i);
            w.push(t, 0.5 * t * t);
        }
        let v = w.values().unwrap();
        assert!(close(v.second_derivative, 1.0), "{v:?}");
        assert!(close(v.gradient, 10.0), "{v:?}");
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut w = HealthWindow::new(10.0);
        w.push(0.0, 100.0);
        w.push(5.0, 100.0);
        w.push(20.0, 4.0);
        assert_eq!(w.len(), 1);
        assert_eq!(w.values().unwrap().average, 4.0);
        // Older than the window: ignored.
        w.push(1.0, 1000.0);
        assert_eq!(w.values().unwrap().average, 4.0);
    }

    #[test]
    fn bunched_samples_give_no_slope() {
        let mut w = HealthWindow::new(60.0);
        for v in [10.0, 90.0, 10.0, 90.0] {
            w.push(50.0, v);
        }
        w.push(50.2, 500.0);
        let v = w.values().unwrap();
        assert_eq!((v.gradient, v.second_derivative), (0.0, 0.0));
        assert!(close(v.average, 140.0));
    }

    #[test]
    fn out_of_order_samples_are_placed_in_time() {
        let mut a = HealthWindow::new(60.0);
        let mut b = HealthWindow::new(60.0);
        for t in [0.0, 10.0, 20.0, 30.0] {
            a.push(t, t * 3.0);
        }
        for t in [0.0, 20.0, 10.0, 30.0] {
            b.push(t, t * 3.0);
        }
        let (va, vb) = (a.values().unwrap(), b.values().unwrap());
        assert!(close(va.gradient, vb.gradient) && close(vb.gradient, 3.0));
    }

    #[test]
    fn long_runs_stay_precise() {
        // Hours of samples: the rebasing keeps the fit exact.
        let mut w = HealthWindow::new(60.0);
        for i in 0..100_000 {
            let t = 1.7e9 + f64::from(i) * 0.5;
            w.push(t, 7.0 + 0.25 * (t - 1.7e9));
        }
        let v = w.values().unwrap();
        assert!(close(v.gradient, 0.25), "{v:?}");
        assert!(v.second_derivative.abs() < 1e-6, "{v:?}");
        assert!(w.len() <= 121);
    }

    #[test]
    fn garbage_never_poisons_a_window() {
        let mut w = HealthWindow::new(f64::NAN);
        w.push(f64::NAN, 1.0);
        w.push(1.0, f64::INFINITY);
        assert!(w.values().is_none());
        w.push(2.0, 3.0);
        assert_eq!(w.values().unwrap().average, 3.0);
    }

    #[test]
    fn clusters_average_load_and_sum_requests() {
        let mut a = MemberWindows::new(60.0);
        let mut b = MemberWindows::new(60.0);
        let mut stale = MemberWindows::new(60.0);
        a.apply(100.0, Some(40.0), None, Some(5.0));
        b.apply(100.0, Some(80.0), Some(50.0), Some(7.0));
        stale.apply(10.0, Some(1000.0), None, Some(1000.0));
        let members = [&a, &b, &stale];
        let load = aggregate(Metric::LoadAverage, members, 101.0, 60.0).unwrap();
        assert_eq!(load.average, 60.0);
        let rif = aggregate(Metric::RequestsInFlight, members, 101.0, 60.0).unwrap();
        assert_eq!(rif.average, 12.0);
        let mem = aggregate(Metric::MemoryConsumption, members, 101.0, 60.0).unwrap();
        assert_eq!(mem.average, 50.0);
        assert!(aggregate(Metric::LoadAverage, [&stale], 101.0, 60.0).is_none());
    }
}
