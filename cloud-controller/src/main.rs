//! `alto`: the Altostratus cloud controller (`dev`, `serve`), the configuration checker
//! (`validate`) and the client commands of the REST API (Stratos' CLI names).

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use cloud_controller::controller::{Controller, ControllerOptions, TenantBusOptions};
use cloud_controller::{api, auth, cli, ControllerError};
use messaging::broker_admin::{BrokerAdmin, BrokerAdminError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "alto",
    version,
    about = "Altostratus: a cartridge-style PaaS cloud controller"
)]
struct Cli {
    #[command(flatten)]
    conn: cli::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run everything in one process (SQLite, in-process bus, mock cloud).
    ///
    /// SQLite in DATA/registry.db (unless --database-url), the in-process message bus (unless
    /// --amqp-url; the `local` cloud's real agents need it), the clouds
    /// of CONF/cloud-controller.xml (the mock cloud in the shipped conf/), CONF's cartridges and
    /// policies deployed, the REST API on --listen. The admin password is ALTO_ADMIN_PASSWORD;
    /// when unset, one is generated and printed once at startup.
    Dev(DevArgs),
    /// Run the controller for production (PostgreSQL registry).
    ///
    /// The registry at --database-url (PostgreSQL), the admin password from ALTO_ADMIN_PASSWORD
    /// (required), the message bus on RabbitMQ at --amqp-url (without it, in-process: only the
    /// mock cloud's simulated agents can reach it).
    Serve(ServeArgs),
    /// Check configuration documents (a file or a directory).
    ///
    /// Prints one `FILE:LINE:COL: message` line per problem on stdout; exit status 0 when there
    /// is none, 1 otherwise.
    Validate {
        /// A file or a directory of XML documents.
        path: PathBuf,
    },
    /// Replay a health trace through the autoscaler's decision code (no cloud, bus or database).
    ///
    /// The trace is CSV `time,target,metric,value` (docs/AUTOSCALER.md); examples in
    /// conf/traces/. Prints the member count over time and every decision's reason.
    Simulate {
        /// Autoscale policy document (XML or Stratos JSON), or with --conf the id of one there.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Deployment policy document (XML or Stratos JSON), or with --conf the id of one there.
        /// Its partitions are inline, or with --conf resolved as the controller does (network
        /// partitions, standalone partitions).
        #[arg(long, value_name = "FILE")]
        deployment_policy: PathBuf,
        /// Configuration directory to resolve partitions and policy ids in (as `alto dev --conf`).
        #[arg(long, value_name = "DIR")]
        conf: Option<PathBuf>,
        /// Health trace (CSV).
        #[arg(long, value_name = "FILE")]
        trace: PathBuf,
        /// Simulated seconds from a start request until the member is Active.
        #[arg(long, default_value_t = 60.0, value_name = "SECS")]
        boot_seconds: f64,
        /// Simulated seconds between two evaluations.
        #[arg(long, default_value_t = 1.0, value_name = "SECS")]
        tick_seconds: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the simulated cloud as its own process, one for all controller replicas.
    ///
    /// Replicas use it through a `mock` provider with the property `mock.endpoint`
    /// (`http://ADDR`). Its instances are in DIR/mock-<type>.json; its simulated agents are on
    /// the AMQP bus at --amqp-url (without it, on an in-process bus: no agent event reaches any
    /// controller). `GET /calls` counts each replica's starts and terminations. Prints
    /// `listening on http://ADDR` once bound (docs/CLOUDS.md).
    MockCloud(cloud_controller::mock_cloud::MockCloudArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// e.g. `alto completions bash > /etc/bash_completion.d/alto`.
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Client(cli::Command),
}

#[derive(Debug, Clone, Args)]
struct ServerArgs {
    /// Directory of local state (the SQLite registry by default, the mock cloud's state).
    #[arg(
        long = "data",
        env = "ALTO_DATA",
        default_value = "./.alto-data",
        value_name = "DIR"
    )]
    data: PathBuf,
    /// Configuration directory (cloud-controller.xml, cartridges, policies, mock-iaas.xml)
    /// [default: ./conf when it exists].
    #[arg(long = "conf", env = "ALTO_CONF", value_name = "DIR")]
    conf: Option<PathBuf>,
    /// Address of the REST API (port 0: any free port; the URL is printed).
    #[arg(
        long,
        env = "ALTO_LISTEN",
        default_value = "127.0.0.1:9443",
        value_name = "ADDR"
    )]
    listen: SocketAddr,
    /// Serve the Prometheus metrics (`/metrics`) on this address instead of the REST API's.
    #[arg(long, env = "ALTO_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// RabbitMQ broker (`amqp://USER:PASSWORD@HOST:5672/%2f`): the message bus for real
    /// agents. Without it the bus is in-process (mock cloud only). The nodes of a RabbitMQ
    /// cluster as a comma-separated list: any reachable node is used and another taken when
    /// it goes down; lifecycle queues are then quorum queues and health stats are sharded
    /// over the nodes (docs/BROKER_CLUSTER.md).
    #[arg(
        long,
        env = "ALTO_AMQP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    amqp_url: Option<String>,
    /// A CA certificate (PEM) trusted for an `amqps://` --amqp-url besides the system's roots
    /// (the broker's certificate is always verified).
    #[arg(long, env = "ALTO_AMQP_CA_CERT", value_name = "FILE")]
    amqp_ca_cert: Option<PathBuf>,
    /// Topic exchange of the AMQP bus.
    #[arg(
        long,
        env = "ALTO_AMQP_EXCHANGE",
        default_value = "amq.topic",
        value_name = "NAME"
    )]
    amqp_exchange: String,
    /// Prefix of every queue name (and of the dead-letter exchange) on the broker, so that
    /// several installations can share one broker.
    #[arg(
        long,
        env = "ALTO_AMQP_QUEUE_PREFIX",
        default_value = "",
        value_name = "PREFIX"
    )]
    amqp_queue_prefix: String,
    /// How tenants' agents are kept apart on the broker: `vhost` (one virtual host and
    /// broker user per tenant, made through the management API; each member's payload names
    /// only its tenant's) or `none` (every agent shares the platform's virtual host and can
    /// forge any member's events: for a single-tenant installation only).
    #[arg(
        long,
        env = "ALTO_BUS_SEPARATION",
        default_value = "vhost",
        value_parser = ["vhost", "none"],
        value_name = "MODE"
    )]
    bus_separation: String,
    /// RabbitMQ's management API (`http://USER:PASSWORD@HOST:15672`), for the tenants'
    /// virtual hosts. Default: the `--amqp-url` host on port 15672 with its credentials.
    #[arg(
        long,
        env = "ALTO_AMQP_MANAGEMENT_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    amqp_management_url: Option<String>,
    /// The virtual host the broker puts anonymous MQTT clients in (RabbitMQ's `mqtt.vhost`),
    /// to hear the agents of cartridges with the property `bus.anonymous.mqtt` = `true` (the
    /// unmodified Stratos 4.1.0 agent gives no credentials). Only those cartridges' members
    /// are admitted and published there; docs/SECURITY.md says what that costs.
    #[arg(long, env = "ALTO_ANONYMOUS_MQTT_VHOST", value_name = "VHOST")]
    anonymous_mqtt_vhost: Option<String>,
    /// Seconds of silence (no health stat, no status event) after which a member that had
    /// reported is faulty, terminated and replaced.
    #[arg(
        long,
        env = "ALTO_FAULT_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    fault_timeout: f64,
    /// Seconds a member has to answer a cleanup request (ReadyToShutdown) before it is
    /// terminated anyway.
    #[arg(
        long,
        env = "ALTO_TERMINATION_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    termination_timeout: f64,
    /// Base URL under which instances reach this REST API (for payloads too large for a
    /// cloud's user data) [default: http://LISTEN-ADDRESS, https:// with --tls-cert]. Use
    /// https:// beyond loopback.
    #[arg(long, env = "ALTO_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Autoscaler dry run: every decision is recorded (see `alto explain`), none is carried out.
    #[arg(long, env = "ALTO_AUTOSCALER_DRY_RUN")]
    autoscaler_dry_run: bool,
    /// Seconds between two reconciliations of the registry with every cloud (one also runs at
    /// startup, before the first scaling pass).
    #[arg(
        long,
        env = "ALTO_RECONCILE_INTERVAL",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    reconcile_interval: f64,
    /// `act`: terminate orphans, start members whose start was interrupted, adopt found
    /// instances, replace vanished ones. `report`: only log and show (GET /api/reconcile) what
    /// would be done.
    #[arg(
        long,
        env = "ALTO_RECONCILE",
        default_value = "act",
        value_name = "MODE",
        value_parser = ["act", "report"]
    )]
    reconcile: String,
    #[command(flatten)]
    scaling: ScalingArgs,
    /// Seconds between two CompleteTopologyEvents (also sent at start and on request; Stratos
    /// 4.1 agents wait for one before they start).
    #[arg(
        long,
        env = "ALTO_TOPOLOGY_INTERVAL",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    topology_interval: f64,
    #[command(flatten)]
    stratos: cloud_controller::thrift_receiver::cli::StratosArgs,
    /// The most members a cluster may have: a deployment policy allowing more is refused (400).
    #[arg(long, env = "ALTO_MAX_MEMBERS_PER_CLUSTER", value_name = "N",
          default_value_t = cloud_controller::controller::DEFAULT_MAX_MEMBERS_PER_CLUSTER,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_members_per_cluster: u32,
    /// The most members a tenant's clusters may allow together (their policies' maximum): a
    /// subscription beyond it is refused (409).
    #[arg(long, env = "ALTO_MAX_MEMBERS_PER_TENANT", value_name = "N",
          default_value_t = cloud_controller::controller::DEFAULT_MAX_MEMBERS_PER_TENANT,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_members_per_tenant: u32,
    /// This replica's name among replicas sharing one PostgreSQL registry (letters, digits,
    /// `.`, `_`, `:`, `-`; at most 128) [default: HOSTNAME:LISTEN-PORT].
    #[arg(long, env = "ALTO_REPLICA_ID", value_name = "ID")]
    replica_id: Option<String>,
    /// Seconds a leader's lease holds without renewal: when the leader dies another replica
    /// takes over within two leases; a leader cut off from the registry this long stops acting.
    #[arg(
        long,
        env = "ALTO_LEADER_LEASE",
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    leader_lease: f64,
}

