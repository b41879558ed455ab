//! The tunables of one cluster's scaling: thresholds, windows, cooldowns, timeouts, dry-run.

use crate::policy::LoadThresholds;
use crate::window::{Metric, WindowConfig};
use serde::Serialize;

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
    pub(super) fn sanitized(&self) -> ScalingSettings {
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
