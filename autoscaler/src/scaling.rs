//! The scale decision for one cluster (or network partition): Stratos' formulas from
//! [`crate::rules`] plus what Stratos lacked: members still starting count as capacity,
//! separate scale-up and scale-down cooldowns, a scale-down stabilization window (the highest
//! recommendation within it wins), several members added at once, and no scale-down while a
//! metric the policy uses is missing or stale. Every call returns a [`ScalingDecision`] that
//! says why, whether or not it acts.

use crate::rules::{requirement, MetricRequirement, DEFAULT_HORIZON_SECS};
use crate::window::{Metric, WindowValues};
use serde::Serialize;
use std::collections::VecDeque;

/// Tunables, with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingSettings {
    /// Prediction horizon (seconds): 60.
    pub horizon_secs: f64,
    /// After a scale-up, no further scale-up for this long (seconds): 15. Short, because
    /// starting members already count as capacity.
    pub scale_up_cooldown_secs: f64,
    /// After any scale action, no scale-down for this long (seconds): 120.
    pub scale_down_cooldown_secs: f64,
    /// A scale-down goes only as low as the highest recommendation of this window (seconds):
    /// 300.
    pub scale_down_stabilization_secs: f64,
    /// Most members added by one decision: 10.
    pub max_scale_up_step: u32,
}

impl Default for ScalingSettings {
    fn default() -> Self {
        ScalingSettings {
            horizon_secs: DEFAULT_HORIZON_SECS,
            scale_up_cooldown_secs: 15.0,
            scale_down_cooldown_secs: 120.0,
            scale_down_stabilization_secs: 300.0,
            max_scale_up_step: 10,
        }
    }
}

/// Upper thresholds of the autoscale policy (4.1 `threshold` or 4.0 `average`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    pub requests_in_flight: Option<f64>,
    pub memory_consumption: Option<f64>,
    pub load_average: Option<f64>,
}

impl Thresholds {
    pub fn of(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::RequestsInFlight => self.requests_in_flight,
            Metric::MemoryConsumption => self.memory_consumption,
            Metric::LoadAverage => self.load_average,
        }
    }
}

/// What the decision looks at.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingInput {
    pub min: u32,
    pub max: u32,
    /// Members that are or will be capacity: Active plus those still starting.
    pub current: u32,
    /// Fresh aggregated window values per metric (`None`: missing or stale).
    pub load_average: Option<WindowValues>,
    pub memory_consumption: Option<WindowValues>,
    pub requests_in_flight: Option<WindowValues>,
}

impl ScalingInput {
    fn window(&self, metric: Metric) -> Option<WindowValues> {
        match metric {
            Metric::RequestsInFlight => self.requests_in_flight,
            Metric::MemoryConsumption => self.memory_consumption,
            Metric::LoadAverage => self.load_average,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ScalingAction {
    None,
    ScaleUp {
        count: u32,
    },
    /// Graceful: cleanup → ReadyToShutdown → terminate, one member at a time.
    ScaleDown {
        count: u32,
    },
}

/// One evaluation, acted on or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingDecision {
    /// Seconds (the caller's clock).
    pub time: f64,
    pub current: u32,
    pub min: u32,
    pub max: u32,
    pub requirements: Vec<MetricRequirement>,
    /// Metrics the policy uses that had no fresh value.
    pub missing: Vec<Metric>,
    /// What the metrics ask for, clamped to [min, max].
    pub recommended: u32,
    pub action: ScalingAction,
    pub reason: String,
}

/// What past decisions leave behind (cooldowns, stabilization).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalingMemory {
    last_scale_up: Option<f64>,
    last_scale_down: Option<f64>,
    recommendations: VecDeque<(f64, u32)>,
}

impl ScalingMemory {
    /// Remember a decision (call it for every decision; actions only once actuated).
    pub fn record(&mut self, decision: &ScalingDecision, settings: &ScalingSettings) {
        self.recommendations
            .push_back((decision.time, decision.recommended));
        let horizon = decision.time - settings.scale_down_stabilization_secs;
        while self
            .recommendations
            .front()
            .is_some_and(|&(t, _)| t < horizon)
        {
            self.recommendations.pop_front();
        }
        match decision.action {
            ScalingAction::ScaleUp { .. } => self.last_scale_up = Some(decision.time),
            ScalingAction::ScaleDown { .. } => self.last_scale_down = Some(decision.time),
            ScalingAction::None => {}
        }
    }