/// The autoscaler's tunables for every cluster whose autoscale policy does not set them in
/// `<scaling>` (docs/AUTOSCALER.md).
#[derive(Debug, Clone, Args)]
struct ScalingArgs {
    /// Seconds after a scale-up before the next scale-up.
    #[arg(long, env = "ALTO_SCALE_UP_COOLDOWN", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_SCALE_UP_COOLDOWN_SECONDS)]
    scale_up_cooldown: f64,
    /// Seconds after any scaling before a scale-down.
    #[arg(long, env = "ALTO_SCALE_DOWN_COOLDOWN", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_SCALE_DOWN_COOLDOWN_SECONDS)]
    scale_down_cooldown: f64,
    /// A scale-down goes only as low as the highest recommendation of this many seconds.
    #[arg(long, env = "ALTO_SCALE_DOWN_STABILIZATION", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS)]
    scale_down_stabilization: f64,
    /// Seconds a started member may take to become Active before it is replaced.
    #[arg(long, env = "ALTO_PENDING_TIMEOUT", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_PENDING_TIMEOUT_SECONDS)]
    pending_timeout: f64,
    /// Most members one scale-up step adds per network partition.
    #[arg(long, env = "ALTO_MAX_SCALE_UP_STEP", value_name = "N",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_MAX_SCALE_UP_STEP,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_scale_up_step: u32,
    /// Seconds of health statistics each decision looks at.
    #[arg(long, env = "ALTO_HEALTH_WINDOW", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_WINDOW_SECONDS)]
    health_window: f64,
}

