//! Tenants apart on the bus: each tenant with a cluster has its own RabbitMQ virtual host and
//! broker user, created (and removed when its last cluster is gone) by the leader through the
//! management API. A member's payload carries only its tenant's broker URL and credentials,
//! so its agent can reach nothing else: the broker enforces that.
//!
//! Every replica connects to every tenant's virtual host with the platform's credentials and
//! consumes there what agents send; an event is passed on to the same consumers as the
//! platform bus's only when it concerns a member of that tenant (anything else is dropped and
//! counted as `wrong-tenant`). Each tenant is forwarded by tasks of its own, rate-limited per
//! tenant, so one tenant flooding its virtual host delays only itself. Topology events go to
//! the tenant's virtual host for its own members and clusters; the platform's virtual host
//! (`--amqp-url`) gets everything, for admin tools.
//!
//! Agents that give no credentials (the unmodified Stratos 4.1.0 agent over MQTT) land where
//! the broker puts anonymous MQTT clients. With `--anonymous-mqtt-vhost` the controller
//! consumes that virtual host too, and admits there only events of members whose cartridge
//! opted in (`bus.anonymous.mqtt`); it publishes there the topology of those members only.

use super::definitions::Definitions;
use super::leadership::Leadership;
use super::store::{internal, Store};
use crate::error::Result;
use crate::metrics::{BusOutcome, Metrics};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use messaging::broker_admin::{self, BrokerAdmin, TenantPermissions, TenantVhost};
use messaging::{AmqpBus, AmqpConfig, Bus, Delivery, Event, QueueKind, SubscriptionSpec};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// How often the set of tenants' virtual hosts is brought in line with the registry.
const SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// Status events one tenant may have applied per second (beyond, they wait on the broker).
const STATUS_PER_TENANT_PER_SECOND: u32 = 500;
/// Health stats one tenant may have applied per second (beyond, its own lossy queue drops).
const HEALTH_PER_TENANT_PER_SECOND: u32 = 5_000;
/// Members whose tenant is remembered (a member's tenant and cluster never change).
const MEMBER_INDEX_LIMIT: usize = 1_000_000;
/// At most one warning per virtual host this often about refused events.
const REFUSAL_WARNING_INTERVAL: Duration = Duration::from_secs(60);
/// Length of a generated broker password (alphanumeric: it travels in a URL and a payload).
const PASSWORD_LEN: usize = 32;

/// How tenants are kept apart on the broker (`alto serve --bus-separation`).
pub struct TenantBusOptions {
    /// The platform's connection settings (URL with the platform's credentials, exchange,
    /// queue prefix); each tenant's connection is the same with the tenant's virtual host.
    pub amqp: AmqpConfig,
    pub admin: BrokerAdmin,
    /// Where the broker puts anonymous MQTT clients (`mqtt.vhost`), when agents of cartridges
    /// with `bus.anonymous.mqtt` = `true` are to be heard there.
    pub anonymous_vhost: Option<String>,
}

/// The key of the anonymous MQTT virtual host among the tenants' (no tenant has this id).
pub(crate) const ANONYMOUS: i64 = i64::MIN;

/// The broker settings a member's agent is given in its payload.
#[derive(Clone)]
pub(crate) struct AgentBusKeys {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

impl std::fmt::Debug for AgentBusKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBusKeys")
            .field("vhost", &self.vhost)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Where admitted events go: the consumers the platform bus feeds too.
pub(crate) struct Sinks {
    pub status: mpsc::Sender<Delivery>,
    pub health: mpsc::Sender<Delivery>,
    /// A tenant asked for the complete topology.
    pub topology: mpsc::Sender<i64>,
}

struct TenantLink {
    bus: Arc<AmqpBus>,
    tasks: Vec<JoinHandle<()>>,
}

/// The tenants' virtual hosts this replica is connected to, and the check every event from
/// one of them passes.
pub(crate) struct TenantBuses {
    /// `None`: tenants share the platform's bus (the in-process bus, or
    /// `--bus-separation none`).
    separated: Option<Separated>,
    /// The connected tenants' buses, for publishing without waiting on the links.
    buses: RwLock<BTreeMap<i64, Arc<AmqpBus>>>,
    wake: Notify,
}

struct Separated {
    options: TenantBusOptions,
    definitions: Arc<Definitions>,
    store: Store,
    leadership: Arc<Leadership>,
    metrics: Arc<Metrics>,
    replica_id: String,
    sinks: Mutex<Option<Arc<Sinks>>>,
    links: tokio::sync::Mutex<BTreeMap<i64, TenantLink>>,
    /// member id (or `cluster:<id>`) → who owns it, filled from the registry on first sight.
    members: Mutex<HashMap<String, Owner>>,
}

/// A member's tenant, cluster and cartridge (none of which ever changes).
#[derive(Clone)]
struct Owner {
    tenant_id: i64,
    cluster_id: String,
    service_name: String,
}

impl TenantBuses {
    /// Tenants share the platform's bus.
    pub(crate) fn shared() -> TenantBuses {
        TenantBuses {
            separated: None,
            buses: RwLock::new(BTreeMap::new()),
            wake: Notify::new(),
        }
    }

