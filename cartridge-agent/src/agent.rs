//! The agent's lifecycle (Stratos 4.1):
//!
//! ```text
//! start ─► publish InstanceStartedEvent ─► hook InstanceStartedEvent ─► hook StartServers
//!       ─► wait until every PORT accepts connections ─► publish InstanceActivatedEvent
//!       ─► health stats every interval
//! InstanceCleanupMemberEvent (for this member, or InstanceCleanupClusterEvent for its cluster)
//!       ─► publish InstanceMaintenanceModeEvent ─► hook clean ─► publish InstanceReadyToShutdownEvent
//! SIGTERM / SIGINT ─► flush what is still to be published (bounded) ─► exit 0
//! ```
//!
//! Lifecycle events go through an [`Outbox`]: kept in order, retried with backoff while the
//! broker is away, bounded. Health stats are sent directly and dropped when the broker is away
//! (a stale stat is worthless).

use crate::config::AgentConfig;
use crate::health;
use crate::hooks::{self, Hooks};
use messaging::events::{InstanceStatusEvent, MemberHealthStatsEvent};
use messaging::{AmqpBus, AmqpConfig, Bus, Event, QueueKind, SubscriptionSpec};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Lifecycle events waiting for the broker. An agent publishes a handful in its life, so the
/// bound only guards against a bug looping; beyond it new events are refused loudly.
pub const OUTBOX_CAPACITY: usize = 1024;

/// Ordered, bounded, retrying publisher of lifecycle events.
#[derive(Clone)]
pub struct Outbox {
    queue: Arc<Mutex<VecDeque<Event>>>,
    /// Something was queued.
    changed: Arc<Notify>,
}

impl Outbox {
    /// Start draining into `bus`.
    pub fn start(bus: Arc<dyn Bus>) -> Outbox {
        let outbox = Outbox {
            queue: Arc::new(Mutex::new(VecDeque::new())),
            changed: Arc::new(Notify::new()),
        };
        tokio::spawn(outbox.clone().drain(bus));
        outbox
    }

    /// Queue an event; false when the outbox is full (the event is not queued).
    pub fn push(&self, event: Event) -> bool {
        let Ok(mut queue) = self.queue.lock() else {
            return false;
        };
        if queue.len() >= OUTBOX_CAPACITY {
            tracing::error!(event = event.name(), "outbox full; lifecycle event refused");
            return false;
        }
        queue.push_back(event);
        drop(queue);
        self.changed.notify_one();
        true
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().map(|q| q.len()).unwrap_or(0)
    }

