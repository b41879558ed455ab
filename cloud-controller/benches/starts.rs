//! Start throughput: one subscription with `min` = `max` = N on a mock cloud with no start
//! latency and no agent delay, the provider's limits set high (`max.starts.per.second`,
//! `max.iaas.workers`), so what remains is the controller and its registry. Real controller,
//! in-process bus, REST API on loopback; SQLite and a throwaway PostgreSQL database.
//!
//! Reports, from the subscription on:
//! - starts/s: members committed and issued to the cloud (the controller's
//!   `alto_cloud_calls_total{operation="start_instance"}` counter reaching N);
//! - Active/s: `membersActive` of `GET /api/subscriptions` reaching N;
//! - the reference, in the same run and database: a bare insert of the same N rows through the
//!   registry, once as a plain loop (one transaction per row) and once batched (one
//!   transaction per 1,000 rows), and the ratios.
//!
//! `cargo bench -p cloud-controller --bench starts` with `ALTO_BENCH_MEMBERS` (default 20000),
//! `ALTO_BENCH_BACKENDS` (`sqlite,postgres`) and `ALTO_TEST_POSTGRES_URL` (an existing
//! database on the server where a throwaway one is created; default
//! `postgres://postgres@127.0.0.1:5432/test`).

mod support;

use alto_registry::{NewMember, Registry};
use cloud_controller::controller::{Controller, ControllerOptions};
use cloud_controller::model::SubscribeRequest;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use messaging::InProcessBus;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a run may take before the bench gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);
const PASSWORD: &str = "bench-pw";

fn conf(dir: &std::path::Path, members: usize) {
    support::write_conf(
        dir,
        &support::BenchConf {
            mock_properties: &[
                ("mock.start.latency.ms", "0"),
                ("mock.agent.delay.ms", "0"),
                ("mock.stats.interval.secs", "3600"),
                ("max.starts.per.second", "1000000"),
                ("max.iaas.workers", "100000"),
            ],
            policy_id: "rif",
            requests_in_flight: 50,
            min: members,
            max: members,
        },
    );
}

/// A throwaway database on the server of `admin_url`, dropped by `drop_database`.
fn create_database(admin_url: &str) -> (String, String) {
    let mut admin = PgConnection::establish(admin_url).unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {admin_url}: {e} (scripts/services.sh starts it)")
    });
    let name = format!("alto_bench_starts_{}", std::process::id());
    // Two calls: a multi-statement string is one implicit transaction, which DROP DATABASE
    // refuses.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .expect("drop a leftover bench database");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create bench database");
    let (prefix, _) = admin_url
        .rsplit_once('/')
        .expect("ALTO_TEST_POSTGRES_URL names a database");
    (format!("{prefix}/{name}"), name)
}

fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = PgConnection::establish(admin_url) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

