//! The controller: owned parts, each a module with its state in a named type.
//!
//! | part | module | owns |
//! |---|---|---|
//! | bootstrap | this file, [`data_lock`] | building the parts from [`ControllerOptions`], the background tasks, one process per data directory |
//! | leadership | [`leadership`] | the lease, the fencing token, which replica acts |
//! | registry access | [`store`] | blocking registry calls off the async threads |
//! | definitions | [`definitions`], [`definition_writes`] | cartridges, policies and network partitions (conf/ and deployed); create/update/remove with 409s |
//! | clouds | [`clouds`] | one driver per iaasProvider type |
//! | tenancy and login | [`tenancy`], [`logins`] | authentication (cached, throttled), tenants |
//! | subscriptions | [`subscriptions`] | subscribe and unsubscribe (intent only) |
//! | read views | [`views`] | what the REST API shows, tenant-scoped |
//! | status ingestion | [`ingest`] | agents' lifecycle events → registry transitions |
//! | health ingestion | [`health`], [`heartbeats`] | stats → health windows and heartbeats |
//! | load history | [`history`] | the last hour of each cluster's load, for the console's charts |
//! | console sessions | [`sessions`] | the web console's shared signing key, the users sessions name |
//! | topology publishing | [`topology`] | member state events, the complete topology |
//! | tenants on the bus | [`tenant_bus`] | each tenant's virtual host and broker user, what is admitted from it |
//! | scaling loop | [`scaling`], [`scaling_state`], [`decisions`], [`teardown`] | evaluation, its memory and records, unsubscribed clusters |
//! | admission | [`admission`], [`limits`] | quota, start rate, workers per provider; members per cluster and tenant |
//! | actuation | [`actuator`], [`launch`] | the only cloud calls that start and terminate |
//! | group commit | [`group_commit`] | members' state changes from every part, committed many to a transaction |
//! | graceful removal | [`cleanup`] | cleanup requests and their timeout |
//! | payload grants | [`grants`] | payloads served by URL |
//! | reconciliation | [`reconcile`] | the registry compared with every cloud |
//! | metrics | [`crate::metrics`] | counters and histograms the parts feed; gauges read from the registry at scrape time |
//!
//! REST handlers and bus consumers only record intent and facts in the registry; the scaling
//! loop decides; the actuator calls the clouds; the reconciler repairs what a crash left. Every
//! replica serves the API and consumes events; only the leader decides, reconciles and calls the
//! clouds, and each of its writes of intent carries its fencing token ([`leadership`]).
//! Nothing a restart needs lives only in memory (docs/ARCHITECTURE.md).

mod actuator;
mod admission;
mod cleanup;
mod clouds;
pub(crate) mod data_lock;
mod decisions;
mod definition_writes;
mod definitions;
mod failpoint;
mod free_memory;
mod grants;
mod group_commit;
mod health;
mod heartbeats;
pub mod history;
mod ingest;
mod launch;
mod leadership;
mod limits;
mod logins;
pub mod reconcile;
mod scaling;
mod scaling_state;
pub mod sessions;
mod store;
mod subscriptions;
mod teardown;
mod tenancy;
mod tenant_bus;
#[cfg(test)]
pub(crate) mod test_support;
mod topology;
mod views;

use crate::auth;
use crate::convert;
use crate::error::Result;
use crate::metrics::Metrics;
use actuator::{Actuator, ActuatorParts};
use admission::Admission;
use alto_registry::Registry;
use autoscaler::ScalingSettings;
use cleanup::CleanupTracker;
use clouds::Clouds;
use data_lock::DataLock;
use decisions::DecisionLog;
pub use definition_writes::{Submitted, WriteMode};
use definitions::Definitions;
use grants::PayloadGrants;
use group_commit::GroupCommitter;
pub use health::HealthSink;
use heartbeats::Heartbeats;
use history::LoadHistory;
use iaas::DriverContext;
use ingest::StatusIngest;
pub use leadership::LeaderView;
use leadership::Leadership;
use limits::MemberLimits;
pub use limits::{DEFAULT_MAX_MEMBERS_PER_CLUSTER, DEFAULT_MAX_MEMBERS_PER_TENANT};
use logins::LoginGuard;
use messaging::{Bus, QueueKind, SubscriptionSpec};
use reconcile::Reconciler;
pub use reconcile::{ReconcileMode, ReconcileReport};
use scaling::{ScalingLoop, ScalingWake};
use scaling_state::ScalingState;
use sessions::SessionKey;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{internal, Store};
pub use tenant_bus::TenantBusOptions;
use tenant_bus::TenantBuses;
use tokio::task::JoinHandle;
use topology::TopologyPublisher;

