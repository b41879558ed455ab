//! `alto simulate`: replay a health trace through the autoscaler's own decision code with a
//! simulated clock. Reads the two policy documents and the trace; touches no cloud, bus or
//! database.

use crate::convert;
use autoscaler::{ScalingSettings, SimOptions, SimReport, Trace};
use std::path::Path;

/// Why a simulation cannot run; every message names the file (and line, where there is one).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Problems in a policy document, one `FILE:LINE:COL: message` per line.
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    Trace { path: String, message: String },
}

fn read(path: &Path) -> Result<Vec<u8>, SimulateError> {
    std::fs::read(path).map_err(|source| SimulateError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn problems(list: Vec<alto_config::Problem>) -> SimulateError {
    SimulateError::Invalid(
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Run the simulation of `trace` under the two policies.
pub fn run(
    policy: &Path,
    deployment_policy: &Path,
    trace: &Path,
    options: &SimOptions,
) -> Result<SimReport, SimulateError> {
    let autoscale =
        alto_config::parse_autoscale_policy(policy, &read(policy)?).map_err(problems)?;
    let deployment =
        alto_config::parse_deployment_policy(deployment_policy, &read(deployment_policy)?)
            .map_err(problems)?;
    let resolved = convert::deployment_policy(&alto_config::ConfigSet::default(), &deployment)
        .map_err(|e| {
            SimulateError::Invalid(format!(
                "{}: {e} (the simulator needs inline partitions with a <provider>)",
                deployment_policy.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&read(trace)?).into_owned();
    let trace_data = Trace::parse(&text).map_err(|e| SimulateError::Trace {
        path: trace.display().to_string(),
        message: e.to_string(),
    })?;
    let settings = ScalingSettings::new(convert::autoscale_policy(&autoscale).load_thresholds);
    Ok(autoscaler::simulate::run(
        &settings,
        &resolved,
        &trace_data,
        options,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn the_shipped_spike_trace_scales_up_and_back() {
        let r = root();
        let report = run(
            &r.join("conf/policies/autoscale-economy.xml"),
            &r.join("tests/fixtures/deployment-e2e.xml"),
            &r.join("conf/traces/spike.csv"),
            &SimOptions::default(),
        )
        .unwrap();
        let counts: Vec<u32> = report.timeline.iter().map(|p| p.members).collect();
        let peak = counts.iter().copied().max().unwrap_or(0);
        assert!(peak > report.cluster_min, "never scaled up: {counts:?}");
        assert!(peak <= report.cluster_max);
        assert!(counts.iter().all(|&c| c >= report.cluster_min));
        let printed = report.to_string();
        assert!(!printed.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("alto-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad_trace = dir.join("bad.csv");
        std::fs::write(
            &bad_trace,
            "time,target,metric,value\n1,cluster,load_average,abc\n",
        )
        .unwrap();
        let r = root();
        let err = run(
            &r.join("conf/policies/autoscale-economy.xml"),
            &r.join("tests/fixtures/deployment-e2e.xml"),
            &bad_trace,
            &SimOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad.csv"), "{err}");
        assert!(err.to_string().contains('2'), "{err}");
        let bad_policy = dir.join("bad.xml");
        std::fs::write(&bad_policy, "<autoscalePolicy>\n<oops></autoscalePolicy>").unwrap();
        let err = run(
            &bad_policy,
            &r.join("tests/fixtures/deployment-e2e.xml"),
            &r.join("conf/traces/spike.csv"),
            &SimOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad.xml:"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
