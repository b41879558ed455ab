//! Metrics nobody reports: a fleet whose agents send load and memory only, under a policy that
//! also names requests in flight (as every Stratos sample policy does), scales up on load and
//! back down once the load is gone; a load balancer's cluster-level requests-in-flight stat
//! (`health.stats.ClusterRequestsInFlightEvent`) drives a scale-up on its own.

mod common;

use common::*;
use messaging::events::ClusterRequestsInFlightEvent;
use messaging::{AmqpBus, AmqpConfig, Bus, Event};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the simulated agents report a high load after the controller starts.
const HIGH_LOAD_SECS: u64 = 12;
const WINDOW_SECS: u64 = 5;
const STABILIZATION_SECS: u64 = 10;

/// A conf whose mock agents report every 0.5 s: load `high` for HIGH_LOAD_SECS then 5, memory
/// 10; never requests in flight. The policy names all three metrics, with short tunables.
fn conf(dir: &Path, high: u32) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: &str| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        &mock_cloud_xml(&[("mock.stats.interval.secs", "0.5")]),
    );
    write("cartridge.xml", &web_cartridge(&["mock"]));
    write(
        "mock-iaas.xml",
        &format!(
            r#"<mock-iaas enabled="true"><health-statistics><cartridge type="web">
  <pattern factor="load-average" mode="continue">
    <sampleValues>{high},5</sampleValues><sampleDuration>{HIGH_LOAD_SECS}</sampleDuration>
  </pattern>
  <pattern factor="memory-consumption" mode="continue">
    <sampleValues>10</sampleValues><sampleDuration>60</sampleDuration>
  </pattern>
</cartridge></health-statistics></mock-iaas>"#
        ),
    );
    write(
        "autoscale.xml",
        &format!(
            r#"<autoscalePolicy id="stratos-like"><loadThresholds>
  <requestsInFlight><threshold value="20"/></requestsInFlight>
  <memoryConsumption><threshold value="80"/></memoryConsumption>
  <loadAverage><threshold value="70"/></loadAverage>
</loadThresholds><scaling>
  <windowSeconds>{WINDOW_SECS}</windowSeconds>
  <scaleUpCooldownSeconds>1</scaleUpCooldownSeconds>
  <scaleDownCooldownSeconds>1</scaleDownCooldownSeconds>
  <scaleDownStabilizationSeconds>{STABILIZATION_SECS}</scaleDownStabilizationSeconds>
</scaling></autoscalePolicy>"#
        ),
    );
    write(
        "deployment.xml",
        r#"<deploymentPolicy id="dp"><partitionGroup id="np">
  <partition id="p1"><provider>mock</provider><min>1</min><max>4</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

fn subscribe(api: &Api, alias: &str) -> String {
    api.subscribe("web", alias, "stratos-like", "dp")
}

fn active_count(cluster: &Value) -> usize {
    member_states(cluster)
        .iter()
        .filter(|s| *s == "Active")
        .count()
}

/// The requests-in-flight row of a decision record's first network partition.
fn rif_freshness(decision: &Value) -> Option<String> {
    decision["networkPartitions"][0]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["metric"] == "requestsInFlight")
        .and_then(|m| m["freshness"].as_str())
        .map(str::to_string)
}

