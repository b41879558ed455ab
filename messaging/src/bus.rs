//! The `Bus` trait and its in-process implementation.
//!
//! The trait is shaped for AMQP: a subscription names a queue, binds routing-key patterns with
//! AMQP topic semantics, and says whether its queue is durable (lifecycle events: nothing may be
//! lost, the consumer acknowledges after its own commit) or lossy (health stats: bounded, stale
//! stats are worthless, overload drops messages instead of blocking publishers).

use crate::events::Event;
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What went wrong on the bus.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker (or the in-process bus) is closed or unreachable.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The broker refused this client for a reason retrying will not fix (credentials, an
    /// unknown virtual host, no permission on it).
    #[error("the broker refused the connection: {0}")]
    Refused(String),
    /// A publish was not confirmed by the broker.
    #[error("publish of {routing_key} not confirmed: {reason}")]
    NotConfirmed { routing_key: String, reason: String },
    /// A routing-key pattern is not valid.
    #[error("invalid topic pattern {0:?}")]
    InvalidPattern(String),
}

/// An AMQP topic pattern: words separated by `.`, `*` matches one word, `#` zero or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern(String);

impl TopicPattern {
    pub fn new(pattern: &str) -> Result<TopicPattern, BusError> {
        if pattern.is_empty() || pattern.split('.').any(str::is_empty) {
            return Err(BusError::InvalidPattern(pattern.to_string()));
        }
        Ok(TopicPattern(pattern.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, routing_key: &str) -> bool {
        let pattern: Vec<&str> = self.0.split('.').collect();
        let key: Vec<&str> = routing_key.split('.').collect();
        matches_words(&pattern, &key)
    }
}

fn matches_words(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| matches_words(rest, &key[skip..])),
        Some((word, rest)) => match key.split_first() {
            Some((k, key_rest)) => (*word == "*" || word == k) && matches_words(rest, key_rest),
            None => false,
        },
    }
}

/// How a subscription's queue behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Every message is kept until acknowledged (lifecycle events).
    Durable,
    /// At most `capacity` messages wait; beyond that messages are dropped (health stats).
    Lossy { capacity: usize },
}

/// What a consumer asks for.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    /// Queue name (durable queues survive consumer restarts on a real broker).
    pub queue: String,
    pub patterns: Vec<TopicPattern>,
    pub kind: QueueKind,
    /// Delete a durable queue after it has had no consumer for this long (per-member queues
    /// of agents that are gone). `None`: kept until deleted by an operator.
    pub expires_after: Option<std::time::Duration>,
}

impl SubscriptionSpec {
    pub fn new(queue: &str, patterns: &[&str], kind: QueueKind) -> Result<Self, BusError> {
        Ok(SubscriptionSpec {
            queue: queue.to_string(),
            patterns: patterns
                .iter()
                .map(|p| TopicPattern::new(p))
                .collect::<Result<_, _>>()?,
            kind,
            expires_after: None,
        })
    }

    /// See [`SubscriptionSpec::expires_after`].
    pub fn expiring_after(mut self, idle: std::time::Duration) -> Self {
        self.expires_after = Some(idle);
        self
    }
}

/// Settles a delivery with the broker. In-process deliveries need no settling.
#[async_trait]
pub trait Acknowledger: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    /// Reject; `requeue` puts the message back for another attempt, otherwise it is
    /// dead-lettered.
    async fn reject(&self, requeue: bool) -> Result<(), BusError>;
}

/// One received event.
pub struct Delivery {
    pub event: Event,
    acknowledger: Option<Box<dyn Acknowledger>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("routing_key", &self.event.routing_key())
            .finish()
    }
}

impl Delivery {
    pub fn new(event: Event, acknowledger: Option<Box<dyn Acknowledger>>) -> Self {
        Delivery {
            event,
            acknowledger,
        }
    }

    /// Acknowledge after the consumer has durably applied the event.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.acknowledger {
            Some(a) => a.ack().await,
            None => Ok(()),
        }
    }

    pub async fn reject(self, requeue: bool) -> Result<(), BusError> {
        match self.acknowledger {
            Some(a) => a.reject(requeue).await,
            None => Ok(()),
        }
    }
}

/// A stream of deliveries for one subscription.
pub struct Subscription {
    rx: mpsc::Receiver<Delivery>,
}

impl Subscription {
    pub fn from_receiver(rx: mpsc::Receiver<Delivery>) -> Self {
        Subscription { rx }
    }

    /// The next delivery; `None` once the bus has shut down.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

/// A message bus: the AMQP one for production, the in-process one for `alto dev` and tests.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publish; returns once the bus has taken responsibility for the message (for AMQP:
    /// after the publisher confirm).
    async fn publish(&self, event: &Event) -> Result<(), BusError>;
    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Subscription, BusError>;
    /// Whether messages flow right now. While they do not, silence proves nothing about a
    /// member (the controller suspends fault detection).
    async fn is_connected(&self) -> bool {
        true
    }
}

