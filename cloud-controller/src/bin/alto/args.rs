//! `alto dev` and `alto serve`'s command-line settings: the server's flags, the scaling
//! loop's, TLS files, and the checks clap cannot express.

use anyhow::bail;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Args)]
pub(crate) struct ServerArgs {
    /// Directory of local state (the SQLite registry by default, the mock cloud's state).
    #[arg(
        long = "data",
        env = "ALTO_DATA",
        default_value = "./.alto-data",
        value_name = "DIR"
    )]
    pub(crate) data: PathBuf,
    /// Configuration directory (cloud-controller.xml, cartridges, policies, mock-iaas.xml)
    /// [default: ./conf when it exists].
    #[arg(long = "conf", env = "ALTO_CONF", value_name = "DIR")]
    pub(crate) conf: Option<PathBuf>,
    /// Address of the REST API (port 0: any free port; the URL is printed).
    #[arg(
        long,
        env = "ALTO_LISTEN",
        default_value = "127.0.0.1:9443",
        value_name = "ADDR"
    )]
    pub(crate) listen: SocketAddr,
    /// Serve the Prometheus metrics (`/metrics`) on this address instead of the REST API's.
    #[arg(long, env = "ALTO_METRICS_LISTEN", value_name = "ADDR")]
    pub(crate) metrics_listen: Option<SocketAddr>,
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
    pub(crate) amqp_url: Option<String>,
    /// A CA certificate (PEM) trusted for an `amqps://` --amqp-url besides the system's roots
    /// (the broker's certificate is always verified).
    #[arg(long, env = "ALTO_AMQP_CA_CERT", value_name = "FILE")]
    pub(crate) amqp_ca_cert: Option<PathBuf>,
    /// Topic exchange of the AMQP bus.
    #[arg(
        long,
        env = "ALTO_AMQP_EXCHANGE",
        default_value = "amq.topic",
        value_name = "NAME"
    )]
    pub(crate) amqp_exchange: String,
    /// Prefix of every queue name (and of the dead-letter exchange) on the broker, so that
    /// several installations can share one broker.
    #[arg(
        long,
        env = "ALTO_AMQP_QUEUE_PREFIX",
        default_value = "",
        value_name = "PREFIX"
    )]
    pub(crate) amqp_queue_prefix: String,
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
    pub(crate) bus_separation: String,
    /// RabbitMQ's management API (`http://USER:PASSWORD@HOST:15672`), for the tenants'
    /// virtual hosts. Default: the `--amqp-url` host on port 15672 with its credentials.
    #[arg(
        long,
        env = "ALTO_AMQP_MANAGEMENT_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) amqp_management_url: Option<String>,
    /// The virtual host the broker puts anonymous MQTT clients in (RabbitMQ's `mqtt.vhost`),
    /// to hear the agents of cartridges with the property `bus.anonymous.mqtt` = `true` (the
    /// unmodified Stratos 4.1.0 agent gives no credentials). Only those cartridges' members
    /// are admitted and published there; docs/SECURITY.md says what that costs.
    #[arg(long, env = "ALTO_ANONYMOUS_MQTT_VHOST", value_name = "VHOST")]
    pub(crate) anonymous_mqtt_vhost: Option<String>,
    /// Seconds of silence (no health stat, no status event) after which a member that had
    /// reported is faulty, terminated and replaced.
    #[arg(
        long,
        env = "ALTO_FAULT_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    pub(crate) fault_timeout: f64,
    /// Seconds a member has to answer a cleanup request (ReadyToShutdown) before it is
    /// terminated anyway.
    #[arg(
        long,
        env = "ALTO_TERMINATION_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    pub(crate) termination_timeout: f64,
    /// Base URL under which instances reach this REST API (for payloads too large for a
    /// cloud's user data) [default: http://LISTEN-ADDRESS, https:// with --tls-cert]. Use
    /// https:// beyond loopback.
    #[arg(long, env = "ALTO_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// Autoscaler dry run: every decision is recorded (see `alto explain`), none is carried out.
    #[arg(long, env = "ALTO_AUTOSCALER_DRY_RUN")]
    pub(crate) autoscaler_dry_run: bool,
    /// Seconds between two reconciliations of the registry with every cloud (one also runs at
    /// startup, before the first scaling pass).
    #[arg(
        long,
        env = "ALTO_RECONCILE_INTERVAL",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    pub(crate) reconcile_interval: f64,
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
    pub(crate) reconcile: String,
    #[command(flatten)]
    pub(crate) scaling: ScalingArgs,
    /// Seconds between two CompleteTopologyEvents (also sent at start and on request; Stratos
    /// 4.1 agents wait for one before they start).
    #[arg(
        long,
        env = "ALTO_TOPOLOGY_INTERVAL",
        default_value_t = 60.0,
        value_name = "SECS"
    )]
    pub(crate) topology_interval: f64,
    #[command(flatten)]
    pub(crate) stratos: cloud_controller::thrift_receiver::cli::StratosArgs,
    /// The most members a cluster may have: a deployment policy allowing more is refused (400).
    #[arg(long, env = "ALTO_MAX_MEMBERS_PER_CLUSTER", value_name = "N",
          default_value_t = cloud_controller::controller::DEFAULT_MAX_MEMBERS_PER_CLUSTER,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_members_per_cluster: u32,
    /// The most members a tenant's clusters may allow together (their policies' maximum): a
    /// subscription beyond it is refused (409).
    #[arg(long, env = "ALTO_MAX_MEMBERS_PER_TENANT", value_name = "N",
          default_value_t = cloud_controller::controller::DEFAULT_MAX_MEMBERS_PER_TENANT,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_members_per_tenant: u32,
    /// This replica's name among replicas sharing one PostgreSQL registry (letters, digits,
    /// `.`, `_`, `:`, `-`; at most 128) [default: HOSTNAME:LISTEN-PORT].
    #[arg(long, env = "ALTO_REPLICA_ID", value_name = "ID")]
    pub(crate) replica_id: Option<String>,
    /// Seconds a leader's lease holds without renewal: when the leader dies another replica
    /// takes over within two leases; a leader cut off from the registry this long stops acting.
    #[arg(
        long,
        env = "ALTO_LEADER_LEASE",
        default_value_t = 10.0,
        value_name = "SECS"
    )]
    pub(crate) leader_lease: f64,
}

