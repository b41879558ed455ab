//! Throughput of the autoscaler's hot paths (no criterion, to keep builds light).
//!
//! Run: `cargo bench -p autoscaler`. Prints:
//! (a) health samples applied per second on one core (target ≥ 1,000,000/s), through a bare
//!     window and through `ClusterHealth` (member lookup by id included);
//! (b) one evaluation pass over 10,000 clusters × 10 members (target ≤ 50 ms) and over
//!     100,000 clusters × 10 members (target ≤ 500 ms), with and without reading the members'
//!     windows first. `ALTO_BENCH_PASS_clusters=10000,100000` (the default) picks the sizes.

use autoscaler::{
    evaluate, ClusterHealth, DeploymentPolicy, EvaluationInput, HealthWindow, LoadThresholds,
    MemberStatus, Metric, MetricWindows, NetworkPartition, PartitionAlgorithm, PartitionPolicy,
    ScalingMemory, ScalingSettings, WindowConfig,
};
use messaging::MemberState;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn bench_window() {
    const SAMPLES: u32 = 20_000_000;
    let mut window = HealthWindow::new(WindowConfig::default());
    let start = Instant::now();
    for i in 0..SAMPLES {
        // 4 samples per second: 240 kept in a 60 s window, eviction on every sample.
        let t = 1.7e9 + f64::from(i) * 0.25;
        black_box(window.apply(black_box(t), black_box(f64::from(i % 97))));
    }
    let elapsed = start.elapsed();
    black_box(window.stats());
    println!(
        "window.apply (one window, 20M samples):        {:>12.0} samples/s ({:.1} ns/sample)",
        f64::from(SAMPLES) / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / f64::from(SAMPLES)
    );
}

