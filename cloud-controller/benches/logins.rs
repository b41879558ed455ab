//! Logins under load (same process, same run): authenticated `GET /api/clusters` against
//! `GET /healthz` with 20 keep-alive clients each, and the process's RSS after 1,000 parallel
//! wrong-password attempts. Real controller and REST API on loopback, SQLite, in-process bus.
//!
//! `cargo bench -p cloud-controller --bench logins` (`ALTO_BENCH_SECONDS`, default 5 per phase;
//! `ALTO_BENCH_ATTACKERS`, default 1,000).

use cloud_controller::controller::{Controller, ControllerOptions};
use messaging::InProcessBus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;

const PASSWORD: &str = "bench-password";

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Requests per second of `CLIENTS` keep-alive clients hammering `path` for `seconds`.
async fn throughput(base: &str, path: &str, auth: bool, seconds: f64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, done, path) = (format!("{base}{path}"), done.clone(), path.to_string());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while Instant::now() < deadline {
                    let mut request = client.get(&url);
                    if auth {
                        request = request.basic_auth("admin", Some(PASSWORD));
                    }
                    match request.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("{path}: {}", r.status()),
                        Err(e) => panic!("{path}: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    done.load(Ordering::Relaxed) as f64 / seconds
}

fn main() {
    let attackers: usize = std::env::var("ALTO_BENCH_ATTACKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let seconds: f64 = std::env::var("ALTO_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = std::env::temp_dir().join(format!("alto-bench-logins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = ControllerOptions::new(
            dir.join("registry.db").display().to_string(),
            dir.clone(),
            Arc::new(InProcessBus::new()),
            PASSWORD.into(),
        );
        let controller = Controller::start(opts).await.expect("controller");
        let (server, addr) = cloud_controller::api::bind(controller.clone(), "127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let handle = server.handle();
        tokio::spawn(server);
        let base = format!("http://{addr}");
        let rss_start = rss_mib();

        let healthz = throughput(&base, "/healthz", false, seconds).await;
        let clusters = throughput(&base, "/api/clusters", true, seconds).await;
        println!(
            "logins: {CLIENTS} keep-alive clients, {seconds}s each: /healthz {healthz:.0}/s, authenticated /api/clusters {clusters:.0}/s, ratio {:.2}; RSS {:.0} MiB",
            clusters / healthz,
            rss_mib()
        );

        // 1,000 wrong passwords at once, every one a different login (as an enumeration would),
        // through one client (its pool opens the connections; a client each would measure the
        // clients' own memory).
        let attacker = reqwest::Client::new();
        let started = Instant::now();
        let attempts: Vec<_> = (0..attackers)
            .map(|i| {
                let url = format!("{base}/api/clusters");
                let attacker = attacker.clone();
                tokio::spawn(async move {
                    attacker
                        .get(url)
                        .basic_auth(format!("user{i}"), Some("wrong"))
                        .timeout(Duration::from_secs(300))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        // 0: no HTTP answer (connection refused or reset).
                        .unwrap_or(0)
                })
            })
            .collect();
        let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
        for a in attempts {
            *by_status.entry(a.await.unwrap_or(0)).or_default() += 1;
        }
        println!(
            "logins: {attackers} parallel wrong-password attempts in {:.1}s: answers {by_status:?}; RSS {rss_start:.0} MiB at start, {:.0} MiB after",
            started.elapsed().as_secs_f64(),
            rss_mib()
        );
        handle.stop(true).await;
        controller.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}