/// How long the first scaling pass waits for the startup reconciliation.
const STARTUP_RECONCILE_WAIT: Duration = Duration::from_secs(30);

/// How the controller is started.
pub struct ControllerOptions {
    /// `postgres://...`, `sqlite://PATH` or a plain SQLite file path.
    pub database_url: String,
    /// Where local state lives (the SQLite file by default, the mock cloud's instances).
    pub data_dir: PathBuf,
    /// Configuration directory (cloud-controller.xml, cartridges, policies, mock-iaas.xml).
    pub conf_dir: Option<PathBuf>,
    pub bus: Arc<dyn Bus>,
    /// The broker the bus talks to, when it is AMQP: handed to agents the `local` cloud starts.
    pub agent_amqp: Option<iaas::AgentAmqp>,
    pub admin_password: String,
    /// Period of the scaling pass (it also runs whenever a request or a health stat wakes it).
    pub scaling_interval: Duration,
    /// Period of the reconciliation with the clouds (it also runs once at startup).
    pub reconcile_interval: Duration,
    /// Whether reconciliation acts or only reports.
    pub reconcile_mode: ReconcileMode,
    /// How long a member may take to answer a cleanup request before it is terminated anyway.
    pub termination_timeout: Duration,
    /// A member that has reported before and then stays silent (no health stat, no status
    /// event) this long is faulty: terminated and replaced.
    pub fault_timeout: Duration,
    /// Period of the CompleteTopologyEvent (also sent at start and on request).
    pub topology_interval: Duration,
    /// The autoscaler's tunables (cooldowns, stabilization, timeouts, dry-run); each cluster's
    /// thresholds come from its autoscale policy and the fault timeout from `fault_timeout`.
    pub scaling: ScalingSettings,
    /// How long a payload-by-URL token stays valid (the instance must boot within it).
    pub payload_url_ttl: Duration,
    /// This replica's name among the replicas sharing the registry (`--replica-id`).
    pub replica_id: String,
    /// How long a leader's lease holds without a renewal (`--leader-lease`).
    pub leader_lease: Duration,
    /// The most members a cluster may have, whatever its deployment policy says.
    pub max_members_per_cluster: u32,
    /// The most members a tenant's clusters may have together (by their policies' maximum).
    pub max_members_per_tenant: u32,
    /// One virtual host and broker user per tenant (`None`: tenants share the bus).
    pub tenant_buses: Option<TenantBusOptions>,
    /// Broker and health receiver addresses put in every payload (Stratos agents read them).
    pub agent_endpoints: crate::agent_endpoints::AgentEndpoints,
}

impl ControllerOptions {
    pub fn new(
        database_url: String,
        data_dir: PathBuf,
        bus: Arc<dyn Bus>,
        admin_password: String,
    ) -> Self {
        ControllerOptions {
            database_url,
            data_dir,
            conf_dir: None,
            bus,
            agent_amqp: None,
            admin_password,
            scaling_interval: Duration::from_secs(2),
            reconcile_interval: Duration::from_secs(60),
            reconcile_mode: ReconcileMode::Act,
            termination_timeout: Duration::from_secs(60),
            fault_timeout: Duration::from_secs(60),
            topology_interval: Duration::from_secs(60),
            scaling: ScalingSettings::default(),
            payload_url_ttl: Duration::from_secs(3600),
            replica_id: "alto".to_string(),
            leader_lease: Duration::from_secs(10),
            max_members_per_cluster: DEFAULT_MAX_MEMBERS_PER_CLUSTER,
            max_members_per_tenant: DEFAULT_MAX_MEMBERS_PER_TENANT,
            tenant_buses: None,
            agent_endpoints: Default::default(),
        }
    }
}

