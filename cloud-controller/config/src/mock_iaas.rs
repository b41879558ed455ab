//! `mock-iaas.xml`: health-statistics patterns of the mock cloud (Stratos 4.1 shape).

use crate::source::Element;
use crate::{Ctx, Location};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthFactor {
    MemoryConsumption,
    LoadAverage,
    RequestsInFlight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatternMode {
    Loop,
    Continue,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthPattern {
    pub factor: HealthFactor,
    pub mode: PatternMode,
    pub sample_values: Vec<f64>,
    pub sample_duration_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MockCartridgePatterns {
    pub cartridge_type: String,
    pub patterns: Vec<HealthPattern>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MockIaasConfig {
    pub enabled: bool,
    pub cartridges: Vec<MockCartridgePatterns>,
    #[serde(skip)]
    pub location: Location,
}

fn pattern(ctx: &mut Ctx<'_>, el: &Element) -> Option<HealthPattern> {
    let factor = match el.attr("factor").map(str::trim) {
        Some("memory-consumption") => HealthFactor::MemoryConsumption,
        Some("load-average") => HealthFactor::LoadAverage,
        Some("requests-in-flight") => HealthFactor::RequestsInFlight,
        other => {
            ctx.problem(el, format!("pattern factor must be memory-consumption, load-average or requests-in-flight, not {:?}", other.unwrap_or("")));
            return None;
        }
    };
    let mode = match el.attr("mode").map(str::trim) {
        Some("loop") => PatternMode::Loop,
        Some("continue") | None => PatternMode::Continue,
        Some("stop") => PatternMode::Stop,
        Some(other) => {
            ctx.problem(
                el,
                format!("pattern mode must be loop, continue or stop, not {other:?}"),
            );
            return None;
        }
    };
    let values_el = el.child("sampleValues");
    let mut sample_values = Vec::new();
    if let Some(v) = values_el {
        for raw in v
            .trimmed_text()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match raw.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => sample_values.push(x),
                _ => ctx.problem(
                    v,
                    format!("sample value {raw:?} is not a non-negative number"),
                ),
            }
        }
    }
    if sample_values.is_empty() {
        ctx.problem(values_el.unwrap_or(el), "pattern has no sample values");
    }
    let sample_duration_secs = match el.child("sampleDuration") {
        Some(d) => ctx.number::<u64>(d).unwrap_or(60),
        None => 60,
    };
    Some(HealthPattern {
        factor,
        mode,
        sample_values,
        sample_duration_secs,
    })
}

pub(crate) fn read(ctx: &mut Ctx<'_>, el: &Element) -> MockIaasConfig {
    let enabled = ctx.bool_attr(el, "enabled", true);
    let mut cartridges = Vec::new();
    for stats in el.children_named("health-statistics") {
        for c in stats.children_named("cartridge") {
            let cartridge_type = ctx.required_attr(c, "type");
            let patterns = c
                .children_named("pattern")
                .filter_map(|p| pattern(ctx, p))
                .collect();
            cartridges.push(MockCartridgePatterns {
                cartridge_type,
                patterns,
            });
        }
    }
    MockIaasConfig {
        enabled,
        cartridges,
        location: ctx.loc(el),
    }
}