    /// Each tenant gets a virtual host of its own.
    pub(crate) fn separated(
        options: TenantBusOptions,
        definitions: Arc<Definitions>,
        store: Store,
        leadership: Arc<Leadership>,
        metrics: Arc<Metrics>,
        replica_id: String,
    ) -> TenantBuses {
        TenantBuses {
            separated: Some(Separated {
                options,
                definitions,
                store,
                leadership,
                metrics,
                replica_id,
                sinks: Mutex::new(None),
                links: tokio::sync::Mutex::new(BTreeMap::new()),
                members: Mutex::new(HashMap::new()),
            }),
            buses: RwLock::new(BTreeMap::new()),
            wake: Notify::new(),
        }
    }

    /// Whether tenants have virtual hosts of their own.
    pub(crate) fn is_separated(&self) -> bool {
        self.separated.is_some()
    }

    /// Look again at the tenants now (a subscription was made or removed).
    pub(crate) fn nudge(&self) {
        self.wake.notify_one();
    }

    /// The tenant's connected bus, if it has one.
    pub(crate) fn bus_for(&self, tenant_id: i64) -> Option<Arc<AmqpBus>> {
        self.buses.read().ok()?.get(&tenant_id).cloned()
    }

    /// The connected tenants.
    pub(crate) fn tenants(&self) -> Vec<i64> {
        self.buses
            .read()
            .map(|b| b.keys().copied().filter(|t| *t != ANONYMOUS).collect())
            .unwrap_or_default()
    }

    /// The anonymous MQTT virtual host's bus, when it is consumed.
    pub(crate) fn anonymous_bus(&self) -> Option<Arc<AmqpBus>> {
        self.bus_for(ANONYMOUS)
    }

    /// The broker settings for agents of `tenant_id` (`None` when tenants share the bus).
    /// The password is made once and kept in the registry, so every replica and every
    /// restart hands out the same one.
    pub(crate) async fn agent_keys(&self, tenant_id: i64) -> Result<Option<AgentBusKeys>> {
        let Some(sep) = &self.separated else {
            return Ok(None);
        };
        let tenant = sep.tenant_vhost(tenant_id).await?;
        let url = broker_admin::tenant_url(&sep.options.amqp.url, &tenant).map_err(internal)?;
        Ok(Some(AgentBusKeys {
            url,
            user: tenant.user,
            password: tenant.password,
            vhost: tenant.vhost,
        }))
    }

    /// Whether an event received on `tenant_id`'s virtual host may be applied, and if not
    /// why.
    pub(crate) async fn admit(&self, tenant_id: i64, event: &Event) -> Result<BusOutcome> {
        match &self.separated {
            Some(sep) => sep.admit(tenant_id, event).await,
            None => Ok(BusOutcome::Consumed),
        }
    }

