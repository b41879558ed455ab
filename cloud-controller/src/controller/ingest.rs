//! Status ingestion: the consumer of the durable `instance.status.*` queue.
//!
//! It only commits: each agent event is a compare-and-set transition in the registry (through
//! the group committer, many events' transitions to a transaction), acknowledged after the
//! commit, followed by the matching topology event. Events are applied concurrently in
//! [`LANES`] lanes chosen by member id, so one member's events keep their order. A duplicate is a
//! no-op; a late event that would move a member backwards is dropped. A member the controller
//! still has as `Created` or `Initialized` whose agent reports is caught up step by step (the
//! agent's report proves the instance runs). `ReadyToShutdown` hands the member to the
//! actuator, which terminates it in the background. When the registry fails the event is
//! retried after a growing delay, a bounded number of times, then dead-lettered with a log
//! line — on the in-process bus as on RabbitMQ, where the rejected message goes to the
//! dead-letter exchange.

use super::actuator::Actuator;
use super::group_commit::GroupCommitter;
use super::heartbeats::Heartbeats;
use super::topology::TopologyPublisher;
use crate::error::{ControllerError, Result};
use crate::metrics::{BusOutcome, Metrics};
use alto_registry::{Member, MemberWrite, RegistryError, Transition};
use backon::{BackoffBuilder, ExponentialBuilder};
use messaging::{Delivery, Event, MemberState, Subscription};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Events applied at once (each lane one at a time, in order).
const LANES: usize = 256;
/// Deliveries waiting in each lane.
const LANE_QUEUE: usize = 64;

/// Attempts after the first before an event is dead-lettered.
const RETRIES: usize = 5;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

pub(crate) struct StatusIngest {
    committer: Arc<GroupCommitter>,
    heartbeats: Arc<Heartbeats>,
    topology: Arc<TopologyPublisher>,
    actuator: Arc<super::actuator::Actuator>,
    metrics: Arc<Metrics>,
}

impl StatusIngest {
    pub(crate) fn new(
        committer: Arc<GroupCommitter>,
        heartbeats: Arc<Heartbeats>,
        topology: Arc<TopologyPublisher>,
        actuator: Arc<Actuator>,
        metrics: Arc<Metrics>,
    ) -> StatusIngest {
        StatusIngest {
            committer,
            heartbeats,
            topology,
            actuator,
            metrics,
        }
    }

    pub(crate) async fn run(self: Arc<Self>, queue: Subscription) {
        let me = self.clone();
        consume(queue, &self.metrics, RETRY, move |event| {
            let me = me.clone();
            async move { me.apply(&event).await }
        })
        .await;
    }

    /// Apply one agent event and count what became of it. Only registry failures are errors.
    pub(crate) async fn apply(&self, event: &Event) -> Result<()> {
        let outcome = self.apply_uncounted(event).await?;
        self.metrics.bus_message(event.name(), outcome);
        Ok(())
    }

    async fn apply_uncounted(&self, event: &Event) -> Result<BusOutcome> {
        let (target, member_ref) = match event {
            Event::InstanceStartedEvent(e) => (MemberState::Starting, &e.member),
            Event::InstanceActivatedEvent(e) => (MemberState::Active, &e.member),
            Event::InstanceMaintenanceModeEvent(e) => (MemberState::InMaintenance, &e.member),
            Event::InstanceReadyToShutdownEvent(e) => (MemberState::ReadyToShutDown, &e.member),
            _ => return Ok(BusOutcome::Consumed),
        };
        let outcome = catch_up(&self.committer, &member_ref.member_id, target).await;
        let moved = match outcome {
            Ok(moved) => moved,
            Err(ControllerError::Registry(RegistryError::IllegalTransition { .. })) => {
                tracing::info!(member = %member_ref.member_id, event = event.name(), "late or out-of-order event ignored");
                return Ok(BusOutcome::RefusedIllegalTransition);
            }
            Err(ControllerError::Registry(RegistryError::NotFound(_))) => {
                tracing::warn!(member = %member_ref.member_id, event = event.name(), "event for an unknown member ignored");
                return Ok(BusOutcome::RefusedUnknownMember);
            }
            Err(e) => return Err(e),
        };
        self.heartbeats.heard(&member_ref.member_id);
        for member in &moved {
            self.topology.member_state(member).await;
        }
        if let Some(member) = moved
            .last()
            .filter(|m| m.state == MemberState::ReadyToShutDown)
        {
            self.actuator
                .terminate_on_request(member, "agent ready to shut down")
                .await?;
        }
        Ok(BusOutcome::Consumed)
    }
}

