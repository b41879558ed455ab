//! `alto watch ALIAS`: a subscription's cluster — its status, members and latest decision —
//! redrawn in place every `--interval` on a terminal, one frame after another otherwise.

use super::client::Client;
use super::wait::state_counts;
use super::{cluster_of, items, render, CliError};
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Clear the screen and go home (VT100), so a frame replaces the last one.
const REDRAW: &str = "\x1b[2J\x1b[H";

/// One frame: the cluster's status line, its members and the autoscaler's latest decision.
pub fn frame(cluster: &Value, decisions: &Value) -> String {
    let members = cluster
        .get("members")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let live: usize = state_counts(cluster)
        .iter()
        .filter(|(state, _)| *state != "Terminated")
        .map(|(_, n)| n)
        .sum();
    let mut out = format!(
        "{}  {}  ({live} live members)\n",
        render::field(cluster, &["clusterId"]),
        render::field(cluster, &["status"]),
    );
    out.push_str(&render::members(&members).to_string());
    out.push('\n');
    match items(decisions).last() {
        Some(latest) => {
            let one = Value::Array(vec![(*latest).clone()]);
            out.push_str("latest decision:\n");
            out.push_str(&render::decisions(&one).to_string());
            out.push('\n');
        }
        None => out.push_str("no decision yet\n"),
    }
    out
}

/// Redraw every `interval`, `count` times (`None`: until interrupted).
pub(super) async fn run(
    client: &Client,
    alias: &str,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), CliError> {
    let cluster_id = cluster_of(client, alias).await?;
    let terminal = std::io::stdout().is_terminal();
    let mut shown = 0u64;
    loop {
        let cluster = client.get(&["api", "clusters", &cluster_id]).await?;
        let decisions = client
            .get(&["api", "clusters", &cluster_id, "decisions"])
            .await?;
        let text = frame(&cluster, &decisions);
        let mut out = std::io::stdout().lock();
        let written = if terminal {
            write!(out, "{REDRAW}{text}")
        } else {
            writeln!(out, "{text}")
        };
        written
            .and_then(|()| out.flush())
            .map_err(|e| CliError::Other(format!("cannot write to stdout: {e}")))?;
        drop(out);
        shown += 1;
        if count.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}
