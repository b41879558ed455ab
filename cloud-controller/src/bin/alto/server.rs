//! Running `alto dev`/`alto serve`: the registry, the bus (and the tenants' virtual hosts),
//! the controller, the REST API and the metrics listener, until a signal.

use crate::args::{replica_id, seconds, ServerArgs};
use anyhow::{bail, Context};
use cloud_controller::controller::{Controller, ControllerOptions, TenantBusOptions};
use cloud_controller::{api, ControllerError};
use messaging::broker_admin::{BrokerAdmin, BrokerAdminError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const DEFAULT_CONF: &str = "./conf";

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
pub(crate) fn conf_dir(conf: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
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

pub(crate) async fn run_server(
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
pub(crate) async fn shutdown_signal() -> &'static str {
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
