//! Reads at scale: latency of `GET /api/clusters/{id}` (authenticated; its first page, and a
//! cursor page from the middle) on a cluster of 10,000 members, with 20 concurrent keep-alive
//! clients, against `GET /healthz` with the same clients in the same run.
//!
//! The members are planted in the registry (Active) before the controller starts. The
//! controller runs in dry-run with reconciliation reporting only, a fault timeout longer than
//! the run and a maximum of 10,000 members, so nothing terminates or replaces them; the run
//! checks at the end that all 10,000 are still Active.
//!
//! `cargo bench -p cloud-controller --bench reads` (`ALTO_BENCH_MEMBERS`, default 10,000;
//! `ALTO_BENCH_REQUESTS`, requests per client and phase, default 200).

mod support;

use alto_registry::{NewCluster, NewMember, NewSubscription, Registry, SUPER_TENANT_ID};
use cloud_controller::controller::{Controller, ControllerOptions, ReconcileMode};
use messaging::{InProcessBus, MemberState};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;
const PASSWORD: &str = "bench-password";
const CLUSTER_ID: &str = "big.web.domain";

fn conf(dir: &std::path::Path, members: usize) {
    support::write_conf(
        dir,
        &support::BenchConf {
            mock_properties: &[("mock.agent", "false")],
            policy_id: "steady",
            requests_in_flight: 1_000_000,
            min: 1,
            max: members,
        },
    );
}

/// The cluster and its members, Active, written straight into the registry.
fn plant(registry: &Registry, members: usize) {
    registry
        .create_subscription(
            NewSubscription {
                tenant_id: SUPER_TENANT_ID,
                alias: "big".into(),
                cartridge_type: "web".into(),
                autoscale_policy: "steady".into(),
                deployment_policy: "dep".into(),
            },
            NewCluster {
                cluster_id: CLUSTER_ID.into(),
                service_name: "web".into(),
                host_name: "big.web.example.org".into(),
                tenant_id: SUPER_TENANT_ID,
                autoscale_policy: "steady".into(),
                deployment_policy: "dep".into(),
                cartridge_key: "bench-cartridge-key-0001".into(),
                properties: Default::default(),
            },
        )
        .expect("plant the cluster");
    for i in 0..members {
        let member_id = format!("{CLUSTER_ID}-m{i:05}");
        registry
            .insert_member(
                None,
                NewMember {
                    member_id: member_id.clone(),
                    cluster_id: CLUSTER_ID.into(),
                    tenant_id: SUPER_TENANT_ID,
                    service_name: "web".into(),
                    network_partition_id: "np".into(),
                    partition_id: "p1".into(),
                    provider_type: "mock".into(),
                    tags: Default::default(),
                },
            )
            .expect("plant a member");
        registry
            .set_member_instance(&member_id, &format!("i-{i:05}"), &["10.0.0.1".into()], &[])
            .expect("instance");
        for to in [
            MemberState::Initialized,
            MemberState::Starting,
            MemberState::Active,
        ] {
            registry.transition_member(&member_id, to).expect("walk");
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Latencies {
    p50: Duration,
    p99: Duration,
    max: Duration,
    per_second: f64,
}

/// `CLIENTS` keep-alive clients, `requests` each, all on `path`: each request's latency.
async fn measure(base: &str, path: &str, auth: bool, requests: usize) -> Latencies {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let url = format!("{base}{path}");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut took = Vec::with_capacity(requests);
                for _ in 0..requests {
                    let mut request = client.get(&url);
                    if auth {
                        request = request.basic_auth("admin", Some(PASSWORD));
                    }
                    let t = Instant::now();
                    let response = request.send().await.expect("request");
                    assert!(
                        response.status().is_success(),
                        "{url}: {}",
                        response.status()
                    );
                    let body = response.bytes().await.expect("body");
                    took.push(t.elapsed());
                    assert!(!body.is_empty());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::with_capacity(CLIENTS * requests);
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    all.sort();
    Latencies {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: all[all.len() - 1],
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let members: usize = std::env::var("ALTO_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let requests: usize = std::env::var("ALTO_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = std::env::temp_dir().join(format!("alto-bench-reads-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf")).expect("dir");
        conf(&dir.join("conf"), members);
        let url = dir.join("registry.db").display().to_string();
        let planting = Instant::now();
        plant(&Registry::open(&url).expect("registry"), members);
        println!(
            "reads: planted {members} Active members in {:.1}s",
            planting.elapsed().as_secs_f64()
        );

        let mut opts = ControllerOptions::new(
            url,
            dir.clone(),
            Arc::new(InProcessBus::new()),
            PASSWORD.into(),
        );
        opts.conf_dir = Some(dir.join("conf"));
        opts.scaling.dry_run = true;
        opts.reconcile_mode = ReconcileMode::Report;
        opts.fault_timeout = Duration::from_secs(3600);
        opts.max_members_per_cluster = u32::try_from(members).expect("members");
        opts.max_members_per_tenant = u32::try_from(members).expect("members");
        let controller = Controller::start(opts).await.expect("controller");
        let (server, addr) =
            cloud_controller::api::bind(controller.clone(), "127.0.0.1:0".parse().expect("addr"))
                .expect("bind");
        let handle = server.handle();
        tokio::spawn(server);
        let base = format!("http://{addr}");

        // A cursor from the middle of the member list: the first page's, followed to half way.
        let client = reqwest::Client::new();
        let mut cursor = String::new();
        // Pages of up to 1,000 (the API's maximum) until half the members are behind.
        let step = (members / 2).clamp(1, 1000);
        for _ in 0..(members / 2 / step).max(1) {
            let page: serde_json::Value = client
                .get(format!("{base}/api/clusters/{CLUSTER_ID}?limit={step}&cursor={cursor}"))
                .basic_auth("admin", Some(PASSWORD))
                .send()
                .await
                .expect("page")
                .json()
                .await
                .expect("json");
            cursor = page["nextCursor"].as_str().expect("a next page").to_string();
        }

        let first = format!("/api/clusters/{CLUSTER_ID}");
        let middle = format!("/api/clusters/{CLUSTER_ID}?cursor={cursor}");
        // One warm-up pass each (connections, caches, the login cache), then the measured ones.
        measure(&base, "/healthz", false, 10).await;
        measure(&base, &first, true, 10).await;
        let healthz = measure(&base, "/healthz", false, requests).await;
        let first_page = measure(&base, &first, true, requests).await;
        let cursor_page = measure(&base, &middle, true, requests).await;
        println!(
            "reads: {CLIENTS} keep-alive clients x {requests} requests per phase, cluster of {members} members (pages of 100)"
        );
        for (name, l) in [
            ("/healthz (reference)", &healthz),
            ("GET /api/clusters/{id}, first page", &first_page),
            ("GET /api/clusters/{id}, cursor page", &cursor_page),
        ] {
            println!(
                "reads: {name:<38} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  {:>6.0} req/s  p99 ratio to /healthz {:.2}",
                ms(l.p50),
                ms(l.p99),
                ms(l.max),
                l.per_second,
                ms(l.p99) / ms(healthz.p99)
            );
        }

        let view: serde_json::Value = client
            .get(format!("{base}{first}"))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .expect("view")
            .json()
            .await
            .expect("json");
        let active = view["memberCounts"]["Active"].as_u64().unwrap_or(0);
        println!("reads: after the run, {active} of {members} members Active (memberCounts)");
        assert_eq!(active as usize, members, "the controller changed the planted members: {}", view["memberCounts"]);
        handle.stop(true).await;
        controller.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
