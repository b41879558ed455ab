//! The AMQP bus: RabbitMQ through lapin.
//!
//! One topic exchange (`amq.topic` by default, so that RabbitMQ's MQTT plugin sees the same
//! events as `instance/status/InstanceStartedEvent`) carries every event under its Stratos
//! routing key. What each kind of subscription gets:
//!
//! - [`QueueKind::Durable`]: a durable queue whose messages are persistent and published with
//!   publisher confirms; the consumer acknowledges after its own commit; a rejected message
//!   goes to the dead-letter exchange. Nothing is lost while the consumer is down.
//! - [`QueueKind::Lossy`]: an exclusive, non-durable queue capped at `capacity` messages with
//!   `x-overflow=drop-head`: under overload the broker drops the *oldest* stats and publishers
//!   never block. Health stats are published without confirms (a stale stat is worthless).
//!   The consumer acknowledges each stat as it hands it over, so at most a prefetch window is
//!   in flight and the backlog stays in the capped queue, where the oldest go first.
//!
//! A message that cannot be decoded (unknown routing key, malformed body) is logged without its
//! body and dead-lettered; it never stops a consumer.
//!
//! The connection is supervised: when the broker goes away, publishes fail fast with
//! [`BusError::Unavailable`] (callers decide whether to buffer), subscriptions stay valid and are
//! re-declared and re-consumed on the next connection, with exponential reconnect backoff.
//!
//! Against a RabbitMQ cluster (`url` lists several nodes, [`crate::broker_urls`]) a connection
//! goes to the first node that answers and, when that node goes away, to the next; durable
//! queues are quorum queues (replicated: they outlive any one node) and lossy subscriptions to
//! health stats are sharded over the nodes ([`crate::amqp_shards`]). One node keeps classic queues: a queue's
//! type cannot change once declared, and installations upgraded in place keep theirs.

use crate::bus::{
    Acknowledger, Bus, BusError, Delivery, QueueKind, Subscription, SubscriptionSpec,
};
use crate::events::Event;
use async_trait::async_trait;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, RwLock};

/// Unacknowledged stats a lossy consumer may hold (acks go out every quarter of it).
const LOSSY_PREFETCH: u16 = 1024;

/// Routing-key prefix of health statistics (our design; Stratos used a Thrift stream).
pub const HEALTH_PREFIX: &str = "health.";

/// How to reach the broker and what to call things there.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost`, or the nodes of a cluster as a list of such
    /// URLs ([`crate::broker_urls`]). Never logged (it may hold a password).
    pub url: String,
    /// The topic exchange every event is published to.
    pub exchange: String,
    /// Fanout exchange (and queue of the same name) receiving rejected and undecodable messages.
    pub dead_letter_exchange: String,
    /// Prepended to every queue name and to the dead-letter exchange, so that several
    /// installations (or test runs) can share one broker without stealing each other's
    /// messages.
    pub queue_prefix: String,
    /// Shown in the broker's management UI.
    pub connection_name: String,
    /// Unacknowledged deliveries a durable consumer may hold.
    pub prefetch: u16,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// PEM certificates trusted for an `amqps://` broker besides the system's roots (a
    /// private CA). The broker's certificate is always verified, against its host name.
    pub ca_cert_pem: Option<String>,
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &redact_url(&self.url))
            .field("exchange", &self.exchange)
            .field("dead_letter_exchange", &self.dead_letter_exchange)
            .field("queue_prefix", &self.queue_prefix)
            .finish()
    }
}

impl AmqpConfig {
    /// The broker's nodes, in the order a connection tries them.
    pub fn urls(&self) -> Vec<&str> {
        crate::broker_urls::split(&self.url)
    }

    /// Whether `url` names the nodes of a cluster (quorum queues, sharded health stats).
    pub fn is_cluster(&self) -> bool {
        self.urls().len() > 1
    }

    /// The dead-letter exchange and queue name, with the prefix.
    pub fn dead_letter_name(&self) -> String {
        format!("{}{}", self.queue_prefix, self.dead_letter_exchange)
    }

    pub fn new(url: &str) -> Self {
        AmqpConfig {
            url: url.to_string(),
            exchange: "amq.topic".to_string(),
            dead_letter_exchange: "alto.dead-letter".to_string(),
            queue_prefix: String::new(),
            connection_name: "altostratus".to_string(),
            prefetch: 256,
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(5),
            ca_cert_pem: None,
        }
    }
}