/// The controller's parts, as the REST API and `alto` see them.
pub struct Controller {
    /// Tenants' virtual hosts (or none, when they share the bus).
    tenant_buses: Arc<TenantBuses>,
    store: Store,
    definitions: Arc<Definitions>,
    clouds: Arc<Clouds>,
    topology: Arc<TopologyPublisher>,
    decisions: Arc<DecisionLog>,
    grants: Arc<PayloadGrants>,
    reconciler: Arc<Reconciler>,
    leadership: Arc<Leadership>,
    limits: MemberLimits,
    wake: Arc<ScalingWake>,
    history: Arc<LoadHistory>,
    /// Where health stats go (the Thrift receiver feeds it too).
    health_sink: Arc<HealthSink>,
    session_key: SessionKey,
    metrics: Arc<Metrics>,
    /// Cached credentials, failed-login throttling, bounded verifications.
    logins: LoginGuard,
    /// What an unknown login is verified against (costs what a wrong password costs).
    dummy_hash: String,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// This process's hold on the data directory.
    _data_lock: DataLock,
}

impl Controller {
    /// Open the registry, load the configuration, deploy conf's cartridges and policies
    /// (idempotently), build the clouds and the parts, and start the background tasks:
    /// reconciliation first, then the scaling loop.
    pub async fn start(opts: ControllerOptions) -> Result<Arc<Controller>> {
        private_data_dir(&opts.data_dir)?;
        let data_lock = DataLock::acquire(&opts.data_dir)?;
        let url = opts.database_url.clone();
        let registry = tokio::task::spawn_blocking(move || Registry::open(&url))
            .await
            .map_err(internal)??;
        let store = Store::new(registry);
        let metrics = Arc::new(Metrics::new());
        let caller = iaas::Caller::new(opts.replica_id.clone());
        let leadership = Arc::new(Leadership::new(
            store.clone(),
            caller.clone(),
            opts.leader_lease,
        ));
        let definitions = Arc::new(Definitions::load(&store, opts.conf_dir.as_deref()).await?);

        let hash = auth::hash_password(&opts.admin_password)?;
        let dummy_hash = auth::hash_password(&auth::generate_password())?;
        store.run(move |r| r.ensure_admin(&hash)).await?;

        let (clouds, admission) = {
            let ctx = DriverContext {
                bus: opts.bus.clone(),
                health_patterns: convert::health_patterns(definitions.read()?.mock_iaas.as_ref()),
                state_dir: Some(opts.data_dir.clone()),
                agent_amqp: opts.agent_amqp.clone(),
                caller,
            };
            let config = definitions.read()?.clone();
            let admission = Admission::from_config(&config)?;
            (Clouds::build(&config, &ctx).await, admission)
        };
        let clouds = Arc::new(clouds);

        let subscribe = |queue: &str, patterns: &[&str], kind: QueueKind| {
            let spec = SubscriptionSpec::new(queue, patterns, kind);
            let bus = opts.bus.clone();
            async move {
                bus.subscribe(spec.map_err(internal)?)
                    .await
                    .map_err(internal)
            }
        };
        // Agents' lifecycle: durable, acknowledged after the registry commit.
        let status_queue = subscribe(
            "cloud-controller.instance-status",
            &["instance.status.*"],
            QueueKind::Durable,
        )
        .await?;
        // Health stats: bounded and lossy, the oldest dropped under overload. Every replica
        // has its own queue and sees every stat, so a replica taking over leads with warm
        // health windows.
        let replica_queue = |name: &str| format!("cloud-controller.{name}.{}", opts.replica_id);
        let health_queue = subscribe(
            &replica_queue("health"),
            &["health.#"],
            QueueKind::Lossy { capacity: 10_000 },
        )
        .await?;
        let topology_requests = subscribe(
            &replica_queue("topology-requests"),
            &["initializer.*"],
            QueueKind::Lossy { capacity: 64 },
        )
        .await?;

        let tenant_buses = Arc::new(match opts.tenant_buses {
            Some(options) => TenantBuses::separated(
                options,
                definitions.clone(),
                store.clone(),
                leadership.clone(),
                metrics.clone(),
                opts.replica_id.clone(),
            ),
            None => TenantBuses::shared(),
        });
        let topology = Arc::new(TopologyPublisher::new(
            opts.bus.clone(),
            tenant_buses.clone(),
            definitions.clone(),
        ));
        let heartbeats = Arc::new(Heartbeats::new());
        let history = Arc::new(LoadHistory::new());
        let scaling_state = Arc::new(ScalingState::new());
        let grants = Arc::new(PayloadGrants::new(store.clone(), opts.payload_url_ttl));
        let decisions = Arc::new(DecisionLog::new(store.clone()));
        let admission = Arc::new(admission);
        let (committer, committer_task) = GroupCommitter::start(store.clone());
        let committer = Arc::new(committer);
        let actuator = Arc::new(Actuator::new(ActuatorParts {
            store: store.clone(),
            definitions: definitions.clone(),
            clouds: clouds.clone(),
            admission: admission.clone(),
            grants: grants.clone(),
            topology: topology.clone(),
            scaling: scaling_state.clone(),
            heartbeats: heartbeats.clone(),
            leadership: leadership.clone(),
            metrics: metrics.clone(),
            tenant_buses: tenant_buses.clone(),
            endpoints: Arc::new(opts.agent_endpoints.clone()),
            committer: committer.clone(),
        }));
        let cleanup = Arc::new(CleanupTracker::new(
            store.clone(),
            topology.clone(),
            opts.termination_timeout,
            leadership.clone(),
        ));
        let reconciler = Arc::new(Reconciler::new(
            store.clone(),
            clouds.clone(),
            actuator.clone(),
            topology.clone(),
            opts.reconcile_mode,
            metrics.clone(),
        ));
        let wake = ScalingWake::new();
        let mut template = opts.scaling;
        template.fault_timeout_seconds = opts.fault_timeout.as_secs_f64();
        let scaling_loop = Arc::new(ScalingLoop {
            store: store.clone(),
            definitions: definitions.clone(),
            clouds: clouds.clone(),
            admission,
            topology: topology.clone(),
            scaling: scaling_state.clone(),
            decisions: decisions.clone(),
            heartbeats: heartbeats.clone(),
            cleanup,
            actuator: actuator.clone(),
            wake: wake.clone(),
            template,
            period: opts.scaling_interval,
            leadership: leadership.clone(),
            metrics: metrics.clone(),
        });
        let ingest = Arc::new(StatusIngest::new(
            committer,
            heartbeats.clone(),
            topology.clone(),
            actuator,
            metrics.clone(),
        ));

        let health_sink = Arc::new(HealthSink {
            heartbeats,
            scaling: scaling_state,
            wake: wake.clone(),
            history: history.clone(),
            metrics: metrics.clone(),
            runtime: tokio::runtime::Handle::current(),
            thrift_only_for_shared: tenant_buses.is_separated().then(|| definitions.clone()),
        });
        // The platform bus's deliveries and those admitted from tenants' virtual hosts meet
        // in the same consumers.
        let (status_tx, status_rx) = tokio::sync::mpsc::channel(256);
        let (health_tx, health_rx) = tokio::sync::mpsc::channel(10_000);
        let (topology_tx, topology_rx) = tokio::sync::mpsc::channel(64);
        let tasks = vec![
            committer_task,
            tokio::spawn(tenant_bus::forward_all(status_queue, status_tx.clone())),
            tokio::spawn(tenant_bus::forward_all(health_queue, health_tx.clone())),
            tokio::spawn(tenant_buses.clone().run(tenant_bus::Sinks {
                status: status_tx,
                health: health_tx,
                topology: topology_tx,
            })),
            tokio::spawn(ingest.run(messaging::Subscription::from_receiver(status_rx))),
            tokio::spawn(health::run(
                messaging::Subscription::from_receiver(health_rx),
                health_sink.clone(),
            )),
            tokio::spawn(topology.clone().run(
                store.clone(),
                opts.topology_interval,
                topology_requests,
                topology_rx,
            )),
            tokio::spawn(leadership.clone().run()),
            tokio::spawn(lead(
                leadership.clone(),
                reconciler.clone(),
                scaling_loop,
                opts.reconcile_interval,
            )),
        ];
        Ok(Arc::new(Controller {
            tenant_buses,
            store,
            definitions,
            clouds,
            topology,
            decisions,
            grants,
            reconciler,
            leadership,
            limits: MemberLimits {
                per_cluster: opts.max_members_per_cluster,
                per_tenant: opts.max_members_per_tenant,
            },
            wake,
            history,
            health_sink,
            session_key: SessionKey::new(),
            metrics,
            logins: LoginGuard::new(),
            dummy_hash,
            tasks: Mutex::new(tasks),
            _data_lock: data_lock,
        }))
    }

