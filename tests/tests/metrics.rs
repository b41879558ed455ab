//! Prometheus metrics of the real `alto` binary on the mock cloud: `GET /metrics` without
//! auth passes `promtool check metrics` (Debian's `prometheus` package; scripts/test.sh
//! installs it), its values move when members start and stop, it carries no secret and no
//! raw path, OpenMetrics is served only when asked for, and `--metrics-listen` moves it.

mod common;

use common::*;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// One mock cloud and a policy of exactly two members.
fn conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: &str| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        &mock_cloud_xml(&[
            ("mock.start.latency.ms", "50"),
            ("mock.agent.delay.ms", "20"),
            ("mock.stats.interval.secs", "2"),
        ]),
    );
    write("cartridge.xml", &web_cartridge(&["mock"]));
    write("autoscale.xml", STEADY_POLICY);
    write(
        "deployment.xml",
        r#"<deploymentPolicy id="two"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p"><provider>mock</provider><min>2</min><max>2</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

/// `GET url` without credentials: (status, content type, body).
fn scrape(url: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::blocking::Client::new().get(url);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().expect("GET /metrics");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, response.text().expect("body"))
}

/// `promtool check metrics` on the exposition: it must exit 0 with no complaint.
fn promtool_check(body: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's `prometheus` package (scripts/test.sh does)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- exposition:\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `series` (name and labels exactly as exposed), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

fn value(body: &str, series: &str) -> f64 {
    sample(body, series).unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

/// Poll the exposition until `done` holds (or panic with the last one).
fn wait_metrics(url: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = scrape(url, None);
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; last exposition:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_move_with_members_and_pass_promtool() {
    let dir = temp_dir("metrics");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir)),
            ..Default::default()
        },
    );
    let metrics_url = format!("{}/metrics", alto.url);

    // No auth, the classic text format by default, valid for promtool.
    let (status, content_type, body) = scrape(&metrics_url, None);
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    promtool_check(&body);
    assert!(!body.contains("# EOF"), "{body}");

    // A refused login is counted.
    let (status, _) = alto.api("admin", "wrong-password").get("/api/clusters");
    assert_eq!(status, 401);
    let body = scrape(&metrics_url, None).2;
    assert!(value(&body, "alto_login_failures_total") >= 1.0, "{body}");

    let api = alto.admin();
    let (status, created) = api.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "web", "alias": "metered", "autoscalePolicy": "steady", "deploymentPolicy": "two"}),
    );
    assert_eq!(status, 201, "{created}");
    let cluster_id = created["clusterId"]
        .as_str()
        .expect("clusterId")
        .to_string();
    api.wait_for(
        &format!("/api/clusters/{cluster_id}"),
        Duration::from_secs(60),
        "2 Active members",
        |s, b| s == 200 && member_states(b).iter().filter(|st| *st == "Active").count() == 2,
    );
    let active = format!("alto_members{{cluster=\"{cluster_id}\",state=\"Active\"}}");
    let body = wait_metrics(&metrics_url, "2 Active members, an Active cluster", |b| {
        sample(b, &active) == Some(2.0)
            && sample(b, "alto_clusters{status=\"Active\"}") == Some(1.0)
    });
    promtool_check(&body);
    let starts = "alto_cloud_calls_total{provider_type=\"mock\",operation=\"start_instance\",outcome=\"ok\"}";
    assert!(value(&body, starts) >= 2.0, "{body}");
    assert!(
        value(
            &body,
            "alto_cloud_call_duration_seconds_count{provider_type=\"mock\",operation=\"start_instance\"}"
        ) >= 2.0
    );
    assert!(value(&body, "alto_scaling_decisions_total{outcome=\"scale-up\"}") >= 1.0);
    assert_eq!(
        value(
            &body,
            "alto_http_requests_total{method=\"POST\",route=\"/api/subscriptions\",status=\"201\"}"
        ),
        1.0
    );
    assert!(
        value(
            &body,
            "alto_http_requests_total{method=\"GET\",route=\"/api/clusters/{clusterId}\",status=\"200\"}"
        ) >= 1.0
    );
    assert!(
        value(
            &body,
            "alto_bus_messages_consumed_total{kind=\"InstanceActivatedEvent\"}"
        ) >= 2.0
    );
    // Route patterns only: no raw path (the cluster id, a payload token), no secret.
    assert!(
        !body.contains(&format!("/api/clusters/{cluster_id}")),
        "a raw path became a label:\n{body}"
    );
    assert!(
        body.lines()
            .filter(|l| l.contains("/api/payload/"))
            .all(|l| l.contains("/api/payload/{token}")),
        "{body}"
    );
    assert!(!body.contains(ADMIN_PASSWORD), "{body}");

    // OpenMetrics only when asked for.
    let (status, content_type, open) = scrape(
        &metrics_url,
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(open.ends_with("# EOF\n"), "{open}");

    let (status, body) = api.delete("/api/subscriptions/metered");
    assert_eq!(status, 202, "{body}");
    api.wait_no_subscriptions(Duration::from_secs(60));
    let terminations = "alto_cloud_calls_total{provider_type=\"mock\",operation=\"terminate_instance\",outcome=\"ok\"}";
    let body = wait_metrics(&metrics_url, "2 terminations and no Active member", |b| {
        sample(b, terminations).is_some_and(|n| n >= 2.0)
            && sample(b, &active).unwrap_or(0.0) == 0.0
    });
    promtool_check(&body);

    // --metrics-listen: /metrics moves to its own address; the API's answers 404.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("addr").port()
    };
    let alto = alto.start_again(|o| {
        o.args = vec!["--metrics-listen".into(), format!("127.0.0.1:{port}")];
    });
    let (status, _, _) = scrape(&format!("{}/metrics", alto.url), None);
    assert_eq!(status, 404, "the API no longer serves /metrics");
    let (status, _, body) = scrape(&format!("http://127.0.0.1:{port}/metrics"), None);
    assert_eq!(status, 200, "{body}");
    promtool_check(&body);
    assert!(
        sample(&body, "alto_login_failures_total").is_some(),
        "{body}"
    );
    alto.stop();
}
