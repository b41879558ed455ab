//! The controller facade: what the REST API and `alto dev` call.
//!
//! Every actuation (starting and terminating members) happens in one background reconcile
//! loop, woken by requests and by a timer; agent events are applied by one consumer of the
//! durable `instance.status.*` queue. Requests only record intent in the registry and wake the
//! loop, so a restart of the process resumes exactly where the registry says it was.

use crate::auth::{self, Principal, SUPER_TENANT_ID};
use crate::convert;
use crate::error::{ControllerError, Result};
use crate::model::{
    ClusterInfo, MemberInfo, SubscribeRequest, SubscriptionInfo, TenantInfo, TenantRequest,
};
use crate::naming;
use crate::payload::{self, Payload, PayloadInput};
use alto_config::{Cartridge, ConfigSet};
use alto_registry::{
    Cluster, ClusterStatus, DefinitionKind, Member, NewCluster, NewMember, NewSubscription,
    NewTenant, Registry, RegistryError, SubscriptionStatus, Transition,
};
use autoscaler::{
    DecisionRecord, EvaluationInput, FailureClass, MemberStatus, Metric, ScalingAction,
    ScalingSettings,
};
use iaas::{
    DriverContext, DriverRegistry, ErrorClass, Iaas, InstanceFilter, InstanceSpec,
    MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use messaging::events::{
    ClusterCreatedEvent, ClusterInfo as TopologyCluster, ClusterRemovedEvent,
    CompleteTopologyEvent, InstanceCleanupMemberEvent, MemberActivatedEvent, MemberAddresses,
    MemberCreatedEvent, MemberInitializedEvent, MemberRef, MemberStatusEvent,
    MemberTerminatedEvent, Port, Topology, TopologyCluster as TopologyClusterEntry, TopologyMember,
    TopologyService,
};
use messaging::{Bus, Event, MemberState, QueueKind, SubscriptionSpec};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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
    /// Period of the reconcile pass (it also runs whenever a request wakes it).
    pub reconcile_interval: Duration,
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
            reconcile_interval: Duration::from_secs(2),
            termination_timeout: Duration::from_secs(60),
            fault_timeout: Duration::from_secs(60),
            topology_interval: Duration::from_secs(60),
            scaling: ScalingSettings::default(),
            payload_url_ttl: Duration::from_secs(3600),
        }
    }
}

pub struct Controller {
    registry: Registry,
    bus: Arc<dyn Bus>,
    /// Configuration documents: the conf directory's plus every deployed definition.
    config: RwLock<ConfigSet>,
    clouds: BTreeMap<String, Arc<dyn Iaas>>,
    /// Provider types whose driver could not be built, and why.
    unavailable_clouds: BTreeMap<String, String>,
    reconcile_interval: Duration,
    termination_timeout: Duration,
    fault_timeout: Duration,
    topology_interval: Duration,
    scaling_template: ScalingSettings,
    /// When each member was last heard from (health stat or status event). Members are
    /// entered on first sight, so a controller restart gives every member a full timeout.
    last_heard: Mutex<HashMap<String, Instant>>,
    /// False while the bus is down; when it comes back every member's silence restarts.
    bus_was_up: std::sync::atomic::AtomicBool,
    wake: Notify,
    /// Members whose start call is in flight (their registry row is still `Created`).
    starting: Mutex<HashSet<String>>,
    /// When each member was asked to clean up (for the termination-pending timeout).
    cleanup_sent: Mutex<HashMap<String, Instant>>,
    /// Per cluster: the health windows of its members.
    health: Mutex<HashMap<String, autoscaler::ClusterHealth>>,
    /// Per cluster: what its evaluations remember (cooldowns, stabilization, backoff).
    scaling: Mutex<HashMap<String, autoscaler::ScalingMemory>>,
    /// Per cluster: the most recent decision records, oldest first.
    decisions: Mutex<HashMap<String, VecDeque<DecisionRecord>>>,
    /// When a health stat last woke the reconcile loop (event-driven evaluation, rate-limited).
    last_health_wake: Mutex<Instant>,
    health_wake_pending: std::sync::atomic::AtomicBool,
    /// Per provider type: the cap on concurrent cloud calls (`max.iaas.workers`).
    workers: BTreeMap<String, Arc<tokio::sync::Semaphore>>,
    /// Per provider type: serializes start admission (quota check + member row).
    admission: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Payloads served by URL, by token.
    payload_grants: Mutex<HashMap<String, PayloadGrant>>,
    payload_url_ttl: Duration,
    public_url: RwLock<Option<String>>,
    /// A weak handle on itself, for tasks the controller spawns.
    me: std::sync::Weak<Controller>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn internal(e: impl std::fmt::Display) -> ControllerError {
    ControllerError::Internal(e.to_string())
}

/// Registry bodies are text; a Latin-1 document is stored re-encoded as UTF-8.
fn body_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let text: String = bytes.iter().map(|&b| b as char).collect();
            text.replacen("encoding=\"ISO-8859-1\"", "encoding=\"UTF-8\"", 1)
                .replacen("encoding='ISO-8859-1'", "encoding='UTF-8'", 1)
        }
    }
}

