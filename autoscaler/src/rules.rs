//! The Stratos 4.1 scaling formulas, one small pure function each.
//!
//! Units: the windows give gradients per second and second derivatives per second², and the
//! prediction horizon is in seconds. Stratos 4.1 called `getPredictedValueForNextMinute(avg,
//! grad, sd, 1)` with the CEP's per-second gradients, i.e. it really extrapolated one *second*
//! ahead despite the name; here the horizon is an explicit setting (default 15 s, see
//! [`crate::evaluate::ScalingSettings`]) and every term is in the same unit.
//!
//! Every function accepts any `f64` (NaN, infinities, negatives) without panicking: a
//! non-finite input yields the most conservative count (the minimum for the count functions),
//! and counts saturate instead of overflowing.

use crate::window::WindowStats;

/// `average + gradient·t + ½·secondDerivative·t²` (Stratos' "s = u·t + ½·a·t²"), with `t` in
/// seconds. Non-finite results become the plain average (or 0 when that is not finite either),
/// so a broken derivative never drives a decision.
pub fn predict(average: f64, gradient: f64, second_derivative: f64, horizon_seconds: f64) -> f64 {
    let t = if horizon_seconds.is_finite() && horizon_seconds > 0.0 {
        horizon_seconds
    } else {
        0.0
    };
    let predicted = average + gradient * t + 0.5 * second_derivative * t * t;
    if predicted.is_finite() {
        predicted
    } else if average.is_finite() {
        average
    } else {
        0.0
    }
}

/// [`predict`] over a window's values.
pub fn predict_stats(stats: &WindowStats, horizon_seconds: f64) -> f64 {
    predict(
        stats.average,
        stats.gradient,
        stats.second_derivative,
        horizon_seconds,
    )
}

/// Convert a real-valued instance count to `u32`: ceiling, negatives and NaN → 0, huge → max.
pub fn ceil_count(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= u32::MAX as f64 {
        u32::MAX
    } else {
        x.ceil() as u32
    }
}

/// Requests in flight: `ceil(predicted / threshold)`, the number of members needed so that each
/// carries at most `threshold` requests. A threshold ≤ 0 (or not finite) disables the rule (0,
/// as Stratos returned).
pub fn required_by_requests_in_flight(predicted: f64, threshold: f64) -> u32 {
    if !(threshold.is_finite() && threshold > 0.0) {
        return 0;
    }
    ceil_count(predicted / threshold)
}

/// Memory consumption (percent), Stratos 4.1's `getNumberOfInstancesRequiredBasedOnMemoryConsumption`:
///
/// - predicted below the threshold → `min − 1` (a vote to go below the current minimum, which
///   the caller's clamp turns into `min`); we return `min.saturating_sub(1)`;
/// - otherwise linear from `min` at the threshold to `max` at 100 %:
///   `ceil(min + (predicted − threshold) / ((100 − threshold) / (max − min)))`;
/// - `max == min` (or `max < min`) → `min`.
///
/// A threshold at or above 100 % can never be crossed in the linear part: the count is `min`
/// unless the prediction exceeds it, then `max`.
pub fn required_by_memory_consumption(predicted: f64, threshold: f64, min: u32, max: u32) -> u32 {
    if !predicted.is_finite() || !threshold.is_finite() {
        return min;
    }
    if predicted < threshold {
        return min.saturating_sub(1);
    }
    if max <= min {
        return min;
    }
    let scaling_range = 100.0 - threshold;
    if scaling_range <= 0.0 {
        return if predicted > threshold { max } else { min };
    }
    let percent_per_instance = scaling_range / f64::from(max - min);
    let extra = (predicted - threshold) / percent_per_instance;
    ceil_count(f64::from(min) + extra)
}

/// Load average (percent): `ceil(min · predicted / threshold)`, Stratos 4.1's formula. With a
/// policy minimum of 0 Stratos could never scale on load; we use `max(min, 1)` as the base so a
/// cluster allowed to shrink to zero still grows under load. A threshold ≤ 0 → `min`.
pub fn required_by_load_average(predicted: f64, threshold: f64, min: u32) -> u32 {
    if !(threshold.is_finite() && threshold > 0.0 && predicted.is_finite()) {
        return min;
    }
    let base = f64::from(min.max(1));
    ceil_count(base * predicted / threshold)
}

/// The overall requirement: the largest of the per-metric counts (absent metrics ignored),
/// clamped to `[min, max]`. With no metric at all the answer is `min`.
pub fn required_instances(per_metric: &[Option<u32>], min: u32, max: u32) -> u32 {
    let wanted = per_metric.iter().flatten().copied().max().unwrap_or(min);
    clamp_count(wanted, min, max)
}