/// `amqp://user:***@host:port/vhost`: the URL (or each URL of a list) without its password,
/// for logs and errors.
pub fn redact_url(url: &str) -> String {
    let urls = crate::broker_urls::split(url);
    if urls.len() > 1 {
        return urls
            .into_iter()
            .map(redact_one)
            .collect::<Vec<_>>()
            .join(",");
    }
    redact_one(url)
}

fn redact_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

struct Registered {
    spec: SubscriptionSpec,
    tx: mpsc::Sender<Delivery>,
    /// The connection generation this subscription is consuming on (0: none yet).
    generation: u64,
}

struct Link {
    generation: u64,
    connection: Connection,
    /// Publisher-confirm channel for everything that must not be lost.
    confirmed: Channel,
    /// Plain channel for health stats (fire and forget).
    plain: Channel,
}

struct Inner {
    config: AmqpConfig,
    link: RwLock<Option<Link>>,
    subscriptions: Mutex<Vec<Registered>>,
    /// Wakes the supervisor: a new subscription, or a lost connection.
    wake: Notify,
    /// Serializes consumer setup (subscribe and the supervisor both start consumers).
    setup: tokio::sync::Mutex<()>,
    closed: std::sync::atomic::AtomicBool,
    /// The last connection attempt's refusal, when the broker refused us (not merely away).
    refused: Mutex<Option<String>>,
    /// Index in `config.urls()` of the node the next connection tries first: the last one
    /// that let us in.
    node: AtomicUsize,
    /// Set on the connections of one shard of a sharded lossy subscription: the
    /// consistent-hash exchange its queue is bound to ([`crate::amqp_shards`]).
    shard_exchange: Option<String>,
}

impl Inner {
    /// The URL of the node the connection is on (or tries first).
    fn current_node(&self) -> String {
        let urls = self.config.urls();
        urls.get(self.node.load(Ordering::Relaxed))
            .map_or_else(|| self.config.url.clone(), |u| u.to_string())
    }
}

/// The RabbitMQ bus. Cheap to clone; one connection per value created with [`AmqpBus::connect`].
#[derive(Clone)]
pub struct AmqpBus {
    inner: Arc<Inner>,
}

impl AmqpBus {
    /// Start the connection supervisor. Returns at once: if the broker is not reachable yet,
    /// publishes fail with `Unavailable` until it is, and subscriptions start when it is.
    pub fn start(config: AmqpConfig) -> AmqpBus {
        AmqpBus::start_with(config, None)
    }

    /// A bus whose lossy subscriptions are shards bound to `shard_exchange`.
    pub(crate) fn start_shard(config: AmqpConfig, shard_exchange: String) -> AmqpBus {
        AmqpBus::start_with(config, Some(shard_exchange))
    }

    fn start_with(config: AmqpConfig, shard_exchange: Option<String>) -> AmqpBus {
        let inner = Arc::new(Inner {
            config,
            link: RwLock::new(None),
            subscriptions: Mutex::new(Vec::new()),
            wake: Notify::new(),
            setup: tokio::sync::Mutex::new(()),
            closed: std::sync::atomic::AtomicBool::new(false),
            refused: Mutex::new(None),
            node: AtomicUsize::new(0),
            shard_exchange,
        });
        tokio::spawn(supervise(Arc::downgrade(&inner)));
        AmqpBus { inner }
    }

