//! The `alto` client commands: Stratos' CLI command names over the REST API.
//!
//! Global options (accepted before or after the command): `--url` (`ALTO_URL`, else
//! `STRATOS_URL`), `--user` (`ALTO_USER`, else `STRATOS_USERNAME`), `--password`
//! (`ALTO_PASSWORD`, else `STRATOS_PASSWORD`), `--json` (raw JSON on stdout for scripts;
//! tables otherwise) and `--ca-cert` (`ALTO_CA_CERT`: a trust root for an https:// URL).
//! Commands have Stratos 4.0's names, with 4.1's as visible aliases (`add-cartridge` =
//! `deploy-cartridge`, ...); [`stratos_argv`] accepts 4.0's `-ap`/`-dp`.

pub(crate) mod client;
pub mod render;
mod stratos;
mod wait;
pub mod watch;

use client::Client;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::{CliError, ErrorBody};
pub use stratos::stratos_argv;

/// Where the REST API is and who calls it. The fields are `global` so that they can follow the
/// command (`alto list-members shop --json`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Connection")]
pub struct Connection {
    /// Base URL of the Altostratus REST API.
    #[arg(
        long,
        env = "ALTO_URL",
        default_value = "http://127.0.0.1:9443",
        global = true
    )]
    pub url: String,
    /// Login: `admin`, or `USER@TENANTDOMAIN` for a tenant's user.
    #[arg(long, env = "ALTO_USER", default_value = "admin", global = true)]
    pub user: String,
    /// Password of --user (prefer the environment variable: arguments are visible to `ps`).
    #[arg(long, env = "ALTO_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<String>,
    /// Print the raw JSON responses instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// A CA certificate (PEM) trusted for an https:// --url besides the system's roots. The
    /// server's certificate is always verified.
    #[arg(long, env = "ALTO_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
}

/// The client commands (Stratos 4.0 CLI names; 4.1's names as visible aliases).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// List the deployed cartridges.
    ListCartridges,
    /// Show one cartridge definition.
    DescribeCartridge {
        /// The cartridge type.
        cartridge_type: String,
    },
    /// Deploy cartridge definitions (XML, or Stratos JSON when the file ends in .json).
    #[command(visible_alias = "add-cartridge")]
    DeployCartridge(ResourceArgs),
    /// Undeploy a cartridge (refused while it is subscribed).
    #[command(visible_alias = "remove-cartridge")]
    UndeployCartridge {
        /// The cartridge type.
        cartridge_type: String,
    },
    /// Deploy an autoscaling policy (XML, or Stratos JSON when the file ends in .json).
    #[command(visible_alias = "add-autoscaling-policy")]
    DeployAutoscalingPolicy(ResourceArgs),
    /// Deploy a deployment policy (XML, or Stratos JSON when the file ends in .json).
    #[command(visible_alias = "add-deployment-policy")]
    DeployDeploymentPolicy(ResourceArgs),
    /// Show one autoscaling policy (found in the list: the API has no GET by id yet).
    DescribeAutoscalingPolicy {
        /// The policy id.
        id: String,
    },
    /// Show one deployment policy (found in the list: the API has no GET by id yet).
    DescribeDeploymentPolicy {
        /// The policy id.
        id: String,
    },
    /// List the autoscaling policies.
    ListAutoscalingPolicies,
    /// Define a network partition (Stratos 4.1 JSON, or XML) (platform admin).
    AddNetworkPartition(ResourceArgs),
    /// List the network partitions.
    ListNetworkPartitions,
    /// Show one network partition in Stratos 4.1 JSON.
    DescribeNetworkPartition {
        /// The network partition's id.
        id: String,
    },
    /// Remove a network partition (refused while a deployment policy uses it).
    RemoveNetworkPartition {
        /// The network partition's id.
        id: String,
    },
    /// List the deployment policies.
    ListDeploymentPolicies,
    /// Create a tenant and its admin user (platform admin only).
    #[command(visible_alias = "add-tenant")]
    CreateTenant(CreateTenantArgs),
    /// Subscribe to a cartridge under an alias (creates a cluster).
    SubscribeCartridge(SubscribeArgs),
    /// Unsubscribe: the cluster's members are terminated.
    UnsubscribeCartridge(UnsubscribeArgs),
    /// List the caller's subscriptions (every page).
    ListSubscribedCartridges(PageArgs),
    /// List the members of a subscription's cluster.
    ListMembers(ListMembersArgs),
    /// List the caller's clusters (every page).
    ListClusters(PageArgs),
    /// Show the autoscaler's recent decisions for a subscription's cluster, with their reasons.
    Explain {
        /// The subscription alias.
        alias: String,
        /// How many of the most recent decisions to show.
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
    /// Follow a subscription's cluster: its members and the autoscaler's latest decision,
    /// redrawn in place.
    Watch {
        /// The subscription alias.
        alias: String,
        /// Seconds between two refreshes.
        #[arg(long, default_value_t = 2.0, value_name = "SECS")]
        interval: f64,
        /// Stop after this many refreshes (default: until interrupted).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ResourceArgs {
    /// The definition file (`.json` is sent as JSON, anything else as XML).
    #[arg(
        short = 'p',
        long = "resource-path",
        visible_alias = "file",
        value_name = "FILE"
    )]
    pub path: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ListMembersArgs {
    /// The subscription alias.
    #[arg(
        required_unless_present = "alias_option",
        conflicts_with = "alias_option"
    )]
    pub alias: Option<String>,
    /// The subscription alias (Stratos 4.0's spelling: `list-members -t TYPE -a ALIAS`).
    #[arg(short = 'a', long = "alias", id = "alias_option", value_name = "ALIAS")]
    pub alias_option: Option<String>,
    /// The subscription's cartridge type: when given, it must match.
    #[arg(short = 't', long, value_name = "TYPE")]
    pub cartridge_type: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// How a list command pages: it always fetches every page, `--limit` items a request.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PageArgs {
    /// Items per request, 1 to 1000 (default: the server's, 100); every page is listed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: Option<u16>,
}

