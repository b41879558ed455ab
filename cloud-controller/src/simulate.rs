//! `alto simulate`: replay a health trace through the autoscaler's own decision code with a
//! simulated clock. Reads the two policy documents and the trace; touches no cloud, bus or
//! database.

use crate::api::json_shapes;
use crate::convert;
use alto_config::ConfigSet;
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

/// What a simulation reads.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// The autoscale policy: a file (XML or Stratos JSON), or with `conf` an id defined there.
    pub policy: &'a Path,
    /// The deployment policy: a file, or with `conf` an id defined there.
    pub deployment_policy: &'a Path,
    /// A configuration directory whose network partitions, standalone partitions and
    /// cloud-controller.xml resolve the policy's partitions, as the controller's `--conf` does.
    pub conf: Option<&'a Path>,
    pub trace: &'a Path,
}

/// Run the simulation of `trace` under the two policies (partitions inline only).
pub fn run(
    policy: &Path,
    deployment_policy: &Path,
    trace: &Path,
    options: &SimOptions,
) -> Result<SimReport, SimulateError> {
    run_inputs(
        &Inputs {
            policy,
            deployment_policy,
            conf: None,
            trace,
        },
        options,
    )
}

/// A policy document's XML: XML as it is, Stratos JSON (a `.json` file, or one starting with
/// `{`) converted as the REST API converts it.
fn document(
    path: &Path,
    convert: fn(&serde_json::Value) -> Result<String, String>,
) -> Result<Vec<u8>, SimulateError> {
    let bytes = read(path)?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !is_json {
        return Ok(bytes);
    }
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| SimulateError::Invalid(format!("{}: {e}", path.display())))?;
    convert(&doc)
        .map(String::into_bytes)
        .map_err(|e| SimulateError::Invalid(format!("{}: {e}", path.display())))
}

/// The conf as the controller loads it: refused when it has problems.
fn load_conf(dir: &Path) -> Result<ConfigSet, SimulateError> {
    let (set, found) = alto_config::load_path(dir);
    if found.is_empty() {
        Ok(set)
    } else {
        Err(problems(found))
    }
}