impl ScalingArgs {
    /// Into the autoscaler's settings, each value checked like its `<scaling>` counterpart.
    fn apply(&self, settings: &mut autoscaler::ScalingSettings) -> anyhow::Result<()> {
        let cooldown = |flag: &str, v: f64| {
            if v.is_finite() && (0.0..=alto_config::scaling::MAX_SECONDS).contains(&v) {
                Ok(v)
            } else {
                Err(anyhow::anyhow!(
                    "--{flag} {v}: expected 0 to {} seconds",
                    alto_config::scaling::MAX_SECONDS
                ))
            }
        };
        settings.scale_up_cooldown_seconds = cooldown("scale-up-cooldown", self.scale_up_cooldown)?;
        settings.scale_down_cooldown_seconds =
            cooldown("scale-down-cooldown", self.scale_down_cooldown)?;
        settings.scale_down_stabilization_seconds =
            cooldown("scale-down-stabilization", self.scale_down_stabilization)?;
        settings.pending_timeout_seconds =
            seconds("pending-timeout", self.pending_timeout)?.as_secs_f64();
        settings.window_seconds = seconds("health-window", self.health_window)?.as_secs_f64();
        settings.max_scale_up_step = self.max_scale_up_step;
        Ok(())
    }
}

/// The longest `--replica-id` (it names broker queues and appears in every log line).
const MAX_REPLICA_ID: usize = 128;

