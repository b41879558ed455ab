//! `alto mock-cloud`: the simulated cloud as its own process, one for all controller replicas
//! as a real cloud is. Replicas reach it through the `mock` provider with `mock.endpoint`
//! (`iaas::mock::remote`); the routes are in [`routes`], the protocol in `iaas::mock::wire`.
//!
//! It hosts one `MockIaas` per provider type, created when a replica first registers the type
//! (with the properties it sent; a later registration keeps it). Its instances are in
//! `DIR/mock-<type>.json`, as the in-process mock's; its simulated agents are on the AMQP bus
//! when `--amqp-url` is given (else on an in-process bus, where no controller hears them).
//! [`calls`] counts each caller's starts and terminations and fences stale leaders.

pub mod calls;
pub mod routes;

use crate::controller::data_lock::DataLock;
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use calls::Ledger;
use iaas::mock::{HealthPatterns, MockIaas};
use iaas::{Caller, DriverContext, ErrorClass, Iaas, IaasError, Properties, ProviderSpec, Secret};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Most provider types one mock cloud hosts (each has a state file and agent tasks).
pub const MAX_PROVIDER_TYPES: usize = 64;

/// `alto mock-cloud`.
#[derive(Debug, Clone, clap::Args)]
pub struct MockCloudArgs {
    /// Address to serve on (port 0: any free port; the URL is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:9480", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Directory of the simulated instances (DIR/mock-<type>.json) and the highest fencing
    /// token seen.
    #[arg(long = "data", value_name = "DIR")]
    pub data: PathBuf,
    /// RabbitMQ broker for the simulated agents (`amqp://USER:PASSWORD@HOST:5672/%2f`).
    /// Without it they are on an in-process bus: no agent event reaches any controller.
    #[arg(
        long,
        env = "ALTO_AMQP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub amqp_url: Option<String>,
    /// A CA certificate (PEM) trusted for an `amqps://` --amqp-url besides the system's roots.
    #[arg(long, env = "ALTO_AMQP_CA_CERT", value_name = "FILE")]
    pub amqp_ca_cert: Option<std::path::PathBuf>,
    /// Topic exchange of the AMQP bus.
    #[arg(long, default_value = "amq.topic", value_name = "NAME")]
    pub amqp_exchange: String,
    /// Prefix of every queue name on the broker (as the controllers' --amqp-queue-prefix).
    #[arg(long, default_value = "", value_name = "PREFIX")]
    pub amqp_queue_prefix: String,
    /// Configuration directory whose mock-iaas.xml gives the health patterns (optional).
    #[arg(long = "conf", value_name = "DIR")]
    pub conf: Option<PathBuf>,
}

/// The shared cloud: its provider types and its call ledger.
pub struct MockCloud {
    data: PathBuf,
    bus: Arc<dyn messaging::Bus>,
    patterns: HealthPatterns,
    clouds: tokio::sync::Mutex<BTreeMap<String, Arc<MockIaas>>>,
    ledger: Mutex<Ledger>,
    /// Held while the cloud runs: one owner per data directory.
    _lock: DataLock,
}

impl MockCloud {
    /// A mock cloud keeping its state in `data` (created if missing; locked against a second
    /// process, a controller's included: both would write its instance files).
    pub fn new(
        data: &Path,
        bus: Arc<dyn messaging::Bus>,
        patterns: HealthPatterns,
    ) -> anyhow::Result<MockCloud> {
        std::fs::create_dir_all(data)
            .with_context(|| format!("cannot create {}", data.display()))?;
        let lock = DataLock::acquire(data)?;
        let ledger = Ledger::load(Some(data)).context("cannot read the fencing token")?;
        Ok(MockCloud {
            data: data.to_path_buf(),
            bus,
            patterns,
            clouds: tokio::sync::Mutex::new(BTreeMap::new()),
            ledger: Mutex::new(ledger),
            _lock: lock,
        })
    }

    /// Register `provider_type` with its provider-level properties; `false` when it was
    /// already (it keeps its first properties, as one cloud does).
    pub async fn register(
        &self,
        provider_type: &str,
        mut properties: Properties,
    ) -> Result<bool, IaasError> {
        let mut clouds = self.clouds.lock().await;
        if clouds.contains_key(provider_type) {
            return Ok(false);
        }
        if clouds.len() >= MAX_PROVIDER_TYPES {
            return Err(IaasError::new(
                provider_type,
                "register",
                ErrorClass::Quota,
                format!("this mock cloud hosts at most {MAX_PROVIDER_TYPES} provider types"),
            )
            .with_code("TooManyProviderTypes"));
        }
        // This process is the cloud: it simulates, it does not forward.
        properties.remove(iaas::mock::remote::ENDPOINT_PROPERTY);
        let spec = ProviderSpec {
            provider_type: provider_type.to_string(),
            provider: "mock".into(),
            class_name: None,
            identity: Secret::default(),
            credential: Secret::default(),
            image_id: None,
            properties,
        };
        let ctx = DriverContext {
            bus: self.bus.clone(),
            health_patterns: self.patterns.clone(),
            state_dir: Some(self.data.clone()),
            agent_amqp: None,
            caller: Caller::default(),
        };
        let driver = Arc::new(MockIaas::new(&spec, &ctx)?);
        driver.initialize().await?;
        clouds.insert(provider_type.to_string(), driver);
        Ok(true)
    }