impl PageArgs {
    fn limit(&self) -> Option<usize> {
        self.limit.map(usize::from)
    }
}

impl ListMembersArgs {
    /// The alias, however it was given (clap guarantees one of the two).
    pub fn alias(&self) -> &str {
        self.alias
            .as_deref()
            .or(self.alias_option.as_deref())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct CreateTenantArgs {
    /// The tenant's domain (logins become USER@DOMAIN).
    #[arg(
        short = 'd',
        long,
        visible_alias = "domain-name",
        value_name = "DOMAIN"
    )]
    pub domain: String,
    /// User name of the tenant's admin.
    #[arg(short = 'u', long, visible_alias = "username", value_name = "USER")]
    pub admin: String,
    /// Password of the tenant's admin.
    #[arg(short = 'p', long, value_name = "PASSWORD")]
    pub admin_password: String,
    /// Contact e-mail of the tenant's admin.
    #[arg(short = 'e', long, default_value = "", value_name = "EMAIL")]
    pub email: String,
    /// The admin's first name (Stratos 4.1's `add-tenant -f`; accepted, not stored).
    #[arg(short = 'f', long, value_name = "NAME")]
    pub first_name: Option<String>,
    /// The admin's last name (Stratos 4.1's `add-tenant -l`; accepted, not stored).
    #[arg(short = 'l', long, value_name = "NAME")]
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SubscribeArgs {
    /// The cartridge type to subscribe to.
    pub cartridge_type: String,
    /// The subscription alias (unique within the tenant).
    pub alias: String,
    /// The autoscaling policy id.
    #[arg(
        short = 'a',
        long,
        visible_alias = "autoscale-policy",
        value_name = "ID"
    )]
    pub autoscaling_policy: String,
    /// The deployment policy id.
    #[arg(short = 'd', long, value_name = "ID")]
    pub deployment_policy: String,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UnsubscribeArgs {
    /// The subscription alias.
    pub alias: String,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// Wait (printing progress) until the members reach the expected state.
    #[arg(short = 'w', long)]
    pub wait: bool,
    /// With --wait: give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS", requires = "wait")]
    pub timeout: u64,
}

