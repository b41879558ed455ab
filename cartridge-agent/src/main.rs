//! The Altostratus cartridge agent.
//!
//! Today a skeleton: it reads and checks its payload (`launch-params`) so images can be built
//! against its interface. The lifecycle over AMQP (InstanceStarted/Activated, health stats,
//! cleanup) is the next milestone; until then the mock cloud stands in for the agent, as
//! Stratos 4.1's mock IaaS did. It never depends on the `cloud-controller` crate.

use anyhow::{bail, Context};
use clap::Parser;
use std::path::PathBuf;

/// Payload keys an agent cannot work without.
const REQUIRED_KEYS: &[&str] = &[
    "SERVICE_NAME",
    "CLUSTER_ID",
    "MEMBER_ID",
    "NETWORK_PARTITION_ID",
    "PARTITION_ID",
    "PORTS",
];

#[derive(Parser, Debug)]
#[command(
    name = "cartridge-agent",
    version,
    about = "Altostratus cartridge agent (skeleton: payload check only; the AMQP lifecycle comes next)"
)]
struct Args {
    /// The payload file (`KEY=VALUE,...`), as written from the instance user data.
    #[arg(long, default_value = "payload/launch-params")]
    payload: PathBuf,
    /// Only check the payload and print its keys (secrets masked), then exit.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.payload)
        .with_context(|| format!("cannot read payload file {}", args.payload.display()))?;
    let pairs: Vec<(String, String)> = text
        .trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_string(), v.to_string()),
            None => (p.trim().to_string(), String::new()),
        })
        .collect();
    for key in REQUIRED_KEYS {
        let value = pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        if value.is_none_or(|v| v.is_empty() || v == "null") {
            bail!(
                "payload {} lacks required key {key}",
                args.payload.display()
            );
        }
    }
    for (k, v) in &pairs {
        let shown = if k == "CARTRIDGE_KEY" || k.ends_with("PASSWORD") || k == "TOKEN" {
            "***"
        } else {
            v.as_str()
        };
        println!("{k}={shown}");
    }
    if !args.check {
        eprintln!("cartridge-agent: lifecycle over AMQP is not implemented yet; payload is valid");
    }
    Ok(())
}