fn start_calls(controller: &Controller) -> usize {
    controller
        .metrics()
        .render(&[], &[], false)
        .lines()
        .filter(|l| {
            l.starts_with("alto_cloud_calls_total{")
                && l.contains("operation=\"start_instance\"")
                && l.contains("outcome=\"ok\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize
}

/// `membersActive` and `membersTotal` of the one subscription, over REST.
async fn subscription_counts(http: &reqwest::Client, base: &str) -> (usize, usize) {
    let body: serde_json::Value = http
        .get(format!("{base}/api/subscriptions"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .expect("GET /api/subscriptions")
        .error_for_status()
        .expect("GET /api/subscriptions status")
        .json()
        .await
        .expect("subscriptions JSON");
    let first = &body.as_array().expect("a list")[0];
    let count = |key: &str| first[key].as_u64().unwrap_or(0) as usize;
    (count("membersActive"), count("membersTotal"))
}

struct Figures {
    starts_seconds: f64,
    active_seconds: f64,
}

async fn run_controller(database_url: String, dir: &std::path::Path, members: usize) -> Figures {
    std::fs::create_dir_all(dir.join("conf")).expect("dir");
    conf(&dir.join("conf"), members);
    let mut opts = ControllerOptions::new(
        database_url,
        dir.to_path_buf(),
        Arc::new(InProcessBus::new()),
        PASSWORD.into(),
    );
    opts.conf_dir = Some(dir.join("conf"));
    opts.max_members_per_cluster = members as u32;
    opts.max_members_per_tenant = members as u32;
    let controller = Controller::start(opts).await.expect("controller");
    let (server, addr) =
        cloud_controller::api::bind(controller.clone(), "127.0.0.1:0".parse().expect("loopback"))
            .expect("bind REST API");
    let server_task = tokio::spawn(server);
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let admin = controller
        .authenticate("admin", PASSWORD)
        .await
        .expect("login");
    let t0 = Instant::now();
    controller
        .subscribe(
            &admin,
            SubscribeRequest {
                cartridge_type: "web".into(),
                alias: "bench".into(),
                autoscale_policy: "rif".into(),
                deployment_policy: "dep".into(),
            },
        )
        .await
        .expect("subscribe");
    let mut starts_seconds = None;
    let active_seconds = loop {
        if starts_seconds.is_none() && start_calls(&controller) >= members {
            starts_seconds = Some(t0.elapsed().as_secs_f64());
        }
        let (active, total) = subscription_counts(&http, &base).await;
        if active >= members {
            break t0.elapsed().as_secs_f64();
        }
        assert!(
            t0.elapsed() < RUN_LIMIT,
            "after {RUN_LIMIT:?}: {total} members committed, {} started, {active} Active of {members}",
            start_calls(&controller)
        );
        tokio::time::sleep(POLL).await;
    };
    let starts_seconds = starts_seconds.unwrap_or(active_seconds);
    server_task.abort();
    controller.shutdown().await;
    Figures {
        starts_seconds,
        active_seconds,
    }
}

fn new_member(i: usize, cluster: &str) -> NewMember {
    let member_id = format!("{cluster}.member-{i:07}");
    NewMember {
        tags: [
            ("altostratus:member-id".to_string(), member_id.clone()),
            ("altostratus:cluster-id".to_string(), cluster.to_string()),
        ]
        .into(),
        member_id,
        cluster_id: cluster.to_string(),
        tenant_id: -1234,
        service_name: "web".into(),
        network_partition_id: "np".into(),
        partition_id: "p1".into(),
        provider_type: "mock".into(),
    }
}

/// The reference: the same rows inserted bare, as a plain loop and batched; rows per second.
fn bare_inserts(database_url: &str, members: usize) -> (f64, f64) {
    let registry = Registry::open(database_url).expect("reopen registry");
    let t = Instant::now();
    for i in 0..members {
        registry
            .insert_member(None, new_member(i, "bare-loop"))
            .expect("insert");
    }
    let plain = members as f64 / t.elapsed().as_secs_f64();
    let rows: Vec<NewMember> = (0..members).map(|i| new_member(i, "bare-batch")).collect();
    let t = Instant::now();
    for chunk in rows.chunks(1_000) {
        let outcomes = registry
            .insert_members(None, chunk.to_vec())
            .expect("insert batch");
        assert!(outcomes.iter().all(|o| o.is_ok()));
    }
    let batched = members as f64 / t.elapsed().as_secs_f64();
    (plain, batched)
}

fn report(backend: &str, members: usize, f: &Figures, plain: f64, batched: f64) {
    let starts = members as f64 / f.starts_seconds;
    let active = members as f64 / f.active_seconds;
    println!(
        "{backend}: {members} members: starts {starts:.0}/s ({:.2} s), Active {active:.0}/s ({:.2} s); \
         bare insert: loop {plain:.0} rows/s, batched {batched:.0} rows/s; \
         starts/batched {:.2}, starts/loop {:.1}, Active/batched {:.2}",
        f.starts_seconds,
        f.active_seconds,
        starts / batched,
        starts / plain,
        active / batched,
    );
}

fn main() {
    let members: usize = std::env::var("ALTO_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let backends =
        std::env::var("ALTO_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let admin_url = std::env::var("ALTO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let dir = std::env::temp_dir().join(format!(
            "alto-bench-starts-{backend}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let (url, database) = match backend {
            "sqlite" => (dir.join("registry.db").display().to_string(), None),
            "postgres" => {
                let (url, name) = create_database(&admin_url);
                (url, Some(name))
            }
            other => panic!("ALTO_BENCH_BACKENDS: unknown backend {other:?}"),
        };
        let figures = rt.block_on(run_controller(url.clone(), &dir, members));
        let (plain, batched) = bare_inserts(&url, members);
        report(backend, members, &figures, plain, batched);
        if let Some(name) = database {
            drop_database(&admin_url, &name);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