    /// Stop the background tasks. In-flight cloud calls are abandoned; the registry already
    /// holds their intent, so the next start picks them up.
    pub async fn shutdown(&self) {
        let tasks: Vec<JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut tasks) => tasks.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        // The clouds persist what is pending (the mock cloud's state file is exact after it).
        for (provider, cloud) in self.clouds.all() {
            if let Err(e) = cloud.shutdown().await {
                tracing::warn!(%provider, error = %e, "cloud shutdown failed");
            }
        }
        self.leadership.resign().await;
    }

    /// Who leads, as this replica last saw it.
    pub fn leader(&self) -> LeaderView {
        self.leadership.view()
    }

    /// Where health stats are applied: the Thrift receiver's sink (`--thrift-listen`).
    pub fn health_sink(&self) -> Arc<HealthSink> {
        self.health_sink.clone()
    }

    /// The controller's counters, gauges and histograms.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics exposition, with the members and clusters gauges read from the registry
    /// now (right on every replica, leader or not).
    pub async fn metrics_text(&self, openmetrics: bool) -> Result<String> {
        let (clusters, members) = self
            .store
            .run(|r| Ok((r.list_clusters(None, false)?, r.list_live_members()?)))
            .await?;
        Ok(self.metrics.render(&clusters, &members, openmetrics))
    }

    /// Where this controller's REST API is reachable from instances (`https://...`, or a
    /// loopback `http://` for local clouds); enables serving large payloads by URL.
    pub fn set_public_url(&self, url: &str) {
        self.grants.set_public_url(url);
    }
}