/// How often and how late an event the registry could not apply is tried again.
#[derive(Debug, Clone, Copy)]
struct Redelivery {
    retries: usize,
    first: Duration,
    last: Duration,
}

const RETRY: Redelivery = Redelivery {
    retries: RETRIES,
    first: FIRST_RETRY,
    last: LAST_RETRY,
};

/// Apply each delivery in its member's lane; see [`apply_in_order`].
async fn consume<F, Fut>(mut queue: Subscription, metrics: &Metrics, policy: Redelivery, apply: F)
where
    F: Fn(Event) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let mut lanes = Vec::with_capacity(LANES);
    let mut workers = Vec::with_capacity(LANES);
    for _ in 0..LANES {
        let (tx, rx) = tokio::sync::mpsc::channel(LANE_QUEUE);
        lanes.push(tx);
        let apply = apply.clone();
        workers.push(apply_in_order(rx, metrics, policy, apply));
    }
    let dispatch = async move {
        while let Some(delivery) = queue.next().await {
            let lane = lane_of(&delivery);
            if lanes[lane].send(delivery).await.is_err() {
                return;
            }
        }
    };
    // The lanes end once the dispatcher (and with it their senders) is gone.
    tokio::join!(dispatch, futures_util::future::join_all(workers));
}

/// The lane of a delivery: by member id, so one member's events stay in order.
fn lane_of(delivery: &Delivery) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    delivery
        .event
        .member()
        .map(|m| m.member_id.as_str())
        .hash(&mut hasher);
    (hasher.finish() % LANES as u64) as usize
}

/// Apply each delivery of one lane; acknowledge after success; on failure try again after a
/// growing delay, `retries` times, then reject it without requeue (dead-letter) and count it.
async fn apply_in_order<F, Fut>(
    mut lane: tokio::sync::mpsc::Receiver<Delivery>,
    metrics: &Metrics,
    policy: Redelivery,
    apply: F,
) where
    F: Fn(Event) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    while let Some(delivery) = lane.recv().await {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(policy.first)
            .with_max_delay(policy.last)
            .with_max_times(policy.retries)
            .build();
        loop {
            match apply(delivery.event.clone()).await {
                Ok(()) => {
                    let _ = delivery.ack().await;
                    break;
                }
                Err(e) => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(event = delivery.event.name(), error = %e, retry_in = ?delay, "could not apply event");
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        metrics.bus_message(delivery.event.name(), BusOutcome::DeadLettered);
                        let member = delivery.event.member().map(|m| m.member_id.clone());
                        tracing::error!(event = delivery.event.name(), member = ?member, error = %e, attempts = policy.retries + 1, "event dead-lettered");
                        let _ = delivery.reject(false).await;
                        break;
                    }
                },
            }
        }
    }
}