    /// Wait until everything queued so far is published, or `timeout`.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    async fn drain(self, bus: Arc<dyn Bus>) {
        let mut delay = Duration::from_millis(100);
        loop {
            let head = self.queue.lock().ok().and_then(|q| q.front().cloned());
            let Some(event) = head else {
                self.changed.notified().await;
                continue;
            };
            match bus.publish(&event).await {
                Ok(()) => {
                    if let Ok(mut q) = self.queue.lock() {
                        q.pop_front();
                    }
                    delay = Duration::from_millis(100);
                    tracing::info!(event = event.name(), "published");
                }
                Err(e) => {
                    tracing::warn!(event = event.name(), error = %e, retry_in = ?delay, "publish failed; will retry");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// Wait until every port accepts a TCP connection on the loopback, or `timeout`.
pub async fn wait_for_ports(ports: &[u16], timeout: Duration) -> Result<(), Vec<u16>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut closed = Vec::new();
        for &port in ports {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                closed.push(port);
            }
        }
        if closed.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(closed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where the agent is in its life (for logs and the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Active,
    /// Ports never opened: not activated; the controller's start timeout replaces the member.
    Failed,
    ReadyToShutDown,
}

pub struct Agent {
    config: AgentConfig,
    bus: Arc<dyn Bus>,
    outbox: Outbox,
    hooks: Arc<Hooks>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> Agent {
        let mut amqp = AmqpConfig::new(&config.amqp_url);
        amqp.exchange = config.exchange.clone();
        amqp.queue_prefix = config.queue_prefix.clone();
        amqp.ca_cert_pem = config.amqp_ca_cert.clone();
        amqp.connection_name = format!("cartridge-agent {}", config.member.member_id);
        let bus: Arc<dyn Bus> = Arc::new(AmqpBus::start(amqp));
        Agent::with_bus(config, bus)
    }

    pub fn with_bus(config: AgentConfig, bus: Arc<dyn Bus>) -> Agent {
        let hooks = Arc::new(Hooks::new(
            &config.extensions_dir,
            config.hook_env(),
            &config.log_dir,
            config.hook_timeout,
        ));
        Agent {
            outbox: Outbox::start(bus.clone()),
            bus,
            hooks,
            config,
        }
    }

    fn status(&self) -> InstanceStatusEvent {
        InstanceStatusEvent {
            member: self.config.member.clone(),
        }
    }

    /// Run until `shutdown` resolves (SIGTERM in the binary).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Phase {
        let member_id = self.config.member.member_id.clone();
        // Our own durable queue for notifier events: a cleanup request sent while we are
        // reconnecting waits for us. It disappears 10 minutes after we are gone.
        let mut notifier = match SubscriptionSpec::new(
            &format!("cartridge-agent.{member_id}"),
            &["instance.notifier.*"],
            QueueKind::Durable,
        ) {
            Ok(spec) => {
                let spec = spec.expiring_after(Duration::from_secs(600));
                match self.bus.subscribe(spec).await {
                    Ok(sub) => Some(sub),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot subscribe to notifier events");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "bad notifier pattern");
                None
            }
        };

        let mut phase = Phase::Starting;
        self.outbox.push(Event::InstanceStartedEvent(self.status()));
        let startup = {
            let hooks = self.hooks.clone();
            let ports = self.config.ports.clone();
            let timeout = self.config.port_check_timeout;
            tokio::spawn(async move {
                for name in [hooks::INSTANCE_STARTED, hooks::START_SERVERS] {
                    if let Err(e) = hooks.run(name, "InstanceStartedEvent").await {
                        tracing::error!(error = %e, "hook failed");
                    }
                }
                wait_for_ports(&ports, timeout).await
            })
        };
        tokio::pin!(startup);
        let mut startup_done = false;
        let mut health = tokio::time::interval(self.config.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);

        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                result = &mut startup, if !startup_done => {
                    startup_done = true;
                    match result {
                        Ok(Ok(())) if phase == Phase::Starting => {
                            self.outbox.push(Event::InstanceActivatedEvent(self.status()));
                            phase = Phase::Active;
                        }
                        Ok(Ok(())) => {}
                        Ok(Err(closed)) => {
                            tracing::error!(ports = ?closed, timeout = ?self.config.port_check_timeout, "ports never opened; not activating");
                            phase = Phase::Failed;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "startup task failed");
                            phase = Phase::Failed;
                        }
                    }
                }
                _ = health.tick(), if phase == Phase::Active => {
                    self.publish_health().await;
                }
                delivery = next_notifier(&mut notifier) => {
                    let Some(delivery) = delivery else {
                        notifier = None;
                        continue;
                    };
                    let for_us = match &delivery.event {
                        Event::InstanceCleanupMemberEvent(e) => e.member_id == member_id,
                        Event::InstanceCleanupClusterEvent(e) => e.cluster_id == self.config.member.cluster_id,
                        _ => false,
                    };
                    if for_us && phase != Phase::ReadyToShutDown {
                        // Health stats and activation stop while cleaning up: this select
                        // arm runs to completion first.
                        self.clean_up().await;
                        phase = Phase::ReadyToShutDown;
                    }
                    let _ = delivery.ack().await;
                }
            }
        }
        if !self.outbox.flush(Duration::from_secs(5)).await {
            tracing::warn!(
                pending = self.outbox.pending(),
                "stopping with unpublished lifecycle events"
            );
        }
        tracing::info!(?phase, "agent stopped");
        phase
    }

    async fn clean_up(&self) {
        self.outbox
            .push(Event::InstanceMaintenanceModeEvent(self.status()));
        if let Err(e) = self
            .hooks
            .run(hooks::CLEAN, "InstanceCleanupMemberEvent")
            .await
        {
            // Stratos goes on to ReadyToShutdown even when cleanup fails: the member is
            // leaving either way, and the controller's timeout is the backstop.
            tracing::error!(error = %e, "clean hook failed");
        }
        self.outbox
            .push(Event::InstanceReadyToShutdownEvent(self.status()));
    }

    async fn requests_in_flight(&self) -> Option<f64> {
        if let Some(v) = self
            .hooks
            .read_number(hooks::REQUESTS_IN_FLIGHT, "MemberHealthStatsEvent")
            .await
        {
            return Some(v);
        }
        let path = self.config.requests_in_flight_file.as_ref()?;
        hooks::parse_number(&tokio::fs::read_to_string(path).await.ok()?)
    }

    async fn publish_health(&self) {
        let (load_average, memory_consumption) = health::sample();
        let event = Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
            member: self.config.member.clone(),
            timestamp: now_millis(),
            load_average,
            memory_consumption,
            requests_in_flight: self.requests_in_flight().await,
        });
        if let Err(e) = self.bus.publish(&event).await {
            tracing::debug!(error = %e, "health stat dropped");
        }
    }
}

