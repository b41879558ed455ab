//! The `mock` provider: a simulated cloud inside the controller process.
//!
//! As Stratos 4.1's mock IaaS does, it also stands in for the cartridge agent: it answers the
//! controller's topology and cleanup events with the instance status events a real agent would
//! publish, and it publishes health statistics from the mock-iaas.xml patterns.
//!
//! Properties (per provider, overridable down the cascade per cartridge/partition):
//! - `mock.start.latency.ms`: how long a start takes (default 0). As in a real cloud the
//!   instance exists (and is persisted) from the moment the call is accepted: it is recorded
//!   before the wait, so `describe_instances` sees it while the start is still under way and a
//!   controller killed during the wait leaves an instance the cloud knows.
//! - `mock.terminate.latency.ms`: how long a termination takes (default 0), provider level;
//!   the instance is listed until the wait is over.
//! - `mock.fail.start`: make starts fail with this error class (`quota`, `capacity`,
//!   `rate-limited`, `auth`, `invalid-request`, `transient`).
//! - `mock.fail.start.times`: only the first N starts fail (default: all of them).
//! - `mock.fail.start.ratio`: only this fraction (0..1) of starts fails, with the
//!   `mock.fail.start` class (`transient` when only the ratio is given). The failures are
//!   spread deterministically so that a test can count attempts: start number n (from 0, over
//!   the life of the state file; a repeated start of a member with an instance does not count)
//!   fails when floor((n+1)·r) > floor(n·r), so with 0.2 the 5th, 10th, ... start fails.
//! - `mock.agent`: `false` to simulate an agent that never reports (default `true`).
//! - `mock.agent.delay.ms`: delay of each simulated agent step (default 100).
//! - `mock.stats.interval.secs`: health-stat period, provider level (default 15).
//! - `mock.max.payload.bytes`: the user-data limit the mock declares (default none), provider
//!   level; a larger payload is refused like a real cloud would.
//!
//! `mock.endpoint` (`http://ADDR`, provider level): the cloud is not simulated here but in the
//! `alto mock-cloud` process at ADDR, shared by every controller replica as a real cloud is;
//! [`remote::RemoteMock`] talks to it over HTTP (the protocol is in [`wire`]).
//!
//! The simulated agents' status events must not be lost while the broker is away: a failed
//! publish of one is retried with bounded exponential backoff (up to
//! [`STATUS_PUBLISH_PATIENCE`]); health stats are fire-and-forget, as an agent's are.
//!
//! Starts are idempotent, as a start with an EC2 ClientToken is: a start for a member that
//! already has an instance (tag [`TAG_MEMBER_ID`]) returns that instance, without a second
//! instance or address. Injected failures fail before anything is recorded. Neither latency
//! holds the state lock: other calls proceed while a start or a termination waits.
//!
//! The simulated instances are kept in `<state_dir>/mock-<type>.json` so that, like a real
//! cloud's, they outlive a restart of the controller. Its shape (tools read it, tests plant
//! instances in it while the controller is stopped): `{"next_address": N,
//! "injected_failures": N, "starts": N, "log_seq": N, "instances": {"<instance id>":
//! {"instance_id", "member" (a camelCase `MemberRef`), "tags", "private_ip", "public_ip",
//! "payload", "agent", "agent_delay_ms"}}}`. Every change is in the append-only log
//! `mock-<type>.log` beside it before the call that made it returns, so a change costs the
//! same with ten instances or a million; the file itself is rewritten from the log in the
//! background (about a second behind at most), at start and on a clean shutdown, when it is
//! exact. An instance planted in the file while no process holds it is seen at the next start,
//! and a log left by a crash is replayed onto it ([`journal`] says how).

