//! `cartridge-agent`: see the library docs and docs/PROTOCOL.md.

use cartridge_agent::agent::Agent;
use cartridge_agent::config::{AgentConfig, Overrides};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "cartridge-agent",
    version,
    about = "Altostratus cartridge agent"
)]
struct Args {
    /// The payload file (`KEY=VALUE,...`), as written from the instance user data.
    #[arg(long, default_value = "payload/launch-params")]
    payload: PathBuf,
    /// Agent settings (`key = value` lines); default: `agent.conf` beside the payload
    /// directory, when it exists.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Broker URL (`amqp://user:password@host:5672/%2f`).
    #[arg(long, env = "ALTO_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<String>,
    /// A CA certificate (PEM) trusted for an `amqps://` broker besides the system's roots
    /// (default: `amqp.ca.cert` in agent.conf).
    #[arg(long, env = "ALTO_AMQP_CA_CERT")]
    amqp_ca_cert: Option<PathBuf>,
    /// Topic exchange (default amq.topic).
    #[arg(long)]
    exchange: Option<String>,
    /// Directory of extension hooks (default: `extensions` beside the payload directory).
    #[arg(long)]
    extensions: Option<PathBuf>,
    /// Seconds between health stats (default 15).
    #[arg(long)]
    health_interval: Option<f64>,
    /// Seconds to wait for the PORTS to open (default 600).
    #[arg(long)]
    port_check_timeout: Option<f64>,
    /// Only check the payload and print its keys (secrets masked), then exit.
    #[arg(long)]
    check: bool,
}

fn seconds(flag: &str, v: Option<f64>) -> anyhow::Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => anyhow::bail!("--{flag} {s}: expected a positive number of seconds"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,lapin=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let conf = args.config.clone().or_else(|| {
        let beside = args.payload.parent()?.parent()?.join("agent.conf");
        beside.is_file().then_some(beside)
    });
    let overrides = Overrides {
        // --check needs no broker.
        amqp_url: args
            .amqp_url
            .clone()
            .or_else(|| args.check.then(|| "amqp://unused/".to_string())),
        exchange: args.exchange.clone(),
        extensions_dir: args.extensions.clone(),
        health_interval: seconds("health-interval", args.health_interval)?,
        port_check_timeout: seconds("port-check-timeout", args.port_check_timeout)?,
        amqp_ca_cert: args.amqp_ca_cert.clone(),
    };
    if cartridge_agent::config::resolve_payload_url(&args.payload).await? {
        tracing::info!("payload fetched from PAYLOAD_URL");
    }
    let config = AgentConfig::load(&args.payload, conf.as_deref(), overrides)?;
    if args.check {
        for (k, v) in config.payload.iter() {
            let shown = if cartridge_agent::config::is_secret(k) {
                "***"
            } else {
                v
            };
            println!("{k}={shown}");
        }
        return Ok(());
    }
    tracing::info!(member = %config.member.member_id, "cartridge agent starting");
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    std::future::pending::<()>().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        }
    };
    Agent::new(config).run(shutdown).await;
    Ok(())
}
