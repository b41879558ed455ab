//! Health stats sharded over the nodes of a RabbitMQ cluster.
//!
//! One queue lives on one node, so one lossy queue caps ingestion at what one node can route.
//! Against a cluster a lossy subscription to `health.*` becomes:
//!
//! - one `x-consistent-hash` exchange per subscription (`<prefix><queue>.shards`), bound from
//!   the topic exchange with the subscription's patterns; it hashes each message's
//!   `message_id`, which our publishers set to the member (or cluster) the stat is about, so a
//!   member's stats stay in order on one shard (a stat without one still arrives, on one
//!   shard);
//! - one capped, exclusive queue per node (`<prefix><queue>.shard-<n>`), bound to it with
//!   equal weight, each declared and consumed on a connection of its own that tries node `n`
//!   first: a classic queue lives on the node of the connection that declared it, so each
//!   shard is led by a different node.
//!
//! When a node goes away its shard's queue goes with it, the hash ring routes among the shards
//! still bound, and the shard's connection fails over to the next node, where the shard is
//! declared again. The subscriber sees one stream: every shard merged.

use crate::amqp::{AmqpBus, AmqpConfig};
use crate::bus::{Bus, BusError, Delivery, QueueKind, Subscription, SubscriptionSpec};
use crate::events::Event;
use lapin::options::{ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use std::time::Duration;
use tokio::sync::mpsc;

/// Each shard's share of the hash ring (equal: the nodes are alike).
const SHARD_WEIGHT: &str = "1";

/// How long subscribing waits for the shards' connections, so that (as with one queue) a stat
/// published right after subscribing is routed to a shard. A broker that is away is not waited
/// for longer: the shards start consuming when it comes.
const SHARD_CONNECT_WAIT: Duration = Duration::from_secs(5);

/// What the consistent-hash exchange hashes a stat on: its `message_id`, the member (or, for a
/// cluster-wide figure, the cluster) it is about. `None` for events that are not health stats.
pub(crate) fn shard_key(event: &Event) -> Option<&str> {
    match event {
        Event::MemberHealthStatsEvent(e) => Some(&e.member.member_id),
        Event::ClusterRequestsInFlightEvent(e) => Some(&e.cluster_id),
        _ => None,
    }
}

/// Subscribe `spec` (lossy, holding at most `capacity` stats) as one shard per node of
/// `config`, merged into one stream.
pub(crate) async fn subscribe(
    config: &AmqpConfig,
    spec: SubscriptionSpec,
    capacity: usize,
) -> Result<Subscription, BusError> {
    let nodes = config.urls().len().max(1);
    let hash_exchange = format!("{}{}.shards", config.queue_prefix, spec.queue);
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let buses: Vec<AmqpBus> = (0..nodes)
        .map(|node| {
            let mut shard_config = config.clone();
            shard_config.url = crate::broker_urls::rotated(&config.url, node);
            shard_config.connection_name = format!("{} (shard {node})", config.connection_name);
            AmqpBus::start_shard(shard_config, hash_exchange.clone())
        })
        .collect();
    let deadline = tokio::time::Instant::now() + SHARD_CONNECT_WAIT;
    for bus in &buses {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Err(e) = bus.wait_connected(left).await {
            for bus in &buses {
                bus.close().await;
            }
            return Err(e);
        }
    }
    for (node, bus) in buses.into_iter().enumerate() {
        let shard_spec = SubscriptionSpec {
            queue: format!("{}.shard-{node}", spec.queue),
            kind: QueueKind::Lossy {
                capacity: capacity.div_ceil(nodes).max(1),
            },
            ..spec.clone()
        };
        let shard = match bus.subscribe(shard_spec).await {
            Ok(shard) => shard,
            Err(e) => {
                bus.close().await;
                return Err(e);
            }
        };
        tokio::spawn(merge(bus, shard, tx.clone()));
    }
    Ok(Subscription::from_receiver(rx))
}

/// Forward one shard into the merged stream until either side ends; the shard's connection
/// closes with it.
async fn merge(bus: AmqpBus, mut shard: Subscription, tx: mpsc::Sender<Delivery>) {
    loop {
        let delivery = tokio::select! {
            delivery = shard.next() => delivery,
            _ = tx.closed() => None,
        };
        let Some(delivery) = delivery else { break };
        if tx.send(delivery).await.is_err() {
            break;
        }
    }
    bus.close().await;
}

/// Bind a shard's queue: the hash exchange (declared here, idempotently: whichever shard comes
/// first makes it), bound from the topic exchange, and the queue bound to it.
pub(crate) async fn bind_shard(
    channel: &Channel,
    config: &AmqpConfig,
    hash_exchange: &str,
    spec: &SubscriptionSpec,
    queue: &str,
) -> Result<(), lapin::Error> {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "hash-property".into(),
        AMQPValue::LongString(LongString::from("message_id")),
    );
    channel
        .exchange_declare(
            hash_exchange.into(),
            ExchangeKind::Custom("x-consistent-hash".into()),
            ExchangeDeclareOptions {
                // Gone with the last shard bound to it (the subscriber is gone).
                auto_delete: true,
                ..ExchangeDeclareOptions::default()
            },
            arguments,
        )
        .await?;
    for pattern in &spec.patterns {
        channel
            .exchange_bind(
                hash_exchange.into(),
                config.exchange.as_str().into(),
                pattern.as_str().into(),
                ExchangeBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    channel
        .queue_bind(
            queue.into(),
            hash_exchange.into(),
            SHARD_WEIGHT.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{
        ClusterRequestsInFlightEvent, InstanceStatusEvent, MemberHealthStatsEvent, MemberRef,
    };

    fn member(id: &str) -> MemberRef {
        MemberRef {
            member_id: id.into(),
            ..MemberRef::default()
        }
    }

    #[test]
    fn stats_hash_on_what_they_describe_and_nothing_else_does() {
        let stat = Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
            member: member("m-7"),
            timestamp: 1,
            load_average: Some(1.0),
            memory_consumption: None,
            requests_in_flight: None,
        });
        assert_eq!(shard_key(&stat), Some("m-7"));
        let cluster = Event::ClusterRequestsInFlightEvent(ClusterRequestsInFlightEvent {
            cluster_id: "c-1".into(),
            cluster_instance_id: None,
            network_partition_id: None,
            requests_in_flight: 3.0,
            timestamp: 1,
        });
        assert_eq!(shard_key(&cluster), Some("c-1"));
        let status = Event::InstanceStartedEvent(InstanceStatusEvent {
            member: member("m-7"),
        });
        assert_eq!(shard_key(&status), None);
    }

    #[test]
    fn durable_queues_are_quorum_queues_on_a_cluster_only() {
        let one = AmqpConfig::new("amqp://g:g@a:5672/%2f");
        let cluster = AmqpConfig::new("amqp://g:g@a:5681/%2f,amqp://g:g@b:5682/%2f");
        assert!(!one.is_cluster());
        assert!(cluster.is_cluster());
        let kind = |c: &AmqpConfig| {
            crate::amqp::durable_queue_arguments(c)
                .inner()
                .get("x-queue-type")
                .cloned()
        };
        assert_eq!(kind(&one), None);
        assert_eq!(
            kind(&cluster),
            Some(AMQPValue::LongString(LongString::from("quorum")))
        );
    }
}