/// `--replica-id` as given, checked, else `HOSTNAME:PORT`.
fn replica_id(given: Option<String>, port: u16) -> anyhow::Result<String> {
    let id = match given {
        Some(id) => id,
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_string());
            format!("{host}:{port}")
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if id.is_empty() || id.len() > MAX_REPLICA_ID || !id.chars().all(valid) {
        bail!(
            "--replica-id {id:?}: expected 1 to {MAX_REPLICA_ID} letters, digits, '.', '_', ':' or '-'"
        );
    }
    Ok(id)
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(std::time::Duration::from_secs_f64(value))
    } else {
        bail!("--{flag} {value}: expected a positive number of seconds")
    }
}

#[derive(Debug, Clone, Args)]
struct DevArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Registry database (`postgres://...`, `sqlite://PATH` or a file path) [default: DATA/registry.db].
    #[arg(
        long,
        env = "ALTO_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Registry database, e.g. `postgres://USER@HOST:5432/DB`.
    #[arg(
        long,
        env = "ALTO_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: String,
    #[command(flatten)]
    tls: TlsArgs,
}

/// `alto serve` over TLS: both files or neither (`alto dev` stays plain HTTP on loopback).
#[derive(Debug, Clone, Args)]
struct TlsArgs {
    /// Serve the REST API, the console and /metrics over TLS with this certificate chain
    /// (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "ALTO_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(long, env = "ALTO_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The server configuration, read and checked now so that a bad file stops startup.
    fn server_config(&self) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(cloud_controller::tls::server_config(cert, key)?)),
            (None, None) => Ok(None),
            _ => bail!("--tls-cert and --tls-key go together"),
        }
    }
}

const DEFAULT_CONF: &str = "./conf";