    /// Keep the tenants' virtual hosts in line with the registry: every tenant with a
    /// cluster has one (made by the leader) and this replica consumes it; a tenant whose last
    /// cluster is gone loses it.
    pub(crate) async fn run(self: Arc<Self>, sinks: Sinks) {
        let Some(sep) = &self.separated else {
            return;
        };
        if let Ok(mut s) = sep.sinks.lock() {
            *s = Some(Arc::new(sinks));
        }
        let mut ticker = tokio::time::interval(SYNC_INTERVAL);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.wake.notified() => {}
            }
            if let Err(e) = self.sync(sep).await {
                tracing::warn!(error = %e, "cannot bring tenants' virtual hosts in line");
            }
        }
    }

    async fn sync(self: &Arc<Self>, sep: &Separated) -> Result<()> {
        let wanted: BTreeSet<i64> = sep
            .store
            .run(|r| r.list_clusters(None, false))
            .await?
            .into_iter()
            .map(|c| c.tenant_id)
            .collect();
        let leading = sep.leadership.fence().is_some();
        let options = &sep.options;
        let mut links = sep.links.lock().await;
        if let Some(vhost) = &options.anonymous_vhost {
            if let std::collections::btree_map::Entry::Vacant(slot) = links.entry(ANONYMOUS) {
                if leading {
                    if let Err(e) = options.admin.ensure_platform_access(vhost).await {
                        tracing::warn!(vhost = %vhost, error = %e, "cannot reach the anonymous MQTT virtual host");
                    }
                }
                match self.connect(sep, ANONYMOUS, vhost).await {
                    Ok(link) => {
                        tracing::info!(vhost = %vhost, "consuming the anonymous MQTT virtual host");
                        slot.insert(link);
                    }
                    Err(e) => {
                        tracing::warn!(vhost = %vhost, error = %e, "cannot consume the anonymous MQTT virtual host")
                    }
                }
            }
        }
        for &tenant_id in &wanted {
            let connected = match links.get(&tenant_id) {
                Some(link) => link.bus.is_connected().await,
                None => false,
            };
            if connected {
                continue;
            }
            let tenant = sep.tenant_vhost(tenant_id).await?;
            if leading {
                let permissions = TenantPermissions::for_agents(
                    &options.amqp.queue_prefix,
                    &options.amqp.exchange,
                    &options.amqp.dead_letter_name(),
                );
                if let Err(e) = options.admin.ensure_tenant(&tenant, &permissions).await {
                    tracing::warn!(tenant = tenant_id, vhost = %tenant.vhost, error = %e, "cannot set up the tenant's virtual host");
                    continue;
                }
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = links.entry(tenant_id) {
                match self.connect(sep, tenant_id, &tenant.vhost).await {
                    Ok(link) => {
                        tracing::info!(tenant = tenant_id, vhost = %tenant.vhost, "consuming the tenant's virtual host");
                        slot.insert(link);
                    }
                    Err(e) => {
                        tracing::warn!(tenant = tenant_id, vhost = %tenant.vhost, error = %e, "cannot consume the tenant's virtual host");
                    }
                }
            }
        }
        let gone: Vec<i64> = links
            .keys()
            .filter(|t| **t != ANONYMOUS && !wanted.contains(t))
            .copied()
            .collect();
        for tenant_id in gone {
            if let Some(link) = links.remove(&tenant_id) {
                for task in &link.tasks {
                    task.abort();
                }
                link.bus.close().await;
            }
            if leading {
                let tenant = sep.tenant_vhost(tenant_id).await?;
                match options
                    .admin
                    .remove_tenant(&tenant.vhost, &tenant.user)
                    .await
                {
                    Ok(()) => {
                        tracing::info!(tenant = tenant_id, vhost = %tenant.vhost, "removed the tenant's virtual host (no cluster left)")
                    }
                    Err(e) => {
                        tracing::warn!(tenant = tenant_id, error = %e, "cannot remove the tenant's virtual host")
                    }
                }
            }
        }
        if let Ok(mut buses) = self.buses.write() {
            *buses = links.iter().map(|(t, l)| (*t, l.bus.clone())).collect();
        }
        Ok(())
    }

    async fn connect(
        self: &Arc<Self>,
        sep: &Separated,
        tenant_id: i64,
        vhost: &str,
    ) -> Result<TenantLink> {
        let Some(sinks) = sep.sinks.lock().ok().and_then(|s| s.clone()) else {
            return Err(internal("tenant buses started without their consumers"));
        };
        let mut config = sep.options.amqp.clone();
        config.url = broker_admin::vhost_url(&sep.options.amqp.url, vhost).map_err(internal)?;
        config.connection_name = format!("alto cloud controller (tenant {tenant_id})");
        let bus = Arc::new(AmqpBus::start(config));
        let subscribe = |queue: String, pattern: &'static str, kind: QueueKind| {
            let bus = bus.clone();
            async move {
                let spec = SubscriptionSpec::new(&queue, &[pattern], kind).map_err(internal)?;
                bus.subscribe(spec).await.map_err(internal)
            }
        };
        let replica_queue = |name: &str| format!("cloud-controller.{name}.{}", sep.replica_id);
        let status = subscribe(
            "cloud-controller.instance-status".into(),
            "instance.status.*",
            QueueKind::Durable,
        )
        .await?;
        let health = subscribe(
            replica_queue("health"),
            "health.#",
            QueueKind::Lossy { capacity: 10_000 },
        )
        .await?;
        let requests = subscribe(
            replica_queue("topology-requests"),
            "initializer.*",
            QueueKind::Lossy { capacity: 64 },
        )
        .await?;
        let tasks = vec![
            tokio::spawn(self.clone().forward(
                status,
                tenant_id,
                sinks.clone(),
                Lane::Status,
                per_second(STATUS_PER_TENANT_PER_SECOND),
            )),
            tokio::spawn(self.clone().forward(
                health,
                tenant_id,
                sinks.clone(),
                Lane::Health,
                per_second(HEALTH_PER_TENANT_PER_SECOND),
            )),
            tokio::spawn(async move {
                let mut requests = requests;
                while let Some(d) = requests.next().await {
                    let _ = d.ack().await;
                    let _ = sinks.topology.try_send(tenant_id);
                }
            }),
        ];
        Ok(TenantLink { bus, tasks })
    }

    /// Pass each admitted delivery on to the shared consumer (acknowledged there, after it is
    /// applied); refuse and count the rest.
    async fn forward(
        self: Arc<Self>,
        mut queue: messaging::Subscription,
        tenant_id: i64,
        sinks: Arc<Sinks>,
        lane: Lane,
        limiter: DefaultDirectRateLimiter,
    ) {
        // One warning per tenant per interval (a tenant must not be able to flood the log);
        // every refusal is counted.
        let mut last_warning: Option<tokio::time::Instant> = None;
        while let Some(delivery) = queue.next().await {
            limiter.until_ready().await;
            let outcome = match self.admit(tenant_id, &delivery.event).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check a tenant's event; trying it again later");
                    let _ = delivery.reject(true).await;
                    continue;
                }
            };
            if outcome != BusOutcome::Consumed {
                let member = delivery.event.member().map(|m| m.member_id.clone());
                if last_warning.is_none_or(|t| t.elapsed() >= REFUSAL_WARNING_INTERVAL) {
                    last_warning = Some(tokio::time::Instant::now());
                    tracing::warn!(tenant = tenant_id, event = delivery.event.name(), member = ?member, ?outcome, "event refused (further refusals from this virtual host are counted, and logged at most once a minute)");
                } else {
                    tracing::debug!(tenant = tenant_id, event = delivery.event.name(), member = ?member, ?outcome, "event refused");
                }
                if let Some(sep) = &self.separated {
                    sep.metrics.bus_message(delivery.event.name(), outcome);
                }
                let _ = delivery.ack().await;
                continue;
            }
            match lane {
                Lane::Status => {
                    if sinks.status.send(delivery).await.is_err() {
                        return;
                    }
                }
                Lane::Health => {
                    // Lossy as the queue it came from: a full consumer drops the stat.
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        sinks.health.try_send(delivery)
                    {
                        return;
                    }
                }
            }
        }
    }
}