/// Move the member to `target`, through the states it skipped when it is still `Created` or
/// `Initialized` and its agent already reports starting or running. Returns the member after
/// each move, in order.
async fn catch_up(
    committer: &GroupCommitter,
    member_id: &str,
    target: MemberState,
) -> Result<Vec<Member>> {
    let transition = |to: MemberState| {
        committer.write(MemberWrite::Transition {
            member_id: member_id.to_string(),
            to,
        })
    };
    let mut moved = Vec::new();
    // At most two catch-up steps (Created → Initialized → Starting) precede the target.
    for _ in 0..3 {
        match transition(target).await {
            Ok(Transition::Moved { member, .. }) => {
                moved.push(member);
                return Ok(moved);
            }
            Ok(Transition::Unchanged(_)) => return Ok(moved),
            Err(ControllerError::Registry(RegistryError::IllegalTransition {
                member_id,
                source,
            })) => {
                let step = match (source.from, target) {
                    (
                        MemberState::Created,
                        MemberState::Starting | MemberState::Active | MemberState::InMaintenance,
                    ) => MemberState::Initialized,
                    (
                        MemberState::Initialized,
                        MemberState::Active | MemberState::InMaintenance,
                    ) => MemberState::Starting,
                    _ => return Err(RegistryError::IllegalTransition { member_id, source }.into()),
                };
                if let Transition::Moved { member, .. } = transition(step).await? {
                    moved.push(member);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging::events::{InstanceStatusEvent, MemberRef};
    use messaging::{Bus, InProcessBus, QueueKind, SubscriptionSpec};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn started(member_id: &str) -> Event {
        Event::InstanceStartedEvent(InstanceStatusEvent {
            member: MemberRef {
                service_name: "php".into(),
                cluster_id: "c".into(),
                cluster_instance_id: None,
                network_partition_id: "np".into(),
                partition_id: "p".into(),
                member_id: member_id.into(),
            },
        })
    }

    /// A registry failure is retried after a delay, a bounded number of times, then the event
    /// is dead-lettered — and the next event is applied.
    #[tokio::test]
    async fn failing_events_are_retried_then_dead_lettered_without_a_hot_loop() {
        let bus = InProcessBus::new();
        let queue = bus
            .subscribe(
                SubscriptionSpec::new("q", &["instance.status.*"], QueueKind::Durable).unwrap(),
            )
            .await
            .unwrap();
        bus.publish(&started("poison")).await.unwrap();
        bus.publish(&started("flaky")).await.unwrap();
        bus.publish(&started("fine")).await.unwrap();
        let attempts: Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>> = Arc::default();
        let flaky_failures = Arc::new(AtomicUsize::new(0));
        let metrics = Arc::new(Metrics::new());
        let policy = Redelivery {
            retries: 3,
            first: Duration::from_millis(20),
            last: Duration::from_millis(80),
        };
        let (log, flaky, dead2) = (attempts.clone(), flaky_failures.clone(), metrics.clone());
        let consumer = tokio::spawn(async move {
            consume(queue, &dead2, policy, move |event| {
                let (log, flaky) = (log.clone(), flaky.clone());
                async move {
                    let id = event
                        .member()
                        .map(|m| m.member_id.clone())
                        .unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .push((id.clone(), std::time::Instant::now()));
                    match id.as_str() {
                        "poison" => Err(ControllerError::Internal("database down".into())),
                        "flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => {
                            Err(ControllerError::Internal("busy".into()))
                        }
                        _ => Ok(()),
                    }
                }
            })
            .await
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // Events of other members are applied meanwhile (in other lanes); the poison one's
        // own lane is done once it is dead-lettered.
        let dead_lettered =
            "alto_bus_messages_dead_lettered_total{kind=\"InstanceStartedEvent\"} 1\n";
        loop {
            let fine = attempts.lock().unwrap().iter().any(|(id, _)| id == "fine");
            if fine && metrics.render(&[], &[], false).contains(dead_lettered) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the queue stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        consumer.abort();
        let log = attempts.lock().unwrap().clone();
        let poison: Vec<_> = log.iter().filter(|(id, _)| id == "poison").collect();
        assert_eq!(poison.len(), 4, "first attempt + 3 retries: {log:?}");
        for pair in poison.windows(2) {
            assert!(
                pair[1].1 - pair[0].1 >= Duration::from_millis(15),
                "retries are spaced, not a hot loop"
            );
        }
        let text = metrics.render(&[], &[], false);
        assert!(
            text.contains(
                "alto_bus_messages_dead_lettered_total{kind=\"InstanceStartedEvent\"} 1\n"
            ),
            "only the poison event is dead-lettered: {text}"
        );
        assert_eq!(log.iter().filter(|(id, _)| id == "flaky").count(), 3);
    }
}
