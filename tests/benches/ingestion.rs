//! Health-stat ingestion through RabbitMQ, compared in one run with a bare lapin
//! publisher/consumer pair moving the same bytes over the same broker; the same on the
//! three-node cluster (one bare pair per node against the product path's shards, a publisher
//! on every node on both sides); and the in-process cost of applying one stat to the
//! autoscaler's windows.
//!
//! `cargo bench -p e2e --bench ingestion` (needs RabbitMQ and the three-node cluster;
//! `scripts/services.sh` `ensure_rabbitmq` and `ensure_rabbitmq_cluster` start them).
//! `ALTO_BENCH_MESSAGES` (default 100000) and `ALTO_BENCH_ROUNDS` (default 3) size the run.

use autoscaler::{Metric, MetricWindows, WindowConfig};
use futures_lite::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use messaging::events::{MemberHealthStatsEvent, MemberRef};
use messaging::{AmqpBus, AmqpConfig, Bus, Event, QueueKind, SubscriptionSpec};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const MEMBERS: usize = 1000;

fn url() -> String {
    std::env::var("ALTO_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// The three-node cluster's nodes, as `ensure_rabbitmq_cluster` exports them.
fn cluster_urls() -> String {
    std::env::var("ALTO_TEST_AMQP_CLUSTER_URLS").unwrap_or_else(|_| {
        "amqp://guest:guest@127.0.0.1:5681/%2f,amqp://guest:guest@127.0.0.1:5682/%2f,amqp://guest:guest@127.0.0.1:5683/%2f".to_string()
    })
}

/// `items` dealt round-robin into `parts` parts (one per publisher).
fn deal<T: Clone>(items: &[T], parts: usize) -> Vec<Vec<T>> {
    let mut dealt = vec![Vec::with_capacity(items.len() / parts + 1); parts];
    for (i, item) in items.iter().enumerate() {
        dealt[i % parts].push(item.clone());
    }
    dealt
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stat(i: usize) -> Event {
    let member = i % MEMBERS;
    Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
        member: MemberRef {
            service_name: "php".into(),
            cluster_id: format!("bench{}.php.domain", member / 10),
            cluster_instance_id: None,
            network_partition_id: "np1".into(),
            partition_id: "p1".into(),
            member_id: format!("bench{}.php.domain-{member:08}", member / 10),
        },
        timestamp: 1_795_000_000_000 + i as i64 * 10,
        load_average: Some(40.0 + (i % 17) as f64),
        memory_consumption: Some(55.5 + (i % 7) as f64),
        requests_in_flight: Some((i % 23) as f64),
    })
}

/// Consumer-side end-to-end rate of bare lapin pairs, one per node of `urls` (one node: one
/// pair), all at once: the bodies dealt over them, the rate the whole of `bodies` took.
async fn bare_pairs(urls: &[&str], bodies: &[Vec<u8>]) -> f64 {
    // Timed from when every pair is connected and consuming, as the bus path is.
    let ready = std::sync::Arc::new(tokio::sync::Barrier::new(urls.len() + 1));
    let pairs: Vec<_> = deal(bodies, urls.len())
        .into_iter()
        .zip(urls)
        .enumerate()
        .map(|(i, (part, url))| {
            let (url, ready) = (url.to_string(), ready.clone());
            tokio::spawn(async move { bare_pair(&url, i, &part, &ready).await })
        })
        .collect();
    ready.wait().await;
    let start = Instant::now();
    for pair in pairs {
        pair.await.expect("bare pair");
    }
    bodies.len() as f64 / start.elapsed().as_secs_f64()
}

/// A bare lapin pair on one node: publish `bodies` to a fresh queue and consume them with
/// automatic acknowledgement (no ack frames at all: the cheapest consumer the broker can
/// serve, so the strictest baseline).
async fn bare_pair(url: &str, index: usize, bodies: &[Vec<u8>], ready: &tokio::sync::Barrier) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ is required (scripts/services.sh starts it and the cluster)");
    let consumer_conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let tag = format!("bench-bare-{}-{index}", std::process::id());
    let publisher = conn.create_channel().await.expect("channel");
    let channel = consumer_conn.create_channel().await.expect("channel");
    channel
        .exchange_declare(
            tag.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange");
    channel
        .basic_qos(256, BasicQosOptions::default())
        .await
        .expect("qos");
    channel
        .queue_declare(
            tag.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    channel
        .queue_bind(
            tag.as_str().into(),
            tag.as_str().into(),
            "health.#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    let mut consumer = channel
        .basic_consume(
            tag.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let n = bodies.len();
    ready.wait().await;
    let consuming = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(30), consumer.next()).await {
                Ok(Some(Ok(_))) => got += 1,
                _ => break,
            }
        }
        got
    });
    for body in bodies {
        publisher
            .basic_publish(
                tag.as_str().into(),
                "health.stats.MemberHealthStatsEvent".into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await
            .expect("publish");
    }
    let got = consuming.await.expect("consumer");
    assert_eq!(got, n, "the bare consumer lost messages");
    let _ = conn.close(200, "bye".into()).await;
    let _ = consumer_conn.close(200, "bye".into()).await;
}

/// The product path: an AmqpBus publisher per node of `urls` (one URL: one publisher), the
/// controller's AmqpBus lossy subscription (sharded over the nodes of a cluster), every stat
/// decoded and applied to its member's windows.
async fn through_the_bus(urls: &str, events: &[Event]) -> f64 {
    let mut config = AmqpConfig::new(urls);
    config.exchange = format!("bench-bus-{}", std::process::id());
    config.queue_prefix = format!("bench-{}.", std::process::id());
    let consumer_bus = AmqpBus::connect(config.clone(), Duration::from_secs(10))
        .await
        .expect("RabbitMQ is required (scripts/services.sh starts it and the cluster)");
    let nodes = config.urls().len().max(1);
    let mut publishers = Vec::with_capacity(nodes);
    for node in 0..nodes {
        let mut own = config.clone();
        own.url = messaging::broker_urls::rotated(urls, node);
        let bus = AmqpBus::connect(own, Duration::from_secs(10))
            .await
            .expect("connect");
        publishers.push(bus);
    }
    let n = events.len();
    let mut sub = consumer_bus
        .subscribe(
            SubscriptionSpec::new(
                "health",
                &["health.#"],
                QueueKind::Lossy { capacity: n * 2 },
            )
            .expect("spec"),
        )
        .await
        .expect("subscribe");
    let start = Instant::now();
    let consuming = tokio::spawn(async move {
        let mut windows: HashMap<String, MetricWindows> = HashMap::with_capacity(MEMBERS);
        let mut got = 0;
        while got < n {
            match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
                Ok(Some(d)) => {
                    if let Event::MemberHealthStatsEvent(s) = &d.event {
                        let w = windows
                            .entry(s.member.member_id.clone())
                            .or_insert_with(|| MetricWindows::new(WindowConfig::default()));
                        apply(w, s.timestamp as f64 / 1000.0, s);
                    }
                    got += 1;
                }
                _ => break,
            }
        }
        (got, start.elapsed(), windows.len())
    });
    let publishing: Vec<_> = deal(events, nodes)
        .into_iter()
        .zip(publishers.clone())
        .map(|(part, bus)| {
            tokio::spawn(async move {
                for e in &part {
                    bus.publish(e).await.expect("publish");
                }
            })
        })
        .collect();
    for p in publishing {
        p.await.expect("publisher");
    }
    let (got, elapsed, members) = consuming.await.expect("consumer");
    assert_eq!(got, n, "the bus lost messages under a large enough cap");
    assert_eq!(members, MEMBERS.min(n));
    for bus in publishers {
        bus.close().await;
    }
    consumer_bus.close().await;
    n as f64 / elapsed.as_secs_f64()
}