impl Controller {
    /// Open the registry, load the configuration, deploy conf's cartridges and policies
    /// (idempotently), build the clouds and start the background tasks.
    pub async fn start(opts: ControllerOptions) -> Result<Arc<Controller>> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|e| {
            ControllerError::Internal(format!(
                "cannot create data dir {}: {e}",
                opts.data_dir.display()
            ))
        })?;
        let url = opts.database_url.clone();
        let registry = tokio::task::spawn_blocking(move || Registry::open(&url))
            .await
            .map_err(internal)??;

        let (conf, conf_files) = match &opts.conf_dir {
            Some(dir) => {
                let (set, problems) = alto_config::load_path(dir);
                if !problems.is_empty() {
                    return Err(ControllerError::from_problems(&problems));
                }
                let files = Self::conf_sources(&set);
                (set, files)
            }
            None => (ConfigSet::default(), Vec::new()),
        };

        // conf/ is deployed at every start: the registry then holds the union of conf and
        // everything deployed over the API, and conf wins for ids it defines.
        let reg = registry.clone();
        tokio::task::spawn_blocking(move || -> Result<(), RegistryError> {
            for (kind, id, body) in conf_files {
                reg.put_definition(kind, &id, &body)?;
            }
            Ok(())
        })
        .await
        .map_err(internal)??;

        let hash = auth::hash_password(&opts.admin_password)?;
        let reg = registry.clone();
        tokio::task::spawn_blocking(move || reg.ensure_admin(&hash))
            .await
            .map_err(internal)??;

        let config = Self::merge_deployed(&registry, conf).await?;

        let ctx = DriverContext {
            bus: opts.bus.clone(),
            health_patterns: convert::health_patterns(config.mock_iaas.as_ref()),
            state_dir: Some(opts.data_dir.clone()),
            agent_amqp: opts.agent_amqp.clone(),
        };
        let drivers = DriverRegistry::with_builtin();
        let mut clouds: BTreeMap<String, Arc<dyn Iaas>> = BTreeMap::new();
        let mut unavailable_clouds = BTreeMap::new();
        for provider in config
            .cloud_controller
            .iter()
            .flat_map(|cc| cc.iaas_providers.iter())
        {
            let spec = convert::provider_spec(provider);
            match drivers.build(&spec, &ctx) {
                Ok(driver) => match driver.initialize().await {
                    Ok(()) => {
                        clouds.insert(spec.provider_type.clone(), driver);
                    }
                    Err(e) => {
                        tracing::warn!(provider = %spec.provider_type, error = %e, "cloud unavailable");
                        unavailable_clouds.insert(spec.provider_type.clone(), e.to_string());
                    }
                },
                Err(e) => {
                    tracing::warn!(provider = %spec.provider_type, error = %e, "no driver for provider");
                    unavailable_clouds.insert(spec.provider_type.clone(), e.to_string());
                }
            }
        }

        // max.iaas.workers per provider type (a malformed value is a configuration error).
        let mut workers = BTreeMap::new();
        for provider in config
            .cloud_controller
            .iter()
            .flat_map(|cc| cc.iaas_providers.iter())
        {
            let spec = convert::provider_spec(provider);
            let n = match spec.properties.get("max.iaas.workers") {
                None => DEFAULT_IAAS_WORKERS,
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(ControllerError::invalid(format!(
                            "provider {}: property max.iaas.workers must be a positive whole number, not {v:?}",
                            spec.provider_type
                        )))
                    }
                },
            };
            workers.insert(
                spec.provider_type.clone(),
                Arc::new(tokio::sync::Semaphore::new(n)),
            );
        }

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
        // Health stats: bounded and lossy, the oldest dropped under overload.
        let health_queue = subscribe(
            "cloud-controller.health",
            &["health.#"],
            QueueKind::Lossy { capacity: 10_000 },
        )
        .await?;
        let topology_requests = subscribe(
            "cloud-controller.topology-requests",
            &["initializer.*"],
            QueueKind::Lossy { capacity: 64 },
        )
        .await?;

        let controller = Arc::new_cyclic(|me| Controller {
            registry,
            bus: opts.bus,
            config: RwLock::new(config),
            clouds,
            unavailable_clouds,
            reconcile_interval: opts.reconcile_interval,
            termination_timeout: opts.termination_timeout,
            fault_timeout: opts.fault_timeout,
            topology_interval: opts.topology_interval,
            scaling_template: opts.scaling,
            last_heard: Mutex::new(HashMap::new()),
            bus_was_up: std::sync::atomic::AtomicBool::new(true),
            wake: Notify::new(),
            starting: Mutex::new(HashSet::new()),
            cleanup_sent: Mutex::new(HashMap::new()),
            health: Mutex::new(HashMap::new()),
            scaling: Mutex::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
            last_health_wake: Mutex::new(Instant::now()),
            health_wake_pending: std::sync::atomic::AtomicBool::new(false),
            me: me.clone(),
            workers,
            admission: Mutex::new(HashMap::new()),
            payload_grants: Mutex::new(HashMap::new()),
            payload_url_ttl: opts.payload_url_ttl,
            public_url: RwLock::new(None),
            tasks: Mutex::new(Vec::new()),
        });

        let weak = Arc::downgrade(&controller);
        let tasks = [
            tokio::spawn(Self::event_loop(weak.clone(), status_queue)),
            tokio::spawn(Self::health_loop(weak.clone(), health_queue)),
            tokio::spawn(Self::topology_loop(weak.clone(), topology_requests)),
            tokio::spawn(Self::reconcile_loop(weak)),
        ];
        if let Ok(mut running) = controller.tasks.lock() {
            running.extend(tasks);
        }
        controller.wake.notify_one();
        Ok(controller)
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
    }

    /// The source text of every cartridge and policy document in conf/, keyed for the registry.
    fn conf_sources(set: &ConfigSet) -> Vec<(DefinitionKind, String, String)> {
        let read = |path: &Path| {
            std::fs::read(path)
                .map(|b| body_text(&b))
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for c in &set.cartridges {
            out.push((
                DefinitionKind::Cartridge,
                c.cartridge_type.clone(),
                read(&c.location.file),
            ));
        }
        for p in &set.autoscale_policies {
            out.push((
                DefinitionKind::AutoscalePolicy,
                p.id.clone(),
                read(&p.location.file),
            ));
        }
        for p in &set.deployment_policies {
            out.push((
                DefinitionKind::DeploymentPolicy,
                p.id.clone(),
                read(&p.location.file),
            ));
        }
        out
    }

    /// conf's documents plus every deployed definition in the registry (registry wins).
    async fn merge_deployed(registry: &Registry, mut set: ConfigSet) -> Result<ConfigSet> {
        let reg = registry.clone();
        let (cartridges, autoscale, deployment) =
            tokio::task::spawn_blocking(move || -> Result<_, RegistryError> {
                Ok((
                    reg.list_definitions(DefinitionKind::Cartridge)?,
                    reg.list_definitions(DefinitionKind::AutoscalePolicy)?,
                    reg.list_definitions(DefinitionKind::DeploymentPolicy)?,
                ))
            })
            .await
            .map_err(internal)??;
        let origin = |kind: &str, id: &str| PathBuf::from(format!("registry:{kind}/{id}"));
        for def in cartridges {
            match alto_config::parse_cartridges(&origin("cartridge", &def.id), def.body.as_bytes())
            {
                Ok(list) => {
                    for c in list.into_iter().filter(|c| c.cartridge_type == def.id) {
                        set.cartridges
                            .retain(|old| old.cartridge_type != c.cartridge_type);
                        set.cartridges.push(c);
                    }
                }
                Err(problems) => {
                    tracing::error!(id = %def.id, problems = ?problems.iter().map(ToString::to_string).collect::<Vec<_>>(), "stored cartridge no longer parses; skipped")
                }
            }
        }
        for def in autoscale {
            match alto_config::parse_autoscale_policy(
                &origin("autoscalePolicy", &def.id),
                def.body.as_bytes(),
            ) {
                Ok(p) => {
                    set.autoscale_policies.retain(|old| old.id != p.id);
                    set.autoscale_policies.push(p);
                }
                Err(problems) => {
                    tracing::error!(id = %def.id, problems = ?problems.iter().map(ToString::to_string).collect::<Vec<_>>(), "stored autoscale policy no longer parses; skipped")
                }
            }
        }
        for def in deployment {
            match alto_config::parse_deployment_policy(
                &origin("deploymentPolicy", &def.id),
                def.body.as_bytes(),
            ) {
                Ok(p) => {
                    set.deployment_policies.retain(|old| old.id != p.id);
                    set.deployment_policies.push(p);
                }
                Err(problems) => {
                    tracing::error!(id = %def.id, problems = ?problems.iter().map(ToString::to_string).collect::<Vec<_>>(), "stored deployment policy no longer parses; skipped")
                }
            }
        }
        Ok(set)
    }

    async fn db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        let registry = self.registry.clone();
        Ok(tokio::task::spawn_blocking(move || f(&registry))
            .await
            .map_err(internal)??)
    }

    fn config_read(&self) -> Result<std::sync::RwLockReadGuard<'_, ConfigSet>> {
        self.config
            .read()
            .map_err(|_| internal("configuration lock poisoned"))
    }

    fn config_write(&self) -> Result<std::sync::RwLockWriteGuard<'_, ConfigSet>> {
        self.config
            .write()
            .map_err(|_| internal("configuration lock poisoned"))
    }

    // ----------------------------------------------------------------------------------
    // Authentication and tenants

    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Principal> {
        let login_owned = login.to_string();
        let user = self.db(move |r| r.get_user(&login_owned)).await?;
        let Some(user) = user else {
            return Err(ControllerError::Unauthorized);
        };
        let password = password.to_string();
        let hash = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(ControllerError::Unauthorized);
        }
        Ok(Principal {
            login: user.login,
            tenant_id: user.tenant_id,
            role: user.role,
        })
    }

    pub async fn create_tenant(&self, p: &Principal, req: TenantRequest) -> Result<TenantInfo> {
        p.require_admin("creating a tenant")?;
        let domain = req.tenant_domain.trim().to_ascii_lowercase();
        let valid_domain = !domain.is_empty()
            && domain.len() <= 253
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-']);
        if !valid_domain {
            return Err(ControllerError::invalid(format!(
                "tenantDomain {:?} is not a domain name (letters, digits, '.' and '-')",
                req.tenant_domain
            )));
        }
        let admin = req.admin.trim();
        if admin.is_empty() || admin.contains(['@', ':']) || admin.chars().any(char::is_whitespace)
        {
            return Err(ControllerError::invalid(format!(
                "admin {:?} must be a user name without '@', ':' or spaces",
                req.admin
            )));
        }
        if req.admin_password.len() < 6 {
            return Err(ControllerError::invalid(
                "adminPassword must have at least 6 characters",
            ));
        }
        let hash = auth::hash_password(&req.admin_password)?;
        let new = NewTenant {
            domain: domain.clone(),
            email: req.email.clone(),
            admin_username: admin.to_string(),
            admin_password_hash: hash,
        };
        let tenant = self.db(move |r| r.create_tenant(new)).await?;
        Ok(TenantInfo {
            tenant_id: tenant.id,
            tenant_domain: tenant.domain.clone(),
            admin: format!("{admin}@{}", tenant.domain),
            email: tenant.email.clone(),
            created_at: tenant.created_at,
        })
    }

    // ----------------------------------------------------------------------------------
    // Cartridges and policies

    pub async fn list_cartridges(&self, _p: &Principal) -> Result<Vec<Cartridge>> {
        let mut list = self.config_read()?.cartridges.clone();
        list.sort_by(|a, b| a.cartridge_type.cmp(&b.cartridge_type));
        Ok(list)
    }

    pub async fn get_cartridge(&self, _p: &Principal, cartridge_type: &str) -> Result<Cartridge> {
        self.config_read()?
            .cartridges
            .iter()
            .find(|c| c.cartridge_type == cartridge_type)
            .cloned()
            .ok_or_else(|| ControllerError::NotFound(format!("cartridge {cartridge_type}")))
    }

    pub async fn deploy_cartridge(&self, p: &Principal, xml: &[u8]) -> Result<Vec<Cartridge>> {
        p.require_admin("deploying a cartridge")?;
        let cartridges = alto_config::parse_cartridges(Path::new("request body"), xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        {
            let config = self.config_read()?;
            let problems: Vec<_> = cartridges
                .iter()
                .flat_map(|c| config.validate_cartridge(c))
                .collect();
            if !problems.is_empty() {
                return Err(ControllerError::from_problems(&problems));
            }
        }
        let body = body_text(xml);
        let ids: Vec<String> = cartridges
            .iter()
            .map(|c| c.cartridge_type.clone())
            .collect();
        self.db(move |r| {
            for id in ids {
                r.put_definition(DefinitionKind::Cartridge, &id, &body)?;
            }
            Ok(())
        })
        .await?;
        let mut config = self.config_write()?;
        for c in &cartridges {
            config
                .cartridges
                .retain(|old| old.cartridge_type != c.cartridge_type);
            config.cartridges.push(c.clone());
        }
        Ok(cartridges)
    }

    pub async fn undeploy_cartridge(&self, p: &Principal, cartridge_type: &str) -> Result<()> {
        p.require_admin("undeploying a cartridge")?;
        let t = cartridge_type.to_string();
        let in_use = self
            .db(move |r| r.list_subscriptions(None))
            .await?
            .into_iter()
            .filter(|s| s.cartridge_type == t)
            .count();
        if in_use > 0 {
            return Err(ControllerError::Conflict(format!(
                "cartridge {cartridge_type} has {in_use} subscription(s); unsubscribe them first"
            )));
        }
        let t = cartridge_type.to_string();
        let deleted = self
            .db(move |r| r.delete_definition(DefinitionKind::Cartridge, &t))
            .await?;
        let mut config = self.config_write()?;
        let before = config.cartridges.len();
        config
            .cartridges
            .retain(|c| c.cartridge_type != cartridge_type);
        if !deleted && before == config.cartridges.len() {
            return Err(ControllerError::NotFound(format!(
                "cartridge {cartridge_type}"
            )));
        }
        Ok(())
    }

    pub async fn list_autoscaling_policies(
        &self,
        _p: &Principal,
    ) -> Result<Vec<alto_config::AutoscalePolicy>> {
        let mut list = self.config_read()?.autoscale_policies.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    pub async fn deploy_autoscaling_policy(
        &self,
        p: &Principal,
        xml: &[u8],
    ) -> Result<alto_config::AutoscalePolicy> {
        p.require_admin("deploying an autoscaling policy")?;
        let policy = alto_config::parse_autoscale_policy(Path::new("request body"), xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        let problems = self.config_read()?.validate_autoscale_policy(&policy);
        if !problems.is_empty() {
            return Err(ControllerError::from_problems(&problems));
        }
        let (id, body) = (policy.id.clone(), body_text(xml));
        self.db(move |r| r.put_definition(DefinitionKind::AutoscalePolicy, &id, &body))
            .await?;
        let mut config = self.config_write()?;
        config.autoscale_policies.retain(|old| old.id != policy.id);
        config.autoscale_policies.push(policy.clone());
        Ok(policy)
    }

    pub async fn list_deployment_policies(
        &self,
        _p: &Principal,
    ) -> Result<Vec<alto_config::DeploymentPolicy>> {
        let mut list = self.config_read()?.deployment_policies.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    pub async fn deploy_deployment_policy(
        &self,
        p: &Principal,
        xml: &[u8],
    ) -> Result<alto_config::DeploymentPolicy> {
        p.require_admin("deploying a deployment policy")?;
        let policy = alto_config::parse_deployment_policy(Path::new("request body"), xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        {
            let config = self.config_read()?;
            let problems = config.validate_deployment_policy(&policy);
            if !problems.is_empty() {
                return Err(ControllerError::from_problems(&problems));
            }
            // Every partition must land on a cloud we can drive.
            let resolved =
                convert::deployment_policy(&config, &policy).map_err(ControllerError::invalid)?;
            self.check_clouds(&resolved)?;
        }
        let (id, body) = (policy.id.clone(), body_text(xml));
        self.db(move |r| r.put_definition(DefinitionKind::DeploymentPolicy, &id, &body))
            .await?;
        let mut config = self.config_write()?;
        config.deployment_policies.retain(|old| old.id != policy.id);
        config.deployment_policies.push(policy.clone());
        Ok(policy)
    }

    fn check_clouds(&self, policy: &autoscaler::DeploymentPolicy) -> Result<()> {
        let mut problems = Vec::new();
        for np in &policy.network_partitions {
            for partition in &np.partitions {
                if !self.clouds.contains_key(&partition.provider_type) {
                    let why = self
                        .unavailable_clouds
                        .get(&partition.provider_type)
                        .cloned()
                        .unwrap_or_else(|| {
                            "no such iaasProvider in cloud-controller.xml".to_string()
                        });
                    problems.push(format!(
                        "deployment policy {}: partition {} uses provider {}: {why}",
                        policy.id, partition.id, partition.provider_type
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ControllerError::Invalid(problems))
        }
    }

    // ----------------------------------------------------------------------------------
    // Subscriptions and clusters

    /// What a subscription resolves to; shared by subscribe and the reconcile loop.
    fn resolve(
        &self,
        cartridge_type: &str,
        deployment_policy: &str,
    ) -> Result<(Cartridge, autoscaler::DeploymentPolicy)> {
        let config = self.config_read()?;
        let cartridge = config
            .cartridges
            .iter()
            .find(|c| c.cartridge_type == cartridge_type)
            .cloned()
            .ok_or_else(|| {
                ControllerError::invalid(format!("cartridge {cartridge_type} is not deployed"))
            })?;
        let policy = config
            .deployment_policies
            .iter()
            .find(|p| p.id == deployment_policy)
            .ok_or_else(|| {
                ControllerError::invalid(format!(
                    "deployment policy {deployment_policy} is not deployed"
                ))
            })?;
        let resolved =
            convert::deployment_policy(&config, policy).map_err(ControllerError::invalid)?;
        Ok((cartridge, resolved))
    }

    pub async fn subscribe(
        &self,
        p: &Principal,
        req: SubscribeRequest,
    ) -> Result<SubscriptionInfo> {
        if !alto_config::is_valid_alias(&req.alias) {
            return Err(ControllerError::invalid(format!(
                "alias {:?} does not match Stratos' alias pattern ([a-z0-9]+([-][a-z0-9])*)+",
                req.alias
            )));
        }
        let (cartridge, policy) = self.resolve(&req.cartridge_type, &req.deployment_policy)?;
        if !self
            .config_read()?
            .autoscale_policies
            .iter()
            .any(|a| a.id == req.autoscale_policy)
        {
            return Err(ControllerError::invalid(format!(
                "autoscale policy {} is not deployed",
                req.autoscale_policy
            )));
        }
        self.check_clouds(&policy)?;
        let cluster_id = naming::cluster_id(&req.alias, &req.cartridge_type);
        let host_name = naming::host_name(&req.alias, &cartridge.host);
        let cartridge_key = naming::cartridge_key();
        // Build a payload now so that a value the format cannot carry is a 400 at subscribe
        // time, not a failed start later.
        let first = policy
            .network_partitions
            .first()
            .and_then(|np| np.partitions.first().map(|p| (np.id.clone(), p.id.clone())));
        let (np_id, partition_id) = first.unwrap_or_default();
        Self::member_payload(
            &cartridge,
            p.tenant_id,
            &req.alias,
            &cluster_id,
            &host_name,
            &cartridge_key,
            "member",
            &np_id,
            &partition_id,
        )
        .map_err(|e| ControllerError::invalid(e.to_string()))?;

        let new_subscription = NewSubscription {
            tenant_id: p.tenant_id,
            alias: req.alias.clone(),
            cartridge_type: req.cartridge_type.clone(),
            autoscale_policy: req.autoscale_policy.clone(),
            deployment_policy: req.deployment_policy.clone(),
        };
        let new_cluster = NewCluster {
            cluster_id: cluster_id.clone(),
            service_name: req.cartridge_type.clone(),
            host_name: host_name.clone(),
            tenant_id: p.tenant_id,
            autoscale_policy: req.autoscale_policy.clone(),
            deployment_policy: req.deployment_policy.clone(),
            cartridge_key,
            properties: BTreeMap::new(),
        };
        let (subscription, cluster) = self
            .db(move |r| r.create_subscription(new_subscription, new_cluster))
            .await
            .map_err(|e| match e {
                ControllerError::Registry(RegistryError::Conflict(_)) => {
                    ControllerError::Conflict(format!(
                        "alias {} is taken (cluster {} exists)",
                        req.alias, cluster_id
                    ))
                }
                other => other,
            })?;
        self.publish(&Event::ClusterCreatedEvent(ClusterCreatedEvent {
            cluster: topology_cluster(&cluster),
        }))
        .await;
        self.wake.notify_one();
        Ok(SubscriptionInfo {
            alias: subscription.alias,
            cartridge_type: subscription.cartridge_type,
            autoscale_policy: subscription.autoscale_policy,
            deployment_policy: subscription.deployment_policy,
            cluster_id: cluster.cluster_id,
            host_name: cluster.host_name,
            tenant_id: subscription.tenant_id,
            status: status_name(&subscription.status),
            min_members: policy.min(),
            members_total: 0,
            members_active: 0,
        })
    }

    pub async fn list_subscriptions(&self, p: &Principal) -> Result<Vec<SubscriptionInfo>> {
        let tenant = if p.is_admin() {
            None
        } else {
            Some(p.tenant_id)
        };
        let subscriptions = self.db(move |r| r.list_subscriptions(tenant)).await?;
        let mut out = Vec::new();
        for s in subscriptions {
            out.push(self.subscription_info(s).await?);
        }
        Ok(out)
    }

    async fn subscription_info(&self, s: alto_registry::Subscription) -> Result<SubscriptionInfo> {
        let cluster_id = s.cluster_id.clone();
        let (cluster, members) = self
            .db(move |r| {
                Ok((
                    r.get_cluster(&cluster_id)?,
                    r.list_members(&cluster_id, false)?,
                ))
            })
            .await?;
        let min_members = self
            .resolve(&s.cartridge_type, &s.deployment_policy)
            .map(|(_, policy)| policy.min())
            .unwrap_or(0);
        Ok(SubscriptionInfo {
            host_name: cluster.map(|c| c.host_name).unwrap_or_default(),
            members_total: members.len(),
            members_active: members
                .iter()
                .filter(|m| m.state == MemberState::Active)
                .count(),
            status: status_name(&s.status),
            alias: s.alias,
            cartridge_type: s.cartridge_type,
            autoscale_policy: s.autoscale_policy,
            deployment_policy: s.deployment_policy,
            cluster_id: s.cluster_id,
            tenant_id: s.tenant_id,
            min_members,
        })
    }

    /// Mark the subscription as leaving; the reconcile loop cleans up and terminates every
    /// member gracefully, then removes the cluster.
    pub async fn unsubscribe(&self, p: &Principal, alias: &str) -> Result<SubscriptionInfo> {
        let (tenant, alias_owned) = (p.tenant_id, alias.to_string());
        let subscription = self
            .db(move |r| r.get_subscription(tenant, &alias_owned))
            .await?
            .ok_or_else(|| ControllerError::NotFound(format!("subscription {alias}")))?;
        let (alias_owned, cluster_id) = (alias.to_string(), subscription.cluster_id.clone());
        let subscription = self
            .db(move |r| {
                r.set_subscription_status(tenant, &alias_owned, SubscriptionStatus::Unsubscribing)?;
                r.set_cluster_status(&cluster_id, ClusterStatus::Terminating)?;
                r.get_subscription(tenant, &alias_owned)?
                    .ok_or_else(|| RegistryError::NotFound(format!("subscription {alias_owned}")))
            })
            .await?;
        self.wake.notify_one();
        self.subscription_info(subscription).await
    }

    pub async fn list_clusters(&self, p: &Principal) -> Result<Vec<ClusterInfo>> {
        let tenant = if p.is_admin() {
            None
        } else {
            Some(p.tenant_id)
        };
        let clusters = self.db(move |r| r.list_clusters(tenant, false)).await?;
        let mut out = Vec::new();
        for c in clusters {
            out.push(self.cluster_info(c).await?);
        }
        Ok(out)
    }

    /// A tenant asking for another tenant's cluster gets NotFound, never Forbidden: the
    /// cluster's existence is not theirs to know.
    pub async fn get_cluster(&self, p: &Principal, cluster_id: &str) -> Result<ClusterInfo> {
        let id = cluster_id.to_string();
        let cluster = self
            .db(move |r| r.get_cluster(&id))
            .await?
            .filter(|c| p.is_admin() || c.tenant_id == p.tenant_id)
            .ok_or_else(|| ControllerError::NotFound(format!("cluster {cluster_id}")))?;
        self.cluster_info(cluster).await
    }

    async fn cluster_info(&self, c: Cluster) -> Result<ClusterInfo> {
        let id = c.cluster_id.clone();
        let members = self.db(move |r| r.list_members(&id, true)).await?;
        Ok(ClusterInfo {
            members: members.into_iter().map(member_info).collect(),
            status: format!("{:?}", c.status),
            cluster_id: c.cluster_id,
            alias: c.alias,
            service_name: c.service_name,
            host_name: c.host_name,
            tenant_id: c.tenant_id,
            autoscale_policy: c.autoscale_policy,
            deployment_policy: c.deployment_policy,
        })
    }

    // ----------------------------------------------------------------------------------
    // Background: events and reconciliation

    async fn publish(&self, event: &Event) {
        if let Err(e) = self.bus.publish(event).await {
            tracing::warn!(event = event.name(), error = %e, "publish failed");
        }
    }

    async fn event_loop(this: std::sync::Weak<Controller>, mut queue: messaging::Subscription) {
        while let Some(delivery) = queue.next().await {
            let Some(controller) = this.upgrade() else {
                return;
            };
            match controller.apply_status_event(&delivery.event).await {
                Ok(()) => {
                    let _ = delivery.ack().await;
                }
                Err(e) => {
                    // Registry trouble: put it back for another attempt.
                    tracing::error!(event = delivery.event.name(), error = %e, "could not apply event");
                    let _ = delivery.reject(true).await;
                }
            }
        }
    }

    /// Apply one agent event to the member state machine. Duplicates and late events are
    /// logged and dropped; only registry failures are errors (the event is retried).
    async fn apply_status_event(&self, event: &Event) -> Result<()> {
        let (target, member_ref) = match event {
            Event::InstanceStartedEvent(e) => (MemberState::Starting, &e.member),
            Event::InstanceActivatedEvent(e) => (MemberState::Active, &e.member),
            Event::InstanceMaintenanceModeEvent(e) => (MemberState::InMaintenance, &e.member),
            Event::InstanceReadyToShutdownEvent(e) => (MemberState::ReadyToShutDown, &e.member),
            _ => return Ok(()),
        };
        self.heard_from(&member_ref.member_id);
        let member_id = member_ref.member_id.clone();
        let outcome = self
            .db(move |r| r.transition_member(&member_id, target))
            .await;
        let member = match outcome {
            Ok(Transition::Moved { member, .. }) => member,
            Ok(Transition::Unchanged(_)) => return Ok(()),
            Err(ControllerError::Registry(RegistryError::IllegalTransition { .. })) => {
                tracing::info!(member = %member_ref.member_id, event = event.name(), "late or out-of-order event ignored");
                return Ok(());
            }
            Err(ControllerError::Registry(RegistryError::NotFound(_))) => {
                tracing::warn!(member = %member_ref.member_id, event = event.name(), "event for an unknown member ignored");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.publish_member_state(&member).await;
        if target == MemberState::ReadyToShutDown {
            self.terminate_member(&member, "agent ready to shut down")
                .await;
        }
        Ok(())
    }

    /// The topology event announcing a member's new state.
    async fn publish_member_state(&self, member: &Member) {
        let member_ref = member_ref(member);
        let status_event = |status| MemberStatusEvent {
            member: member_ref.clone(),
            status,
            properties: BTreeMap::new(),
        };
        let event = match member.state {
            MemberState::Created => Event::MemberCreatedEvent(MemberCreatedEvent {
                member: member_ref.clone(),
                init_time: member.created_at,
                properties: BTreeMap::new(),
            }),
            MemberState::Initialized => Event::MemberInitializedEvent(MemberInitializedEvent {
                member: member_ref.clone(),
                instance_id: member.instance_id.clone().unwrap_or_default(),
                addresses: MemberAddresses::new(
                    member.private_ips.clone(),
                    member.public_ips.clone(),
                ),
                properties: BTreeMap::new(),
            }),
            MemberState::Starting => Event::MemberStartedEvent(status_event(MemberState::Starting)),
            MemberState::Active => Event::MemberActivatedEvent(MemberActivatedEvent {
                member: member_ref.clone(),
                port_map: self.port_map(&member.service_name),
                addresses: MemberAddresses::new(
                    member.private_ips.clone(),
                    member.public_ips.clone(),
                ),
            }),
            MemberState::InMaintenance => {
                Event::MemberMaintenanceModeEvent(status_event(MemberState::InMaintenance))
            }
            MemberState::ReadyToShutDown => {
                Event::MemberReadyToShutdownEvent(status_event(MemberState::ReadyToShutDown))
            }
            MemberState::Terminated => Event::MemberTerminatedEvent(MemberTerminatedEvent {
                member: member_ref.clone(),
                properties: BTreeMap::new(),
            }),
        };
        self.publish(&event).await;
    }

    fn port_map(&self, cartridge_type: &str) -> BTreeMap<String, Port> {
        let Ok(config) = self.config_read() else {
            return BTreeMap::new();
        };
        config
            .cartridges
            .iter()
            .find(|c| c.cartridge_type == cartridge_type)
            .map(|c| {
                c.port_mappings
                    .iter()
                    .map(|pm| {
                        let key = pm.proxy_port.unwrap_or(pm.port).to_string();
                        (
                            key,
                            Port {
                                protocol: pm.protocol.clone(),
                                value: pm.port,
                                proxy: pm.proxy_port,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn heard_from(&self, member_id: &str) {
        if let Ok(mut heard) = self.last_heard.lock() {
            heard.insert(member_id.to_string(), Instant::now());
        }
    }

    /// Consume health stats. Today they are the members' heartbeat; the autoscaler's windows
    /// feed on the same queue.
    async fn health_loop(this: std::sync::Weak<Controller>, mut queue: messaging::Subscription) {
        while let Some(delivery) = queue.next().await {
            let Some(controller) = this.upgrade() else {
                return;
            };
            if let Event::MemberHealthStatsEvent(stats) = &delivery.event {
                controller.heard_from(&stats.member.member_id);
                controller.apply_health(stats);
            }
            let _ = delivery.ack().await;
        }
    }

    /// Feed one stat into its cluster's windows (by arrival time: agents' clocks may differ) and
    /// wake the evaluation, at most every `HEALTH_WAKE_INTERVAL`.
    fn apply_health(&self, stats: &messaging::events::MemberHealthStatsEvent) {
        let now = now_secs();
        if let Ok(mut health) = self.health.lock() {
            if let Some(cluster) = health.get_mut(&stats.member.cluster_id) {
                for (metric, value) in [
                    (Metric::LoadAverage, stats.load_average),
                    (Metric::MemoryConsumption, stats.memory_consumption),
                    (Metric::RequestsInFlight, stats.requests_in_flight),
                ] {
                    if let Some(v) = value {
                        cluster.apply_member(&stats.member.member_id, metric, now, v);
                    }
                }
            }
        }
        self.wake_for_health();
    }

    /// Wake the evaluation now, or, when it was woken less than `HEALTH_WAKE_INTERVAL` ago, once
    /// that interval is over (one delayed wake at a time): a stat never waits for the periodic
    /// pass.
    fn wake_for_health(&self) {
        use std::sync::atomic::Ordering;
        let Ok(mut last) = self.last_health_wake.lock() else {
            return;
        };
        let elapsed = last.elapsed();
        if elapsed >= HEALTH_WAKE_INTERVAL {
            *last = Instant::now();
            drop(last);
            self.wake.notify_one();
        } else if !self.health_wake_pending.swap(true, Ordering::SeqCst) {
            let delay = HEALTH_WAKE_INTERVAL - elapsed;
            let weak = self.me.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Some(c) = weak.upgrade() {
                    c.health_wake_pending.store(false, Ordering::SeqCst);
                    if let Ok(mut last) = c.last_health_wake.lock() {
                        *last = Instant::now();
                    }
                    c.wake.notify_one();
                }
            });
        }
    }

    /// The recent decision records of a cluster the principal may see, oldest first.
    pub async fn cluster_decisions(
        &self,
        p: &Principal,
        cluster_id: &str,
    ) -> Result<Vec<DecisionRecord>> {
        // Same visibility as the cluster itself (another tenant's cluster is a 404).
        self.get_cluster(p, cluster_id).await?;
        Ok(self
            .decisions
            .lock()
            .ok()
            .and_then(|d| d.get(cluster_id).map(|q| q.iter().cloned().collect()))
            .unwrap_or_default())
    }

    /// CompleteTopologyEvent at start, every topology interval and on request.
    async fn topology_loop(
        this: std::sync::Weak<Controller>,
        mut requests: messaging::Subscription,
    ) {
        let interval = match this.upgrade() {
            Some(c) => c.topology_interval,
            None => return,
        };
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                request = requests.next() => match request {
                    Some(d) => {
                        let _ = d.ack().await;
                    }
                    None => return,
                },
            }
            let Some(controller) = this.upgrade() else {
                return;
            };
            match controller.complete_topology().await {
                Ok(topology) => {
                    controller
                        .publish(&Event::CompleteTopologyEvent(topology))
                        .await
                }
                Err(e) => tracing::warn!(error = %e, "cannot build the complete topology"),
            }
        }
    }

    async fn complete_topology(&self) -> Result<CompleteTopologyEvent> {
        let rows = self
            .db(|r| {
                let mut rows = Vec::new();
                for cluster in r.list_clusters(None, false)? {
                    let members = r.list_members(&cluster.cluster_id, false)?;
                    rows.push((cluster, members));
                }
                Ok(rows)
            })
            .await?;
        let mut service_map: BTreeMap<String, TopologyService> = BTreeMap::new();
        for (cluster, members) in rows {
            let service = service_map
                .entry(cluster.service_name.clone())
                .or_insert_with(|| TopologyService {
                    service_name: cluster.service_name.clone(),
                    service_type: "SingleTenant".into(),
                    port_map: self.port_map(&cluster.service_name),
                    cluster_id_cluster_map: BTreeMap::new(),
                });
            let member_map = members
                .iter()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        TopologyMember {
                            member: member_ref(m),
                            status: m.state,
                            instance_id: m.instance_id.clone(),
                            addresses: MemberAddresses::new(
                                m.private_ips.clone(),
                                m.public_ips.clone(),
                            ),
                            init_time: m.created_at,
                        },
                    )
                })
                .collect();
            service.cluster_id_cluster_map.insert(
                cluster.cluster_id.clone(),
                TopologyClusterEntry {
                    cluster: topology_cluster(&cluster),
                    member_map,
                },
            );
        }
        Ok(CompleteTopologyEvent {
            topology: Topology {
                service_map,
                initialized: true,
            },
        })
    }

    /// Is the bus up? On the way back up, every member's silence starts again: nothing could
    /// be heard while it was down.
    async fn bus_is_up(&self) -> bool {
        use std::sync::atomic::Ordering;
        let up = self.bus.is_connected().await;
        let was_up = self.bus_was_up.swap(up, Ordering::SeqCst);
        if up && !was_up {
            tracing::info!("bus back: restarting member fault timers");
            if let Ok(mut heard) = self.last_heard.lock() {
                heard.clear();
            }
        }
        up
    }

    async fn reconcile_loop(this: std::sync::Weak<Controller>) {
        loop {
            let Some(controller) = this.upgrade() else {
                return;
            };
            if let Err(e) = controller.reconcile_all().await {
                tracing::error!(error = %e, "reconcile pass failed");
            }
            let interval = controller.reconcile_interval;
            tokio::select! {
                _ = controller.wake.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
            drop(controller);
        }
    }

    async fn reconcile_all(&self) -> Result<()> {
        let clusters = self.db(|r| r.list_clusters(None, false)).await?;
        for cluster in clusters {
            let id = cluster.cluster_id.clone();
            let result = match cluster.status {
                ClusterStatus::Terminating => self.reconcile_leaving(&cluster).await,
                ClusterStatus::Removed => Ok(()),
                _ => self.reconcile_minimum(&cluster).await,
            };
            if let Err(e) = result {
                tracing::error!(cluster = %id, error = %e, "reconcile failed");
            }
        }
        Ok(())
    }

    /// The autoscale policy's thresholds and the controller's timeouts as scaling settings.
    fn scaling_settings(&self, autoscale_policy: &str) -> ScalingSettings {
        let (thresholds, policy_dry_run) = self
            .config_read()
            .ok()
            .and_then(|c| {
                c.autoscale_policies
                    .iter()
                    .find(|p| p.id == autoscale_policy)
                    .map(|p| (convert::autoscale_policy(p).load_thresholds, p.dry_run))
            })
            .unwrap_or_default();
        let mut settings = self.scaling_template.clone();
        settings.thresholds = thresholds;
        settings.dry_run |= policy_dry_run;
        settings.fault_timeout_seconds = self.fault_timeout.as_secs_f64();
        settings
    }

    /// Evaluate one cluster with the autoscaler (minimum, faults, expiry, scaling by load),
    /// keep the decision record, and carry out its actions.
    async fn reconcile_minimum(&self, cluster: &Cluster) -> Result<()> {
        let (cartridge, policy) = match self
            .resolve(&cluster.service_name, &cluster.deployment_policy)
        {
            Ok(resolved) => resolved,
            Err(e) => {
                tracing::warn!(cluster = %cluster.cluster_id, error = %e, "cannot resolve cluster policies");
                return Ok(());
            }
        };
        let settings = self.scaling_settings(&cluster.autoscale_policy);
        let id = cluster.cluster_id.clone();
        let members = self.db(move |r| r.list_members(&id, false)).await?;
        self.expire_scale_down_cleanups(&members).await;
        let bus_up = self.bus_is_up().await;
        let now = now_secs();
        let statuses = self.member_statuses(&cluster.cluster_id, &members, &settings, bus_up, now);
        let memory = self
            .scaling
            .lock()
            .map_err(internal)?
            .entry(cluster.cluster_id.clone())
            .or_default()
            .clone();
        let record = autoscaler::evaluate(
            &EvaluationInput {
                cluster_id: &cluster.cluster_id,
                deployment_policy: &policy,
                settings: &settings,
                members: &statuses,
                network_partition_health: &[],
            },
            &memory,
            now,
        );
        if let Ok(mut decisions) = self.decisions.lock() {
            let queue = decisions.entry(cluster.cluster_id.clone()).or_default();
            // Keep what changed: an unchanged "within thresholds" every pass would push the
            // interesting records out.
            let same = queue.back().is_some_and(|last: &DecisionRecord| {
                last.reason == record.reason && record.actions().is_empty()
            });
            if !same {
                queue.push_back(record.clone());
                while queue.len() > DECISIONS_KEPT {
                    queue.pop_front();
                }
            }
        }
        // The one place that actuates; `actions()` is empty for a dry run.
        // Starts run concurrently (each provider's max.iaas.workers caps its cloud calls); the
        // rest one by one.
        let (starts, others): (Vec<&ScalingAction>, Vec<&ScalingAction>) = record
            .actions()
            .iter()
            .partition(|a| matches!(a, ScalingAction::StartMember { .. }));
        let results = futures_util::future::join_all(
            starts
                .into_iter()
                .map(|a| self.actuate(cluster, &cartridge, &members, a)),
        )
        .await;
        for action in others {
            self.actuate(cluster, &cartridge, &members, action).await?;
        }
        results.into_iter().collect::<Result<Vec<()>>>()?;
        if let Ok(mut scaling) = self.scaling.lock() {
            if let Some(memory) = scaling.get_mut(&cluster.cluster_id) {
                memory.commit(&record, &settings);
            }
        }
        let active = members
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .count() as u32;
        if cluster.status == ClusterStatus::Created
            && record.planned_actions().is_empty()
            && active >= policy.min()
        {
            let id = cluster.cluster_id.clone();
            self.db(move |r| r.set_cluster_status(&id, ClusterStatus::Active))
                .await?;
        }
        Ok(())
    }

    /// What the evaluation needs to know of each live member.
    fn member_statuses(
        &self,
        cluster_id: &str,
        members: &[Member],
        settings: &ScalingSettings,
        bus_up: bool,
        now: f64,
    ) -> Vec<MemberStatus> {
        let leaving: HashSet<String> = self
            .cleanup_sent
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut health = self.health.lock().ok();
        let cluster_health = health.as_mut().map(|h| {
            h.entry(cluster_id.to_string())
                .or_insert_with(|| autoscaler::ClusterHealth::new(settings.window_config()))
        });
        let mut heard = self.last_heard.lock().ok();
        let mut statuses = Vec::with_capacity(members.len());
        let mut windows = cluster_health;
        if let Some(w) = windows.as_mut() {
            w.expire(now);
        }
        for m in members {
            if let Some(w) = windows.as_mut() {
                w.track_member(&m.member_id, &m.network_partition_id);
            }
            let stats = windows
                .as_ref()
                .and_then(|w| w.member(&m.member_id))
                .map(|w| w.all_stats())
                .unwrap_or_default();
            // Members first seen by this process get a full fault timeout from now, and while
            // the bus is down silence proves nothing.
            let last_heard_at = if bus_up {
                heard.as_mut().map(|h| {
                    let at = *h.entry(m.member_id.clone()).or_insert_with(Instant::now);
                    now - at.elapsed().as_secs_f64()
                })
            } else {
                Some(now)
            };
            statuses.push(MemberStatus {
                member_id: m.member_id.clone(),
                network_partition_id: m.network_partition_id.clone(),
                partition_id: m.partition_id.clone(),
                // A member asked to clean up is on its way out.
                state: if leaving.contains(&m.member_id) && m.state == MemberState::Active {
                    MemberState::InMaintenance
                } else {
                    m.state
                },
                started_at: m.created_at as f64 / 1000.0,
                state_since: m.updated_at as f64 / 1000.0,
                health: stats,
                last_heard_at,
            });
        }
        statuses
    }

    async fn actuate(
        &self,
        cluster: &Cluster,
        cartridge: &Cartridge,
        members: &[Member],
        action: &ScalingAction,
    ) -> Result<()> {
        let member = |id: &str| members.iter().find(|m| m.member_id == id);
        match action {
            ScalingAction::StartMember {
                network_partition_id,
                partition_id,
                provider_type,
                ..
            } => {
                self.start_member(
                    cluster,
                    cartridge,
                    network_partition_id,
                    partition_id,
                    provider_type,
                )
                .await?;
            }
            ScalingAction::TerminateMember { member_id, .. } => {
                if let Some(m) = member(member_id) {
                    self.request_cleanup(m, "scaled down").await?;
                }
            }
            ScalingAction::MarkFaulty {
                member_id,
                silent_seconds,
                ..
            } => {
                if let Some(m) = member(member_id) {
                    let reason = format!("faulty: silent {:.0}s", silent_seconds);
                    tracing::warn!(member = %member_id, %reason, "member faulty");
                    // Its agent is gone: nobody would clean up, so terminate at once.
                    self.terminate_member(m, &reason).await;
                    if let Ok(mut heard) = self.last_heard.lock() {
                        heard.remove(member_id);
                    }
                }
            }
            ScalingAction::ExpirePending {
                member_id,
                pending_seconds,
                ..
            } => {
                if let Some(m) = member(member_id) {
                    let reason = format!("expired: not Active after {:.0}s", pending_seconds);
                    self.terminate_member(m, &reason).await;
                }
            }
        }
        Ok(())
    }

    /// Graceful removal of a member whose agent reported: record why, ask it to clean up;
    /// ReadyToShutdown (or the termination timeout) terminates it.
    async fn request_cleanup(&self, member: &Member, reason: &str) -> Result<()> {
        let already = self
            .cleanup_sent
            .lock()
            .map(|m| m.contains_key(&member.member_id))
            .unwrap_or(false);
        if already {
            return Ok(());
        }
        if matches!(
            member.state,
            MemberState::Created | MemberState::Initialized
        ) {
            self.terminate_member(member, reason).await;
            return Ok(());
        }
        let (id, why) = (member.member_id.clone(), reason.to_string());
        self.db(move |r| r.set_termination_reason(&id, &why))
            .await?;
        if let Ok(mut m) = self.cleanup_sent.lock() {
            m.insert(member.member_id.clone(), Instant::now());
        }
        self.publish(&Event::InstanceCleanupMemberEvent(
            InstanceCleanupMemberEvent {
                member_id: member.member_id.clone(),
            },
        ))
        .await;
        Ok(())
    }

    /// Members asked to clean up that did not answer within the termination timeout.
    async fn expire_scale_down_cleanups(&self, members: &[Member]) {
        let overdue: Vec<&Member> = {
            let Ok(sent) = self.cleanup_sent.lock() else {
                return;
            };
            members
                .iter()
                .filter(|m| {
                    sent.get(&m.member_id)
                        .is_some_and(|at| at.elapsed() >= self.termination_timeout)
                })
                .collect()
        };
        for member in overdue {
            tracing::warn!(member = %member.member_id, "no ReadyToShutdown before the termination timeout; terminating anyway");
            self.terminate_member(member, "termination timeout").await;
        }
    }

    /// The per-provider admission lock (quota check + member row).
    fn admission_lock(&self, provider_type: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.admission.lock() {
            Ok(mut locks) => locks.entry(provider_type.to_string()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// A permit for one cloud call on `provider_type`: at most `max.iaas.workers` (default
    /// `DEFAULT_IAAS_WORKERS`) calls per provider type run at once.
    async fn worker_permit(
        &self,
        provider_type: &str,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = self.workers.get(provider_type)?.clone();
        semaphore.acquire_owned().await.ok()
    }

    /// `quota.vm` of the provider (live members on it, all tenants) and its per-tenant override
    /// `quota.vm.tenant.<tenantId>` (live members of that tenant on it). `Ok(Err(..))`: refused.
    async fn check_vm_quota(
        &self,
        tenant_id: i64,
        provider_type: &str,
    ) -> Result<std::result::Result<(), iaas::IaasError>> {
        let (global, per_tenant) = {
            let config = self.config_read()?;
            let props = config
                .cloud_controller
                .iter()
                .flat_map(|cc| cc.iaas_providers.iter())
                .find(|p| p.provider_type == provider_type)
                .map(|p| convert::provider_spec(p).properties)
                .unwrap_or_default();
            let number = |key: &str| -> Result<Option<usize>> {
                props
                    .get(key)
                    .map(|v| {
                        v.trim().parse::<usize>().map_err(|_| {
                            ControllerError::invalid(format!(
                                "provider {provider_type}: property {key} must be a whole number, not {v:?}"
                            ))
                        })
                    })
                    .transpose()
            };
            (
                number("quota.vm")?,
                number(&format!("quota.vm.tenant.{tenant_id}"))?,
            )
        };
        if global.is_none() && per_tenant.is_none() {
            return Ok(Ok(()));
        }
        let provider = provider_type.to_string();
        let (all, tenant) = self
            .db(move |r| {
                let (mut all, mut tenant) = (0usize, 0usize);
                for cluster in r.list_clusters(None, false)? {
                    for m in r.list_members(&cluster.cluster_id, false)? {
                        if m.provider_type == provider && m.state != MemberState::Terminated {
                            all += 1;
                            if m.tenant_id == tenant_id {
                                tenant += 1;
                            }
                        }
                    }
                }
                Ok((all, tenant))
            })
            .await?;
        let refuse = |message: String| {
            Ok(Err(iaas::IaasError::new(
                provider_type,
                "start instance",
                ErrorClass::Quota,
                message,
            )))
        };
        if let Some(limit) = per_tenant {
            if tenant >= limit {
                return refuse(format!(
                    "quota.vm.tenant.{tenant_id} of provider {provider_type} reached ({tenant} of {limit} instances)"
                ));
            }
        } else if let Some(limit) = global {
            if all >= limit {
                return refuse(format!(
                    "quota.vm of provider {provider_type} reached ({all} of {limit} instances)"
                ));
            }
        }
        Ok(Ok(()))
    }

    /// A start's outcome goes to the cluster's backoff, which the next evaluation honours
    /// (per error class; a rate limit's retry-after is kept).
    fn record_start_result(
        &self,
        cluster_id: &str,
        partition_id: &str,
        error: Option<&iaas::IaasError>,
    ) {
        let Ok(mut scaling) = self.scaling.lock() else {
            return;
        };
        let backoff = &mut scaling.entry(cluster_id.to_string()).or_default().backoff;
        match error {
            None => backoff.record_success(partition_id),
            Some(e) => {
                let (class, retry_after) = match &e.class {
                    ErrorClass::Quota => (FailureClass::Quota, None),
                    ErrorClass::Capacity => (FailureClass::Capacity, None),
                    ErrorClass::RateLimited { retry_after } => (
                        FailureClass::RateLimited,
                        retry_after.map(|d| d.as_secs_f64()),
                    ),
                    ErrorClass::Auth => (FailureClass::Auth, None),
                    _ => (FailureClass::Other, None),
                };
                backoff.record_failure(partition_id, class, now_secs(), retry_after);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn member_payload(
        cartridge: &Cartridge,
        tenant_id: i64,
        alias: &str,
        cluster_id: &str,
        host_name: &str,
        cartridge_key: &str,
        member_id: &str,
        network_partition_id: &str,
        partition_id: &str,
    ) -> Result<Payload, payload::PayloadError> {
        let ports: Vec<u16> = cartridge.port_mappings.iter().map(|p| p.port).collect();
        let properties: Vec<(String, String)> = cartridge
            .properties
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        payload::build(&PayloadInput {
            service_name: &cartridge.cartridge_type,
            host_name,
            multi_tenant: cartridge.multi_tenant,
            tenant_id,
            alias,
            cluster_id,
            member_id,
            network_partition_id,
            partition_id,
            ports: &ports,
            cartridge_key,
            deployment: "default",
            provider: cartridge.provider.as_deref().unwrap_or("default"),
            properties: &properties,
        })
    }

    /// Intent before action: the member row (state Created, with its tags) is committed
    /// before the cloud is asked to start the instance.
    async fn start_member(
        &self,
        cluster: &Cluster,
        cartridge: &Cartridge,
        network_partition_id: &str,
        partition_id: &str,
        provider_type: &str,
    ) -> Result<()> {
        let Some(cloud) = self.clouds.get(provider_type).cloned() else {
            tracing::warn!(cluster = %cluster.cluster_id, provider = provider_type, "no cloud for provider; cannot start");
            return Ok(());
        };
        // Admission (quota check and the member row) is one step per provider, so concurrent
        // starts cannot both pass the last free slot.
        let admission = self.admission_lock(provider_type);
        let admitted = admission.lock().await;
        // quota.vm is checked before anything is recorded or the cloud is asked: a refused
        // start backs the partition off like the cloud's own quota error would.
        if let Err(e) = self
            .check_vm_quota(cluster.tenant_id, provider_type)
            .await?
        {
            tracing::warn!(cluster = %cluster.cluster_id, provider = provider_type, error = %e, "start refused");
            self.record_start_result(&cluster.cluster_id, partition_id, Some(&e));
            return Ok(());
        }
        let member_id = naming::member_id(&cluster.cluster_id);
        let payload = Self::member_payload(
            cartridge,
            cluster.tenant_id,
            &cluster.alias,
            &cluster.cluster_id,
            &cluster.host_name,
            &cluster.cartridge_key,
            &member_id,
            network_partition_id,
            partition_id,
        )
        .map_err(|e| ControllerError::invalid(e.to_string()))?;
        let (image_id, properties) = {
            let config = self.config_read()?;
            let partition = config
                .deployment_policies
                .iter()
                .find(|p| p.id == cluster.deployment_policy)
                .and_then(|p| {
                    p.partition_groups
                        .iter()
                        .flat_map(|g| g.partitions.iter())
                        .find(|p| p.id == partition_id)
                })
                .and_then(|p| config.resolve_partition(p));
            match partition {
                Some(partition) => {
                    let effective =
                        config.effective_properties(cartridge, provider_type, &partition);
                    (effective.image_id, effective.properties)
                }
                None => (None, BTreeMap::new()),
            }
        };
        let tags: BTreeMap<String, String> = [
            (TAG_MEMBER_ID, member_id.as_str()),
            (TAG_CLUSTER_ID, cluster.cluster_id.as_str()),
            (TAG_MANAGED_BY, MANAGED_BY_VALUE),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let new_member = NewMember {
            member_id: member_id.clone(),
            cluster_id: cluster.cluster_id.clone(),
            tenant_id: cluster.tenant_id,
            service_name: cluster.service_name.clone(),
            network_partition_id: network_partition_id.to_string(),
            partition_id: partition_id.to_string(),
            provider_type: provider_type.to_string(),
            tags: tags.clone(),
        };
        if let Ok(mut starting) = self.starting.lock() {
            starting.insert(member_id.clone());
        }
        let member = match self.db(move |r| r.insert_member(new_member)).await {
            Ok(member) => member,
            Err(e) => {
                if let Ok(mut starting) = self.starting.lock() {
                    starting.remove(&member_id);
                }
                return Err(e);
            }
        };
        drop(admitted);
        self.publish_member_state(&member).await;
        tracing::info!(member = %member_id, cluster = %cluster.cluster_id, partition = partition_id, provider = provider_type, "starting member");

        let user_data = self.user_data_for(&member_id, payload.to_line(), cloud.capabilities());
        let spec = InstanceSpec {
            member_id: member_id.clone(),
            cluster_id: cluster.cluster_id.clone(),
            service_name: cluster.service_name.clone(),
            network_partition_id: network_partition_id.to_string(),
            partition_id: partition_id.to_string(),
            image_id,
            payload: user_data,
            properties,
            tags,
            volumes: Self::volumes_for(cartridge, &member_id, cloud.capabilities()),
        };
        let result = {
            let _worker = self.worker_permit(provider_type).await;
            cloud.start_instance(&spec).await
        };
        self.record_start_result(&cluster.cluster_id, partition_id, result.as_ref().err());
        let outcome = match result {
            Ok(instance) => {
                let id = member_id.clone();
                self.db(move |r| {
                    r.set_member_instance(
                        &id,
                        &instance.instance_id,
                        &instance.private_ips,
                        &instance.public_ips,
                    )?;
                    r.transition_member(&id, MemberState::Initialized)
                })
                .await
            }
            Err(e) => {
                tracing::warn!(member = %member_id, error = %e, "start failed");
                let (id, message) = (member_id.clone(), e.to_string());
                self.db(move |r| {
                    r.set_member_error(&id, &message)?;
                    r.transition_member(&id, MemberState::Terminated)
                })
                .await
            }
        };
        if let Ok(mut starting) = self.starting.lock() {
            starting.remove(&member_id);
        }
        if let Transition::Moved { member, .. } = outcome? {
            self.publish_member_state(&member).await;
        }
        Ok(())
    }

    /// The volumes a member of `cartridge` gets (`persistence required="true"`). A cloud
    /// without volumes degrades to none, loudly.
    fn volumes_for(
        cartridge: &Cartridge,
        member_id: &str,
        capabilities: iaas::Capabilities,
    ) -> Vec<iaas::VolumeSpec> {
        let Some(persistence) = cartridge.persistence.as_ref().filter(|p| p.required) else {
            return Vec::new();
        };
        if !capabilities.volumes {
            tracing::warn!(member = member_id, cartridge = %cartridge.cartridge_type, "the cartridge asks for volumes but this cloud has none; starting without");
            return Vec::new();
        }
        persistence
            .volumes
            .iter()
            .enumerate()
            .map(|(i, v)| iaas::VolumeSpec {
                id: v.id.clone().unwrap_or_else(|| format!("volume-{i}")),
                size_gb: v.size_gb,
                device: v.device.clone().unwrap_or_default(),
                snapshot_id: v.snapshot_id.clone(),
                remove_on_termination: v.remove_on_termination,
            })
            .collect()
    }

    /// The instance's user data: the payload itself when the cloud takes it, else (a cloud with
    /// tiny user data, like Rackspace's 255 bytes) a bootstrap line `PAYLOAD_URL=<url>` where
    /// the agent fetches it with a per-member, single-purpose token that expires. Without a
    /// public URL the payload is passed as is and the cloud's own error says it is too large.
    fn user_data_for(
        &self,
        member_id: &str,
        payload: String,
        capabilities: iaas::Capabilities,
    ) -> String {
        let Some(limit) = capabilities.max_payload_bytes else {
            return payload;
        };
        if payload.len() <= limit {
            return payload;
        }
        let Some(base) = self.public_url.read().ok().and_then(|u| u.clone()) else {
            tracing::warn!(
                member = member_id,
                bytes = payload.len(),
                limit,
                "payload larger than the cloud accepts and no public URL to serve it from"
            );
            return payload;
        };
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        if let Ok(mut grants) = self.payload_grants.lock() {
            let now = Instant::now();
            grants.retain(|_, g| g.expires > now);
            grants.insert(
                token.clone(),
                PayloadGrant {
                    member_id: member_id.to_string(),
                    payload,
                    expires: now + self.payload_url_ttl,
                },
            );
        }
        format!(
            "PAYLOAD_URL={}/api/payload/{token}",
            base.trim_end_matches('/')
        )
    }

    /// Where this controller's REST API is reachable from instances (`https://...`, or a
    /// loopback `http://` for local clouds); enables serving large payloads by URL.
    pub fn set_public_url(&self, url: &str) {
        if let Ok(mut u) = self.public_url.write() {
            *u = Some(url.to_string());
        }
    }

    /// The payload behind a token, while it is valid. Unknown, expired and revoked tokens are
    /// indistinguishable (`NotFound`).
    pub fn payload_by_token(&self, token: &str) -> Result<String> {
        let now = Instant::now();
        self.payload_grants
            .lock()
            .ok()
            .and_then(|g| {
                g.get(token)
                    .filter(|grant| grant.expires > now)
                    .map(|grant| grant.payload.clone())
            })
            .ok_or_else(|| ControllerError::NotFound("no such payload".into()))
    }

    /// Drive an unsubscribed cluster's members out, then remove the cluster.
    async fn reconcile_leaving(&self, cluster: &Cluster) -> Result<()> {
        let id = cluster.cluster_id.clone();
        let members = self.db(move |r| r.list_members(&id, false)).await?;
        let in_flight: HashSet<String> =
            self.starting.lock().map(|s| s.clone()).unwrap_or_default();
        let mut live = 0;
        for member in members {
            live += 1;
            if in_flight.contains(&member.member_id) {
                continue; // its start is still in flight; handled once it returns
            }
            match member.state {
                // Nobody on the instance will ever clean up: terminate at once.
                MemberState::Created | MemberState::Initialized | MemberState::ReadyToShutDown => {
                    self.terminate_member(&member, "unsubscribed").await;
                }
                MemberState::Starting | MemberState::Active | MemberState::InMaintenance => {
                    let sent = self
                        .cleanup_sent
                        .lock()
                        .ok()
                        .and_then(|m| m.get(&member.member_id).copied());
                    match sent {
                        None => {
                            let id = member.member_id.clone();
                            self.db(move |r| r.set_termination_reason(&id, "unsubscribed"))
                                .await?;
                            if let Ok(mut m) = self.cleanup_sent.lock() {
                                m.insert(member.member_id.clone(), Instant::now());
                            }
                            self.publish(&Event::InstanceCleanupMemberEvent(
                                InstanceCleanupMemberEvent {
                                    member_id: member.member_id.clone(),
                                },
                            ))
                            .await;
                        }
                        Some(at) if at.elapsed() >= self.termination_timeout => {
                            tracing::warn!(member = %member.member_id, "no ReadyToShutdown before the termination timeout; terminating anyway");
                            self.terminate_member(&member, "termination timeout").await;
                        }
                        Some(_) => {}
                    }
                }
                MemberState::Terminated => live -= 1,
            }
        }
        if live == 0 {
            let (cluster_id, tenant, alias) = (
                cluster.cluster_id.clone(),
                cluster.tenant_id,
                cluster.alias.clone(),
            );
            self.db(move |r| {
                r.set_cluster_status(&cluster_id, ClusterStatus::Removed)?;
                r.delete_subscription(tenant, &alias)?;
                Ok(())
            })
            .await?;
            self.publish(&Event::ClusterRemovedEvent(ClusterRemovedEvent {
                service_name: cluster.service_name.clone(),
                cluster_id: cluster.cluster_id.clone(),
                deployment_policy: cluster.deployment_policy.clone(),
                is_lb_cluster: false,
            }))
            .await;
            tracing::info!(cluster = %cluster.cluster_id, "cluster removed");
        }
        Ok(())
    }

    /// Termination: intent (ReadyToShutDown + reason) is committed before the cloud is asked.
    /// Failures are logged and retried by the next reconcile pass.
    async fn terminate_member(&self, member: &Member, reason: &str) {
        if let Err(e) = self.try_terminate_member(member, reason).await {
            tracing::warn!(member = %member.member_id, error = %e, "terminate failed; will retry");
        }
    }

    async fn try_terminate_member(&self, member: &Member, reason: &str) -> Result<()> {
        let (id, why) = (member.member_id.clone(), reason.to_string());
        let moved = self
            .db(move |r| {
                if r.get_member(&id)?
                    .is_some_and(|m| m.termination_reason.is_none())
                {
                    r.set_termination_reason(&id, &why)?;
                }
                r.transition_member(&id, MemberState::ReadyToShutDown)
            })
            .await?;
        let member = match moved {
            Transition::Moved { member, .. } => {
                self.publish_member_state(&member).await;
                member
            }
            Transition::Unchanged(member) => member,
        };
        let cloud = self
            .clouds
            .get(&member.provider_type)
            .cloned()
            .ok_or_else(|| {
                ControllerError::Internal(format!("no cloud for provider {}", member.provider_type))
            })?;
        let instance_id = match &member.instance_id {
            Some(id) => Some(id.clone()),
            // No instance id recorded (start interrupted): find it by its member tag.
            None => cloud
                .describe_instances(&InstanceFilter {
                    cluster_id: None,
                    member_id: Some(member.member_id.clone()),
                })
                .await
                .map_err(internal)?
                .into_iter()
                .next()
                .map(|i| i.instance_id),
        };
        if let Some(instance_id) = instance_id {
            let terminated = {
                let _worker = self.worker_permit(&member.provider_type).await;
                cloud.terminate_instance(&instance_id).await
            };
            match terminated {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    let (id, message) = (member.member_id.clone(), e.to_string());
                    self.db(move |r| r.set_member_error(&id, &message)).await?;
                    return Err(internal(e));
                }
            }
        }
        let id = member.member_id.clone();
        if let Transition::Moved { member, .. } = self
            .db(move |r| r.transition_member(&id, MemberState::Terminated))
            .await?
        {
            if let Ok(mut m) = self.cleanup_sent.lock() {
                m.remove(&member.member_id);
            }
            if let Ok(mut grants) = self.payload_grants.lock() {
                grants.retain(|_, g| g.member_id != member.member_id);
            }
            tracing::info!(member = %member.member_id, reason, "member terminated");
            self.publish_member_state(&member).await;
        }
        Ok(())
    }
}

/// A payload waiting to be fetched by its member's agent.
struct PayloadGrant {
    member_id: String,
    payload: String,
    expires: Instant,
}

/// Concurrent cloud calls per provider type without `max.iaas.workers`.
const DEFAULT_IAAS_WORKERS: usize = 8;

/// Decision records kept per cluster.
const DECISIONS_KEPT: usize = 100;
/// A health stat wakes the evaluation at most this often (event-driven, rate-limited).
const HEALTH_WAKE_INTERVAL: Duration = Duration::from_millis(250);

/// Wall-clock seconds since the Unix epoch (the autoscaler's clock).
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A cluster as topology events carry it.
fn topology_cluster(cluster: &Cluster) -> TopologyCluster {
    TopologyCluster {
        service_name: cluster.service_name.clone(),
        cluster_id: cluster.cluster_id.clone(),
        autoscale_policy_name: cluster.autoscale_policy.clone(),
        deployment_policy_name: cluster.deployment_policy.clone(),
        host_names: vec![cluster.host_name.clone()],
        tenant_range: cluster.tenant_id.to_string(),
        is_lb_cluster: false,
        properties: BTreeMap::new(),
    }
}

fn status_name(status: &SubscriptionStatus) -> String {
    format!("{status:?}")
}

fn member_ref(m: &Member) -> MemberRef {
    MemberRef {
        service_name: m.service_name.clone(),
        cluster_id: m.cluster_id.clone(),
        cluster_instance_id: None,
        network_partition_id: m.network_partition_id.clone(),
        partition_id: m.partition_id.clone(),
        member_id: m.member_id.clone(),
    }
}

fn member_info(m: Member) -> MemberInfo {
    MemberInfo {
        state: m.state.as_str().to_string(),
        member_id: m.member_id,
        instance_id: m.instance_id,
        provider_type: m.provider_type,
        network_partition_id: m.network_partition_id,
        partition_id: m.partition_id,
        private_ips: m.private_ips,
        public_ips: m.public_ips,
        last_error: m.last_error,
        termination_reason: m.termination_reason,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// The platform admin's tenant id, for callers that need it.
pub const ADMIN_TENANT_ID: i64 = SUPER_TENANT_ID;
