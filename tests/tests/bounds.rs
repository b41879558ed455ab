//! Input without bounds, refused with the JSON error shape and a position, by the real
//! `alto dev`: nesting thousands of levels deep (once an aborted process), a partition maximum
//! of 4294967295, names too long for a DNS label, passwords too long to be presented.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn assert_problem(status: u16, body: &Value, expected: u16, needle: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "JSON error shape: {body}");
    let text = body.to_string();
    assert!(text.contains(needle), "{needle:?} not in {body}");
}

#[test]
fn a_document_nested_100000_levels_deep_is_a_400_and_the_process_lives() {
    let dir = temp_dir("bounds-deep");
    let alto = Alto::start(&dir.join("data"), None);
    let api = alto.admin();
    let deep = format!(
        "<cartridge type=\"deep\">{}{}</cartridge>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let (status, body) = api.post_xml("/api/cartridges", &deep);
    assert_problem(status, &body, 400, "nested deeper than 256");
    assert!(
        body["problems"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("request body:1:")),
        "{body}"
    );
    // JSON nested as deep: refused too.
    let json_deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/api/cartridges", alto.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("Content-Type", "application/json")
        .body(json_deep)
        .send()
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    let (status, _) = api.get("/healthz");
    assert_eq!(status, 200, "the process survived");

    // alto validate: the same problem at FILE:LINE:COL, exit 1.
    let file = dir.join("deep.xml");
    std::fs::write(&file, &deep).expect("write");
    let (code, stdout, _) = alto_validate(&file);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("deep.xml:1:") && stdout.contains("nested deeper"),
        "{stdout}"
    );
}

#[test]
fn members_names_and_passwords_are_bounded() {
    let dir = temp_dir("bounds-limits");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            args: vec!["--max-members-per-tenant".into(), "7".into()],
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    // A partition maximum beyond --max-members-per-cluster (1000).
    let (status, body) = api.post_xml(
        "/api/deploymentPolicies",
        r#"<deploymentPolicy id="huge"><partitionGroup id="np">
  <partition id="p-huge"><provider>mock</provider><min>1</min><max>4294967295</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    assert_problem(status, &body, 400, "--max-members-per-cluster");
    // A cartridge type that is no DNS label, at its position.
    let long = "t".repeat(64);
    let (status, body) = api.post_xml(
        "/api/cartridges",
        &format!(
            r#"<cartridge type="{long}" host="h.example.org" provider="p" version="1"><displayName>d</displayName><description>d</description><iaasProvider type="mock"><imageId>i</imageId></iaasProvider></cartridge>"#
        ),
    );
    assert_problem(status, &body, 400, "longer than 63");
    // An alias of 10,000 characters.
    let subscribe = |alias: &str| {
        api.post_json(
            "/api/subscriptions",
            &json!({"cartridgeType": "php", "alias": alias, "autoscalePolicy": "economy", "deploymentPolicy": "economy-deployment"}),
        )
    };
    let (status, body) = subscribe(&"a".repeat(10_000));
    assert_problem(status, &body, 400, "alias");
    // The tenant limit: economy-deployment allows 3 members (conf/), 7 allowed in all.
    for alias in ["one", "two"] {
        let (status, body) = subscribe(alias);
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = subscribe("three");
    assert_problem(status, &body, 409, "--max-members-per-tenant");
    // A password too long to be presented in a header.
    let (status, body) = api.post_json(
        "/api/tenants",
        &json!({"tenantDomain": "big.example", "admin": "boss", "adminPassword": "p".repeat(512 * 1024), "email": "b@big.example"}),
    );
    // Either the body limit or the password rule refuses it, in the JSON shape.
    assert!(status == 400 || status == 413, "{status} {body}");
    assert_eq!(body["status"], status);
    let (status, body) = api.post_json(
        "/api/tenants",
        &json!({"tenantDomain": "big.example", "admin": "boss", "adminPassword": "p".repeat(1025), "email": "b@big.example"}),
    );
    assert_problem(status, &body, 400, "at most 1024 bytes");
    api.wait_for("/healthz", Duration::from_secs(5), "alive", |s, _| s == 200);
}