/// Run one client command; output goes to stdout, errors are returned for [`report`].
pub async fn run(conn: &Connection, command: Command) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let json_out = conn.json;
    match command {
        Command::ListCartridges => {
            let v = client.get_all(&["api", "cartridges"], None).await?;
            output(json_out, &v, || render::cartridges(&v).to_string());
        }
        Command::DescribeCartridge { cartridge_type } => {
            let v = client.get(&["api", "cartridges", &cartridge_type]).await?;
            output(json_out, &v, || render::cartridge_detail(&v));
        }
        Command::DeployCartridge(args) => {
            let v = deploy(&client, "cartridges", &args.path).await?;
            output(json_out, &v, || {
                let types: Vec<String> = items(&v)
                    .iter()
                    .map(|c| render::field(c, &["type", "cartridgeType"]))
                    .collect();
                format!("deployed cartridge(s): {}", types.join(", "))
            });
        }
        Command::UndeployCartridge { cartridge_type } => {
            let v = client
                .delete(&["api", "cartridges", &cartridge_type])
                .await?;
            output(json_out, &v, || {
                format!("undeployed cartridge {cartridge_type}")
            });
        }
        Command::DeployAutoscalingPolicy(args) => {
            let v = deploy(&client, "autoscalingPolicies", &args.path).await?;
            output(json_out, &v, || {
                format!("deployed autoscaling policy {}", render::field(&v, &["id"]))
            });
        }
        Command::DeployDeploymentPolicy(args) => {
            let v = deploy(&client, "deploymentPolicies", &args.path).await?;
            output(json_out, &v, || {
                format!("deployed deployment policy {}", render::field(&v, &["id"]))
            });
        }
        Command::DescribeAutoscalingPolicy { id } => {
            let policy = client.get(&["api", "autoscalingPolicies", &id]).await?;
            output(json_out, &policy, || pretty(&policy));
        }
        Command::DescribeDeploymentPolicy { id } => {
            let policy = client.get(&["api", "deploymentPolicies", &id]).await?;
            output(json_out, &policy, || pretty(&policy));
        }
        Command::AddNetworkPartition(args) => {
            let v = deploy(&client, "networkPartitions", &args.path).await?;
            output(json_out, &v, || {
                format!("added network partition {}", render::field(&v, &["id"]))
            });
        }
        Command::ListNetworkPartitions => {
            let v = client.get_all(&["api", "networkPartitions"], None).await?;
            output(json_out, &v, || {
                items(&v)
                    .iter()
                    .map(|np| {
                        let partitions = np["partitions"].as_array().map_or(0, Vec::len);
                        format!(
                            "{}\t{}\t{partitions} partition(s)",
                            render::field(np, &["id"]),
                            render::field(np, &["provider"])
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::DescribeNetworkPartition { id } => {
            let v = client.get(&["api", "networkPartitions", &id]).await?;
            output(json_out, &v, || pretty(&v));
        }
        Command::RemoveNetworkPartition { id } => {
            let v = client.delete(&["api", "networkPartitions", &id]).await?;
            output(json_out, &v, || format!("removed network partition {id}"));
        }
        Command::ListAutoscalingPolicies => {
            let v = client
                .get_all(&["api", "autoscalingPolicies"], None)
                .await?;
            output(json_out, &v, || {
                render::autoscaling_policies(&v).to_string()
            });
        }
        Command::ListDeploymentPolicies => {
            let v = client.get_all(&["api", "deploymentPolicies"], None).await?;
            output(json_out, &v, || render::deployment_policies(&v).to_string());
        }
        Command::CreateTenant(args) => {
            let body = json!({
                "tenantDomain": args.domain,
                "admin": args.admin,
                "adminPassword": args.admin_password,
                "email": args.email,
            });
            let v = client.post_json(&["api", "tenants"], &body).await?;
            output(json_out, &v, || {
                format!(
                    "created tenant {} (id {}); its admin logs in as {}",
                    render::field(&v, &["tenantDomain"]),
                    render::field(&v, &["tenantId"]),
                    render::field(&v, &["admin"])
                )
            });
        }
        Command::SubscribeCartridge(args) => {
            let body = json!({
                "cartridgeType": args.cartridge_type,
                "alias": args.alias,
                "autoscalePolicy": args.autoscaling_policy,
                "deploymentPolicy": args.deployment_policy,
            });
            let v = client.post_json(&["api", "subscriptions"], &body).await?;
            output(json_out, &v, || {
                format!(
                    "subscribed {} to {}: cluster {}, host {}",
                    render::field(&v, &["alias"]),
                    render::field(&v, &["cartridgeType"]),
                    render::field(&v, &["clusterId"]),
                    render::field(&v, &["hostName"])
                )
            });
            if args.wait.wait {
                let cluster_id = render::field(&v, &["clusterId"]);
                let min = v["minMembers"].as_u64().unwrap_or(1) as usize;
                wait::wait_for_active(&client, &cluster_id, min, args.wait.timeout, json_out)
                    .await?;
            }
        }
        Command::UnsubscribeCartridge(args) => {
            let v = client
                .delete(&["api", "subscriptions", &args.alias])
                .await?;
            output(json_out, &v, || {
                format!(
                    "unsubscribing {}: status {}",
                    args.alias,
                    render::field(&v, &["status"])
                )
            });
            if args.wait.wait {
                let cluster_id = render::field(&v, &["clusterId"]);
                wait::wait_for_terminated(&client, &cluster_id, args.wait.timeout, json_out)
                    .await?;
            }
        }
        Command::ListSubscribedCartridges(page) => {
            let v = client
                .get_all(&["api", "subscriptions"], page.limit())
                .await?;
            output(json_out, &v, || render::subscriptions(&v).to_string());
        }
        Command::ListMembers(args) => {
            let cluster_id =
                cluster_of_checked(&client, args.alias(), args.cartridge_type.as_deref()).await?;
            let cluster = client
                .get_cluster_all(&cluster_id, args.page.limit())
                .await?;
            let members = cluster
                .get("members")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            output(json_out, &members, || render::members(&members).to_string());
        }
        Command::ListClusters(page) => {
            let v = client.get_all(&["api", "clusters"], page.limit()).await?;
            output(json_out, &v, || render::clusters(&v).to_string());
        }
        Command::Explain { alias, last } => {
            let cluster_id = cluster_of(&client, &alias).await?;
            let v = client
                .get_all(&["api", "clusters", &cluster_id, "decisions"], None)
                .await?;
            let all = items(&v);
            let recent = Value::Array(
                all[all.len().saturating_sub(last)..]
                    .iter()
                    .map(|d| (*d).clone())
                    .collect(),
            );
            output(json_out, &recent, || render::decisions(&recent).to_string());
        }
        Command::Watch {
            alias,
            interval,
            count,
        } => {
            if !(interval.is_finite() && (0.1..=3600.0).contains(&interval)) {
                return Err(CliError::Other(format!(
                    "--interval {interval}: expected 0.1 to 3600 seconds"
                )));
            }
            watch::run(&client, &alias, Duration::from_secs_f64(interval), count).await?;
        }
    }
    Ok(())
}

/// The cluster id of the caller's subscription `alias`.
pub(crate) async fn cluster_of(client: &Client, alias: &str) -> Result<String, CliError> {
    cluster_of_checked(client, alias, None).await
}

/// [`cluster_of`], refusing a subscription of another cartridge type than `cartridge_type`.
async fn cluster_of_checked(
    client: &Client,
    alias: &str,
    cartridge_type: Option<&str>,
) -> Result<String, CliError> {
    let subs = client.get_all(&["api", "subscriptions"], None).await?;
    let sub = items(&subs)
        .into_iter()
        .find(|s| s["alias"].as_str() == Some(alias))
        .ok_or_else(|| CliError::Other(format!("no subscription with alias {alias}")))?;
    if let Some(wanted) = cartridge_type {
        let actual = render::field(sub, &["cartridgeType"]);
        if actual != wanted {
            return Err(CliError::Other(format!(
                "subscription {alias} is of cartridge type {actual}, not {wanted}"
            )));
        }
    }
    Ok(render::field(sub, &["clusterId"]))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Print an error as `error: MESSAGE` and each problem line on stderr.
pub fn report(e: &CliError) {
    eprintln!("error: {e}");
    for problem in e.problems() {
        if problem != &e.to_string() {
            eprintln!("  {problem}");
        }
    }
}

fn output(json_out: bool, v: &Value, human: impl FnOnce() -> String) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    } else {
        println!("{}", human());
    }
}

fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The content type a definition file is sent with.
pub fn content_type_for(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => "application/json",
        _ => "application/xml",
    }
}

async fn deploy(client: &Client, resource: &str, path: &Path) -> Result<Value, CliError> {
    let body = std::fs::read(path)
        .map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?;
    client
        .post(&["api", resource], content_type_for(path), body)
        .await
}

#[cfg(test)]
mod tests;
