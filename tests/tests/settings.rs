//! The autoscaler's tunables from an autoscale policy's `<scaling>` and from `alto dev`'s
//! flags: a running cluster picks up a redeployed policy on its next evaluation.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A mock cloud whose agents never report (members stay `Initialized`: pending), a cartridge
/// and a two-member deployment policy.
fn conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: &str| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        &mock_cloud_xml(&[("mock.agent", "false")]),
    );
    write("cartridge.xml", &web_cartridge(&["mock"]));
    write("autoscale.xml", &policy(None));
    write(
        "deployment.xml",
        r#"<deploymentPolicy id="dp"><partitionGroup id="np">
  <partition id="p1"><provider>mock</provider><min>2</min><max>2</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

fn policy(pending_timeout: Option<u32>) -> String {
    let scaling = pending_timeout
        .map(|s| format!("<scaling><pendingTimeoutSeconds>{s}</pendingTimeoutSeconds></scaling>"))
        .unwrap_or_default();
    format!(
        r#"<autoscalePolicy id="steady"><loadThresholds>
  <requestsInFlight><threshold value="1000000"/></requestsInFlight>
</loadThresholds>{scaling}</autoscalePolicy>"#
    )
}

fn subscribe(api: &Api) -> String {
    api.subscribe("web", "pending", "steady", "dp")
}

/// Wait for both members to be expired (terminated with the pending-timeout reason).
fn wait_expired(api: &Api, cluster_id: &str, within: Duration) -> Value {
    api.wait_for(
        &format!("/api/clusters/{cluster_id}"),
        within,
        "the pending members expired",
        |s, b| {
            s == 200
                && b["members"].as_array().is_some_and(|ms| {
                    ms.iter()
                        .filter(|m| {
                            m["state"] == "Terminated"
                                && m["terminationReason"]
                                    .as_str()
                                    .is_some_and(|r| r.starts_with("expired"))
                        })
                        .count()
                        >= 2
                })
        },
    )
}

#[test]
fn a_redeployed_policy_sets_the_pending_timeout_of_a_running_cluster() {
    let dir = temp_dir("settings-policy");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir)),
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    let cluster_id = subscribe(&api);
    let pending = api.wait_for(
        &format!("/api/clusters/{cluster_id}"),
        Duration::from_secs(30),
        "2 pending members",
        |s, b| {
            s == 200
                && member_states(b)
                    .iter()
                    .filter(|st| *st == "Initialized")
                    .count()
                    == 2
        },
    );
    // Pending under the default timeout (900 s): nothing expired yet.
    assert!(
        pending["members"]
            .as_array()
            .is_some_and(|ms| ms.iter().all(|m| m["terminationReason"].is_null())),
        "{pending}"
    );
    // A POST of an id that exists is 409 (as in Stratos); PUT updates.
    let (status, body) = api.post_xml("/api/autoscalingPolicies", &policy(Some(1)));
    assert_eq!(status, 409, "{body}");
    let (status, body) = api.put_xml("/api/autoscalingPolicies", &policy(Some(1)));
    assert_eq!(status, 200, "{body}");
    let expired = wait_expired(&api, &cluster_id, Duration::from_secs(20));
    let reasons: Vec<&str> = expired["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["terminationReason"].as_str())
        .collect();
    assert!(
        reasons.iter().all(|r| r.starts_with("expired")),
        "{reasons:?}"
    );
}

#[test]
fn the_pending_timeout_flag_is_the_default_of_policies_that_do_not_set_it() {
    let dir = temp_dir("settings-flag");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir)),
            args: vec!["--pending-timeout".into(), "1".into()],
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    let cluster_id = subscribe(&api);
    wait_expired(&api, &cluster_id, Duration::from_secs(30));
}

#[test]
fn alto_validate_checks_the_settings() {
    let dir = temp_dir("settings-validate");
    let file = dir.join("policy.xml");
    std::fs::write(
        &file,
        "<autoscalePolicy id=\"a\">\n<scaling>\n<maxScaleUpStep>0</maxScaleUpStep>\n</scaling></autoscalePolicy>",
    )
    .expect("write");
    let (code, stdout, _) = alto_validate(&file);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("policy.xml:3:1: <maxScaleUpStep> must be from 1"),
        "{stdout}"
    );
}