/// Run the simulation of `inputs.trace` under the two policies.
pub fn run_inputs(inputs: &Inputs<'_>, options: &SimOptions) -> Result<SimReport, SimulateError> {
    let set = match inputs.conf {
        Some(dir) => load_conf(dir)?,
        None => ConfigSet::default(),
    };
    let by_id = |path: &Path| {
        (!path.exists() && inputs.conf.is_some()).then(|| path.to_string_lossy().into_owned())
    };
    let autoscale = match by_id(inputs.policy) {
        Some(id) => set
            .autoscale_policies
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| not_in_conf(inputs, "autoscale policy", &id))?,
        None => {
            let xml = document(inputs.policy, json_shapes::autoscale_policy_to_xml)?;
            alto_config::parse_autoscale_policy(inputs.policy, &xml).map_err(problems)?
        }
    };
    let deployment = match by_id(inputs.deployment_policy) {
        Some(id) => set
            .deployment_policies
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| not_in_conf(inputs, "deployment policy", &id))?,
        None => {
            let xml = document(
                inputs.deployment_policy,
                json_shapes::deployment_policy_to_xml,
            )?;
            let policy = alto_config::parse_deployment_policy(inputs.deployment_policy, &xml)
                .map_err(problems)?;
            if inputs.conf.is_some() {
                // The checks a deploy would make against the same conf.
                let found = set.validate_deployment_policy(&policy);
                if !found.is_empty() {
                    return Err(problems(found));
                }
            }
            policy
        }
    };
    let resolved = convert::deployment_policy(&set, &deployment).map_err(|e| {
        SimulateError::Invalid(format!(
            "{}: {e}{}",
            inputs.deployment_policy.display(),
            if inputs.conf.is_none() {
                " (without --conf the simulator needs inline partitions with a <provider>)"
            } else {
                ""
            }
        ))
    })?;
    let text = String::from_utf8_lossy(&read(inputs.trace)?).into_owned();
    let trace_data = Trace::parse(&text).map_err(|e| SimulateError::Trace {
        path: inputs.trace.display().to_string(),
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

fn not_in_conf(inputs: &Inputs<'_>, what: &str, id: &str) -> SimulateError {
    SimulateError::Invalid(format!(
        "{id}: no such file, and {} defines no {what} {id:?}",
        inputs
            .conf
            .map(|c| c.display().to_string())
            .unwrap_or_default()
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
    fn with_conf_the_shipped_ha_policy_resolves_its_partitions_in_other_files() {
        let r = root();
        let conf = r.join("conf");
        let ha = conf.join("policies/deployment-ha.xml");
        let trace = conf.join("traces/spike.csv");
        let economy = conf.join("policies/autoscale-economy.xml");
        // Without --conf, `east-1` (conf/partitions/partitions.xml) is unknown.
        let err = run(&economy, &ha, &trace, &SimOptions::default()).unwrap_err();
        assert!(err.to_string().contains("east-1"), "{err}");
        let inputs = Inputs {
            policy: &economy,
            deployment_policy: &ha,
            conf: Some(&conf),
            trace: &trace,
        };
        let report = run_inputs(&inputs, &SimOptions::default()).unwrap();
        // Both partitions at most 2 each (the policy's max wins over the standalone 3).
        assert_eq!(report.cluster_max, 4, "{report}");
        // Policies may also be named by id in the conf.
        let by_id = Inputs {
            policy: Path::new("economy"),
            deployment_policy: Path::new("ha-deployment"),
            ..inputs
        };
        let again = run_inputs(&by_id, &SimOptions::default()).unwrap();
        assert_eq!(again.cluster_max, 4);
        let missing = Inputs {
            deployment_policy: Path::new("no-such-policy"),
            ..by_id
        };
        let err = run_inputs(&missing, &SimOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no-such-policy"), "{err}");
    }

    #[test]
    fn a_4_1_policy_resolves_through_a_network_partition_of_the_conf() {
        let dir = std::env::temp_dir().join(format!("alto-sim-np-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        let conf = dir.join("conf");
        std::fs::copy(
            root().join("conf/cloud-controller.xml"),
            conf.join("cloud-controller.xml"),
        )
        .unwrap();
        // Two network partitions that both hold a `P1`: ids are scoped by network partition.
        std::fs::write(
            conf.join("network-partitions.xml"),
            r#"<networkPartitions>
  <networkPartition id="np-a" provider="mock"><partition id="P1"/></networkPartition>
  <networkPartition id="np-b" provider="mock-east"><partition id="P1"><property name="zone" value="b"/></partition></networkPartition>
</networkPartitions>"#,
        )
        .unwrap();
        let policy = dir.join("deployment.json");
        std::fs::write(
            &policy,
            r#"{"id": "dp41", "networkPartitions": [
                {"id": "np-a", "partitionAlgo": "one-after-another", "partitions": [{"id": "P1", "partitionMax": 3}]},
                {"id": "np-b", "partitionAlgo": "round-robin", "partitions": [{"id": "P1", "partitionMax": 2}]}]}"#,
        )
        .unwrap();
        let r = root();
        let inputs = Inputs {
            policy: &r.join("conf/policies/autoscale-economy.xml"),
            deployment_policy: &policy,
            conf: Some(&conf),
            trace: &r.join("conf/traces/spike.csv"),
        };
        let report = run_inputs(&inputs, &SimOptions::default()).unwrap();
        assert_eq!(report.cluster_max, 5, "{report}");
        let unknown = dir.join("unknown.json");
        std::fs::write(
            &unknown,
            r#"{"id": "dpx", "networkPartitions": [{"id": "np-a", "partitions": [{"id": "P9"}]}]}"#,
        )
        .unwrap();
        let err = run_inputs(
            &Inputs {
                deployment_policy: &unknown,
                ..inputs
            },
            &SimOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("P9") && err.to_string().contains("np-a"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
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
