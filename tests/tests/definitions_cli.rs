//! Stratos 4.1's update and remove commands for policies and cartridges, through the `alto`
//! CLI against a running `alto dev`: `update-*` replaces a definition (what `describe-*` then
//! shows), an update of an id that does not exist fails, `remove-*-policy` is refused while a
//! subscription uses the policy and succeeds once nothing does.

mod common;

use common::*;
use serde_json::{json, Value};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write definition file");
    path.display().to_string()
}

fn described(alto: &Alto, command: &str, id: &str) -> Value {
    let (code, stdout, stderr) = alto.cli_admin(&["--json", command, id]);
    assert_eq!(code, 0, "{command} {id}: {stderr}");
    serde_json::from_str(&stdout).expect("describe --json is JSON")
}

fn deployment_policy_xml(max: u32) -> String {
    format!(
        r#"<deploymentPolicy id="cli-dp">
  <partitionGroup id="np1">
    <partitionAlgo>one-after-another</partitionAlgo>
    <partition id="p1"><provider>mock</provider><property name="zone" value="zone-a"/><min>1</min><max>{max}</max></partition>
  </partitionGroup>
</deploymentPolicy>"#
    )
}

#[test]
fn policies_and_cartridges_are_updated_and_removed_from_the_cli() {
    let dir = temp_dir("defs-cli");
    let alto = Alto::start(&dir.join("data"), None);

    // An autoscaling policy in Stratos 4.1 JSON, then its threshold changed.
    let policy = |threshold: u32| {
        json!({"id": "cli-asp", "loadThresholds": {"loadAverage": {"threshold": threshold}}})
            .to_string()
    };
    let asp = write(&dir, "asp.json", &policy(60));
    let (code, out, err) = alto.cli_admin(&["add-autoscaling-policy", "-p", &asp]);
    assert_eq!(code, 0, "{out}{err}");
    let asp = write(&dir, "asp.json", &policy(45));
    let (code, out, err) = alto.cli_admin(&["update-autoscaling-policy", "-p", &asp]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("updated autoscaling policy cli-asp"), "{out}");
    let shown = described(&alto, "describe-autoscaling-policy", "cli-asp");
    assert_eq!(
        shown["loadThresholds"]["loadAverage"]["threshold"]
            .as_f64()
            .unwrap_or_default(),
        45.0,
        "{shown}"
    );

    // Updating what does not exist fails with the API's message (create it with add-*).
    let unknown = write(
        &dir,
        "unknown.json",
        &json!({"id": "cli-nope", "loadThresholds": {"loadAverage": {"threshold": 50}}})
            .to_string(),
    );
    let (code, _, err) = alto.cli_admin(&["update-autoscaling-policy", "-p", &unknown]);
    assert_eq!(code, 1, "updating an unknown policy must fail");
    assert!(err.contains("cli-nope"), "{err}");

    // A deployment policy in 4.0 XML, its partition's max lowered.
    let dp = write(&dir, "dp.xml", &deployment_policy_xml(3));
    let (code, out, err) = alto.cli_admin(&["add-deployment-policy", "-p", &dp]);
    assert_eq!(code, 0, "{out}{err}");
    let dp = write(&dir, "dp.xml", &deployment_policy_xml(2));
    let (code, out, err) = alto.cli_admin(&["update-deployment-policy", "-p", &dp]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("updated deployment policy cli-dp"), "{out}");
    let shown = described(&alto, "describe-deployment-policy", "cli-dp");
    let partitions = shown.to_string();
    assert!(
        partitions.contains(r#""partitionMax":2"#),
        "the updated max is shown: {shown}"
    );

    // The repository's php cartridge with another display name.
    let php = std::fs::read_to_string(repo_root().join("conf/cartridges/php.xml"))
        .expect("read conf/cartridges/php.xml");
    let renamed = php.replace(
        "<displayName>PHP</displayName>",
        "<displayName>PHP (updated)</displayName>",
    );
    assert_ne!(
        php, renamed,
        "conf/cartridges/php.xml has the display name this test changes"
    );
    let cartridge = write(&dir, "php.xml", &renamed);
    let (code, out, err) = alto.cli_admin(&["update-cartridge", "-p", &cartridge]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("updated cartridge(s): php"), "{out}");
    let shown = described(&alto, "describe-cartridge", "php");
    assert_eq!(shown["displayName"], "PHP (updated)", "{shown}");

    // Removal is refused while a subscription uses the policies, and works once none does.
    let (code, out, err) = alto.cli_admin(&[
        "subscribe-cartridge",
        "php",
        "clidefs",
        "-ap",
        "cli-asp",
        "-dp",
        "cli-dp",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for (command, id) in [
        ("remove-autoscaling-policy", "cli-asp"),
        ("remove-deployment-policy", "cli-dp"),
    ] {
        let (code, _, err) = alto.cli_admin(&[command, id]);
        assert_eq!(code, 1, "{command} {id} must be refused while subscribed");
        assert!(!err.is_empty());
        described(&alto, command.replace("remove-", "describe-").as_str(), id);
    }
    let (code, out, err) = alto.cli_admin(&[
        "unsubscribe-cartridge",
        "clidefs",
        "--wait",
        "--timeout",
        "60",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // The subscription goes once its cluster is cleaned up, shortly after its members end.
    alto.admin()
        .wait_no_subscriptions(std::time::Duration::from_secs(60));
    for (command, id) in [
        ("remove-autoscaling-policy", "cli-asp"),
        ("remove-deployment-policy", "cli-dp"),
    ] {
        let (code, out, err) = alto.cli_admin(&[command, id]);
        assert_eq!(code, 0, "{command} {id} once unsubscribed: {out}{err}");
        let describe = command.replace("remove-", "describe-");
        let (code, _, _) = alto.cli_admin(&["--json", describe.as_str(), id]);
        assert_eq!(code, 1, "{id} is gone after {command}");
    }

    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
