//! deploy → subscribe → Active → restart → still there → unsubscribe → Terminated, driving the
//! real `alto` binary over HTTP and its CLI, on SQLite and on PostgreSQL.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn fixture(name: &str) -> String {
    repo_root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn cli_ok(alto: &Alto, user: &str, password: &str, args: &[&str]) -> String {
    let out = alto.cli(user, password, args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "alto {args:?} failed ({:?}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn full_lifecycle(database_url: Option<String>, tag: &str) {
    let data = temp_dir(tag);
    let alto = Alto::start(&data, database_url.as_deref());

    // The admin deploys a cartridge and its policies with the CLI (Stratos command names).
    cli_ok(
        &alto,
        "admin",
        ADMIN_PASSWORD,
        &["deploy-cartridge", "-p", &fixture("cartridge-e2e.xml")],
    );
    cli_ok(
        &alto,
        "admin",
        ADMIN_PASSWORD,
        &[
            "deploy-autoscaling-policy",
            "-p",
            &fixture("autoscale-e2e.xml"),
        ],
    );
    cli_ok(
        &alto,
        "admin",
        ADMIN_PASSWORD,
        &[
            "deploy-deployment-policy",
            "-p",
            &fixture("deployment-e2e.xml"),
        ],
    );
    let listed = cli_ok(
        &alto,
        "admin",
        ADMIN_PASSWORD,
        &["list-cartridges", "--json"],
    );
    assert!(listed.contains("e2ephp"), "{listed}");

    // A tenant is created; its admin subscribes.
    let (status, tenant) = alto.admin().post_json(
        "/api/tenants",
        &json!({"tenantDomain": "acme.example", "admin": "boss", "adminPassword": "acme-pass-1", "email": "boss@acme.example"}),
    );
    assert_eq!(status, 201, "{tenant}");
    let tenant_login = "boss@acme.example";
    let tenant_api = alto.api(tenant_login, "acme-pass-1");
    let (status, sub) = tenant_api.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "e2ephp", "alias": "shop", "autoscalePolicy": "e2e-autoscale", "deploymentPolicy": "e2e-deployment"}),
    );
    assert_eq!(status, 201, "{sub}");
    let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
    assert_eq!(cluster_id, "shop.e2ephp.domain");
    assert_eq!(sub["hostName"], "shop.e2e.example.org");

    // The minimum (one per partition) reaches Active on the mock cloud.
    let path = format!("/api/clusters/{cluster_id}");
    let cluster = tenant_api.wait_for(
        &path,
        Duration::from_secs(60),
        "2 Active members",
        |s, body| {
            s == 200
                && member_states(body)
                    .iter()
                    .filter(|st| *st == "Active")
                    .count()
                    == 2
        },
    );
    let members = cluster["members"].as_array().expect("members").clone();
    let mut partitions: Vec<&str> = members
        .iter()
        .filter_map(|m| m["partitionId"].as_str())
        .collect();
    partitions.sort();
    assert_eq!(
        partitions,
        ["e2e-p1", "e2e-p2"],
        "round-robin must spread the minimum"
    );
    for m in &members {
        assert!(
            m["privateIps"][0]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.")),
            "{m}"
        );
        assert!(m["instanceId"].as_str().is_some(), "{m}");
    }
    let member_ids: Vec<Value> = members.iter().map(|m| m["memberId"].clone()).collect();
    // Its minimum Active, the cluster says so (within a scaling pass).
    tenant_api.wait_for(
        &path,
        Duration::from_secs(10),
        "cluster Active",
        |s, body| s == 200 && body["status"] == "Active",
    );

    // The CLI shows the members of the subscription.
    let listed = cli_ok(
        &alto,
        tenant_login,
        "acme-pass-1",
        &["list-members", "shop", "--json"],
    );
    for id in &member_ids {
        assert!(listed.contains(id.as_str().unwrap_or("-")), "{listed}");
    }
    // `alto watch` shows the same members and the latest decision (one frame here).
    let watched = cli_ok(
        &alto,
        tenant_login,
        "acme-pass-1",
        &["watch", "shop", "--count", "1"],
    );
    for id in &member_ids {
        assert!(watched.contains(id.as_str().unwrap_or("-")), "{watched}");
    }
    assert!(watched.contains("latest decision"), "{watched}");

    // Restart the process: every subscription and member is still there, still Active.
    let alto = alto.restart();
    let tenant_api = alto.api(tenant_login, "acme-pass-1");
    let (status, subs) = tenant_api.get("/api/subscriptions");
    assert_eq!(status, 200);
    assert_eq!(subs.as_array().map(Vec::len), Some(1), "{subs}");
    let (status, cluster) = tenant_api.get(&path);
    assert_eq!(status, 200, "{cluster}");
    let mut after: Vec<Value> = cluster["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["memberId"].clone())
        .collect();
    let mut before = member_ids.clone();
    after.sort_by_key(|v| v.to_string());
    before.sort_by_key(|v| v.to_string());
    assert_eq!(after, before, "members changed across a restart");
    assert_eq!(member_states(&cluster), ["Active", "Active"]);

    // Unsubscribe: every member is gracefully terminated and the subscription goes away.
    let (status, body) = tenant_api.delete("/api/subscriptions/shop");
    assert_eq!(status, 202, "{body}");
    let cluster = tenant_api.wait_for(
        &path,
        Duration::from_secs(60),
        "all members Terminated",
        |s, body| {
            s == 200
                && !member_states(body).is_empty()
                && member_states(body).iter().all(|st| st == "Terminated")
        },
    );
    assert_eq!(
        member_states(&cluster).len(),
        2,
        "no member may be started while leaving: {cluster}"
    );
    tenant_api.wait_no_subscriptions(Duration::from_secs(30));
    alto.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn lifecycle_on_sqlite() {
    full_lifecycle(None, "sqlite");
}

#[test]
fn lifecycle_on_postgres() {
    full_lifecycle(Some(fresh_postgres_database("lifecycle")), "pg");
}

/// One controller per data directory: a second `alto dev` on it exits with a clear error
/// instead of becoming a second writer of its SQLite registry and mock-cloud state; after a
/// `kill -9` of the first, the lock is gone and a new one starts.
#[test]
fn a_second_alto_on_the_same_data_directory_refuses_to_start() {
    let data = temp_dir("datalock");
    let first = Alto::start(&data, None);
    let mut second = std::process::Command::new(alto_bin())
        .arg("dev")
        .arg("--data")
        .arg(&data)
        .arg("--conf")
        .arg(repo_root().join("conf"))
        .args(["--listen", "127.0.0.1:0"])
        .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ALTO_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run a second alto dev");
    // Without the lock it would serve forever: bound the wait.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while second.try_wait().expect("poll the second alto").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second alto on the same data directory kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = second.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use by another alto process"),
        "{stderr}"
    );
    let again = first.kill9().start_again(|_| {});
    let (status, _) = again.admin().get("/api/cartridges");
    assert_eq!(status, 200);
    again.stop();
    let _ = std::fs::remove_dir_all(&data);
}