use crate::error::{ErrorClass, IaasError};
use crate::registry::DriverContext;
use crate::types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, InstanceState, Properties,
    ProviderSpec, TAG_MEMBER_ID,
};
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use journal::{Counters, EntryRef, Journal};
use messaging::events::{InstanceStatusEvent, MemberHealthStatsEvent, MemberRef};
use messaging::{Bus, Event, QueueKind, SubscriptionSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which metric a pattern drives (mock-iaas.xml `pattern@factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthFactor {
    MemoryConsumption,
    LoadAverage,
    RequestsInFlight,
}

/// What happens after the last sample (mock-iaas.xml `pattern@mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternMode {
    /// Start again from the first sample.
    Loop,
    /// Keep reporting the last sample.
    Continue,
    /// Stop reporting this factor.
    Stop,
}

/// One health pattern: each value is held for `sample_duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPattern {
    pub factor: HealthFactor,
    pub mode: PatternMode,
    pub sample_values: Vec<f64>,
    pub sample_duration: Duration,
}

impl HealthPattern {
    /// The value at `elapsed` since the pattern started, or `None` when it has stopped.
    pub fn value_at(&self, elapsed: Duration) -> Option<f64> {
        let len = self.sample_values.len();
        if len == 0 {
            return None;
        }
        let step = self.sample_duration.as_secs_f64().max(0.001);
        let index = (elapsed.as_secs_f64() / step) as usize;
        let index = match self.mode {
            PatternMode::Loop => index % len,
            PatternMode::Continue => index.min(len - 1),
            PatternMode::Stop if index >= len => return None,
            PatternMode::Stop => index,
        };
        self.sample_values.get(index).copied()
    }
}

/// Patterns per cartridge type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthPatterns {
    pub by_cartridge: HashMap<String, Vec<HealthPattern>>,
}

