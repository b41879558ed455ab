//! The AMQP bus against a real RabbitMQ (`ALTO_TEST_AMQP_URL`, default the local broker that
//! `scripts/test.sh` starts). Each test publishes to its own exchange so tests running in
//! parallel never see each other's messages.

use messaging::events::{InstanceStatusEvent, MemberHealthStatsEvent, MemberRef};
use messaging::{AmqpBus, AmqpConfig, Bus, Event, QueueKind, SubscriptionSpec};
use std::time::Duration;

fn broker_url() -> String {
    std::env::var("ALTO_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

fn config() -> AmqpConfig {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut config = AmqpConfig::new(&broker_url());
    config.exchange = format!("alto-test-{tag}");
    config.dead_letter_exchange = format!("alto-test-dlx-{tag}");
    config
}

async fn connect(config: AmqpConfig) -> AmqpBus {
    AmqpBus::connect(config, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RabbitMQ is required at {} ({e}); scripts/test.sh starts it",
                broker_url()
            )
        })
}

fn started(member: &str) -> Event {
    Event::InstanceStartedEvent(InstanceStatusEvent {
        member: MemberRef {
            service_name: "php".into(),
            cluster_id: "c1".into(),
            network_partition_id: "np".into(),
            partition_id: "p".into(),
            member_id: member.into(),
            cluster_instance_id: None,
        },
    })
}

fn stat(member: &str, n: i64) -> Event {
    Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
        member: MemberRef {
            member_id: member.into(),
            ..MemberRef::default()
        },
        timestamp: n,
        load_average: Some(n as f64),
        memory_consumption: None,
        requests_in_flight: None,
    })
}

async fn next(sub: &mut messaging::Subscription) -> messaging::Delivery {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no delivery within 10 s")
        .expect("subscription ended")
}

/// Raw access to the broker, for what the bus itself never does (publishing garbage, peeking
/// at the dead-letter queue).
async fn raw_channel() -> lapin::Channel {
    let conn = lapin::Connection::connect(&broker_url(), lapin::ConnectionProperties::default())
        .await
        .expect("raw connection");
    conn.create_channel().await.expect("raw channel")
}

#[tokio::test]
async fn durable_events_survive_an_absent_consumer_and_need_an_ack() {
    let cfg = config();
    let queue = format!("q-{}", uuid::Uuid::new_v4().simple());
    // Declare the queue once, then go away.
    let consumer = connect(cfg.clone()).await;
    let spec = SubscriptionSpec::new(&queue, &["instance.status.*"], QueueKind::Durable).unwrap();
    let mut sub = consumer.subscribe(spec.clone()).await.unwrap();
    let publisher = connect(cfg.clone()).await;
    publisher.publish(&started("warmup")).await.unwrap();
    next(&mut sub).await.ack().await.unwrap();
    consumer.close().await;
    drop(sub);

    // Published while nobody consumes: confirmed by the broker and kept.
    for i in 0..5 {
        publisher.publish(&started(&format!("m{i}"))).await.unwrap();
    }

    // A consumer that takes one without acknowledging and dies: it is redelivered.
    let crashing = connect(cfg.clone()).await;
    let mut sub = crashing.subscribe(spec.clone()).await.unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.event, started("m0"));
    drop(first);
    crashing.close().await;
    drop(sub);

    let consumer = connect(cfg).await;
    let mut sub = consumer.subscribe(spec).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let d = next(&mut sub).await;
        seen.push(
            d.event
                .member()
                .map(|m| m.member_id.clone())
                .unwrap_or_default(),
        );
        d.ack().await.unwrap();
    }
    seen.sort();
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn garbage_is_dead_lettered_and_the_consumer_goes_on() {
    let cfg = config();
    let queue = format!("q-{}", uuid::Uuid::new_v4().simple());
    let bus = connect(cfg.clone()).await;
    let mut durable = bus
        .subscribe(SubscriptionSpec::new(&queue, &["instance.#"], QueueKind::Durable).unwrap())
        .await
        .unwrap();
    let mut lossy = bus
        .subscribe(
            SubscriptionSpec::new(
                &format!("{queue}-health"),
                &["health.#"],
                QueueKind::Lossy { capacity: 100 },
            )
            .unwrap(),
        )
        .await
        .unwrap();
    // Make sure both consumers are up before the raw publishes.
    bus.publish(&started("ready")).await.unwrap();
    next(&mut durable).await.ack().await.unwrap();
    bus.publish(&stat("ready", 0)).await.unwrap();
    next(&mut lossy).await;

    let raw = raw_channel().await;
    let garbage: [(&str, &[u8]); 4] = [
        ("instance.status.InstanceStartedEvent", b"{not json"),
        ("instance.status.NoSuchEvent", b"{}"),
        ("instance.notifier.InstanceCleanupMemberEvent", b"[1,2,3]"),
        ("health.stats.MemberHealthStatsEvent", b"\xff\xfe"),
    ];
    for (key, body) in garbage {
        raw.basic_publish(
            cfg.exchange.as_str().into(),
            key.into(),
            Default::default(),
            body,
            Default::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    bus.publish(&started("after-garbage")).await.unwrap();
    bus.publish(&stat("after-garbage", 1)).await.unwrap();
    let d = next(&mut durable).await;
    assert_eq!(d.event, started("after-garbage"));
    d.ack().await.unwrap();
    assert_eq!(next(&mut lossy).await.event, stat("after-garbage", 1));

    // All four garbage messages wait in the dead-letter queue.
    let mut parked = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while parked.len() < 4 && tokio::time::Instant::now() < deadline {
        match raw
            .basic_get(
                cfg.dead_letter_exchange.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            Some(m) => parked.push(m.delivery.routing_key.to_string()),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    parked.sort();
    let mut expected: Vec<String> = garbage.iter().map(|(k, _)| k.to_string()).collect();
    expected.sort();
    assert_eq!(parked, expected);
}

#[tokio::test]
async fn lossy_queue_keeps_the_newest_and_never_blocks_publishers() {
    let cfg = config();
    let bus = connect(cfg).await;
    let mut sub = bus
        .subscribe(
            SubscriptionSpec::new(
                &format!("h-{}", uuid::Uuid::new_v4().simple()),
                &["health.#"],
                QueueKind::Lossy { capacity: 10 },
            )
            .unwrap(),
        )
        .await
        .unwrap();
    bus.publish(&stat("m", 0)).await.unwrap();
    next(&mut sub).await;
    // Nobody reads while 2,000 stats arrive: publishing must not wait for the consumer.
    let publishing = async {
        for n in 1..=2000 {
            bus.publish(&stat("m", n)).await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), publishing)
        .await
        .expect("publishers blocked on a slow health consumer");
    // Only a bounded number wait (the queue's cap plus what is in flight to the consumer),
    // and the newest is among them: the oldest were dropped.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        if let Event::MemberHealthStatsEvent(s) = d.event {
            got.push(s.timestamp);
        }
    }
    assert!(got.len() < 400, "kept {} of 2000 stats", got.len());
    assert_eq!(
        got.last(),
        Some(&2000),
        "the newest stat was dropped: {got:?}"
    );
}
