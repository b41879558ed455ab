//! The command line of the Stratos agents' endpoints (`alto dev`, `alto serve`): the MQTT
//! broker address the payload gives them, and the Thrift health receiver.

use super::tls::{self, Identity};
use super::{PlatformLogin, ReceiverLimits, StatSink, ThriftReceiver};
use crate::agent_endpoints::{amqp_host, AgentEndpoints, HostPort, DEFAULT_MQTT_PORT};
use anyhow::{bail, Context};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct StratosArgs {
    /// MQTT broker address given to Stratos 4.1 agents in the payload (`MB_IP`, `MB_PORT`)
    /// [default: the --amqp-url host and port 1883].
    #[arg(long, env = "ALTO_MQTT_PUBLIC", value_name = "HOST:PORT")]
    pub mqtt_public: Option<String>,
    /// Serve the Thrift health receiver (the WSO2 data bridge's secure event transmission
    /// service, TLS) for Stratos 4.1 agents on this address.
    #[arg(long, env = "ALTO_THRIFT_LISTEN", value_name = "ADDR")]
    pub thrift_listen: Option<SocketAddr>,
    /// The receiver's address as agents reach it (`CEP_IP`, `CEP_PORT` in the payload)
    /// [default: the --thrift-listen address, unless it is unspecified (0.0.0.0)].
    #[arg(long, env = "ALTO_THRIFT_PUBLIC", value_name = "HOST:PORT")]
    pub thrift_public: Option<String>,
    /// The login agents send (`thrift.server.admin.username` in their agent.conf).
    #[arg(
        long,
        env = "ALTO_THRIFT_USER",
        default_value = "admin",
        value_name = "USER"
    )]
    pub thrift_user: String,
    /// Its password (`thrift.server.admin.password`) [default: the admin password].
    #[arg(
        long,
        env = "ALTO_THRIFT_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub thrift_password: Option<String>,
    /// PEM certificate chain of the receiver [default: a self-signed one made at startup].
    #[arg(
        long,
        env = "ALTO_THRIFT_CERT",
        value_name = "FILE",
        requires = "thrift_key"
    )]
    pub thrift_cert: Option<PathBuf>,
    /// PEM private key of --thrift-cert.
    #[arg(
        long,
        env = "ALTO_THRIFT_KEY",
        value_name = "FILE",
        requires = "thrift_cert"
    )]
    pub thrift_key: Option<PathBuf>,
}

/// The receiver's socket, bound before the controller starts (so that its port, even an
/// ephemeral one, is in every payload), and the agents' endpoints.
pub struct Prepared {
    args: StratosArgs,
    listener: Option<TcpListener>,
    endpoints: AgentEndpoints,
}

impl StratosArgs {
    pub fn prepare(&self, amqp_url: Option<&str>) -> anyhow::Result<Prepared> {
        let mqtt = match &self.mqtt_public {
            Some(value) => Some(HostPort::parse("--mqtt-public", value)?),
            None => amqp_url.and_then(amqp_host).map(|host| HostPort {
                host,
                port: DEFAULT_MQTT_PORT,
            }),
        };
        let listener = match self.thrift_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .with_context(|| format!("--thrift-listen {addr}: cannot listen"))?,
            ),
            None => None,
        };
        let cep = match (&self.thrift_public, &listener) {
            (Some(value), _) => Some(HostPort::parse("--thrift-public", value)?),
            (None, Some(listener)) => {
                let addr = listener.local_addr()?;
                if addr.ip().is_unspecified() {
                    tracing::warn!(%addr, "--thrift-listen is unspecified: give --thrift-public, or payloads carry no CEP_IP");
                    None
                } else {
                    Some(HostPort::from_socket(addr))
                }
            }
            (None, None) => None,
        };
        if self.thrift_public.is_some() && listener.is_none() {
            bail!("--thrift-public needs --thrift-listen");
        }
        Ok(Prepared {
            args: self.clone(),
            listener,
            endpoints: AgentEndpoints { mqtt, cep },
        })
    }
}

impl Prepared {
    pub fn endpoints(&self) -> AgentEndpoints {
        self.endpoints.clone()
    }

    /// Start the receiver, if asked for; `admin_password` is the default login's password.
    pub fn start(
        self,
        sink: Arc<dyn StatSink>,
        admin_password: &str,
    ) -> anyhow::Result<Option<ThriftReceiver>> {
        let Some(listener) = self.listener else {
            return Ok(None);
        };
        let identity = match (&self.args.thrift_cert, &self.args.thrift_key) {
            (Some(cert), Some(key)) => Identity::Files { cert, key },
            _ => Identity::SelfSigned,
        };
        let acceptor = tls::acceptor(identity)?;
        let password = self
            .args
            .thrift_password
            .as_deref()
            .unwrap_or(admin_password);
        let login = Arc::new(PlatformLogin::new(&self.args.thrift_user, password));
        let receiver =
            ThriftReceiver::spawn(listener, acceptor, login, sink, ReceiverLimits::default())
                .context("cannot start the thrift receiver")?;
        Ok(Some(receiver))
    }
}
