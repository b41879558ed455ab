//! Stratos 4.1's network-partition commands of the `alto` CLI against a running `alto dev`:
//! add (a 4.1 JSON file), list, describe (the posted fields back), update, remove; a second add
//! of the same id and a removal of a removed one fail with the API's message and exit 1.

mod common;

use common::*;
use serde_json::{json, Value};

fn run(alto: &Alto, args: &[&str]) -> (i32, String, String) {
    alto.cli_admin(args)
}

#[test]
fn network_partitions_are_added_listed_described_and_removed_from_the_cli() {
    let dir = temp_dir("np-cli");
    let alto = Alto::start(&dir.join("data"), None);
    let file = dir.join("np.json");
    let posted = json!({
        "id": "np-cli",
        "provider": "mock",
        "partitions": [
            {"id": "P1", "property": [{"name": "zone", "value": "z1"}]},
            {"id": "P2", "property": [{"name": "zone", "value": "z2"}]}
        ]
    });
    std::fs::write(&file, posted.to_string()).expect("write np.json");
    let path = file.display().to_string();

    let (code, stdout, stderr) = run(&alto, &["add-network-partition", "-p", &path]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("np-cli"), "{stdout}");

    let (code, stdout, stderr) = run(&alto, &["list-network-partitions"]);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("np-cli"))
        .unwrap_or_else(|| panic!("np-cli not listed: {stdout}"));
    assert!(
        line.contains("mock") && line.contains("2 partition(s)"),
        "{line}"
    );

    let (code, stdout, stderr) = run(&alto, &["--json", "describe-network-partition", "np-cli"]);
    assert_eq!(code, 0, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).expect("describe --json is JSON");
    assert_eq!(shown["id"], "np-cli");
    assert_eq!(shown["provider"], "mock");
    assert_eq!(shown["partitions"][1]["id"], "P2");
    assert_eq!(
        shown["partitions"][1]["property"][0]["value"], "z2",
        "{shown}"
    );

    // update-network-partition replaces the definition (PUT): the new zone is shown.
    let updated = json!({
        "id": "np-cli",
        "provider": "mock",
        "partitions": [
            {"id": "P1", "property": [{"name": "zone", "value": "z1"}]},
            {"id": "P2", "property": [{"name": "zone", "value": "z9"}]}
        ]
    });
    let update_file = dir.join("np-updated.json");
    std::fs::write(&update_file, updated.to_string()).expect("write np-updated.json");
    let update_path = update_file.display().to_string();
    let (code, stdout, stderr) = run(&alto, &["update-network-partition", "-p", &update_path]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("updated network partition np-cli"),
        "{stdout}"
    );
    let (_, stdout, _) = run(&alto, &["--json", "describe-network-partition", "np-cli"]);
    let shown: Value = serde_json::from_str(&stdout).expect("describe --json is JSON");
    assert_eq!(
        shown["partitions"][1]["property"][0]["value"], "z9",
        "{shown}"
    );

    // A duplicate is refused (409) with the API's message.
    let (code, _, stderr) = run(&alto, &["add-network-partition", "-p", &path]);
    assert_eq!(code, 1, "a second add of np-cli must fail");
    assert!(stderr.contains("np-cli"), "{stderr}");

    let (code, stdout, stderr) = run(&alto, &["remove-network-partition", "np-cli"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, _) = run(&alto, &["list-network-partitions"]);
    assert_eq!(code, 0);
    assert!(!stdout.contains("np-cli"), "{stdout}");
    let (code, _, stderr) = run(&alto, &["describe-network-partition", "np-cli"]);
    assert_eq!(code, 1, "describing a removed network partition must fail");
    assert!(!stderr.is_empty());

    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