fn bench_cluster_health() {
    const MEMBERS: usize = 10_000;
    const ROUNDS: usize = 600; // ten minutes of one sample per member per metric-second
    let mut health = ClusterHealth::new(WindowConfig::default());
    let ids: Vec<String> = (0..MEMBERS)
        .map(|i| format!("cluster-{}.member-{i}", i / 10))
        .collect();
    for id in &ids {
        health.track_member(id, "np1");
    }
    let start = Instant::now();
    let mut applied = 0u64;
    for round in 0..ROUNDS {
        let t = 1.7e9 + round as f64;
        for (i, id) in ids.iter().enumerate() {
            let metric = Metric::ALL[(round + i) % 3];
            black_box(health.apply_member(id, metric, t, (i % 100) as f64));
            applied += 1;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "ClusterHealth::apply_member (10k members, 6M):  {:>12.0} samples/s ({:.1} ns/sample)",
        applied as f64 / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / applied as f64
    );
}

fn policy() -> DeploymentPolicy {
    DeploymentPolicy {
        id: "dp".into(),
        network_partitions: vec![NetworkPartition {
            id: "np1".into(),
            algorithm: PartitionAlgorithm::RoundRobin,
            partitions: vec![
                PartitionPolicy {
                    id: "p1".into(),
                    provider_type: "mock".into(),
                    min: 1,
                    max: 10,
                },
                PartitionPolicy {
                    id: "p2".into(),
                    provider_type: "mock".into(),
                    min: 1,
                    max: 10,
                },
            ],
        }],
    }
}

/// One pass over `clusters` clusters of 10 members, timed `rounds` times.
fn bench_evaluation(clusters: usize, rounds: usize) {
    const MEMBERS: usize = 10;
    let now = 1.7e9 + 3600.0;
    let policy = policy();
    let settings = ScalingSettings::new(LoadThresholds {
        requests_in_flight: Some(20.0),
        memory_consumption: Some(80.0),
        load_average: Some(70.0),
    });
    // Each cluster: 10 Active members with 60 s of samples per metric; loads vary so some
    // clusters scale up, some want to scale down, most hold.
    let mut windows: Vec<Vec<MetricWindows>> = Vec::with_capacity(clusters);
    let mut members: Vec<Vec<MemberStatus>> = Vec::with_capacity(clusters);
    for c in 0..clusters {
        let load = 10.0 + (c % 9) as f64 * 10.0;
        let mut cluster_windows = Vec::with_capacity(MEMBERS);
        let mut cluster_members = Vec::with_capacity(MEMBERS);
        for m in 0..MEMBERS {
            let mut w = MetricWindows::new(settings.window_config());
            for s in 0..60 {
                let t = now - 60.0 + f64::from(s);
                let wobble = f64::from((s + m as i32) % 5);
                w.apply(Metric::LoadAverage, t, load + wobble);
                w.apply(Metric::MemoryConsumption, t, 40.0 + wobble);
                w.apply(Metric::RequestsInFlight, t, load / 5.0 + wobble);
            }
            cluster_members.push(MemberStatus {
                member_id: format!("c{c}-m{m}"),
                network_partition_id: "np1".into(),
                partition_id: if m % 2 == 0 { "p1" } else { "p2" }.into(),
                state: MemberState::Active,
                started_at: now - 3000.0,
                state_since: now - 2900.0,
                health: w.all_stats(),
                last_heard_at: Some(now - 1.0),
            });
            cluster_windows.push(w);
        }
        windows.push(cluster_windows);
        members.push(cluster_members);
    }
    let cluster_ids: Vec<String> = (0..clusters).map(|c| format!("cluster-{c}")).collect();
    // Seasoned memories, so scale-down paths run too.
    let mut memories: Vec<ScalingMemory> = Vec::with_capacity(clusters);
    for c in 0..clusters {
        let mut memory = ScalingMemory::new();
        let input = EvaluationInput {
            cluster_id: &cluster_ids[c],
            deployment_policy: &policy,
            settings: &settings,
            members: &members[c],
            network_partition_health: &[],
        };
        let record = evaluate(&input, &memory, now - 1000.0);
        memory.commit(&record, &settings);
        memories.push(memory);
    }

    let mut evaluate_only = Vec::new();
    let mut with_snapshot = Vec::new();
    let mut actions = 0usize;
    for _ in 0..rounds {
        let start = Instant::now();
        for c in 0..clusters {
            let input = EvaluationInput {
                cluster_id: &cluster_ids[c],
                deployment_policy: &policy,
                settings: &settings,
                members: &members[c],
                network_partition_health: &[],
            };
            let record = evaluate(&input, &memories[c], now);
            actions += record.planned_actions.len();
            black_box(record);
        }
        evaluate_only.push(start.elapsed());

        let start = Instant::now();
        for c in 0..clusters {
            for (member, w) in members[c].iter_mut().zip(&windows[c]) {
                member.health = w.all_stats();
            }
            let input = EvaluationInput {
                cluster_id: &cluster_ids[c],
                deployment_policy: &policy,
                settings: &settings,
                members: &members[c],
                network_partition_health: &[],
            };
            black_box(evaluate(&input, &memories[c], now));
        }
        with_snapshot.push(start.elapsed());
    }
    let (fastest, slowest) = (
        evaluate_only.iter().min().copied().unwrap_or_default(),
        evaluate_only.iter().max().copied().unwrap_or_default(),
    );
    println!(
        "evaluate, {clusters} clusters x 10 members: {:>9.1} ms per pass (median of {rounds}; min {:.1}, max {:.1}; {} actions/pass)",
        median(evaluate_only).as_secs_f64() * 1e3,
        fastest.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3,
        actions / rounds
    );
    println!(
        "read windows + evaluate, {clusters} x 10:   {:>9.1} ms per pass (median of {rounds})",
        median(with_snapshot).as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo test --benches` passes --bench-less args; only run when asked to bench.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    bench_window();
    bench_cluster_health();
    let sizes = std::env::var("ALTO_BENCH_PASS_clusters").unwrap_or_else(|_| "10000,100000".into());
    for size in sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        // Fewer rounds at the large size: each builds a million members' windows first.
        let rounds = if size > 20_000 { 7 } else { 15 };
        bench_evaluation(size, rounds);
    }
}
