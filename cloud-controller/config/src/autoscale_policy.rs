//! Autoscale policies: Stratos 4.0 `average` and 4.1-style `threshold` shapes.

use crate::scaling::{self, ScalingOverrides};
use crate::source::Element;
use crate::{Ctx, Location, NameRule};
use serde::Serialize;

/// Thresholds of one metric. `threshold` is the normalized upper limit: the 4.1 `threshold`
/// when given, else the 4.0 `average`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    pub threshold: Option<f64>,
    pub average: Option<f64>,
    pub gradient: Option<f64>,
    pub second_derivative: Option<f64>,
    pub scale_down_margin_of_gradient: Option<f64>,
    pub scale_down_margin_of_second_derivative: Option<f64>,
    pub upper_limit: Option<f64>,
    pub lower_limit: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadThresholds {
    pub requests_in_flight: Option<Thresholds>,
    pub memory_consumption: Option<Thresholds>,
    pub load_average: Option<Thresholds>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalePolicy {
    pub id: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub load_thresholds: LoadThresholds,
    /// Our extension (`<dryRun>true</dryRun>`): the autoscaler decides and records for clusters
    /// of this policy but actuates nothing.
    pub dry_run: bool,
    /// Our extension (`<scaling>`): the autoscaler's tunables for clusters of this policy.
    pub scaling: ScalingOverrides,
    #[serde(skip)]
    pub location: Location,
}

fn thresholds(ctx: &mut Ctx<'_>, el: &Element) -> Thresholds {
    let mut t = Thresholds {
        average: ctx.child_number(el, &["average"]),
        gradient: ctx.child_number(el, &["gradient"]),
        second_derivative: ctx.child_number(el, &["secondDerivative"]),
        scale_down_margin_of_gradient: ctx.child_number(el, &["scaleDownMarginOfGradient"]),
        scale_down_margin_of_second_derivative: ctx
            .child_number(el, &["scaleDownMarginOfSecondDerivative"]),
        upper_limit: ctx.child_number(el, &["upperLimit"]),
        lower_limit: ctx.child_number(el, &["lowerLimit"]),
        threshold: ctx.child_number(el, &["threshold"]),
    };
    t.threshold = t.threshold.or(t.upper_limit).or(t.average);
    t
}

fn dry_run(ctx: &mut Ctx<'_>, el: &Element) -> bool {
    let Some(child) = el.child("dryRun") else {
        return false;
    };
    match child
        .value()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("true") => true,
        Some("false") => false,
        other => {
            ctx.problem(
                child,
                format!(
                    "<dryRun> must be true or false, not {:?}",
                    other.unwrap_or("")
                ),
            );
            false
        }
    }
}

pub(crate) fn read(ctx: &mut Ctx<'_>, el: &Element) -> AutoscalePolicy {
    let mut load_thresholds = LoadThresholds::default();
    if let Some(lt) = el.child("loadThresholds") {
        load_thresholds.requests_in_flight =
            lt.child("requestsInFlight").map(|e| thresholds(ctx, e));
        load_thresholds.memory_consumption =
            lt.child("memoryConsumption").map(|e| thresholds(ctx, e));
        load_thresholds.load_average = lt.child("loadAverage").map(|e| thresholds(ctx, e));
    }
    AutoscalePolicy {
        id: ctx.required_name(el, "id", NameRule::Identifier),
        display_name: el.child_text("displayName"),
        description: el.child_text("description"),
        load_thresholds,
        dry_run: dry_run(ctx, el),
        scaling: scaling::read(ctx, el),
        location: ctx.loc(el),
    }
}