async fn next_notifier(sub: &mut Option<messaging::Subscription>) -> Option<messaging::Delivery> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use messaging::events::InstanceCleanupMemberEvent;
    use messaging::InProcessBus;

    fn config(dir: &std::path::Path, port: u16) -> AgentConfig {
        let payload = dir.join("payload/launch-params");
        std::fs::create_dir_all(payload.parent().unwrap()).unwrap();
        std::fs::write(
            &payload,
            format!(
                "SERVICE_NAME=php,CLUSTER_ID=c1,MEMBER_ID=m1,NETWORK_PARTITION_ID=np,PARTITION_ID=p,PORTS={port}"
            ),
        )
        .unwrap();
        AgentConfig::load(
            &payload,
            None,
            Overrides {
                amqp_url: Some("amqp://unused/".into()),
                health_interval: Some(Duration::from_millis(100)),
                port_check_timeout: Some(Duration::from_secs(5)),
                ..Overrides::default()
            },
        )
        .unwrap()
    }

    async fn expect(sub: &mut messaging::Subscription, name: &str) -> Event {
        loop {
            let d = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .unwrap_or_else(|_| panic!("no {name}"))
                .unwrap();
            if d.event.name() == name {
                return d.event;
            }
        }
    }

    /// The whole lifecycle on the in-process bus: hooks run, the port gates activation,
    /// health flows, cleanup runs the clean hook, SIGTERM stops it.
    #[tokio::test]
    async fn lifecycle_in_order_with_hooks() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cfg = config(dir.path(), port);
        let ext = dir.path().join("extensions");
        std::fs::create_dir_all(&ext).unwrap();
        let marks = dir.path().join("marks");
        std::fs::write(
            ext.join("StartServers.sh"),
            format!("echo start-servers >> {}\n", marks.display()),
        )
        .unwrap();
        std::fs::write(
            ext.join("clean.sh"),
            format!("echo clean-$STRATOS_MEMBER_ID >> {}\n", marks.display()),
        )
        .unwrap();

        let bus = InProcessBus::new();
        let mut status = bus
            .subscribe(
                SubscriptionSpec::new("cc", &["instance.status.*"], QueueKind::Durable).unwrap(),
            )
            .await
            .unwrap();
        let mut stats = bus
            .subscribe(
                SubscriptionSpec::new("h", &["health.#"], QueueKind::Lossy { capacity: 100 })
                    .unwrap(),
            )
            .await
            .unwrap();
        let agent = Agent::with_bus(cfg, Arc::new(bus.clone()));
        let stop = Arc::new(Notify::new());
        let stopper = stop.clone();
        let run = tokio::spawn(async move { agent.run(stopper.notified()).await });

        expect(&mut status, "InstanceStartedEvent").await;
        // Not active while the port is closed.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(10), status.next())
                .await
                .is_err(),
            "activated before its port opened"
        );
        let _server = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        expect(&mut status, "InstanceActivatedEvent").await;
        match expect(&mut stats, "MemberHealthStatsEvent").await {
            Event::MemberHealthStatsEvent(s) => {
                assert_eq!(s.member.member_id, "m1");
                assert!(s.load_average.is_some() && s.memory_consumption.is_some());
            }
            other => panic!("{other:?}"),
        }
        // A cleanup for another member is not ours.
        bus.publish(&Event::InstanceCleanupMemberEvent(
            InstanceCleanupMemberEvent {
                member_id: "other".into(),
            },
        ))
        .await
        .unwrap();
        bus.publish(&Event::InstanceCleanupMemberEvent(
            InstanceCleanupMemberEvent {
                member_id: "m1".into(),
            },
        ))
        .await
        .unwrap();
        expect(&mut status, "InstanceMaintenanceModeEvent").await;
        expect(&mut status, "InstanceReadyToShutdownEvent").await;
        stop.notify_one();
        let phase = run.await.unwrap();
        assert_eq!(phase, Phase::ReadyToShutDown);
        assert_eq!(
            std::fs::read_to_string(&marks).unwrap(),
            "start-servers\nclean-m1\n"
        );
    }

    /// A bus that refuses publishes until told otherwise: the outbox keeps order and retries.
    #[derive(Default)]
    struct Flaky {
        up: std::sync::atomic::AtomicBool,
        inner: InProcessBus,
    }

    #[async_trait::async_trait]
    impl Bus for Flaky {
        async fn publish(&self, event: &Event) -> Result<(), messaging::BusError> {
            if self.up.load(std::sync::atomic::Ordering::SeqCst) {
                self.inner.publish(event).await
            } else {
                Err(messaging::BusError::Unavailable("down".into()))
            }
        }
        async fn subscribe(
            &self,
            spec: SubscriptionSpec,
        ) -> Result<messaging::Subscription, messaging::BusError> {
            self.inner.subscribe(spec).await
        }
    }

    #[tokio::test]
    async fn outbox_keeps_order_through_an_outage() {
        let flaky = Arc::new(Flaky::default());
        let mut sub = flaky
            .subscribe(
                SubscriptionSpec::new("cc", &["instance.status.*"], QueueKind::Durable).unwrap(),
            )
            .await
            .unwrap();
        let outbox = Outbox::start(flaky.clone());
        let member = messaging::events::MemberRef::default();
        let events = [
            Event::InstanceStartedEvent(InstanceStatusEvent {
                member: member.clone(),
            }),
            Event::InstanceActivatedEvent(InstanceStatusEvent {
                member: member.clone(),
            }),
            Event::InstanceMaintenanceModeEvent(InstanceStatusEvent { member }),
        ];
        for e in &events {
            assert!(outbox.push(e.clone()));
        }
        assert!(!outbox.flush(Duration::from_millis(300)).await);
        assert_eq!(outbox.pending(), 3);
        flaky.up.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(outbox.flush(Duration::from_secs(10)).await);
        for e in &events {
            assert_eq!(&sub.next().await.unwrap().event, e);
        }
        for _ in 0..OUTBOX_CAPACITY {
            outbox.push(events[0].clone());
        }
        flaky.up.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut refused = false;
        for _ in 0..=OUTBOX_CAPACITY {
            refused |= !outbox.push(events[0].clone());
        }
        assert!(refused, "the outbox is bounded");
    }
}
