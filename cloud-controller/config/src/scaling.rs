//! `<scaling>` in an autoscale policy (`"scaling"` in JSON): our extension that sets the
//! autoscaler's tunables for the clusters of that policy. Each setting is optional; what a
//! policy leaves out comes from the controller's flags, then the autoscaler's defaults
//! (docs/AUTOSCALER.md lists them).
//!
//! ```xml
//! <scaling>
//!   <scaleDownCooldownSeconds>60</scaleDownCooldownSeconds>
//!   <maxScaleUpStep>2</maxScaleUpStep>
//! </scaling>
//! ```

use crate::source::Element;
use crate::Ctx;
use serde::Serialize;

/// The longest period a setting in seconds may have (a week): beyond it a typo, not a choice.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// The largest `maxScaleUpStep`.
pub const MAX_SCALE_UP_STEP: u32 = 1000;

/// The tunables a policy sets; `None`: not set here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingOverrides {
    pub scale_up_cooldown_seconds: Option<f64>,
    pub scale_down_cooldown_seconds: Option<f64>,
    pub scale_down_stabilization_seconds: Option<f64>,
    pub pending_timeout_seconds: Option<f64>,
    pub fault_timeout_seconds: Option<f64>,
    pub window_seconds: Option<f64>,
    pub max_scale_up_step: Option<u32>,
}

/// The settings in seconds: (element name, may it be 0, where it goes).
type SecondsField = (
    &'static str,
    bool,
    fn(&mut ScalingOverrides) -> &mut Option<f64>,
);

const SECONDS: &[SecondsField] = &[
    ("scaleUpCooldownSeconds", true, |s| {
        &mut s.scale_up_cooldown_seconds
    }),
    ("scaleDownCooldownSeconds", true, |s| {
        &mut s.scale_down_cooldown_seconds
    }),
    ("scaleDownStabilizationSeconds", true, |s| {
        &mut s.scale_down_stabilization_seconds
    }),
    ("pendingTimeoutSeconds", false, |s| {
        &mut s.pending_timeout_seconds
    }),
    ("faultTimeoutSeconds", false, |s| {
        &mut s.fault_timeout_seconds
    }),
    ("windowSeconds", false, |s| &mut s.window_seconds),
];

/// Every element `<scaling>` may hold.
pub const SETTING_NAMES: &[&str] = &[
    "scaleUpCooldownSeconds",
    "scaleDownCooldownSeconds",
    "scaleDownStabilizationSeconds",
    "pendingTimeoutSeconds",
    "faultTimeoutSeconds",
    "windowSeconds",
    "maxScaleUpStep",
];

pub(crate) fn read(ctx: &mut Ctx<'_>, policy: &Element) -> ScalingOverrides {
    let mut settings = ScalingOverrides::default();
    let Some(scaling) = policy.child("scaling") else {
        return settings;
    };
    for child in &scaling.children {
        let name = child.local_name();
        if name == "maxScaleUpStep" {
            match ctx.number::<u32>(child) {
                Some(n) if (1..=MAX_SCALE_UP_STEP).contains(&n) => {
                    settings.max_scale_up_step = Some(n)
                }
                Some(n) => ctx.problem(
                    child,
                    format!("<maxScaleUpStep> must be from 1 to {MAX_SCALE_UP_STEP}, not {n}"),
                ),
                None => {}
            }
            continue;
        }
        let Some((_, zero_ok, slot)) = SECONDS.iter().find(|(n, _, _)| *n == name) else {
            ctx.problem(
                child,
                format!(
                    "<scaling> has no setting <{name}> (known: {})",
                    SETTING_NAMES.join(", ")
                ),
            );
            continue;
        };
        let Some(value) = ctx.number::<f64>(child) else {
            continue;
        };
        let low_ok = if *zero_ok { value >= 0.0 } else { value > 0.0 };
        if value.is_finite() && low_ok && value <= MAX_SECONDS {
            *slot(&mut settings) = Some(value);
        } else {
            let least = if *zero_ok { "from 0" } else { "above 0 and" };
            ctx.problem(
                child,
                format!("<{name}> must be {least} at most {MAX_SECONDS} seconds, not {value}"),
            );
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(body: &str) -> Result<crate::AutoscalePolicy, Vec<crate::Problem>> {
        crate::parse_autoscale_policy(Path::new("p.xml"), body.as_bytes())
    }

    #[test]
    fn every_setting_is_read_and_absent_ones_stay_unset() {
        let p = parse(
            "<autoscalePolicy id=\"a\"><scaling>\
             <scaleUpCooldownSeconds>5</scaleUpCooldownSeconds>\
             <scaleDownCooldownSeconds>0</scaleDownCooldownSeconds>\
             <scaleDownStabilizationSeconds>60</scaleDownStabilizationSeconds>\
             <pendingTimeoutSeconds>120.5</pendingTimeoutSeconds>\
             <faultTimeoutSeconds>30</faultTimeoutSeconds>\
             <windowSeconds>20</windowSeconds>\
             <maxScaleUpStep>2</maxScaleUpStep>\
             </scaling></autoscalePolicy>",
        )
        .unwrap();
        assert_eq!(
            p.scaling,
            ScalingOverrides {
                scale_up_cooldown_seconds: Some(5.0),
                scale_down_cooldown_seconds: Some(0.0),
                scale_down_stabilization_seconds: Some(60.0),
                pending_timeout_seconds: Some(120.5),
                fault_timeout_seconds: Some(30.0),
                window_seconds: Some(20.0),
                max_scale_up_step: Some(2),
            }
        );
        let none = parse("<autoscalePolicy id=\"a\"><loadThresholds/></autoscalePolicy>").unwrap();
        assert_eq!(none.scaling, ScalingOverrides::default());
    }

    #[test]
    fn bad_settings_are_problems_with_their_position() {
        let problems = parse(
            "<autoscalePolicy id=\"a\">\n<scaling>\n\
             <windowSeconds>0</windowSeconds>\n\
             <maxScaleUpStep>0</maxScaleUpStep>\n\
             <scaleUpCooldownSeconds>-1</scaleUpCooldownSeconds>\n\
             <pendingTimeoutSeconds>soon</pendingTimeoutSeconds>\n\
             <cooldown>3</cooldown>\n\
             <faultTimeoutSeconds>1e12</faultTimeoutSeconds>\n\
             </scaling></autoscalePolicy>",
        )
        .unwrap_err();
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 6, "{lines:#?}");
        for (line, (at, what)) in lines.iter().zip([
            ("p.xml:3:1:", "<windowSeconds> must be above 0"),
            (
                "p.xml:4:1:",
                "<maxScaleUpStep> must be from 1 to 1000, not 0",
            ),
            ("p.xml:5:1:", "<scaleUpCooldownSeconds> must be from 0"),
            ("p.xml:6:1:", "invalid number \"soon\""),
            ("p.xml:7:1:", "no setting <cooldown>"),
            ("p.xml:8:1:", "<faultTimeoutSeconds> must be above 0"),
        ]) {
            assert!(line.starts_with(at) && line.contains(what), "{line}");
        }
    }
}