impl Separated {
    async fn tenant_vhost(&self, tenant_id: i64) -> Result<TenantVhost> {
        let name = vhost_name(&self.options.amqp.queue_prefix, tenant_id);
        let fresh = generate_password();
        let key = format!("broker-password.{tenant_id}");
        let password = self
            .store
            .run(move |r| r.put_report_if_absent(&key, &fresh))
            .await?;
        Ok(TenantVhost {
            vhost: name.clone(),
            user: name,
            password,
        })
    }

    async fn admit(&self, tenant_id: i64, event: &Event) -> Result<BusOutcome> {
        if let Event::ClusterRequestsInFlightEvent(stat) = event {
            // A load balancer's figure names a cluster only: it must be one of the tenant's.
            let Some(owner) = self.cluster_owner(&stat.cluster_id).await? else {
                return Ok(BusOutcome::RefusedUnknownMember);
            };
            return Ok(if self.allowed(tenant_id, &owner) {
                BusOutcome::Consumed
            } else {
                BusOutcome::RefusedWrongTenant
            });
        }
        let Some(member) = event.member() else {
            // Agents send member events only (a topology request is handled apart).
            return Ok(BusOutcome::RefusedWrongTenant);
        };
        let Some(owner) = self.member_owner(&member.member_id).await? else {
            return Ok(BusOutcome::RefusedUnknownMember);
        };
        if !self.allowed(tenant_id, &owner) || owner.cluster_id != member.cluster_id {
            return Ok(BusOutcome::RefusedWrongTenant);
        }
        Ok(BusOutcome::Consumed)
    }

