//! `alto`: the Altostratus cloud controller (`dev`, `serve`), the configuration checker
//! (`validate`) and the client commands of the REST API (Stratos' CLI names).

use clap::{Parser, Subcommand};
use cloud_controller::{auth, cli};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod args;
mod server;

use args::{DevArgs, ServeArgs};
use server::{run_server, shutdown_signal};

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
mod tests;
