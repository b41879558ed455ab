//! How `alto dev` starts against a broker: one that refuses it (wrong credentials, an unknown
//! virtual host) ends the process with one clear message and a non-zero status; one that is
//! merely away is retried while the API serves.

mod common;

use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run `alto dev` against `amqp_url` until it exits or `within` passes; returns the exit code
/// (`None`: still running, then killed) and stderr.
fn run_against(amqp_url: &str, within: Duration) -> (Option<i32>, String) {
    let dir = temp_dir("startup");
    let mut child = Command::new(alto_bin())
        .args(["dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .arg("--conf")
        .arg(repo_root().join("conf"))
        .args(["--amqp-url", amqp_url])
        .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ALTO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn alto dev");
    let deadline = Instant::now() + within;
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (code, stderr)
}

fn broker_host_port() -> String {
    let url = amqp_url();
    let rest = url.split('@').nth(1).unwrap_or("127.0.0.1:5672/%2f");
    rest.split('/')
        .next()
        .unwrap_or("127.0.0.1:5672")
        .to_string()
}

#[test]
fn refused_credentials_end_the_process_with_one_clear_message() {
    let url = format!("amqp://guest:not-the-password@{}/%2f", broker_host_port());
    let (code, stderr) = run_against(&url, Duration::from_secs(30));
    assert_eq!(code, Some(1), "alto kept running (stderr: {stderr})");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        !stderr.contains("not-the-password"),
        "the password leaked: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one message, not a retry log: {stderr}");
}

#[test]
fn an_unknown_virtual_host_ends_the_process_with_one_clear_message() {
    // No path names the empty virtual host, which RabbitMQ does not have.
    let url = format!("amqp://guest:guest@{}/", broker_host_port());
    let (code, stderr) = run_against(&url, Duration::from_secs(30));
    assert_eq!(code, Some(1), "alto kept running (stderr: {stderr})");
    assert!(
        stderr.contains("vhost") || stderr.contains("virtual host"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one message, not a retry log: {stderr}");
}

#[test]
fn a_broker_that_is_away_is_retried_while_the_api_serves() {
    // Nothing listens on port 1: the broker is away, not refusing.
    let (code, stderr) = run_against(
        "amqp://guest:guest@127.0.0.1:1/%2f",
        Duration::from_secs(10),
    );
    assert_eq!(
        code, None,
        "alto gave up on a broker that is only away: {stderr}"
    );
    assert!(stderr.contains("retrying"), "{stderr}");
}
