//! Secrets at rest and in logs: the data directory is its owner's only, and so is every file
//! holding payloads or hashes; the request log never shows a payload-by-URL token.

mod common;

use common::*;
use serde_json::json;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_data_directory_and_its_files_are_the_owners_only() {
    let dir = temp_dir("secrets-modes");
    let data = dir.join("data");
    let alto = Alto::start(&data, None);
    let api = alto.admin();
    let (status, body) = api.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "php", "alias": "web", "autoscalePolicy": "economy", "deploymentPolicy": "economy-deployment"}),
    );
    assert_eq!(status, 201, "{body}");
    api.wait_converged("web.php.domain", 1, Duration::from_secs(30));
    assert_eq!(mode(&data), 0o700, "data directory");
    for name in ["registry.db", "alto.lock", "mock-mock.json"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    for entry in std::fs::read_dir(&data).expect("read data dir").flatten() {
        let path = entry.path();
        if path.is_file() {
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{} is readable by others",
                path.display()
            );
        }
    }
}

#[test]
fn the_request_log_hides_payload_tokens() {
    let dir = temp_dir("secrets-log");
    let mut child = Command::new(alto_bin())
        .args(["dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .arg("--conf")
        .arg(repo_root().join("conf"))
        .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ALTO_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn alto dev");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 256];
    let mut seen = String::new();
    let url = loop {
        let n = stdout.read(&mut first).expect("read stdout");
        assert!(n > 0, "alto exited before listening: {seen}");
        seen.push_str(&String::from_utf8_lossy(&first[..n]));
        if let Some(line) = seen.lines().find(|l| l.contains("listening on ")) {
            if seen.contains('\n') {
                break line
                    .split("listening on ")
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string();
            }
        }
    };
    let token = "tok3nThatFetchesAPayload0123456789";
    let status = reqwest::blocking::get(format!("{url}/api/payload/{token}"))
        .expect("GET payload")
        .status();
    assert_eq!(status.as_u16(), 404);
    // The request is logged once answered; then stop the process and read everything it wrote.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("read stderr");
    assert!(
        log.contains("/api/payload/***"),
        "the request was not logged: {log}"
    );
    assert!(!log.contains(token), "the token reached the log: {log}");
}