/// One health message into a member's windows (absent metrics stay absent), as the
/// controller does.
fn apply(w: &mut MetricWindows, time: f64, s: &MemberHealthStatsEvent) {
    for (metric, value) in [
        (Metric::LoadAverage, s.load_average),
        (Metric::MemoryConsumption, s.memory_consumption),
        (Metric::RequestsInFlight, s.requests_in_flight),
    ] {
        if let Some(v) = value {
            w.apply(metric, time, v);
        }
    }
}

/// Stats applied per second to in-memory windows (one core, no I/O, no decoding).
fn apply_rate(n: usize) -> f64 {
    let samples: Vec<(usize, f64, f64, f64, f64)> = (0..n)
        .map(|i| {
            (
                i % MEMBERS,
                i as f64 * 0.01,
                40.0 + (i % 17) as f64,
                55.0 + (i % 7) as f64,
                (i % 23) as f64,
            )
        })
        .collect();
    let mut windows: Vec<MetricWindows> = (0..MEMBERS)
        .map(|_| MetricWindows::new(WindowConfig::default()))
        .collect();
    let start = Instant::now();
    for &(m, t, l, mem, r) in &samples {
        let w = &mut windows[m];
        w.apply(Metric::LoadAverage, t, l);
        w.apply(Metric::MemoryConsumption, t, mem);
        w.apply(Metric::RequestsInFlight, t, r);
    }
    let elapsed = start.elapsed();
    // Keep the work observable so it is not optimised away.
    let check: f64 = windows
        .iter()
        .filter_map(|w| w.stats(Metric::LoadAverage))
        .map(|v| v.average)
        .sum();
    assert!(check.is_finite());
    n as f64 / elapsed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let n = env_usize("ALTO_BENCH_MESSAGES", 100_000);
    let rounds = env_usize("ALTO_BENCH_ROUNDS", 3).max(1);
    let events: Vec<Event> = (0..n).map(stat).collect();
    let bodies: Vec<Vec<u8>> = events.iter().map(Event::to_json).collect();
    let size = bodies.iter().map(Vec::len).sum::<usize>() / n.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let single = url();
    let cluster = cluster_urls();
    let cluster_nodes = messaging::broker_urls::split(&cluster);
    // Per round: one node (bare pair, bus); the cluster (one bare pair on its first node, a
    // bare pair per node, the bus sharded over the nodes).
    let mut figures: [Vec<f64>; 5] = Default::default();
    for round in 0..rounds {
        // Alternate the order so no side always runs on a warmer broker.
        let mut order: Vec<usize> = (0..figures.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for which in order {
            let rate = match which {
                0 => rt.block_on(bare_pairs(&[single.as_str()], &bodies)),
                1 => rt.block_on(through_the_bus(&single, &events)),
                2 => rt.block_on(bare_pairs(&cluster_nodes[..1], &bodies)),
                3 => rt.block_on(bare_pairs(&cluster_nodes, &bodies)),
                _ => rt.block_on(through_the_bus(&cluster, &events)),
            };
            figures[which].push(rate);
        }
        let [bare, bus, cluster_pair, cluster_bare, cluster_bus] = &figures;
        println!(
            "round {}: one node: bare {:.0}/s, bus+windows {:.0}/s ({:.2}); {} nodes: one bare pair {:.0}/s, a bare pair per node {:.0}/s, bus+windows {:.0}/s ({:.2}, {:.2})",
            round + 1,
            bare[round],
            bus[round],
            bus[round] / bare[round],
            cluster_nodes.len(),
            cluster_pair[round],
            cluster_bare[round],
            cluster_bus[round],
            cluster_bus[round] / cluster_pair[round],
            cluster_bus[round] / cluster_bare[round],
        );
    }
    let [bare, bus, cluster_pair, cluster_bare, cluster_bus] = figures.map(median);
    let apply = median((0..5).map(|_| apply_rate(2_000_000)).collect());
    println!(
        "messages per round: {n}, body {size} bytes, {MEMBERS} members, {rounds} rounds (medians)"
    );
    println!("bare lapin pair:            {bare:>12.0} msg/s");
    println!("AmqpBus + windows:          {bus:>12.0} stats/s");
    println!("ratio:                      {:>12.2}", bus / bare);
    let nodes = cluster_nodes.len();
    println!("{nodes} nodes, one bare pair:     {cluster_pair:>9.0} msg/s");
    println!("{nodes} nodes, bare pair per node: {cluster_bare:>9.0} msg/s");
    println!("{nodes} nodes, AmqpBus + windows: {cluster_bus:>10.0} stats/s");
    println!(
        "ratio on {nodes} nodes (one pair):  {:>9.2}",
        cluster_bus / cluster_pair
    );
    println!(
        "ratio on {nodes} nodes (per node):  {:>9.2}",
        cluster_bus / cluster_bare
    );
    println!(
        "{nodes} nodes against one (bus):   {:>9.2}",
        cluster_bus / bus
    );
    println!("windows apply (one core):   {apply:>12.0} stats/s");
}