    fn highest_since(&self, since: f64) -> Option<u32> {
        self.recommendations
            .iter()
            .filter(|&&(t, _)| t >= since)
            .map(|&(_, r)| r)
            .max()
    }
}

/// Decide for one cluster at `now` (seconds).
pub fn decide(
    input: &ScalingInput,
    thresholds: &Thresholds,
    settings: &ScalingSettings,
    memory: &ScalingMemory,
    now: f64,
) -> ScalingDecision {
    let (min, max) = (input.min, input.max.max(input.min));
    let mut requirements = Vec::new();
    let mut missing = Vec::new();
    for metric in Metric::ALL {
        let Some(threshold) = thresholds.of(metric) else {
            continue;
        };
        match input.window(metric) {
            Some(window) => {
                if let Some(r) =
                    requirement(metric, window, threshold, settings.horizon_secs, min, max)
                {
                    requirements.push(r);
                }
            }
            None => missing.push(metric),
        }
    }
    let driver = requirements.iter().max_by_key(|r| r.required).copied();
    let recommended = driver
        .map(|r| r.required)
        .unwrap_or(input.current)
        .clamp(min, max);
    let current = input.current;
    let mut decision = ScalingDecision {
        time: now,
        current,
        min,
        max,
        requirements,
        missing: missing.clone(),
        recommended,
        action: ScalingAction::None,
        reason: String::new(),
    };
    let since = |t: Option<f64>| t.map(|t| now - t);

    if recommended > current {
        let reason_of = |r: &MetricRequirement| {
            format!(
                "{:?} predicted {:.1} over threshold {:.1}: need {} (have {current})",
                r.metric, r.predicted, r.threshold, r.required
            )
        };
        let why = driver.map(|r| reason_of(&r)).unwrap_or_default();
        match since(memory.last_scale_up) {
            Some(elapsed) if elapsed < settings.scale_up_cooldown_secs => {
                decision.reason = format!(
                    "cooldown (scale-up {:.0}s left); {why}",
                    settings.scale_up_cooldown_secs - elapsed
                );
            }
            _ => {
                let count = (recommended - current).min(settings.max_scale_up_step.max(1));
                decision.action = ScalingAction::ScaleUp { count };
                decision.reason = format!("scale up by {count}: {why}");
            }
        }
    } else if recommended < current {
        let stabilized = memory
            .highest_since(now - settings.scale_down_stabilization_secs)
            .unwrap_or(recommended)
            .max(recommended)
            .clamp(min, max);
        let last_action = match (memory.last_scale_up, memory.last_scale_down) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if !missing.is_empty() {
            decision.reason = format!("no scale-down: {missing:?} missing or stale");
        } else if driver.is_none() {
            decision.reason = "no scale-down: no metric to judge by".into();
        } else if stabilized >= current {
            decision.reason = format!(
                "stabilizing scale-down (highest recommendation {stabilized} in last {:.0}s)",
                settings.scale_down_stabilization_secs
            );
        } else if let Some(elapsed) =
            since(last_action).filter(|e| *e < settings.scale_down_cooldown_secs)
        {
            decision.reason = format!(
                "cooldown (scale-down {:.0}s left)",
                settings.scale_down_cooldown_secs - elapsed
            );
        } else {
            decision.action = ScalingAction::ScaleDown { count: 1 };
            decision.reason = format!(
                "scale down by 1: metrics need {recommended}, stabilized {stabilized} < {current}"
            );
        }
    } else if current >= max && driver.is_some_and(|r| r.required > max) {
        decision.reason = format!("at max {max}");
    } else if driver.is_none() {
        decision.reason = "no fresh metrics".into();
    } else {
        decision.reason = "within thresholds".into();
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(average: f64) -> Option<WindowValues> {
        Some(WindowValues {
            average,
            gradient: 0.0,
            second_derivative: 0.0,
            samples: 5,
            last_time: 0.0,
        })
    }

    fn input(current: u32, rif: Option<WindowValues>) -> ScalingInput {
        ScalingInput {
            min: 1,
            max: 6,
            current,
            load_average: None,
            memory_consumption: None,
            requests_in_flight: rif,
        }
    }

    fn rif_only() -> Thresholds {
        Thresholds {
            requests_in_flight: Some(50.0),
            ..Thresholds::default()
        }
    }

    #[test]
    fn a_spike_adds_several_members_at_once() {
        let s = ScalingSettings::default();
        let d = decide(
            &input(1, window(180.0)),
            &rif_only(),
            &s,
            &ScalingMemory::default(),
            0.0,
        );
        assert_eq!(d.recommended, 4);
        assert_eq!(d.action, ScalingAction::ScaleUp { count: 3 });
        assert!(d.reason.contains("RequestsInFlight"), "{}", d.reason);
    }

    #[test]
    fn starting_members_count_so_no_redundant_spawns() {
        // 3 members starting + 1 active = 4 = what the load needs.
        let d = decide(
            &input(4, window(180.0)),
            &rif_only(),
            &ScalingSettings::default(),
            &ScalingMemory::default(),
            0.0,
        );
        assert_eq!(d.action, ScalingAction::None);
        assert_eq!(d.reason, "within thresholds");
    }

    #[test]
    fn scale_up_cooldown_and_max() {
        let s = ScalingSettings::default();
        let mut memory = ScalingMemory::default();
        let first = decide(&input(1, window(180.0)), &rif_only(), &s, &memory, 0.0);
        memory.record(&first, &s);
        let during = decide(&input(4, window(400.0)), &rif_only(), &s, &memory, 5.0);
        assert_eq!(during.action, ScalingAction::None);
        assert!(
            during.reason.starts_with("cooldown (scale-up 10s left)"),
            "{}",
            during.reason
        );
        let after = decide(&input(4, window(400.0)), &rif_only(), &s, &memory, 16.0);
        assert_eq!(
            after.action,
            ScalingAction::ScaleUp { count: 2 },
            "clamped to max 6"
        );
        let at_max = decide(&input(6, window(400.0)), &rif_only(), &s, &memory, 40.0);
        assert_eq!(at_max.action, ScalingAction::None);
        assert_eq!(at_max.reason, "at max 6");
    }

    #[test]
    fn scale_down_waits_for_stabilization_then_goes_one_by_one() {
        let s = ScalingSettings::default();
        let mut memory = ScalingMemory::default();
        let up = decide(&input(1, window(180.0)), &rif_only(), &s, &memory, 0.0);
        memory.record(&up, &s);
        // Load gone at t=100: the 4 recommended at t=0 still stands for 300 s.
        let early = decide(&input(4, window(10.0)), &rif_only(), &s, &memory, 100.0);
        assert_eq!(early.action, ScalingAction::None);
        assert!(early.reason.starts_with("stabilizing"), "{}", early.reason);
        memory.record(&early, &s);
        let late = decide(&input(4, window(10.0)), &rif_only(), &s, &memory, 401.0);
        assert_eq!(late.action, ScalingAction::ScaleDown { count: 1 });
        memory.record(&late, &s);
        let next = decide(&input(3, window(10.0)), &rif_only(), &s, &memory, 450.0);
        assert!(
            next.reason.starts_with("cooldown (scale-down"),
            "{}",
            next.reason
        );
    }

    #[test]
    fn a_missing_metric_never_scales_down() {
        let s = ScalingSettings {
            scale_down_stabilization_secs: 0.0,
            ..ScalingSettings::default()
        };
        let both = Thresholds {
            requests_in_flight: Some(50.0),
            memory_consumption: Some(80.0),
            ..Thresholds::default()
        };
        let d = decide(
            &input(4, window(10.0)),
            &both,
            &s,
            &ScalingMemory::default(),
            1000.0,
        );
        assert_eq!(d.action, ScalingAction::None);
        assert_eq!(d.missing, vec![Metric::MemoryConsumption]);
        let none = decide(
            &input(4, None),
            &rif_only(),
            &s,
            &ScalingMemory::default(),
            1000.0,
        );
        assert_eq!(none.action, ScalingAction::None);
        // With every metric present it does scale down.
        let mut full = input(4, window(10.0));
        full.memory_consumption = window(10.0);
        let d = decide(&full, &both, &s, &ScalingMemory::default(), 1000.0);
        assert_eq!(d.action, ScalingAction::ScaleDown { count: 1 });
    }

    #[test]
    fn never_below_min_nor_above_max() {
        let s = ScalingSettings::default();
        for avg in [0.0, 1.0, 49.0, 51.0, 1e12, f64::MAX] {
            for current in 0..8 {
                let d = decide(
                    &input(current, window(avg)),
                    &rif_only(),
                    &s,
                    &ScalingMemory::default(),
                    0.0,
                );
                assert!((1..=6).contains(&d.recommended), "{avg} {current}: {d:?}");
                if let ScalingAction::ScaleUp { count } = d.action {
                    assert!(current + count <= 6);
                }
            }
        }
    }
}
