//! Stratos 4.1's scaling formulas, each a small pure function.
//!
//! Units: window values are per second (see [`crate::window`]); the prediction horizon is in
//! seconds (Stratos predicted "for the next minute": 60 s is the default here).

use crate::window::{Metric, WindowValues};
use serde::Serialize;

/// Default prediction horizon, seconds.
pub const DEFAULT_HORIZON_SECS: f64 = 60.0;

/// `avg + grad·t + ½·sd·t²`.
pub fn predict(values: &WindowValues, horizon_secs: f64) -> f64 {
    let t = horizon_secs;
    let p = values.average + values.gradient * t + 0.5 * values.second_derivative * t * t;
    if p.is_finite() {
        p.max(0.0)
    } else {
        values.average
    }
}

/// Requests in flight: `ceil(predicted / threshold)` (threshold = requests one member handles).
pub fn required_by_requests_in_flight(predicted: f64, threshold: f64) -> Option<u32> {
    positive(threshold).map(|t| ceil_count(predicted / t))
}

/// Memory consumption: linear from `min` members at the threshold to `max` at 100 %
/// (`ceil(min + (max−min)/(100−threshold) · (predicted − threshold))`); below the threshold
/// the line goes under `min` and the caller's clamp keeps `min`.
pub fn required_by_memory(predicted: f64, threshold: f64, min: u32, max: u32) -> Option<u32> {
    let threshold = positive(threshold)?;
    if threshold >= 100.0 {
        return Some(min);
    }
    let slope = f64::from(max.saturating_sub(min)) / (100.0 - threshold);
    Some(ceil_count(f64::from(min) + slope * (predicted - threshold)))
}

/// Load average: `ceil(min · predicted / threshold)`.
pub fn required_by_load_average(predicted: f64, threshold: f64, min: u32) -> Option<u32> {
    positive(threshold).map(|t| ceil_count(f64::from(min) * predicted / t))
}

/// One metric's part of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricRequirement {
    pub metric: Metric,
    pub window: WindowValues,
    pub predicted: f64,
    pub threshold: f64,
    pub required: u32,
}

/// The members `metric` asks for, from its window values.
pub fn requirement(
    metric: Metric,
    window: WindowValues,
    threshold: f64,
    horizon_secs: f64,
    min: u32,
    max: u32,
) -> Option<MetricRequirement> {
    let predicted = predict(&window, horizon_secs);
    let required = match metric {
        Metric::RequestsInFlight => required_by_requests_in_flight(predicted, threshold)?,
        Metric::MemoryConsumption => required_by_memory(predicted, threshold, min, max)?,
        Metric::LoadAverage => required_by_load_average(predicted, threshold, min)?,
    };
    Some(MetricRequirement {
        metric,
        window,
        predicted,
        threshold,
        required,
    })
}

fn positive(x: f64) -> Option<f64> {
    (x.is_finite() && x > 0.0).then_some(x)
}

/// `ceil` into a member count, saturating (a prediction of 1e300 asks for `u32::MAX`, which
/// the caller clamps to its max).
fn ceil_count(x: f64) -> u32 {
    if !x.is_finite() || x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        x.ceil() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(average: f64, gradient: f64, second_derivative: f64) -> WindowValues {
        WindowValues {
            average,
            gradient,
            second_derivative,
            samples: 10,
            last_time: 0.0,
        }
    }

    #[test]
    fn prediction_by_hand() {
        // 50 + 0.5·60 + ½·0.01·3600 = 50 + 30 + 18 = 98
        assert!((predict(&w(50.0, 0.5, 0.01), 60.0) - 98.0).abs() < 1e-9);
        // A falling trend never predicts below zero.
        assert_eq!(predict(&w(10.0, -1.0, 0.0), 60.0), 0.0);
        assert_eq!(predict(&w(10.0, f64::NAN, 0.0), 60.0), 10.0);
    }

    #[test]
    fn requests_in_flight_by_hand() {
        assert_eq!(required_by_requests_in_flight(120.0, 50.0), Some(3)); // 2.4 → 3
        assert_eq!(required_by_requests_in_flight(100.0, 50.0), Some(2));
        assert_eq!(required_by_requests_in_flight(0.0, 50.0), Some(0));
        assert_eq!(required_by_requests_in_flight(10.0, 0.0), None);
    }

    #[test]
    fn memory_by_hand() {
        // min 2, max 10, threshold 80: slope 8/20 = 0.4 per percent.
        assert_eq!(required_by_memory(80.0, 80.0, 2, 10), Some(2));
        assert_eq!(required_by_memory(90.0, 80.0, 2, 10), Some(6)); // 2 + 4
        assert_eq!(required_by_memory(100.0, 80.0, 2, 10), Some(10));
        assert_eq!(required_by_memory(81.0, 80.0, 2, 10), Some(3)); // 2.4 → 3
        assert_eq!(required_by_memory(50.0, 80.0, 2, 10), Some(0)); // under: caller clamps
        assert_eq!(required_by_memory(99.0, 100.0, 2, 10), Some(2));
    }

    #[test]
    fn load_average_by_hand() {
        assert_eq!(required_by_load_average(105.0, 70.0, 2), Some(3)); // 2·1.5
        assert_eq!(required_by_load_average(70.0, 70.0, 2), Some(2));
        assert_eq!(required_by_load_average(1e300, 70.0, 2), Some(u32::MAX));
    }

    #[test]
    fn requirement_combines_prediction_and_formula() {
        let r = requirement(
            Metric::RequestsInFlight,
            w(60.0, 1.0, 0.0),
            50.0,
            60.0,
            1,
            5,
        )
        .unwrap();
        assert_eq!(r.predicted, 120.0);
        assert_eq!(r.required, 3);
    }
}