    pub async fn get(&self, provider_type: &str) -> Option<Arc<MockIaas>> {
        self.clouds.lock().await.get(provider_type).cloned()
    }

    /// Compact every provider type's state file: exact once the process is gone.
    pub async fn shutdown(&self) {
        for (provider, cloud) in self.clouds.lock().await.iter() {
            if let Err(e) = cloud.shutdown().await {
                tracing::warn!(%provider, error = %e, "mock cloud state not compacted");
            }
        }
    }
}

/// Bind the routes on `listen`; the server runs once awaited (or spawned).
pub fn bind(cloud: MockCloud, listen: SocketAddr) -> std::io::Result<(Server, SocketAddr)> {
    bind_shared(web::Data::new(cloud), listen)
}

/// [`bind`] a cloud the caller keeps a handle of (to shut it down after the server).
pub fn bind_shared(
    cloud: web::Data<MockCloud>,
    listen: SocketAddr,
) -> std::io::Result<(Server, SocketAddr)> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(cloud.clone())
            .configure(routes::configure)
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(5)
    .bind(listen)?;
    let addr = server.addrs().first().copied().unwrap_or(listen);
    Ok((server.run(), addr))
}

/// The bus of the simulated agents.
async fn agent_bus(args: &MockCloudArgs) -> anyhow::Result<Arc<dyn messaging::Bus>> {
    let Some(url) = &args.amqp_url else {
        tracing::warn!("no --amqp-url: the simulated agents are on an in-process bus, no controller hears them");
        return Ok(Arc::new(messaging::InProcessBus::new()));
    };
    let mut config = messaging::AmqpConfig::new(url);
    if let Some(path) = &args.amqp_ca_cert {
        config.ca_cert_pem = Some(crate::tls::ca_pem("--amqp-ca-cert", path)?);
    }
    config.exchange = args.amqp_exchange.clone();
    config.queue_prefix = args.amqp_queue_prefix.clone();
    config.connection_name = "alto mock cloud".into();
    let bus = messaging::AmqpBus::start(config);
    // Serve without the broker (it may come later: status events are retried meanwhile), but
    // give it a moment so the agents' subscriptions start connected.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !bus.is_connected().await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if !bus.is_connected().await {
        tracing::warn!(broker = %messaging::amqp::redact_url(url), "broker not reachable yet; serving anyway and retrying");
    }
    Ok(Arc::new(bus))
}

fn health_patterns(conf: Option<&Path>) -> anyhow::Result<HealthPatterns> {
    let Some(dir) = conf else {
        return Ok(HealthPatterns::default());
    };
    let (set, problems) = alto_config::load_path(dir);
    if let Some(first) = problems.first() {
        anyhow::bail!(
            "{} has {} problem(s), the first: {first}",
            dir.display(),
            problems.len()
        );
    }
    Ok(crate::convert::health_patterns(set.mock_iaas.as_ref()))
}

/// Run `alto mock-cloud` until `shutdown` resolves (a signal), then stop gracefully.
pub async fn run(
    args: MockCloudArgs,
    shutdown: impl Future<Output = &'static str>,
) -> anyhow::Result<()> {
    let patterns = health_patterns(args.conf.as_deref())?;
    let bus = agent_bus(&args).await?;
    let cloud = web::Data::new(MockCloud::new(&args.data, bus, patterns)?);
    let (server, addr) = bind_shared(cloud.clone(), args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, data = %args.data.display(), "mock cloud listening");
    let handle = server.handle();
    let mut server_task = tokio::spawn(server);
    let served = tokio::select! {
        signal = shutdown => {
            tracing::info!(signal, "shutting down");
            None
        }
        result = &mut server_task => Some(result),
    };
    handle.stop(true).await;
    if served.is_none() {
        let _ = server_task.await;
    }
    cloud.shutdown().await;
    tracing::info!("stopped");
    match served {
        Some(Ok(Err(e))) => Err(e).context("the HTTP server failed"),
        Some(Err(e)) => Err(e).context("the HTTP server task failed"),
        _ => Ok(()),
    }
}