    /// Whether what `owner` owns may be spoken of on `tenant_id`'s virtual host.
    fn allowed(&self, tenant_id: i64, owner: &Owner) -> bool {
        if tenant_id == ANONYMOUS {
            self.definitions.anonymous_mqtt(&owner.service_name)
        } else {
            owner.tenant_id == tenant_id
        }
    }

    async fn cluster_owner(&self, cluster_id: &str) -> Result<Option<Owner>> {
        let id = cluster_id.to_string();
        self.owner(format!("cluster:{cluster_id}"), move |r| {
            Ok(r.get_cluster(&id)?.map(|c| Owner {
                tenant_id: c.tenant_id,
                cluster_id: c.cluster_id,
                service_name: c.service_name,
            }))
        })
        .await
    }

    async fn member_owner(&self, member_id: &str) -> Result<Option<Owner>> {
        let id = member_id.to_string();
        self.owner(member_id.to_string(), move |r| {
            Ok(r.get_member(&id)?.map(|m| Owner {
                tenant_id: m.tenant_id,
                cluster_id: m.cluster_id,
                service_name: m.service_name,
            }))
        })
        .await
    }

    /// Who owns `key`: remembered, or looked up in the registry (and then remembered; an
    /// owner never changes, so nothing remembered goes stale).
    async fn owner<F>(&self, key: String, lookup: F) -> Result<Option<Owner>>
    where
        F: FnOnce(&alto_registry::Registry) -> Result<Option<Owner>, alto_registry::RegistryError>
            + Send
            + 'static,
    {
        if let Some(known) = self.members.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(known));
        }
        let Some(owner) = self.store.run(lookup).await? else {
            return Ok(None);
        };
        self.remember(key, owner.clone());
        Ok(Some(owner))
    }

    fn remember(&self, key: String, owner: Owner) {
        if let Ok(mut members) = self.members.lock() {
            if members.len() >= MEMBER_INDEX_LIMIT {
                members.clear();
            }
            members.insert(key, owner);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Lane {
    Status,
    Health,
}

fn generate_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), PASSWORD_LEN)
}

fn per_second(n: u32) -> DefaultDirectRateLimiter {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(n))
}

/// The virtual host (and user) name of a tenant: the installation's queue prefix keeps
/// installations sharing a broker apart.
pub(crate) fn vhost_name(queue_prefix: &str, tenant_id: i64) -> String {
    format!("{queue_prefix}alto.tenant.{tenant_id}")
}

/// Feed `queue` into `sink` (the platform bus's deliveries joining the tenants' ones).
pub(crate) async fn forward_all(mut queue: messaging::Subscription, sink: mpsc::Sender<Delivery>) {
    while let Some(delivery) = queue.next().await {
        if sink.send(delivery).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vhost_names_carry_the_installation_prefix() {
        assert_eq!(vhost_name("", 3), "alto.tenant.3");
        assert_eq!(vhost_name("ci-1.", -1234), "ci-1.alto.tenant.-1234");
    }
}