/// `value` clamped to `[min, max]`; when a policy slipped through with `min > max`, `max`
/// wins (never start more than the maximum).
pub fn clamp_count(value: u32, min: u32, max: u32) -> u32 {
    value.max(min).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_is_second_order_taylor() {
        // 50 + 2·10 + ½·0.1·100 = 75
        assert_eq!(predict(50.0, 2.0, 0.1, 10.0), 75.0);
        // Stratos' effective horizon of 1: 50 + 2 + 0.05
        assert_eq!(predict(50.0, 2.0, 0.1, 1.0), 52.05);
        assert_eq!(predict(50.0, -1.0, 0.0, 15.0), 35.0);
        assert_eq!(predict(50.0, 2.0, 0.1, 0.0), 50.0);
    }

    #[test]
    fn prediction_survives_garbage() {
        assert_eq!(predict(50.0, f64::NAN, 0.0, 10.0), 50.0);
        assert_eq!(predict(50.0, f64::INFINITY, 0.0, 10.0), 50.0);
        assert_eq!(predict(f64::NAN, 1.0, 1.0, 10.0), 0.0);
        assert_eq!(predict(50.0, 2.0, 0.0, f64::NAN), 50.0);
        assert_eq!(predict(50.0, 2.0, 0.0, -5.0), 50.0);
    }

    #[test]
    fn rif_needs_ceil_of_load_per_threshold() {
        assert_eq!(required_by_requests_in_flight(100.0, 20.0), 5);
        assert_eq!(required_by_requests_in_flight(101.0, 20.0), 6);
        assert_eq!(required_by_requests_in_flight(0.0, 20.0), 0);
        assert_eq!(required_by_requests_in_flight(-5.0, 20.0), 0);
        assert_eq!(required_by_requests_in_flight(100.0, 0.0), 0);
        assert_eq!(required_by_requests_in_flight(1e300, 1e-300), u32::MAX);
        assert_eq!(required_by_requests_in_flight(f64::NAN, 20.0), 0);
    }

    #[test]
    fn memory_is_linear_from_min_at_threshold_to_max_at_full() {
        // threshold 70, min 2, max 8: 30 % over 6 instances = 5 % per instance.
        assert_eq!(
            required_by_memory_consumption(69.9, 70.0, 2, 8),
            1,
            "min - 1"
        );
        assert_eq!(required_by_memory_consumption(70.0, 70.0, 2, 8), 2);
        assert_eq!(required_by_memory_consumption(71.0, 70.0, 2, 8), 3); // 2 + 0.2 → 3
        assert_eq!(required_by_memory_consumption(80.0, 70.0, 2, 8), 4); // 2 + 2
        assert_eq!(required_by_memory_consumption(100.0, 70.0, 2, 8), 8);
        assert_eq!(
            required_by_memory_consumption(130.0, 70.0, 2, 8),
            14,
            "clamped by caller"
        );
        assert_eq!(required_by_memory_consumption(90.0, 70.0, 3, 3), 3);
        assert_eq!(required_by_memory_consumption(50.0, 70.0, 0, 3), 0);
        assert_eq!(required_by_memory_consumption(101.0, 100.0, 1, 4), 4);
        assert_eq!(required_by_memory_consumption(f64::NAN, 70.0, 2, 8), 2);
    }

    #[test]
    fn load_average_scales_the_minimum() {
        assert_eq!(required_by_load_average(70.0, 70.0, 2), 2);
        assert_eq!(required_by_load_average(105.0, 70.0, 2), 3);
        assert_eq!(required_by_load_average(35.0, 70.0, 2), 1);
        assert_eq!(
            required_by_load_average(90.0, 70.0, 0),
            2,
            "min 0 uses base 1"
        );
        assert_eq!(required_by_load_average(90.0, 0.0, 2), 2);
        assert_eq!(required_by_load_average(f64::INFINITY, 70.0, 2), 2);
    }

    #[test]
    fn overall_is_the_max_clamped() {
        assert_eq!(required_instances(&[Some(3), Some(5), None], 1, 10), 5);
        assert_eq!(required_instances(&[Some(30), Some(5)], 1, 10), 10);
        assert_eq!(required_instances(&[Some(0), None], 2, 10), 2);
        assert_eq!(required_instances(&[None, None, None], 2, 10), 2);
        assert_eq!(
            required_instances(&[Some(4)], 5, 3),
            3,
            "max wins over a bad min"
        );
        assert_eq!(ceil_count(2.000001), 3);
        assert_eq!(ceil_count(-0.0), 0);
    }
}