fn init_logging() {
    // lapin logs every broker error it hands us; the bus logs them with their context (and
    // says whether it retries), so lapin's own lines stay off unless ALTO_LOG names it.
    let mut directives = std::env::var("ALTO_LOG").unwrap_or_else(|_| "info".to_string());
    if !directives.contains("lapin") {
        directives.push_str(",lapin=off");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lapin=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    // Stratos' spellings (`-ap`, STRATOS_URL, ...) become ours before clap sees them.
    let cli = Cli::parse_from(cli::stratos_argv(std::env::args_os().collect(), &|name| {
        std::env::var(name).ok()
    }));
    init_logging();
    match cli.command {
        Command::Dev(args) => {
            let (password, generated) = match admin_password_from_env() {
                Some(pw) => (pw, false),
                None => (auth::generate_password(), true),
            };
            let database_url = args
                .database_url
                .unwrap_or_else(|| args.server.data.join("registry.db").display().to_string());
            exit(run_server(args.server, database_url, password, generated, None).await)
        }
        Command::Serve(args) => {
            let Some(password) = admin_password_from_env() else {
                eprintln!("error: ALTO_ADMIN_PASSWORD must be set for `alto serve`");
                return ExitCode::from(1);
            };
            let tls = match args.tls.server_config() {
                Ok(tls) => tls,
                Err(e) => return exit(Err(e)),
            };
            exit(run_server(args.server, args.database_url, password, false, tls).await)
        }
        Command::Validate { path } => validate(&path),
        Command::Simulate {
            policy,
            deployment_policy,
            conf,
            trace,
            boot_seconds,
            tick_seconds,
            json,
        } => {
            let options = autoscaler::SimOptions {
                boot_seconds,
                tick_seconds,
                ..autoscaler::SimOptions::default()
            };
            let sim = cloud_controller::simulate::Inputs {
                policy: &policy,
                deployment_policy: &deployment_policy,
                conf: conf.as_deref(),
                trace: &trace,
            };
            match cloud_controller::simulate::run_inputs(&sim, &options) {
                Ok(report) if json => match serde_json::to_string_pretty(&report) {
                    Ok(text) => {
                        println!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(1)
                    }
                },
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::MockCloud(args) => {
            exit(cloud_controller::mock_cloud::run(args, shutdown_signal()).await)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "alto", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Client(command) => match cli::run(&cli.conn, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                cli::report(&e);
                ExitCode::from(1)
            }
        },
    }
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn admin_password_from_env() -> Option<String> {
    std::env::var("ALTO_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}

/// The tenants' virtual hosts, when there is a broker and `--bus-separation vhost`. The
/// management API must let us in: a refusal (credentials, no administrator tag) stops here,
/// an API not reachable yet is retried by the controller.
async fn tenant_buses(args: &ServerArgs) -> anyhow::Result<Option<TenantBusOptions>> {
    let Some(url) = &args.amqp_url else {
        return Ok(None);
    };
    if args.bus_separation == "none" {
        tracing::warn!("--bus-separation none: every tenant's agents share one virtual host and can forge each other's events (docs/SECURITY.md)");
        return Ok(None);
    }
    let ca = match &args.amqp_ca_cert {
        Some(path) => Some(cloud_controller::tls::ca_pem("--amqp-ca-cert", path)?),
        None => None,
    };
    let admin = BrokerAdmin::new(
        url,
        args.amqp_management_url.as_deref(),
        ca.as_deref().map(str::as_bytes),
    )
    .context("--amqp-management-url")?;
    match admin.list_vhosts().await {
        Ok(_) => {}
        Err(e @ BrokerAdminError::Refused { .. }) | Err(e @ BrokerAdminError::BadUrl { .. }) => {
            bail!("{e} (tenants' virtual hosts need the management plugin and an administrator; --bus-separation none shares one virtual host)")
        }
        Err(e) => tracing::warn!(error = %e, "management API not reachable yet; retrying"),
    }
    let mut amqp = messaging::AmqpConfig::new(url);
    amqp.exchange = args.amqp_exchange.clone();
    amqp.queue_prefix = args.amqp_queue_prefix.clone();
    amqp.ca_cert_pem = ca;
    Ok(Some(TenantBusOptions {
        amqp,
        admin,
        anonymous_vhost: args.anonymous_mqtt_vhost.clone(),
    }))
}

/// `--conf` as given (it must exist), else `./conf` when it exists, else none.
fn conf_dir(conf: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    match conf {
        Some(dir) if dir.is_dir() => Ok(Some(dir)),
        Some(dir) => bail!("configuration directory {} does not exist", dir.display()),
        None if Path::new(DEFAULT_CONF).is_dir() => Ok(Some(PathBuf::from(DEFAULT_CONF))),
        None => {
            tracing::warn!("no {DEFAULT_CONF} directory: starting without configuration (no clouds); use --conf DIR");
            Ok(None)
        }
    }
}

async fn run_server(
    args: ServerArgs,
    database_url: String,
    admin_password: String,
    generated: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<()> {
    let bus: Arc<dyn messaging::Bus> = match &args.amqp_url {
        Some(url) => {
            let mut config = messaging::AmqpConfig::new(url);
            config.exchange = args.amqp_exchange.clone();
            config.queue_prefix = args.amqp_queue_prefix.clone();
            config.connection_name = "alto cloud controller".into();
            if let Some(path) = &args.amqp_ca_cert {
                config.ca_cert_pem = Some(cloud_controller::tls::ca_pem("--amqp-ca-cert", path)?);
            }
            let bus = messaging::AmqpBus::start(config);
            // Wait a little for the broker so that the first topology events are not lost to
            // a connection race, but serve the API without it: it may come later. A broker
            // that refuses us (credentials, virtual host) will not come later: stop here.
            let redacted = messaging::amqp::redact_url(url);
            match bus.wait_connected(std::time::Duration::from_secs(5)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(broker = %redacted, "broker not reachable yet; serving anyway and retrying");
                }
                Err(e) => bail!("--amqp-url {redacted}: {e}"),
            }
            Arc::new(bus)
        }
        None => Arc::new(messaging::InProcessBus::new()),
    };
    // After the broker let us in: a refusal there is the clearer message.
    let tenant_buses = tenant_buses(&args).await?;
    let conf = conf_dir(args.conf)?;
    // Bound first: the default replica id names the port, and the port must be ours before
    // the controller starts acting under that name.
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let port = listener.local_addr()?.port();
    let mut opts = ControllerOptions::new(database_url, args.data, bus, admin_password.clone());
    opts.tenant_buses = tenant_buses;
    opts.replica_id = replica_id(args.replica_id.clone(), port)?;
    opts.leader_lease = seconds("leader-lease", args.leader_lease)?;
    opts.conf_dir = conf;
    opts.agent_amqp = args.amqp_url.as_ref().map(|url| iaas::AgentAmqp {
        url: iaas::Secret::new(url.clone()),
        exchange: args.amqp_exchange.clone(),
        queue_prefix: args.amqp_queue_prefix.clone(),
        ca_cert: args.amqp_ca_cert.clone(),
    });
    opts.fault_timeout = seconds("fault-timeout", args.fault_timeout)?;
    opts.termination_timeout = seconds("termination-timeout", args.termination_timeout)?;
    opts.topology_interval = seconds("topology-interval", args.topology_interval)?;
    let stratos = args.stratos.prepare(args.amqp_url.as_deref())?;
    opts.agent_endpoints = stratos.endpoints();
    args.scaling.apply(&mut opts.scaling)?;
    opts.max_members_per_cluster = args.max_members_per_cluster;
    opts.max_members_per_tenant = args.max_members_per_tenant;
    opts.scaling.dry_run = args.autoscaler_dry_run;
    opts.reconcile_interval = seconds("reconcile-interval", args.reconcile_interval)?;
    opts.reconcile_mode = args
        .reconcile
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--reconcile {e}"))?;
    let controller = match Controller::start(opts).await {
        Ok(controller) => controller,
        Err(ControllerError::Invalid(lines)) => {
            for line in &lines {
                eprintln!("{line}");
            }
            bail!("the configuration has {} problem(s)", lines.len());
        }
        Err(e) => return Err(e).context("cannot start the controller"),
    };
    let thrift = match stratos.start(controller.health_sink(), &admin_password) {
        Ok(thrift) => thrift,
        Err(e) => {
            controller.shutdown().await;
            return Err(e);
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (server, addr) = match api::bind_listener_with(controller.clone(), listener, tls) {
        Ok(bound) => bound,
        Err(e) => {
            controller.shutdown().await;
            return Err(e).with_context(|| format!("cannot listen on {}", args.listen));
        }
    };
    {
        let mut out = std::io::stdout().lock();
        if generated {
            writeln!(out, "admin password (generated): {admin_password}")?;
        }
        writeln!(out, "listening on {scheme}://{addr}")?;
        writeln!(out, "web console: {scheme}://{addr}/")?;
        if let Some(thrift) = &thrift {
            writeln!(out, "thrift receiver: {}", thrift.local_addr())?;
        }
        out.flush()?;
    }
    tracing::info!(%addr, replica = %controller.leader().self_id, "REST API listening");
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    controller.set_public_url(&public_url);

    let metrics_server = match args.metrics_listen {
        Some(listen) => Some(serve_metrics(&controller, listen).await?),
        None => None,
    };

    let handle = server.handle();
    let mut server_task = tokio::spawn(server);
    let served = tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal, "shutting down");
            None
        }
        result = &mut server_task => Some(result),
    };
    handle.stop(true).await;
    if let Some(metrics) = metrics_server {
        metrics.stop(true).await;
    }
    if served.is_none() {
        let _ = server_task.await;
    }
    controller.shutdown().await;
    tracing::info!("stopped");
    match served {
        Some(Ok(Err(e))) => Err(e).context("the HTTP server failed"),
        Some(Err(e)) => Err(e).context("the HTTP server task failed"),
        _ => Ok(()),
    }
}

/// `--metrics-listen`: `/metrics` on a listener of its own, running until its handle stops it.
async fn serve_metrics(
    controller: &Arc<Controller>,
    listen: SocketAddr,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let bound = api::metrics::bind(controller.clone(), listen);
    let (server, addr) = match bound {
        Ok(bound) => bound,
        Err(e) => {
            controller.shutdown().await;
            return Err(e).with_context(|| format!("cannot listen on {listen} (--metrics-listen)"));
        }
    };
    println!("metrics on http://{addr}/metrics");
    tracing::info!(%addr, "metrics listening");
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

fn validate(path: &Path) -> ExitCode {
    if !path.exists() {
        println!("{}:1:1: no such file or directory", path.display());
        eprintln!("1 problem(s)");
        return ExitCode::from(1);
    }
    let (set, problems) = alto_config::load_path(path);
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        eprintln!("ok: {} documents", set.document_count());
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problem(s)", problems.len());
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut argv = vec!["alto"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
    }

    #[test]
    fn command_line_is_verified_by_clap() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dev_defaults_and_flags() {
        let cmd = Cli::command();
        let dev = cmd.find_subcommand("dev").expect("dev");
        let default = |id: &str| {
            dev.get_arguments()
                .find(|a| a.get_id() == id)
                .map(|a| {
                    a.get_default_values()
                        .iter()
                        .map(|v| v.to_string_lossy().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| panic!("no --{id}"))
        };
        assert_eq!(default("data"), ["./.alto-data"]);
        assert_eq!(default("listen"), ["127.0.0.1:9443"]);
        assert!(
            default("conf").is_empty(),
            "conf falls back to ./conf only when it exists"
        );
        assert!(default("database_url").is_empty());
        assert_eq!(default("reconcile_interval"), ["60"]);
        assert_eq!(default("reconcile"), ["act"]);
        assert!(parse(&["dev", "--reconcile", "report"]).is_ok());
        assert_eq!(
            parse(&["dev", "--reconcile", "maybe"])
                .unwrap_err()
                .exit_code(),
            2
        );

        let cli = parse(&[
            "dev",
            "--data",
            "/tmp/d",
            "--conf",
            "/tmp/c",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "sqlite:///tmp/x.db",
        ])
        .expect("dev parses");
        match cli.command {
            Command::Dev(a) => {
                assert_eq!(a.server.data, PathBuf::from("/tmp/d"));
                assert_eq!(a.server.conf, Some(PathBuf::from("/tmp/c")));
                assert_eq!(
                    a.server.listen,
                    "127.0.0.1:0".parse::<SocketAddr>().unwrap()
                );
                assert_eq!(a.database_url.as_deref(), Some("sqlite:///tmp/x.db"));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert_eq!(
            parse(&["dev", "--listen", "not-an-address"])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn serve_requires_a_database_url() {
        // Only meaningful when the developer's shell does not export it.
        if std::env::var_os("ALTO_DATABASE_URL").is_none() {
            assert_eq!(parse(&["serve"]).unwrap_err().exit_code(), 2);
        }
        let cli = parse(&[
            "serve",
            "--database-url",
            "postgres://u@h/db",
            "--listen",
            "0.0.0.0:9443",
        ])
        .expect("serve parses");
        match cli.command {
            Command::Serve(a) => {
                assert_eq!(a.database_url, "postgres://u@h/db");
                assert_eq!(a.server.listen.port(), 9443);
            }
            other => panic!("parsed as {other:?}"),
        }
        let help = Cli::command()
            .find_subcommand_mut("serve")
            .expect("serve")
            .render_long_help()
            .to_string();
        assert!(help.contains("AMQP"), "{help}");
    }

    #[test]
    fn tls_flags_go_together_and_only_on_serve() {
        let db = ["serve", "--database-url", "postgres://u@h/db"];
        let with = |extra: &[&str]| parse(&[&db[..], extra].concat());
        match with(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).map(|c| c.command) {
            Ok(Command::Serve(a)) => {
                assert_eq!(a.tls.tls_cert, Some(PathBuf::from("c.pem")));
                assert_eq!(a.tls.tls_key, Some(PathBuf::from("k.pem")));
            }
            other => panic!("parsed as {other:?}"),
        }
        assert_eq!(with(&["--tls-cert", "c.pem"]).unwrap_err().exit_code(), 2);
        assert_eq!(with(&["--tls-key", "k.pem"]).unwrap_err().exit_code(), 2);
        // alto dev stays plain HTTP.
        assert!(parse(&["dev", "--tls-cert", "c.pem", "--tls-key", "k.pem"]).is_err());
        assert!(parse(&["dev", "--amqp-ca-cert", "ca.pem"]).is_ok());
    }

    #[test]
    fn simulate_takes_its_three_files() {
        let cli = parse(&[
            "simulate",
            "--policy",
            "p.xml",
            "--deployment-policy",
            "d.xml",
            "--trace",
            "t.csv",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Simulate { ref trace, boot_seconds, .. } if trace == Path::new("t.csv") && boot_seconds == 60.0)
        );
        assert_eq!(
            parse(&["simulate", "--policy", "p.xml"])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn validate_and_client_commands_share_the_command_line() {
        assert!(
            matches!(parse(&["validate", "conf"]).unwrap().command, Command::Validate { ref path } if path == Path::new("conf"))
        );
        assert_eq!(parse(&["validate"]).unwrap_err().exit_code(), 2);
        for args in [
            vec!["list-cartridges"],
            vec!["describe-cartridge", "php"],
            vec!["deploy-cartridge", "-p", "c.xml"],
            vec!["undeploy-cartridge", "php"],
            vec!["deploy-autoscaling-policy", "-p", "a.xml"],
            vec!["deploy-deployment-policy", "-p", "d.json"],
            vec!["list-autoscaling-policies"],
            vec!["list-deployment-policies"],
            vec![
                "create-tenant",
                "--domain",
                "d",
                "--admin",
                "a",
                "--admin-password",
                "p",
            ],
            vec![
                "subscribe-cartridge",
                "php",
                "shop",
                "--autoscaling-policy",
                "a",
                "--deployment-policy",
                "d",
                "--wait",
            ],
            vec!["unsubscribe-cartridge", "shop", "--wait", "--timeout", "9"],
            vec!["list-subscribed-cartridges"],
            vec!["list-members", "shop", "--json"],
            vec!["list-clusters", "--url", "http://h:1"],
        ] {
            let cli = parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(matches!(cli.command, Command::Client(_)), "{args:?}");
        }
        assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn completions_cover_every_command() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "alto", &mut script);
            let script = String::from_utf8(script).expect("utf-8");
            for command in [
                "subscribe-cartridge",
                "watch",
                "mock-cloud",
                "completions",
                "serve",
            ] {
                assert!(script.contains(command), "{shell}: no {command}");
            }
        }
        assert!(matches!(
            parse(&["completions", "bash"]).unwrap().command,
            Command::Completions { .. }
        ));
        assert_eq!(parse(&["completions", "tcsh"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn replica_ids_are_checked() {
        assert_eq!(replica_id(Some("r1".into()), 1).unwrap(), "r1");
        let default = replica_id(None, 9443).unwrap();
        assert!(default.ends_with(":9443"), "{default}");
        for bad in ["", "a b", "a/b", &"x".repeat(MAX_REPLICA_ID + 1)] {
            assert!(replica_id(Some(bad.to_string()), 1).is_err(), "{bad:?}");
        }
        let cli = parse(&["dev", "--replica-id", "r2", "--leader-lease", "3"]).unwrap();
        match cli.command {
            Command::Dev(a) => {
                assert_eq!(a.server.replica_id.as_deref(), Some("r2"));
                assert_eq!(a.server.leader_lease, 3.0);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn explicit_conf_must_exist() {
        assert!(conf_dir(Some(PathBuf::from("/definitely/not/here"))).is_err());
        let dir = std::env::temp_dir();
        assert_eq!(conf_dir(Some(dir.clone())).unwrap(), Some(dir));
    }
}
