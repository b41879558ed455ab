//! Reaction latency: from the first health sample that puts a cluster's prediction over its
//! threshold to the start of a new member (the member row is committed immediately before the
//! cloud's `start_instance` is called), with the controller's default rate limit and reconcile
//! period. Real controller, SQLite, in-process bus, mock cloud.
//!
//! `cargo bench -p cloud-controller --bench reaction` (`ALTO_BENCH_CLUSTERS`, default 100).

mod support;

use cloud_controller::controller::{Controller, ControllerOptions};
use cloud_controller::model::SubscribeRequest;
use messaging::events::{MemberHealthStatsEvent, MemberRef};
use messaging::{Bus, Event, InProcessBus};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn conf(dir: &std::path::Path) {
    support::write_conf(
        dir,
        &support::BenchConf {
            mock_properties: &[("mock.start.latency.ms", "5"), ("mock.agent.delay.ms", "5")],
            policy_id: "rif",
            requests_in_flight: 50,
            min: 1,
            max: 5,
        },
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let clusters: usize = std::env::var("ALTO_BENCH_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = std::env::temp_dir().join(format!("alto-bench-reaction-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf")).expect("dir");
        conf(&dir.join("conf"));
        let bus = Arc::new(InProcessBus::new());
        // Defaults for everything that decides latency (reconcile period, health wake rate limit).
        let mut opts = ControllerOptions::new(
            dir.join("registry.db").display().to_string(),
            dir.clone(),
            bus.clone(),
            "bench-pw".into(),
        );
        opts.conf_dir = Some(dir.join("conf"));
        let controller = Controller::start(opts).await.expect("controller");
        let admin = controller
            .authenticate("admin", "bench-pw")
            .await
            .expect("login");
        let mut ids = Vec::new();
        for i in 0..clusters {
            let sub = controller
                .subscribe(
                    &admin,
                    SubscribeRequest {
                        cartridge_type: "web".into(),
                        alias: format!("c{i}"),
                        autoscale_policy: "rif".into(),
                        deployment_policy: "dep".into(),
                    },
                )
                .await
                .expect("subscribe");
            ids.push(sub.cluster_id);
        }
        // Wait until every cluster has its one Active member.
        let mut members = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        for id in &ids {
            loop {
                let c = controller.get_cluster(&admin, id).await.expect("cluster");
                if let Some(m) = c.members.iter().find(|m| m.state == "Active") {
                    members.push((id.clone(), m.clone()));
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "cluster {id} never became Active"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut latencies = Vec::new();
        for (id, m) in &members {
            let spike = Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
                member: MemberRef {
                    service_name: "web".into(),
                    cluster_id: id.clone(),
                    cluster_instance_id: None,
                    network_partition_id: m.network_partition_id.clone(),
                    partition_id: m.partition_id.clone(),
                    member_id: m.member_id.clone(),
                },
                timestamp: 0,
                load_average: None,
                memory_consumption: None,
                requests_in_flight: Some(200.0),
            });
            let t0 = Instant::now();
            bus.publish(&spike).await.expect("publish");
            loop {
                let c = controller.get_cluster(&admin, id).await.expect("cluster");
                if c.members.len() > 1 {
                    latencies.push(t0.elapsed());
                    break;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "no reaction in {id}"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // Spread the spikes so each one meets the rate limiter in a random phase.
            tokio::time::sleep(Duration::from_millis(37)).await;
        }
        latencies.sort();
        println!(
            "reaction latency over {} clusters: p50 {:?}, p99 {:?}, max {:?}",
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or_default()
        );
        controller.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
