//! Autoscaling scenarios on the mock cloud, through the real controller (SQLite, in-process
//! bus): a spike scales up, load gone scales down after stabilization, quota errors on one
//! partition move starts to the next, a silent member is replaced, dry-run actuates nothing.
//! Health stats are published on the bus as agents would.

use cloud_controller::controller::{Controller, ControllerOptions};
use cloud_controller::model::{ClusterInfo, SubscribeRequest};
use messaging::events::{MemberHealthStatsEvent, MemberRef};
use messaging::{Bus, Event, InProcessBus};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "scaling-test-pw";

struct Scenario {
    controller: Arc<Controller>,
    bus: Arc<InProcessBus>,
    dir: PathBuf,
    principal: cloud_controller::auth::Principal,
    cluster_id: String,
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write conf");
}

/// A conf with one mock cloud (`provider_props` at provider level), a cartridge, an autoscale
/// policy on requests in flight (threshold 50) and `partitions` (XML of `<partition>`s).
async fn start(
    tag: &str,
    provider_props: &str,
    partitions: &str,
    tune: impl FnOnce(&mut ControllerOptions),
) -> Scenario {
    start_with_policy(tag, provider_props, partitions, "", tune).await
}

/// As [`start`], with `policy_extra` inside the autoscale policy document.
async fn start_with_policy(
    tag: &str,
    provider_props: &str,
    partitions: &str,
    policy_extra: &str,
    tune: impl FnOnce(&mut ControllerOptions),
) -> Scenario {
    let dir = std::env::temp_dir().join(format!("alto-scaling-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    write(
        &conf,
        "cloud-controller.xml",
        &format!(
            r#"<cloudController><iaasProviders>
  <iaasProvider type="mock" name="mock">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.start.latency.ms" value="20"/>
    <property name="mock.agent.delay.ms" value="20"/>
    {provider_props}
  </iaasProvider>
</iaasProviders></cloudController>"#
        ),
    );
    write(
        &conf,
        "cartridge.xml",
        r#"<cartridge type="web" host="web.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>scaling scenarios</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
    );
    write(
        &conf,
        "autoscale.xml",
        &format!(
            r#"<autoscalePolicy id="rif"><loadThresholds>
  <requestsInFlight><threshold value="50"/></requestsInFlight>
</loadThresholds>{policy_extra}</autoscalePolicy>"#
        ),
    );
    write(
        &conf,
        "deployment.xml",
        &format!(
            r#"<deploymentPolicy id="dep"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  {partitions}
</partitionGroup></deploymentPolicy>"#
        ),
    );
    let bus = Arc::new(InProcessBus::new());
    let mut opts = ControllerOptions::new(
        dir.join("registry.db").display().to_string(),
        dir.clone(),
        bus.clone(),
        PASSWORD.to_string(),
    );
    opts.conf_dir = Some(conf);
    opts.scaling_interval = Duration::from_millis(200);
    opts.scaling.scale_up_cooldown_seconds = 1.0;
    opts.scaling.scale_down_cooldown_seconds = 1.0;
    opts.scaling.scale_down_stabilization_seconds = 3.0;
    opts.scaling.window_seconds = 5.0;
    opts.scaling.stale_after_seconds = 5.0;
    tune(&mut opts);
    let controller = Controller::start(opts).await.expect("controller starts");
    let principal = controller
        .authenticate("admin", PASSWORD)
        .await
        .expect("admin login");
    let sub = controller
        .subscribe(
            &principal,
            SubscribeRequest {
                cartridge_type: "web".into(),
                alias: "shop".into(),
                autoscale_policy: "rif".into(),
                deployment_policy: "dep".into(),
            },
        )
        .await
        .expect("subscribe");
    Scenario {
        controller,
        bus,
        dir,
        principal,
        cluster_id: sub.cluster_id,
    }
}

impl Scenario {
    async fn cluster(&self) -> ClusterInfo {
        self.controller
            .get_cluster(&self.principal, &self.cluster_id)
            .await
            .expect("cluster")
    }

    async fn wait(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&ClusterInfo) -> bool,
    ) -> ClusterInfo {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.cluster().await;
            if done(&c) {
                return c;
            }
            if Instant::now() > deadline {
                let decisions = self.decisions().await;
                let reasons: Vec<&str> = decisions
                    .iter()
                    .map(|d| d["reason"].as_str().unwrap_or(""))
                    .collect();
                panic!(
                    "timed out waiting for {what}: {:?}\nreasons: {reasons:#?}",
                    states(&c)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The decision records as the REST API serves them (the registry keeps their JSON).
    async fn decisions(&self) -> Vec<serde_json::Value> {
        self.controller
            .cluster_decisions(&self.principal, &self.cluster_id)
            .await
            .expect("decisions")
    }

    /// Some decision's reason satisfies `matches` (the reasons are shown when none does).
    async fn assert_some_reason(&self, matches: impl Fn(&str) -> bool) {
        let decisions = self.decisions().await;
        let reasons: Vec<&str> = decisions
            .iter()
            .map(|d| d["reason"].as_str().unwrap_or(""))
            .collect();
        assert!(reasons.iter().any(|r| matches(r)), "{reasons:#?}");
    }

    /// The first decision record, waiting up to 10 s for one.
    async fn first_decision(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(first) = self.decisions().await.into_iter().next() {
                return first;
            }
            assert!(Instant::now() < deadline, "no decision record");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every Active member reports `rif` requests in flight.
    async fn report(&self, rif: f64) {
        for m in self.cluster().await.members {
            if m.state != "Active" {
                continue;
            }
            let event = Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
                member: MemberRef {
                    service_name: "web".into(),
                    cluster_id: self.cluster_id.clone(),
                    cluster_instance_id: None,
                    network_partition_id: m.network_partition_id.clone(),
                    partition_id: m.partition_id.clone(),
                    member_id: m.member_id.clone(),
                },
                timestamp: 0,
                load_average: None,
                memory_consumption: None,
                requests_in_flight: Some(rif),
            });
            self.bus.publish(&event).await.expect("publish");
        }
    }

    async fn stop(self) {
        self.controller.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn states(c: &ClusterInfo) -> Vec<(String, String, Option<String>)> {
    c.members
        .iter()
        .map(|m| {
            (
                m.partition_id.clone(),
                m.state.clone(),
                m.termination_reason.clone(),
            )
        })
        .collect()
}

fn active(c: &ClusterInfo) -> usize {
    c.members.iter().filter(|m| m.state == "Active").count()
}

fn live(c: &ClusterInfo) -> usize {
    c.members.iter().filter(|m| m.state != "Terminated").count()
}

#[tokio::test]
async fn spike_scales_up_then_load_gone_scales_down_after_stabilization() {
    let s = start(
        "spike",
        r#"<property name="mock.stats.interval.secs" value="0.5"/>"#,
        r#"<partition id="p1"><provider>mock</provider><min>1</min><max>4</max></partition>"#,
        |_| {},
    )
    .await;
    s.wait("the minimum Active", Duration::from_secs(20), |c| {
        active(c) == 1
    })
    .await;

    // 180 requests in flight on one member with a threshold of 50: 4 members needed.
    let spike_at = Instant::now();
    let mut c = s.cluster().await;
    while active(&c) < 4 {
        s.report(180.0 / active(&c).max(1) as f64).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        c = s.cluster().await;
        assert!(
            spike_at.elapsed() < Duration::from_secs(30),
            "no scale-up to 4: {:?}",
            states(&c)
        );
        assert!(live(&c) <= 4, "above max: {:?}", states(&c));
    }
    s.assert_some_reason(|r| r.contains("scale-up")).await;

    // Load gone: back to the minimum, gracefully, only after the stabilization window.
    let quiet_at = Instant::now();
    let mut c = s.cluster().await;
    while live(&c) > 1 {
        s.report(0.0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        c = s.cluster().await;
        assert!(
            quiet_at.elapsed() < Duration::from_secs(40),
            "no scale-down: {:?}",
            states(&c)
        );
    }
    assert!(
        quiet_at.elapsed() >= Duration::from_secs(3),
        "scaled down inside the stabilization window"
    );
    let scaled_down = c
        .members
        .iter()
        .filter(|m| m.termination_reason.as_deref() == Some("scaled down"))
        .count();
    assert_eq!(scaled_down, 3, "{:?}", states(&c));
    s.stop().await;
}

#[tokio::test]
async fn quota_errors_on_the_first_partition_move_starts_to_the_next() {
    let s = start(
        "quota",
        "",
        r#"<partition id="p1"><provider>mock</provider><property name="mock.fail.start" value="quota"/><min>1</min><max>2</max></partition>
  <partition id="p2"><provider>mock</provider><min>0</min><max>2</max></partition>"#,
        |_| {},
    )
    .await;
    let c = s
        .wait("an Active member in p2", Duration::from_secs(20), |c| {
            c.members
                .iter()
                .any(|m| m.partition_id == "p2" && m.state == "Active")
        })
        .await;
    let failed_p1 = c
        .members
        .iter()
        .filter(|m| m.partition_id == "p1" && m.state == "Terminated")
        .count();
    assert!(failed_p1 >= 1, "{:?}", states(&c));
    // No runaway: p1 is backed off, not retried every pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = s.cluster().await;
    let failed_later = later
        .members
        .iter()
        .filter(|m| m.partition_id == "p1" && m.state == "Terminated")
        .count();
    assert!(
        failed_later <= failed_p1 + 1,
        "p1 retried in a loop: {:?}",
        states(&later)
    );
    s.assert_some_reason(|r| r.contains("p1") && r.contains("quota"))
        .await;
    s.stop().await;
}

#[tokio::test]
async fn a_silent_member_is_replaced() {
    // No heartbeats during the test (stats every 1000 s) and a 2 s fault timeout.
    let s = start(
        "silent",
        r#"<property name="mock.stats.interval.secs" value="1000"/>"#,
        r#"<partition id="p1"><provider>mock</provider><min>1</min><max>2</max></partition>"#,
        |o| o.fault_timeout = Duration::from_secs(2),
    )
    .await;
    let c = s
        .wait("a faulty member replaced", Duration::from_secs(30), |c| {
            c.members.iter().any(|m| {
                m.state == "Terminated"
                    && m.termination_reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("faulty"))
            }) && active(c) == 1
        })
        .await;
    assert!(c.members.len() >= 2, "{:?}", states(&c));
    s.stop().await;
}

#[tokio::test]
async fn dry_run_records_decisions_and_starts_nothing() {
    let s = start(
        "dryrun",
        "",
        r#"<partition id="p1"><provider>mock</provider><min>2</min><max>3</max></partition>"#,
        |o| o.scaling.dry_run = true,
    )
    .await;
    let first = s.first_decision().await;
    assert_eq!(first["dryRun"], true);
    assert_eq!(actions(&first), 2, "{first:#}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        s.cluster().await.members.is_empty(),
        "dry-run started a member"
    );
    s.stop().await;
}

#[tokio::test]
async fn quota_vm_caps_the_provider_before_the_cloud_is_asked() {
    let s = start(
        "quotavm",
        r#"<property name="quota.vm" value="2"/>"#,
        r#"<partition id="p1"><provider>mock</provider><min>3</min><max>4</max></partition>"#,
        |_| {},
    )
    .await;
    s.wait("two Active members", Duration::from_secs(20), |c| {
        active(c) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = s.cluster().await;
    // Refused before any member row or cloud call: nothing failed, nothing beyond the quota.
    assert_eq!(c.members.len(), 2, "{:?}", states(&c));
    s.assert_some_reason(|r| r.contains("quota")).await;
    s.stop().await;
}

#[tokio::test]
async fn a_tenant_override_of_quota_vm_wins() {
    // The admin's tenant is -1234 (Stratos' super tenant).
    let s = start(
        "quotatenant",
        r#"<property name="quota.vm" value="10"/><property name="quota.vm.tenant.-1234" value="1"/>"#,
        r#"<partition id="p1"><provider>mock</provider><min>3</min><max>4</max></partition>"#,
        |_| {},
    )
    .await;
    s.wait("one Active member", Duration::from_secs(20), |c| {
        active(c) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.cluster().await.members.len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_dry_run_policy_records_and_starts_nothing() {
    let s = start_with_policy(
        "dryrunpolicy",
        "",
        r#"<partition id="p1"><provider>mock</provider><min>1</min><max>3</max></partition>"#,
        "<dryRun>true</dryRun>",
        |_| {},
    )
    .await;
    let first = s.first_decision().await;
    assert_eq!(first["dryRun"], true, "{first:#}");
    assert_eq!(actions(&first), 1, "{first:#}");
    let reason = first["reason"].as_str().unwrap_or("");
    assert!(reason.contains("dry-run"), "{reason}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        s.cluster().await.members.is_empty(),
        "dry-run started a member"
    );
    s.stop().await;
}

/// When the mock cloud answered each start (members stay Initialized: no simulated agent).
async fn initialized_spread(workers: u32) -> i64 {
    let s = start(
        &format!("workers{workers}"),
        &format!(
            r#"<property name="mock.agent" value="false"/>
    <property name="mock.start.latency.ms" value="600"/>
    <property name="max.iaas.workers" value="{workers}"/>"#
        ),
        r#"<partition id="p1"><provider>mock</provider><min>3</min><max>3</max></partition>"#,
        |_| {},
    )
    .await;
    let c = s
        .wait("3 Initialized members", Duration::from_secs(20), |c| {
            c.members
                .iter()
                .filter(|m| m.state == "Initialized")
                .count()
                == 3
        })
        .await;
    let times: Vec<i64> = c.members.iter().map(|m| m.updated_at).collect();
    s.stop().await;
    times.iter().max().unwrap_or(&0) - times.iter().min().unwrap_or(&0)
}

#[tokio::test]
async fn max_iaas_workers_caps_concurrent_cloud_calls() {
    // One worker: the three 600 ms starts run one after another.
    let serial = initialized_spread(1).await;
    assert!(
        serial >= 1000,
        "starts overlapped with one worker: spread {serial} ms"
    );
    // Three workers: they run side by side.
    let parallel = initialized_spread(3).await;
    assert!(
        parallel < 400,
        "starts did not overlap with three workers: spread {parallel} ms"
    );
}

/// How many actions a decision record planned (in a dry run none is carried out: the test
/// checks the cluster stays empty).
fn actions(record: &serde_json::Value) -> usize {
    record["actions"].as_array().map(Vec::len).unwrap_or(0)
}