    /// Like [`AmqpBus::start`], then wait up to `timeout` for the first connection.
    pub async fn connect(config: AmqpConfig, timeout: Duration) -> Result<AmqpBus, BusError> {
        let url = redact_url(&config.url);
        let bus = AmqpBus::start(config);
        let deadline = tokio::time::Instant::now() + timeout;
        while !bus.is_connected().await {
            if tokio::time::Instant::now() >= deadline {
                bus.close().await;
                return Err(BusError::Unavailable(format!(
                    "no connection to {url} within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(bus)
    }

    /// Wait up to `timeout` for the first connection: `Ok(true)` connected, `Ok(false)` not
    /// yet (the broker is away: the supervisor keeps trying), `Err(Refused)` as soon as the
    /// broker refuses us for a reason retrying will not fix (wrong credentials, an unknown
    /// virtual host — `amqp://host:5672/` names the empty one —, no permission).
    pub async fn wait_connected(&self, timeout: Duration) -> Result<bool, BusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_connected().await {
                return Ok(true);
            }
            if let Some(reason) = self.inner.refused.lock().ok().and_then(|r| r.clone()) {
                return Err(BusError::Refused(reason));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn is_connected(&self) -> bool {
        match self.inner.link.read().await.as_ref() {
            Some(link) => link.connection.status().connected(),
            None => false,
        }
    }

    /// Close the connection and stop reconnecting; subscriptions end.
    pub async fn close(&self) {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(link) = self.inner.link.write().await.take() {
            let _ = link.connection.close(200, "closing".into()).await;
        }
        if let Ok(mut subs) = self.inner.subscriptions.lock() {
            subs.clear();
        }
        self.inner.wake.notify_one();
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

#[async_trait]
impl Bus for AmqpBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let key = event.routing_key();
        let (channel, confirmed) = {
            let link = self.inner.link.read().await;
            let Some(link) = link.as_ref() else {
                return Err(BusError::Unavailable("not connected to the broker".into()));
            };
            if key.starts_with(HEALTH_PREFIX) {
                (link.plain.clone(), false)
            } else {
                (link.confirmed.clone(), true)
            }
        };
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(if confirmed { 2 } else { 1 });
        if let Some(key) = crate::amqp_shards::shard_key(event) {
            properties = properties.with_message_id(key.into());
        }
        let body = event.to_json();
        let result = async {
            let confirm = channel
                .basic_publish(
                    self.inner.config.exchange.as_str().into(),
                    key.into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?;
            if confirmed {
                confirm.await.map(Some)
            } else {
                Ok(None)
            }
        }
        .await;
        match result {
            Ok(Some(Confirmation::Nack(_))) => Err(BusError::NotConfirmed {
                routing_key: key.to_string(),
                reason: "broker nacked the message".into(),
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                // The connection is probably gone: let the supervisor find out now.
                self.inner.wake.notify_one();
                Err(BusError::NotConfirmed {
                    routing_key: key.to_string(),
                    reason: e.to_string(),
                })
            }
        }
    }

    async fn is_connected(&self) -> bool {
        AmqpBus::is_connected(self).await
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Subscription, BusError> {
        if let QueueKind::Lossy { capacity } = spec.kind {
            let health = spec
                .patterns
                .iter()
                .all(|p| p.as_str().starts_with(HEALTH_PREFIX));
            if health && self.inner.config.is_cluster() && self.inner.shard_exchange.is_none() {
                return crate::amqp_shards::subscribe(&self.inner.config, spec, capacity).await;
            }
        }
        let depth = match spec.kind {
            QueueKind::Durable => usize::from(self.inner.config.prefetch).max(1),
            QueueKind::Lossy { capacity } => capacity.max(1),
        };
        let (tx, rx) = mpsc::channel(depth);
        self.inner
            .subscriptions
            .lock()
            .map_err(|_| unavailable("subscription list poisoned"))?
            .push(Registered {
                spec,
                tx,
                generation: 0,
            });
        // When connected, consume before returning, so that a publish right after subscribe
        // is routed to the new queue; otherwise the supervisor starts it on connection.
        let generation = self.inner.link.read().await.as_ref().map(|l| l.generation);
        if let Some(generation) = generation {
            if let Err(e) = start_pending_consumers(&self.inner, generation).await {
                tracing::warn!(error = %e, "could not start a consumer; will retry");
                self.inner.wake.notify_one();
            }
        }
        Ok(Subscription::from_receiver(rx))
    }
}

/// Keeps one connection alive and every subscription consuming on it. Holds only a weak
/// reference between steps so that dropping the last `AmqpBus` ends it.
async fn supervise(weak: std::sync::Weak<Inner>) {
    let mut generation = 0u64;
    let mut delay: Option<Duration> = None;
    loop {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let Some(this) = weak.upgrade() else { return };
        if this.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Err(e) = connect_once(&this, generation + 1).await {
            let (min, max) = (this.config.reconnect_min, this.config.reconnect_max);
            match refusal(&e) {
                Some(reason) => {
                    // Retrying soon will not help: ask again at the slowest pace, and let
                    // whoever waits for the first connection give up with this reason.
                    // The first refusal before any connection is the waiter's to report
                    // (`wait_connected`); later ones are logged, at the slowest pace.
                    let repeated = this
                        .refused
                        .lock()
                        .map(|mut refused| refused.replace(reason.clone()).is_some())
                        .unwrap_or(true);
                    if repeated || generation > 0 {
                        tracing::error!(broker = %redact_url(&this.config.url), reason = %reason, "the broker refused the connection");
                    }
                    delay = Some(max);
                }
                None => {
                    tracing::warn!(broker = %redact_url(&this.config.url), error = %e, "broker connection failed; retrying");
                    delay = Some(delay.map_or(min, |d| (d * 2).min(max)));
                }
            }
            continue;
        }
        if let Ok(mut refused) = this.refused.lock() {
            *refused = None;
        }
        generation += 1;
        tracing::info!(broker = %redact_url(&this.current_node()), generation, "connected to the broker");
        drop(this);
        // Serve this connection until it breaks.
        loop {
            let Some(this) = weak.upgrade() else { return };
            if this.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            if !link_alive(&this).await {
                tracing::warn!(broker = %redact_url(&this.current_node()), "lost the broker connection; reconnecting");
                *this.link.write().await = None;
                delay = Some(this.config.reconnect_min);
                break;
            }
            if let Err(e) = start_pending_consumers(&this, generation).await {
                tracing::warn!(error = %e, "could not start a consumer; will retry");
            }
            let woken = async {
                tokio::select! {
                    _ = this.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            };
            woken.await;
        }
    }
}

async fn link_alive(inner: &Inner) -> bool {
    match inner.link.read().await.as_ref() {
        Some(link) => {
            link.connection.status().connected()
                && link.confirmed.status().connected()
                && link.plain.status().connected()
        }
        None => false,
    }
}

/// Why the broker refused us, when retrying will not fix it: wrong credentials
/// (ACCESS_REFUSED), an unknown virtual host or no permission on it (NOT_ALLOWED).
fn refusal(e: &lapin::Error) -> Option<String> {
    use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
    match e.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => match amqp.kind() {
            AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
            | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => {
                Some(amqp.get_message().to_string())
            }
            _ => None,
        },
        lapin::ErrorKind::AuthProviderError(message) => Some(message.clone()),
        // An amqps:// broker whose certificate we do not trust (unknown CA, wrong host name,
        // expired) will not become trusted by retrying.
        lapin::ErrorKind::IOError(io) if tls_verification_failed(io) => Some(format!(
            "TLS: the broker's certificate is not trusted: {io}"
        )),
        _ => None,
    }
}

/// Whether an I/O error is rustls refusing the peer's certificate (or the peer refusing our
/// handshake), as opposed to a broker that is away.
fn tls_verification_failed(io: &std::io::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = io.get_ref().map(|e| e as _);
    while let Some(e) = source {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(_)
            );
        }
        source = e.source();
    }
    let text = io.to_string();
    text.contains("invalid peer certificate") || text.contains("certificate")
}

/// Connect to the first node of the list that lets us in, starting from the last one that did.
/// When none does, the error is a refusal if any node refused us (retrying will not help),
/// else the last node's.
async fn connect_to_a_node(inner: &Inner) -> Result<Connection, lapin::Error> {
    let mut urls = inner.config.urls();
    if urls.is_empty() {
        // Not a URL at all: let lapin say what is wrong with it.
        urls.push(inner.config.url.as_str());
    }
    let first = inner.node.load(Ordering::Relaxed);
    let mut refused = None;
    let mut offset = 0;
    loop {
        let index = (first + offset) % urls.len();
        let properties = ConnectionProperties::default()
            .with_connection_name(inner.config.connection_name.as_str().into());
        let tls = lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: inner.config.ca_cert_pem.clone(),
        };
        let runtime = lapin::runtime::default_runtime()?;
        match Connection::connect_with_config(urls[index], properties, tls, runtime).await {
            Ok(connection) => {
                inner.node.store(index, Ordering::Relaxed);
                return Ok(connection);
            }
            Err(e) => {
                offset += 1;
                if offset >= urls.len() {
                    return Err(refused.unwrap_or(e));
                }
                tracing::debug!(broker = %redact_url(urls[index]), error = %e, "broker node not reachable; trying the next");
                if refused.is_none() && refusal(&e).is_some() {
                    refused = Some(e);
                }
            }
        }
    }
}

/// The `x-queue-type` argument of durable queues: quorum on a cluster.
pub(crate) fn durable_queue_arguments(config: &AmqpConfig) -> FieldTable {
    let mut arguments = FieldTable::default();
    if config.is_cluster() {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
    }
    arguments
}

async fn connect_once(inner: &Inner, generation: u64) -> Result<(), lapin::Error> {
    let connection = connect_to_a_node(inner).await?;
    let confirmed = connection.create_channel().await?;
    confirmed
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let plain = connection.create_channel().await?;
    // The dead-letter exchange and its queue: where rejected and undecodable messages wait
    // for an operator.
    let dlx_name = inner.config.dead_letter_name();
    let dlx = dlx_name.as_str();
    confirmed
        .exchange_declare(
            dlx.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    confirmed
        .queue_declare(
            dlx.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            durable_queue_arguments(&inner.config),
        )
        .await?;
    confirmed
        .queue_bind(
            dlx.into(),
            dlx.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    if inner.config.exchange != "amq.topic" {
        confirmed
            .exchange_declare(
                inner.config.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
    }
    *inner.link.write().await = Some(Link {
        generation,
        connection,
        confirmed,
        plain,
    });
    Ok(())
}

/// Declare, bind and consume every subscription not yet consuming on this connection.
async fn start_pending_consumers(inner: &Inner, generation: u64) -> Result<(), lapin::Error> {
    let _serialized = inner.setup.lock().await;
    let pending: Vec<(usize, SubscriptionSpec, mpsc::Sender<Delivery>)> = {
        let Ok(mut subs) = inner.subscriptions.lock() else {
            return Ok(());
        };
        subs.retain(|s| !s.tx.is_closed());
        subs.iter()
            .enumerate()
            .filter(|(_, s)| s.generation != generation)
            .map(|(i, s)| (i, s.spec.clone(), s.tx.clone()))
            .collect()
    };
    for (index, spec, tx) in pending {
        let channel = {
            let link = inner.link.read().await;
            match link.as_ref() {
                Some(link) if link.generation == generation => {
                    link.connection.create_channel().await?
                }
                _ => return Ok(()),
            }
        };
        consume(inner, &channel, &spec, tx).await?;
        if let Ok(mut subs) = inner.subscriptions.lock() {
            if let Some(s) = subs.get_mut(index) {
                if s.spec.queue == spec.queue {
                    s.generation = generation;
                }
            }
        }
        tracing::debug!(queue = %spec.queue, "consuming");
    }
    Ok(())
}

async fn consume(
    inner: &Inner,
    channel: &Channel,
    spec: &SubscriptionSpec,
    tx: mpsc::Sender<Delivery>,
) -> Result<(), lapin::Error> {
    let mut arguments = match spec.kind {
        QueueKind::Durable => durable_queue_arguments(&inner.config),
        QueueKind::Lossy { .. } => FieldTable::default(),
    };
    if let Some(idle) = spec.expires_after {
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::try_from(idle.as_millis()).unwrap_or(i64::MAX)),
        );
    }
    let (options, lossy, prefetch) = match spec.kind {
        QueueKind::Durable => {
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(LongString::from(inner.config.dead_letter_name())),
            );
            (
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                false,
                inner.config.prefetch,
            )
        }
        QueueKind::Lossy { capacity } => {
            arguments.insert(
                "x-max-length".into(),
                AMQPValue::LongLongInt(i64::try_from(capacity.max(1)).unwrap_or(i64::MAX)),
            );
            arguments.insert(
                "x-overflow".into(),
                AMQPValue::LongString(LongString::from("drop-head")),
            );
            (
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                true,
                // Stats are small and acknowledged in batches: a deeper window keeps the
                // broker streaming (bounded by the queue's own cap).
                LOSSY_PREFETCH.min(u16::try_from(capacity.max(1)).unwrap_or(u16::MAX)),
            )
        }
    };
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let queue = format!("{}{}", inner.config.queue_prefix, spec.queue);
    channel
        .queue_declare(queue.as_str().into(), options, arguments)
        .await?;
    match (&inner.shard_exchange, lossy) {
        (Some(hash_exchange), true) => {
            crate::amqp_shards::bind_shard(channel, &inner.config, hash_exchange, spec, &queue)
                .await?
        }
        _ => {
            for pattern in &spec.patterns {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        inner.config.exchange.as_str().into(),
                        pattern.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
    }
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
            ShortString::from(""),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let dead_letter = DeadLetter {
        channel: channel.clone(),
        exchange: inner.config.dead_letter_name(),
    };
    let ack_batch = usize::from(prefetch / 4).max(1);
    tokio::spawn(forward(consumer, tx, queue, lossy, dead_letter, ack_batch));
    Ok(())
}

#[derive(Clone)]
struct DeadLetter {
    channel: Channel,
    exchange: String,
}

impl DeadLetter {
    /// Park a message that cannot be used, with the reason in a header.
    async fn park(&self, delivery: &lapin::message::Delivery, reason: &str, lossy: bool) {
        if lossy {
            // A lossy queue has no x-dead-letter-exchange (its overflow would be dead-lettered
            // too): copy the message there, then drop it from its queue.
            let mut headers = FieldTable::default();
            headers.insert(
                "x-alto-error".into(),
                AMQPValue::LongString(LongString::from(reason.to_string())),
            );
            headers.insert(
                "x-alto-routing-key".into(),
                AMQPValue::LongString(LongString::from(delivery.routing_key.as_str().to_string())),
            );
            let _ = self
                .channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    delivery.routing_key.clone(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    BasicProperties::default().with_headers(headers),
                )
                .await;
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        } else {
            // The queue's x-dead-letter-exchange takes it, atomically.
            let _ = delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await;
        }
    }
}

async fn forward(
    mut consumer: lapin::Consumer,
    tx: mpsc::Sender<Delivery>,
    queue: String,
    lossy: bool,
    dead_letter: DeadLetter,
    ack_batch: usize,
) {
    // Lossy queues acknowledge in batches (`multiple`): one frame per `ack_batch` stats instead
    // of one per stat halves the broker's work per message. A quiet queue flushes after 50 ms.
    let mut unacked: Option<lapin::Acker> = None;
    let mut unacked_count = 0usize;
    async fn flush(unacked: &mut Option<lapin::Acker>, count: &mut usize) {
        if let Some(acker) = unacked.take() {
            let _ = acker.ack(BasicAckOptions { multiple: true }).await;
        }
        *count = 0;
    }
    loop {
        let item = if unacked.is_some() {
            tokio::select! {
                item = consumer.next() => item,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    flush(&mut unacked, &mut unacked_count).await;
                    continue;
                }
            }
        } else {
            consumer.next().await
        };
        let delivery = match item {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                tracing::debug!(queue = %queue, error = %e, "consumer ended");
                return;
            }
            None => return,
        };
        let key = delivery.routing_key.as_str();
        match Event::decode(key, &delivery.data) {
            Ok(event) => {
                // Durable: the subscriber acknowledges after its own commit. Lossy: handed
                // over is done; the broker's capped queue holds the backlog.
                let acknowledger: Option<Box<dyn Acknowledger>> = if lossy {
                    None
                } else {
                    Some(Box::new(LapinAck(delivery.acker.clone())))
                };
                if tx.send(Delivery::new(event, acknowledger)).await.is_err() {
                    // The subscriber is gone; unacknowledged messages return to the queue
                    // when the channel closes.
                    return;
                }
                if lossy {
                    unacked = Some(delivery.acker.clone());
                    unacked_count += 1;
                    if unacked_count >= ack_batch {
                        flush(&mut unacked, &mut unacked_count).await;
                    }
                }
            }
            Err(e) => {
                // Settle what was handed over first: the dead-letter path acknowledges this
                // delivery on its own, and a later `multiple` ack must not name it again.
                flush(&mut unacked, &mut unacked_count).await;
                // The error names the routing key and the JSON problem, never the body.
                tracing::warn!(queue = %queue, routing_key = %key, error = %e, "undecodable message dead-lettered");
                dead_letter.park(&delivery, &e.to_string(), lossy).await;
            }
        }
    }
}

struct LapinAck(lapin::Acker);

#[async_trait]
impl Acknowledger for LapinAck {
    async fn ack(&self) -> Result<(), BusError> {
        self.0
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn reject(&self, requeue: bool) -> Result<(), BusError> {
        self.0
            .reject(BasicRejectOptions { requeue })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("amqp://127.0.0.1"), "amqp://127.0.0.1");
        assert_eq!(redact_url("garbage"), "***");
        assert_eq!(
            redact_url("amqp://g:pw@a:1/%2f,amqp://g:pw@b:2/%2f"),
            "amqp://g:***@a:1/%2f,amqp://g:***@b:2/%2f"
        );
        let printed = format!("{:?}", AmqpConfig::new("amqp://u:pw@h/"));
        assert!(!printed.contains("pw"), "{printed}");
    }
}