/// The autoscaler's tunables for every cluster whose autoscale policy does not set them in
/// `<scaling>` (docs/AUTOSCALER.md).
#[derive(Debug, Clone, Args)]
pub(crate) struct ScalingArgs {
    /// Seconds after a scale-up before the next scale-up.
    #[arg(long, env = "ALTO_SCALE_UP_COOLDOWN", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_SCALE_UP_COOLDOWN_SECONDS)]
    pub(crate) scale_up_cooldown: f64,
    /// Seconds after any scaling before a scale-down.
    #[arg(long, env = "ALTO_SCALE_DOWN_COOLDOWN", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_SCALE_DOWN_COOLDOWN_SECONDS)]
    pub(crate) scale_down_cooldown: f64,
    /// A scale-down goes only as low as the highest recommendation of this many seconds.
    #[arg(long, env = "ALTO_SCALE_DOWN_STABILIZATION", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS)]
    pub(crate) scale_down_stabilization: f64,
    /// Seconds a started member may take to become Active before it is replaced.
    #[arg(long, env = "ALTO_PENDING_TIMEOUT", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_PENDING_TIMEOUT_SECONDS)]
    pub(crate) pending_timeout: f64,
    /// Most members one scale-up step adds per network partition.
    #[arg(long, env = "ALTO_MAX_SCALE_UP_STEP", value_name = "N",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_MAX_SCALE_UP_STEP,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) max_scale_up_step: u32,
    /// Seconds of health statistics each decision looks at.
    #[arg(long, env = "ALTO_HEALTH_WINDOW", value_name = "SECS",
          default_value_t = autoscaler::ScalingSettings::DEFAULT_WINDOW_SECONDS)]
    pub(crate) health_window: f64,
}

impl ScalingArgs {
    /// Into the autoscaler's settings, each value checked like its `<scaling>` counterpart.
    pub(crate) fn apply(&self, settings: &mut autoscaler::ScalingSettings) -> anyhow::Result<()> {
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
pub(crate) const MAX_REPLICA_ID: usize = 128;

/// `--replica-id` as given, checked, else `HOSTNAME:PORT`.
pub(crate) fn replica_id(given: Option<String>, port: u16) -> anyhow::Result<String> {
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

pub(crate) fn seconds(flag: &str, value: f64) -> anyhow::Result<std::time::Duration> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(std::time::Duration::from_secs_f64(value))
    } else {
        bail!("--{flag} {value}: expected a positive number of seconds")
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct DevArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Registry database (`postgres://...`, `sqlite://PATH` or a file path) [default: DATA/registry.db].
    #[arg(
        long,
        env = "ALTO_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Registry database, e.g. `postgres://USER@HOST:5432/DB`.
    #[arg(
        long,
        env = "ALTO_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) database_url: String,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

/// `alto serve` over TLS: both files or neither (`alto dev` stays plain HTTP on loopback).
#[derive(Debug, Clone, Args)]
pub(crate) struct TlsArgs {
    /// Serve the REST API, the console and /metrics over TLS with this certificate chain
    /// (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "ALTO_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(long, env = "ALTO_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The server configuration, read and checked now so that a bad file stops startup.
    pub(crate) fn server_config(&self) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(cloud_controller::tls::server_config(cert, key)?)),
            (None, None) => Ok(None),
            _ => bail!("--tls-cert and --tls-key go together"),
        }
    }
}
