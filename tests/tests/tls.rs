//! TLS: `alto serve --tls-cert/--tls-key` serves the REST API, the console and /metrics over
//! TLS; the CLI verifies the server's certificate (`--ca-cert`, `ALTO_CA_CERT`); bad files stop
//! startup naming the file; `amqps://` brokers are verified against `--amqp-ca-cert`.

mod common;

use common::tls::TestPki;
use common::*;
use std::process::Command;

fn tls_args(pki: &TestPki) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        pki.cert.display().to_string(),
        "--tls-key".into(),
        pki.key.display().to_string(),
    ]
}

#[test]
fn serve_over_tls_and_the_cli_verifies_the_certificate() {
    let dir = temp_dir("tls-serve");
    let pki = TestPki::create(&dir.join("pki"));
    let db = fresh_postgres_database("tls");
    let alto = Alto::start_with(
        &dir.join("data"),
        Some(&db),
        StartOptions {
            serve: true,
            args: tls_args(&pki),
            ..StartOptions::default()
        },
    );
    assert!(alto.url.starts_with("https://127.0.0.1:"), "{}", alto.url);

    // REST, console and metrics on the one TLS listener, verified against the test CA.
    let client = pki.client();
    for (path, needle) in [
        ("/healthz", "ok"),
        ("/metrics", "alto_"),
        ("/", "<html"),
        ("/api/openapi.json", "openapi"),
    ] {
        let response = client
            .get(format!("{}{path}", alto.url))
            .send()
            .unwrap_or_else(|e| panic!("GET {path} over TLS: {e}"));
        let status = response.status().as_u16();
        let body = response.text().expect("body");
        assert!(status < 400, "GET {path}: {status} {body}");
        assert!(
            body.contains(needle),
            "GET {path}: {needle:?} not in the body"
        );
    }
    // The JSON error shape over TLS too.
    let response = client
        .get(format!("{}/api/clusters", alto.url))
        .send()
        .expect("GET /api/clusters");
    assert_eq!(response.status().as_u16(), 401);
    let body: serde_json::Value = response.json().expect("JSON error body");
    assert_eq!(body["status"], 401, "{body}");

    // Plain HTTP on the TLS port gets no API answer.
    let plain = alto.url.replacen("https://", "http://", 1);
    let answered = reqwest::blocking::get(format!("{plain}/healthz"))
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    assert!(!answered, "plain HTTP was served on the TLS listener");

    // The CLI with the CA (flag, then environment) works.
    let cli = |extra_env: &[(&str, &str)], args: &[&str]| {
        Command::new(alto_bin())
            .args(args)
            .env("ALTO_URL", &alto.url)
            .env("ALTO_USER", "admin")
            .env("ALTO_PASSWORD", ADMIN_PASSWORD)
            .env_remove("ALTO_CA_CERT")
            .envs(extra_env.iter().copied())
            .output()
            .expect("run alto CLI")
    };
    let ca = pki.ca.display().to_string();
    let out = cli(&[], &["list-cartridges", "--json", "--ca-cert", &ca]);
    assert!(
        out.status.success(),
        "CLI with --ca-cert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("php"));
    let out = cli(&[("ALTO_CA_CERT", &ca)], &["list-cartridges"]);
    assert!(
        out.status.success(),
        "CLI with ALTO_CA_CERT: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without the CA, or with another CA: a certificate error on one line, exit 1.
    let other = pki.other_ca.display().to_string();
    for args in [
        vec!["list-cartridges"],
        vec!["list-cartridges", "--ca-cert", other.as_str()],
    ] {
        let out = cli(&[], &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with("error: cannot reach") && stderr.contains("certificate"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("--ca-cert"),
            "the hint names the flag: {stderr}"
        );
    }
    // A CA file that is not one: named, before any connection.
    let out = cli(
        &[],
        &[
            "list-cartridges",
            "--ca-cert",
            &pki.key.display().to_string(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--ca-cert")
            && stderr.contains("server-key.pem")
            && stderr.contains("no certificate"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("PRIVATE KEY"),
        "the key never printed: {stderr}"
    );
    alto.stop();
}

/// `alto serve` with a TLS flag problem: exit status, one message naming the file.
fn serve_fails(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(alto_bin())
        .arg("serve")
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/never"])
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("ALTO_TLS_CERT")
        .env_remove("ALTO_TLS_KEY")
        .output()
        .expect("run alto serve");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn bad_tls_files_stop_serve_with_the_file_and_the_problem() {
    let dir = temp_dir("tls-bad");
    let pki = TestPki::create(&dir.join("pki"));
    let (cert, key) = (
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
    );
    let missing = dir.join("missing.pem").display().to_string();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").expect("write");
    let garbage = garbage.display().to_string();

    for (args, needles) in [
        (
            vec!["--tls-cert", missing.as_str(), "--tls-key", key.as_str()],
            vec!["--tls-cert", "missing.pem", "cannot read"],
        ),
        (
            vec!["--tls-cert", cert.as_str(), "--tls-key", missing.as_str()],
            vec!["--tls-key", "missing.pem", "cannot read"],
        ),
        (
            vec!["--tls-cert", garbage.as_str(), "--tls-key", key.as_str()],
            vec!["--tls-cert", "garbage.pem", "no certificate"],
        ),
        (
            vec!["--tls-cert", key.as_str(), "--tls-key", key.as_str()],
            vec!["--tls-cert", "server-key.pem", "no certificate"],
        ),
        (
            vec!["--tls-cert", cert.as_str(), "--tls-key", cert.as_str()],
            vec!["--tls-key", "server.pem", "no PEM private key"],
        ),
    ] {
        let (code, stderr) = serve_fails(&dir, &args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle:?} not in {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
    // A key that does not belong to the certificate.
    let other = TestPki::create(&dir.join("other"));
    let other_key = other.key.display().to_string();
    let (code, stderr) = serve_fails(&dir, &["--tls-cert", &cert, "--tls-key", &other_key]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--tls-key"),
        "{stderr}"
    );
    // One without the other is a usage error.
    let (code, stderr) = serve_fails(&dir, &["--tls-cert", &cert]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// A RabbitMQ node of this test's own with a TLS listener whose certificate `pki` signed.
fn tls_broker(pki: &TestPki) -> (common::services::OwnBroker, u16) {
    let tls_port = common::services::free_port();
    let conf = format!(
        "listeners.ssl.default = 127.0.0.1:{tls_port}\n\
         ssl_options.cacertfile = {}\n\
         ssl_options.certfile = {}\n\
         ssl_options.keyfile = {}\n\
         ssl_options.verify = verify_none\n\
         ssl_options.fail_if_no_peer_cert = false\n",
        pki.ca.display(),
        pki.cert.display(),
        pki.key.display()
    );
    (
        common::services::OwnBroker::start_with_conf("amqps", &conf),
        tls_port,
    )
}

#[test]
fn the_controller_converges_over_amqps_and_refuses_a_broker_it_cannot_verify() {
    let dir = temp_dir("tls-amqps");
    let pki = TestPki::create(&dir.join("pki"));
    // rabbitmq-server runs as the rabbitmq user: it must read the PEM files.
    for path in [&dir, &dir.join("pki"), &pki.ca, &pki.cert, &pki.key] {
        let status = Command::new("chmod").arg("a+rX").arg(path).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "chmod {}",
            path.display()
        );
    }
    let (_broker, tls_port) = tls_broker(&pki);
    let url = format!("amqps://guest:guest@127.0.0.1:{tls_port}/%2f");
    let prefix = queue_prefix("amqps");
    let amqp_args = |ca: &std::path::Path| {
        vec![
            "--amqp-url".to_string(),
            url.clone(),
            "--amqp-ca-cert".to_string(),
            ca.display().to_string(),
            "--amqp-exchange".to_string(),
            format!("{prefix}events"),
            "--amqp-queue-prefix".to_string(),
            prefix.clone(),
        ]
    };

    // A CA that did not sign the broker's certificate: startup stops with one message.
    let out = Command::new(alto_bin())
        .arg("dev")
        .arg("--data")
        .arg(dir.join("refused"))
        .arg("--conf")
        .arg(repo_root().join("conf"))
        .args(["--listen", "127.0.0.1:0"])
        .args(amqp_args(&pki.other_ca))
        .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("run alto dev");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("amqps://guest:***@127.0.0.1"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("guest:guest"),
        "password redacted: {stderr}"
    );

    // The right CA: the mock cloud's agents report over amqps and the cluster converges.
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            args: amqp_args(&pki.ca),
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    let (status, body) = api.post_json(
        "/api/subscriptions",
        &serde_json::json!({"cartridgeType": "php", "alias": "tls", "autoscalePolicy": "economy", "deploymentPolicy": "economy-deployment"}),
    );
    assert_eq!(status, 201, "{body}");
    let cluster = body["clusterId"].as_str().expect("clusterId").to_string();
    api.wait_for(
        &format!("/api/clusters/{cluster}"),
        std::time::Duration::from_secs(60),
        "an Active member (its agent's events came over amqps)",
        |s, b| s == 200 && member_states(b).iter().any(|st| st == "Active"),
    );
    alto.stop();
}