/// Create the data directory only its owner may enter (it holds the SQLite registry and the
/// mock cloud's instances with their payloads); one that exists already and lets others in is
/// reported, not changed (it may be shared, e.g. `--data /tmp`).
fn private_data_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| internal(format!("cannot create data dir {}: {e}", dir.display())))?;
    }
    let mode = std::fs::metadata(dir)
        .map_err(|e| internal(format!("cannot read data dir {}: {e}", dir.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data directory is open to other users (alto's own files in it are mode 0600)");
    }
    Ok(())
}

/// The leader's duties, for as long as each term lasts: the startup reconciliation (a new
/// leader does not know what its predecessor left half done), then the scaling loop, and the
/// periodic reconciliation. A term that ends stops them; the next one starts them afresh.
async fn lead(
    leadership: Arc<Leadership>,
    reconciler: Arc<Reconciler>,
    scaling_loop: Arc<ScalingLoop>,
    reconcile_interval: Duration,
) {
    let mut terms = leadership.watch();
    loop {
        let term = loop {
            if let Some(term) = *terms.borrow_and_update() {
                break term;
            }
            if terms.changed().await.is_err() {
                return;
            }
        };
        let duties = [
            tokio::spawn({
                let (reconciler, scaling_loop) = (reconciler.clone(), scaling_loop.clone());
                async move {
                    // The scaling loop waits for the startup reconciliation, but not forever:
                    // a cloud that takes its time to answer must not hold back every other one.
                    let mut startup = tokio::spawn(async move { reconciler.startup().await });
                    if tokio::time::timeout(STARTUP_RECONCILE_WAIT, &mut startup)
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            waited = ?STARTUP_RECONCILE_WAIT,
                            "startup reconciliation still running (a slow cloud); scaling starts anyway"
                        );
                    }
                    scaling_loop.run().await;
                }
            }),
            tokio::spawn(reconciler.clone().run_periodic(reconcile_interval)),
        ];
        tracing::info!(
            fencing_token = term.token,
            "leading: reconciling, then scaling"
        );
        let ended = loop {
            if terms.changed().await.is_err() {
                break false;
            }
            if *terms.borrow_and_update() != Some(term) {
                break true;
            }
        };
        for duty in duties {
            duty.abort();
        }
        if !ended {
            return;
        }
        tracing::info!(
            fencing_token = term.token,
            "term over: scaling and reconciliation stopped"
        );
    }
}