#[test]
fn a_fleet_without_requests_in_flight_scales_up_and_back_down() {
    let dir = temp_dir("unreported");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir, 95)),
            ..StartOptions::default()
        },
    );
    // The mock cloud (and its load pattern's clock) starts before `alto` listens.
    let listening = Instant::now();
    let api = alto.admin();
    let cluster_id = subscribe(&api, "fleet");
    let path = format!("/api/clusters/{cluster_id}");

    // Load 95 against a threshold of 70: ceil(95 / 70) = 2 members.
    api.wait_for(
        &path,
        Duration::from_secs(HIGH_LOAD_SECS),
        "scale-up to 2 Active",
        |s, b| s == 200 && active_count(b) >= 2,
    );

    // The load drops HIGH_LOAD_SECS after the mock cloud started (so by `listening` +
    // HIGH_LOAD_SECS): one window later it has left the window, one stabilization window later
    // the highest recommendation is 1. Allow 5 s for evaluation and the graceful termination.
    let load_gone = listening + Duration::from_secs(HIGH_LOAD_SECS);
    let deadline = load_gone + Duration::from_secs(STABILIZATION_SECS + WINDOW_SECS + 5);
    let within = deadline.saturating_duration_since(Instant::now());
    api.wait_converged(&cluster_id, 1, within);
    println!(
        "scaled back to 1 member {:.1}s after the load was gone",
        load_gone.elapsed().as_secs_f64()
    );

    let (status, decisions) = api.get(&format!("{path}/decisions"));
    assert_eq!(status, 200, "{decisions}");
    let decisions = decisions.as_array().cloned().unwrap_or_default();
    let scale_down = decisions
        .iter()
        .find(|d| {
            d["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["action"] == "terminateMember"))
        })
        .unwrap_or_else(|| panic!("no scale-down among the decisions: {decisions:#?}"));
    assert_eq!(rif_freshness(scale_down).as_deref(), Some("unreported"));
    let reason = scale_down["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("scale-down: terminating")
            && reason.ends_with("requests_in_flight unreported: ignored"),
        "{reason}"
    );
    assert!(
        decisions.iter().all(|d| !d["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("requests_in_flight stale")),
        "a metric nobody reports must never read as stale: {decisions:#?}"
    );

    // `alto explain` shows it too.
    let out = alto.cli("admin", ADMIN_PASSWORD, &["explain", "fleet"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("requests_in_flight unreported: ignored"),
        "{stdout}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn a_load_balancers_requests_in_flight_drive_a_scale_up() {
    let dir = temp_dir("cluster-rif");
    let prefix = queue_prefix("cluster-rif");
    let exchange = format!("{prefix}events");
    // Load 5 throughout: only requests in flight can ask for more members.
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir, 5)),
            args: vec![
                "--amqp-url".into(),
                amqp_url(),
                "--amqp-exchange".into(),
                exchange.clone(),
                "--amqp-queue-prefix".into(),
                prefix.clone(),
            ],
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    let cluster_id = subscribe(&api, "balanced");
    let path = format!("/api/clusters/{cluster_id}");
    api.wait_converged(&cluster_id, 1, Duration::from_secs(30));

    let rt = runtime();
    let bus = rt
        .block_on(AmqpBus::connect(
            AmqpConfig {
                exchange: exchange.clone(),
                queue_prefix: format!("{prefix}lb."),
                connection_name: "e2e load balancer".into(),
                ..AmqpConfig::new(&amqp_url())
            },
            Duration::from_secs(10),
        ))
        .expect("RabbitMQ must be running (scripts/services.sh)");
    // 70 requests in flight against a threshold of 20: ceil(70 / 20) = 4 members.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cluster = loop {
        let event = Event::ClusterRequestsInFlightEvent(ClusterRequestsInFlightEvent {
            cluster_id: cluster_id.clone(),
            cluster_instance_id: None,
            network_partition_id: None,
            requests_in_flight: 70.0,
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        });
        rt.block_on(bus.publish(&event)).expect("publish");
        let (status, cluster) = api.get(&path);
        if status == 200 && active_count(&cluster) == 4 {
            break cluster;
        }
        assert!(
            Instant::now() < deadline,
            "no scale-up to 4 on the cluster-level stat: {cluster:#}"
        );
        // Publishing period of the simulated load balancer (not a synchronisation: the loop
        // above polls the outcome against its deadline).
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(active_count(&cluster), 4);
    let (_, decisions) = api.get(&format!("{path}/decisions"));
    let scaled = decisions
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["networkPartitions"][0]["scaledUp"] == true)
        .unwrap_or_else(|| panic!("no scale-up decision: {decisions:#}"));
    assert_eq!(
        rif_freshness(scaled).as_deref(),
        Some("fresh"),
        "{scaled:#}"
    );
}