struct Subscriber {
    spec: SubscriptionSpec,
    tx: mpsc::Sender<Delivery>,
}

/// In-process bus: fan-out by topic pattern to every matching subscription.
///
/// Durable subscriptions get a very deep queue so a consumer that publishes while handling an
/// event can never deadlock against itself; lossy ones drop when full.
#[derive(Clone, Default)]
pub struct InProcessBus {
    subscribers: Arc<Mutex<Vec<Subscriber>>>,
}

/// Depth of a durable in-process queue. Publishing blocks (backpressure) beyond it.
const DURABLE_DEPTH: usize = 1 << 16;

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let key = event.routing_key();
        // Collect targets first: the lock must not be held across an await.
        let targets: Vec<(QueueKind, mpsc::Sender<Delivery>)> = {
            let mut subs = self
                .subscribers
                .lock()
                .map_err(|_| BusError::Unavailable("in-process bus lock poisoned".into()))?;
            subs.retain(|s| !s.tx.is_closed());
            subs.iter()
                .filter(|s| s.spec.patterns.iter().any(|p| p.matches(key)))
                .map(|s| (s.spec.kind, s.tx.clone()))
                .collect()
        };
        for (kind, tx) in targets {
            let delivery = Delivery::new(event.clone(), None);
            match kind {
                QueueKind::Durable => {
                    // A closed receiver means the consumer is gone; nothing to deliver to.
                    let _ = tx.send(delivery).await;
                }
                QueueKind::Lossy { .. } => {
                    if tx.try_send(delivery).is_err() {
                        tracing::debug!(routing_key = key, "lossy queue full, message dropped");
                    }
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Subscription, BusError> {
        let depth = match spec.kind {
            QueueKind::Durable => DURABLE_DEPTH,
            QueueKind::Lossy { capacity } => capacity.max(1),
        };
        let (tx, rx) = mpsc::channel(depth);
        self.subscribers
            .lock()
            .map_err(|_| BusError::Unavailable("in-process bus lock poisoned".into()))?
            .push(Subscriber { spec, tx });
        Ok(Subscription::from_receiver(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{InstanceCleanupMemberEvent, InstanceStatusEvent, MemberRef};

    #[test]
    fn topic_patterns_follow_amqp_semantics() {
        let p = |s: &str| TopicPattern::new(s).unwrap();
        assert!(p("topology.*").matches("topology.MemberActivatedEvent"));
        assert!(!p("topology.*").matches("instance.status.InstanceStartedEvent"));
        assert!(p("instance.#").matches("instance.status.InstanceStartedEvent"));
        assert!(p("#").matches("a.b.c"));
        assert!(
            p("instance.#.InstanceStartedEvent").matches("instance.status.InstanceStartedEvent")
        );
        assert!(!p("instance.*").matches("instance.status.InstanceStartedEvent"));
        assert!(TopicPattern::new("a..b").is_err());
        assert!(TopicPattern::new("").is_err());
    }

    #[tokio::test]
    async fn in_process_bus_routes_by_pattern() {
        let bus = InProcessBus::new();
        let mut status = bus
            .subscribe(
                SubscriptionSpec::new("cc", &["instance.status.*"], QueueKind::Durable).unwrap(),
            )
            .await
            .unwrap();
        let mut notifier = bus
            .subscribe(
                SubscriptionSpec::new("agent", &["instance.notifier.*"], QueueKind::Durable)
                    .unwrap(),
            )
            .await
            .unwrap();
        let started = Event::InstanceStartedEvent(InstanceStatusEvent {
            member: MemberRef {
                member_id: "m1".into(),
                ..MemberRef::default()
            },
        });
        let cleanup = Event::InstanceCleanupMemberEvent(InstanceCleanupMemberEvent {
            member_id: "m1".into(),
        });
        bus.publish(&started).await.unwrap();
        bus.publish(&cleanup).await.unwrap();
        assert_eq!(status.next().await.unwrap().event, started);
        assert_eq!(notifier.next().await.unwrap().event, cleanup);
        assert!(
            status.rx.try_recv().is_err(),
            "status queue got a notifier event"
        );
    }

    #[tokio::test]
    async fn lossy_queue_drops_instead_of_blocking() {
        let bus = InProcessBus::new();
        let mut sub = bus
            .subscribe(
                SubscriptionSpec::new("h", &["instance.#"], QueueKind::Lossy { capacity: 2 })
                    .unwrap(),
            )
            .await
            .unwrap();
        let e = Event::InstanceCleanupMemberEvent(InstanceCleanupMemberEvent {
            member_id: "m".into(),
        });
        for _ in 0..10 {
            bus.publish(&e).await.unwrap();
        }
        assert!(sub.next().await.is_some());
        assert!(sub.next().await.is_some());
        assert!(sub.rx.try_recv().is_err(), "more than capacity was kept");
    }
}