impl HealthPatterns {
    /// The stats a member of `cartridge_type` reports `elapsed` after the generator started.
    pub fn sample(
        &self,
        cartridge_type: &str,
        elapsed: Duration,
    ) -> (Option<f64>, Option<f64>, Option<f64>) {
        let mut load = None;
        let mut memory = None;
        let mut rif = None;
        for pattern in self.by_cartridge.get(cartridge_type).into_iter().flatten() {
            let value = pattern.value_at(elapsed);
            match pattern.factor {
                HealthFactor::LoadAverage => load = value,
                HealthFactor::MemoryConsumption => memory = value,
                HealthFactor::RequestsInFlight => rif = value,
            }
        }
        (load, memory, rif)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MockInstance {
    instance_id: String,
    member: MemberRef,
    tags: BTreeMap<String, String>,
    private_ip: String,
    public_ip: String,
    /// The user data, as a cloud keeps it (contains CARTRIDGE_KEY; never logged).
    payload: String,
    agent: bool,
    agent_delay_ms: u64,
}

impl MockInstance {
    fn is_member(&self, member_id: &str) -> bool {
        self.tags.get(TAG_MEMBER_ID).map(String::as_str) == Some(member_id)
    }
}

/// The simulated cloud. Instances are shared (`Arc`) so that a compaction copies the list,
/// not the instances, under the lock.
#[derive(Debug, Default)]
struct MockState {
    counters: Counters,
    instances: BTreeMap<Arc<str>, Arc<MockInstance>>,
    /// Member id (tag [`TAG_MEMBER_ID`]) → its instance: a start finds a member's instance
    /// without a scan. Starts are idempotent, so a member has one instance.
    by_member: HashMap<String, Arc<str>>,
    /// Sequence number of the last change logged.
    seq: u64,
    /// Changes not yet compacted into the snapshot.
    dirty: bool,
}

impl MockState {
    fn put(&mut self, id: Arc<str>, instance: Arc<MockInstance>) {
        if let Some(member) = instance.tags.get(TAG_MEMBER_ID) {
            self.by_member
                .entry(member.clone())
                .or_insert_with(|| id.clone());
        }
        self.instances.insert(id, instance);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<MockInstance>> {
        let removed = self.instances.remove(id)?;
        if let Some(member) = removed.tags.get(TAG_MEMBER_ID) {
            if self
                .by_member
                .get(member)
                .is_some_and(|indexed| &**indexed == id)
            {
                self.by_member.remove(member);
            }
        }
        Some(removed)
    }

    /// The instance of `member_id`.
    fn of_member(&self, member_id: &str) -> Option<&Arc<MockInstance>> {
        let id = self.by_member.get(member_id)?;
        self.instances.get(&**id).filter(|i| i.is_member(member_id))
    }
}

/// The mock cloud driver.
pub struct MockIaas {
    provider_type: String,
    defaults: Properties,
    bus: Arc<dyn Bus>,
    patterns: HealthPatterns,
    state: Arc<Mutex<MockState>>,
    /// Where the state is kept (`None`: in memory only, without a state directory).
    journal: Option<Arc<Journal>>,
    /// `mock.terminate.latency.ms` (provider level).
    terminate_latency: Duration,
    stats_interval: Duration,
    /// Simulated user-data limit (`mock.max.payload.bytes`), to exercise payloads by URL.
    max_payload_bytes: Option<usize>,
    initialized: AtomicBool,
    started: Instant,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub(crate) fn parse_prop<T: std::str::FromStr>(
    provider_type: &str,
    properties: &Properties,
    name: &str,
) -> Result<Option<T>, IaasError> {
    match properties.get(name) {
        None => Ok(None),
        Some(raw) => raw.trim().parse::<T>().map(Some).map_err(|_| {
            IaasError::new(
                provider_type,
                "read properties",
                ErrorClass::InvalidRequest,
                format!("property {name} has an invalid value {raw:?}"),
            )
        }),
    }
}

impl MockIaas {
    /// [`crate::DriverFactory`] for `mock`: the shared mock cloud at `mock.endpoint` when the
    /// provider names one, else a simulated cloud in this process.
    pub fn factory(spec: &ProviderSpec, ctx: &DriverContext) -> Result<Arc<dyn Iaas>, IaasError> {
        if spec.properties.contains_key(remote::ENDPOINT_PROPERTY) {
            return Ok(Arc::new(remote::RemoteMock::new(spec, ctx)?));
        }
        Ok(Arc::new(MockIaas::new(spec, ctx)?))
    }

    pub fn new(spec: &ProviderSpec, ctx: &DriverContext) -> Result<MockIaas, IaasError> {
        let t = &spec.provider_type;
        let stats_secs: f64 =
            parse_prop(t, &spec.properties, "mock.stats.interval.secs")?.unwrap_or(15.0);
        let (journal, state) = match &ctx.state_dir {
            Some(dir) => {
                let file = dir.join(format!("mock-{}.json", sanitize(t)));
                let (journal, state) = Journal::open(t, file)?;
                (Some(Arc::new(journal)), state)
            }
            None => (None, MockState::default()),
        };
        let state = Arc::new(Mutex::new(state));
        if let Some(journal) = &journal {
            Journal::spawn_compactor(journal, state.clone());
        }
        Ok(MockIaas {
            provider_type: t.clone(),
            defaults: spec.properties.clone(),
            bus: ctx.bus.clone(),
            patterns: ctx.health_patterns.clone(),
            state,
            journal,
            terminate_latency: Duration::from_millis(
                parse_prop(t, &spec.properties, "mock.terminate.latency.ms")?.unwrap_or(0),
            ),
            stats_interval: Duration::from_secs_f64(stats_secs.max(0.05)),
            max_payload_bytes: parse_prop(t, &spec.properties, "mock.max.payload.bytes")?,
            initialized: AtomicBool::new(false),
            started: Instant::now(),
        })
    }

    /// The user data an instance was started with (what the instance would read).
    pub fn user_data(&self, instance_id: &str) -> Option<String> {
        self.lock()
            .ok()?
            .instances
            .get(instance_id)
            .map(|i| i.payload.clone())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MockState>, IaasError> {
        self.state.lock().map_err(|_| {
            IaasError::new(
                &self.provider_type,
                "lock state",
                ErrorClass::Transient,
                "mock state lock poisoned",
            )
        })
    }

    /// Log the change just made to `state` (under the state lock, so the log is in order):
    /// the instance put or the id removed, with the counters after it.
    fn record(
        &self,
        state: &mut MockState,
        put: Option<&MockInstance>,
        remove: Option<&str>,
    ) -> Result<(), IaasError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        state.seq += 1;
        state.dirty = true;
        journal.append(&EntryRef {
            seq: state.seq,
            counters: state.counters,
            put,
            remove,
        })
    }

    /// Write the whole state into `mock-<type>.json` now and empty the log (what the
    /// background does every second or so, and a clean shutdown does last).
    pub async fn compact(&self) -> Result<(), IaasError> {
        let Some(journal) = self.journal.clone() else {
            return Ok(());
        };
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || journal.compact(&state))
            .await
            .map_err(|e| {
                IaasError::new(
                    &self.provider_type,
                    "save state",
                    ErrorClass::Transient,
                    e.to_string(),
                )
            })?
    }

    fn to_instance(i: &MockInstance) -> Instance {
        Instance {
            instance_id: i.instance_id.clone(),
            state: InstanceState::Running,
            private_ips: vec![i.private_ip.clone()],
            public_ips: vec![i.public_ip.clone()],
            tags: i.tags.clone(),
            extra: BTreeMap::new(),
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn address(prefix: u8, n: u32) -> String {
    // 10.0.0.1, 10.0.0.2, ... wrapping into the next octets.
    let n = n + 1;
    format!(
        "{prefix}.{}.{}.{}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

/// Whether start number `n` (from 0) is one of the fraction `ratio` that fails: the failures
/// fall where the running count floor(n·ratio) goes up, evenly spread and reproducible.
fn ratio_picks(n: u64, ratio: f64) -> bool {
    ((n + 1) as f64 * ratio).floor() > (n as f64 * ratio).floor()
}

/// How long a simulated agent keeps trying to publish a status event the bus refused (a
/// broker restart): a real agent's lifecycle report is not dropped on the first refusal.
pub const STATUS_PUBLISH_PATIENCE: Duration = Duration::from_secs(120);

/// Publish a simulated agent's status event, retrying a refusal with bounded exponential
/// backoff (jittered, so that many agents do not return to the broker at once).
async fn publish_status(bus: &dyn Bus, event: &Event, member_id: &str) {
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_total_delay(Some(STATUS_PUBLISH_PATIENCE))
        .without_max_times()
        .with_jitter();
    let published = (|| bus.publish(event))
        .retry(policy)
        .notify(|e: &messaging::BusError, delay| {
            tracing::debug!(member = %member_id, error = %e, ?delay, "mock agent retrying a status event");
        })
        .await;
    if let Err(e) = published {
        tracing::warn!(member = %member_id, error = %e, "mock agent gave up on a status event");
    }
}

/// What the mock cloud can do, in process or in its own process (`mock.max.payload.bytes`).
pub(crate) fn capabilities(max_payload_bytes: Option<usize>) -> Capabilities {
    Capabilities {
        floating_ips: true,
        key_pairs: false,
        volumes: false,
        security_groups: false,
        max_payload_bytes,
    }
}

/// The simulated agent's reaction to an event about one of our instances, if any.
fn agent_reaction(
    event: &Event,
    owned: &dyn Fn(&str) -> Option<Arc<MockInstance>>,
) -> Vec<(Arc<MockInstance>, Event)> {
    let status = |i: &Arc<MockInstance>, make: fn(InstanceStatusEvent) -> Event| {
        (
            i.clone(),
            make(InstanceStatusEvent {
                member: i.member.clone(),
            }),
        )
    };
    let by_member = |member_id: &str| owned(member_id).filter(|i| i.agent);
    match event {
        Event::MemberInitializedEvent(e) => by_member(&e.member.member_id)
            .map(|i| vec![status(&i, Event::InstanceStartedEvent)])
            .unwrap_or_default(),
        Event::MemberStartedEvent(e) => by_member(&e.member.member_id)
            .map(|i| vec![status(&i, Event::InstanceActivatedEvent)])
            .unwrap_or_default(),
        Event::InstanceCleanupMemberEvent(e) => by_member(&e.member_id)
            .map(|i| vec![status(&i, Event::InstanceMaintenanceModeEvent)])
            .unwrap_or_default(),
        Event::MemberMaintenanceModeEvent(e) => by_member(&e.member.member_id)
            .map(|i| vec![status(&i, Event::InstanceReadyToShutdownEvent)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[async_trait]
impl Iaas for MockIaas {
    fn provider_type(&self) -> &str {
        &self.provider_type
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.max_payload_bytes)
    }

    async fn initialize(&self) -> Result<(), IaasError> {
        if self.initialized.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let bus_err = |e: messaging::BusError| {
            IaasError::new(
                &self.provider_type,
                "initialize",
                ErrorClass::Transient,
                e.to_string(),
            )
        };
        let spec = SubscriptionSpec::new(
            &format!("mock-agent-{}", sanitize(&self.provider_type)),
            &["topology.*", "instance.notifier.*"],
            QueueKind::Durable,
        )
        .map_err(bus_err)?;
        let mut subscription = self.bus.subscribe(spec).await.map_err(bus_err)?;

        // The simulated agents: react to topology and cleanup events for our instances.
        let state = self.state.clone();
        let bus = self.bus.clone();
        tokio::spawn(async move {
            while let Some(delivery) = subscription.next().await {
                let owned = |member_id: &str| {
                    state
                        .lock()
                        .ok()
                        .and_then(|s| s.of_member(member_id).cloned())
                };
                for (instance, reply) in agent_reaction(&delivery.event, &owned) {
                    let bus = bus.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(instance.agent_delay_ms)).await;
                        publish_status(bus.as_ref(), &reply, &instance.member.member_id).await;
                    });
                }
                let _ = delivery.ack().await;
            }
        });

        // Health statistics from the patterns (a heartbeat without metrics when the cartridge has
        // none), for every running instance with an agent.
        let state = self.state.clone();
        let bus = self.bus.clone();
        let patterns = self.patterns.clone();
        let interval = self.stats_interval;
        let started = self.started;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let members: Vec<MemberRef> = match state.lock() {
                    Ok(s) => s
                        .instances
                        .values()
                        .filter(|i| i.agent)
                        .map(|i| i.member.clone())
                        .collect(),
                    Err(_) => return,
                };
                for member in members {
                    let (load, memory, rif) =
                        patterns.sample(&member.service_name, started.elapsed());
                    // Without a pattern the stat carries no metric: it is still the heartbeat
                    // that tells the controller the (simulated) agent is alive.
                    let event = Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
                        member,
                        timestamp: now_ms(),
                        load_average: load,
                        memory_consumption: memory,
                        requests_in_flight: rif,
                    });
                    // Fire-and-forget: the next period brings a fresher one.
                    let _ = bus.publish(&event).await;
                }
            }
        });
        Ok(())
    }

    async fn validate_partition(
        &self,
        _partition_id: &str,
        _properties: &Properties,
    ) -> Result<(), IaasError> {
        // Like Stratos' mock: every region/zone/host is valid.
        Ok(())
    }

    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError> {
        let t = &self.provider_type;
        let mut props = self.defaults.clone();
        props.extend(spec.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(limit) = self.max_payload_bytes {
            if spec.payload.len() > limit {
                return Err(IaasError::new(
                    t,
                    "start instance",
                    ErrorClass::InvalidRequest,
                    format!(
                        "user data of {} bytes exceeds this cloud's {limit}",
                        spec.payload.len()
                    ),
                ));
            }
        }
        let latency: u64 = parse_prop(t, &props, "mock.start.latency.ms")?.unwrap_or(0);
        let agent: bool = parse_prop(t, &props, "mock.agent")?.unwrap_or(true);
        let agent_delay_ms: u64 = parse_prop(t, &props, "mock.agent.delay.ms")?.unwrap_or(100);
        let fail_times: Option<u64> = parse_prop(t, &props, "mock.fail.start.times")?;
        let fail_ratio: Option<f64> = parse_prop(t, &props, "mock.fail.start.ratio")?;
        if let Some(ratio) = fail_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(IaasError::new(
                t,
                "read properties",
                ErrorClass::InvalidRequest,
                format!("property mock.fail.start.ratio must be within 0..1, not {ratio}"),
            ));
        }
        let fail_class = match props.get("mock.fail.start") {
            // A ratio alone makes the failures the kind a retry gets past.
            None => fail_ratio.map(|_| ErrorClass::Transient),
            Some(name) => Some(ErrorClass::from_name(name).ok_or_else(|| {
                IaasError::new(
                    t,
                    "read properties",
                    ErrorClass::InvalidRequest,
                    format!("property mock.fail.start has an unknown error class {name:?}"),
                )
            })?),
        };
        let latency = Duration::from_millis(latency);
        let result = {
            let mut state = self.lock()?;
            // A retried start (or one after a controller restart) gets the member's instance.
            if let Some(existing) = state.of_member(&spec.member_id) {
                tracing::info!(provider = %t, member = %spec.member_id, instance = %existing.instance_id, "member already has an instance");
                return Ok(Self::to_instance(existing));
            }
            let n = state.counters.starts;
            state.counters.starts += 1;
            let picked = fail_ratio.is_none_or(|r| ratio_picks(n, r));
            let fails = fail_class.filter(|_| {
                picked && fail_times.is_none_or(|n| state.counters.injected_failures < n)
            });
            if let Some(class) = fails {
                state.counters.injected_failures += 1;
                let error = IaasError::new(
                    t,
                    "start_instance",
                    class,
                    format!("injected failure #{}", state.counters.injected_failures),
                )
                .with_code("MockInjectedFailure");
                self.record(&mut state, None, None)?;
                Err(error)
            } else {
                let n = state.counters.next_address;
                state.counters.next_address += 1;
                let instance = MockInstance {
                    instance_id: format!("mock-{}-{:06}", sanitize(t), n + 1),
                    member: MemberRef {
                        service_name: spec.service_name.clone(),
                        cluster_id: spec.cluster_id.clone(),
                        cluster_instance_id: None,
                        network_partition_id: spec.network_partition_id.clone(),
                        partition_id: spec.partition_id.clone(),
                        member_id: spec.member_id.clone(),
                    },
                    tags: spec.tags.clone(),
                    private_ip: address(10, n),
                    public_ip: address(20, n),
                    payload: spec.payload.clone(),
                    agent,
                    agent_delay_ms,
                };
                let result = Self::to_instance(&instance);
                self.record(&mut state, Some(&instance), None)?;
                let id = Arc::from(instance.instance_id.as_str());
                state.put(id, Arc::new(instance));
                Ok(result)
            }
        };
        // An accepted start's instance is known to the cloud (and on disk) before the latency;
        // a refused one leaves nothing but the failure count.
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        result
    }

    async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, IaasError> {
        let state = self.lock()?;
        // One member's instance is found without a scan.
        if let Some(member_id) = &filter.member_id {
            return Ok(state
                .of_member(member_id)
                .filter(|i| filter.matches(&i.tags))
                .map(|i| Self::to_instance(i))
                .into_iter()
                .collect());
        }
        Ok(state
            .instances
            .values()
            .filter(|i| filter.matches(&i.tags))
            .map(|i| Self::to_instance(i))
            .collect())
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError> {
        let not_found = || {
            IaasError::new(
                &self.provider_type,
                "terminate_instance",
                ErrorClass::NotFound,
                format!("no instance {instance_id}"),
            )
            .with_code("InstanceNotFound")
        };
        if !self.terminate_latency.is_zero() {
            if !self.lock()?.instances.contains_key(instance_id) {
                return Err(not_found());
            }
            // Listed (and usable) until the termination is over; the lock is not held.
            tokio::time::sleep(self.terminate_latency).await;
        }
        let mut state = self.lock()?;
        if state.remove(instance_id).is_none() {
            return Err(not_found());
        }
        self.record(&mut state, None, Some(instance_id))
    }

    async fn shutdown(&self) -> Result<(), IaasError> {
        let Some(journal) = self.journal.clone() else {
            return Ok(());
        };
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || journal.close(&state))
            .await
            .map_err(|e| {
                IaasError::new(
                    &self.provider_type,
                    "save state",
                    ErrorClass::Transient,
                    e.to_string(),
                )
            })?
    }
}

impl Drop for MockIaas {
    /// A driver dropped without [`Iaas::shutdown`] (tests, a replaced driver) still leaves an
    /// exact snapshot, and its background compaction stops.
    fn drop(&mut self) {
        if let Some(journal) = &self.journal {
            if let Err(e) = journal.close(&self.state) {
                tracing::warn!(provider = %self.provider_type, error = %e, "mock cloud state not compacted");
            }
        }
    }
}

mod journal;
pub mod remote;
/// The protocol of a mock cloud shared by several controllers.
pub mod wire;

#[cfg(test)]
mod tests;
