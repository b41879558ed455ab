//! `--wait`: follow a cluster until its members reach the expected state, with a progress bar
//! on a terminal (indicatif, the maintained terminal progress crate) and one line per change
//! otherwise (logs, CI, `--json`).

use super::client::Client;
use super::{items, render, CliError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Poll period of `--wait`.
const POLL: Duration = Duration::from_millis(500);

/// How a wait shows its progress: a bar on a terminal, else a line per change.
struct Progress {
    bar: Option<ProgressBar>,
    json_out: bool,
    last: String,
}

impl Progress {
    fn new(json_out: bool) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{bar:30}] {msg} ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            json_out,
            last: String::new(),
        }
    }

    fn update(&mut self, reached: usize, expected: usize, line: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(expected as u64);
                bar.set_position(reached as u64);
                bar.set_message(line.clone());
            }
            None if line != self.last => progress(self.json_out, &line),
            None => {}
        }
        self.last = line;
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// A progress line: `1/2 members Active (Starting: 1)`.
pub fn progress_line(cluster: &Value, state: &str, expected: usize) -> (usize, String) {
    let mut counts = state_counts(cluster);
    let reached = counts.remove(state).unwrap_or(0);
    let mut line = format!("{reached}/{expected} members {state}");
    if !counts.is_empty() {
        let others: Vec<String> = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        line.push_str(&format!(" ({})", others.join(", ")));
    }
    (reached, line)
}

/// Members by state: the cluster's `memberCounts` (all its members, however many pages), or,
/// from a controller that sends none, the members in the response.
pub fn state_counts(cluster: &Value) -> BTreeMap<String, usize> {
    if let Some(counts) = cluster["memberCounts"].as_object() {
        return counts
            .iter()
            .filter_map(|(state, n)| Some((state.clone(), usize::try_from(n.as_u64()?).ok()?)))
            .filter(|(_, n)| *n > 0)
            .collect();
    }
    let mut counts = BTreeMap::new();
    for m in items(&cluster["members"]) {
        *counts.entry(render::field(m, &["state"])).or_default() += 1;
    }
    counts
}

fn progress(json_out: bool, line: &str) {
    // With --json, stdout carries only JSON.
    if json_out {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

pub(super) async fn wait_for_active(
    client: &Client,
    cluster_id: &str,
    min: usize,
    timeout_secs: u64,
    json_out: bool,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut shown = Progress::new(json_out);
    loop {
        match client.get(&["api", "clusters", cluster_id]).await {
            Ok(cluster) => {
                let (active, line) = progress_line(&cluster, "Active", min);
                shown.update(active, min, line);
                if active >= min {
                    shown.finish();
                    return Ok(());
                }
            }
            // The cluster row may not be visible yet.
            Err(CliError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Err(CliError::Other(format!(
                "timed out after {timeout_secs} s waiting for {min} Active member(s) of {cluster_id} (last: {})",
                shown.last
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

pub(super) async fn wait_for_terminated(
    client: &Client,
    cluster_id: &str,
    timeout_secs: u64,
    json_out: bool,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    let mut shown = Progress::new(json_out);
    loop {
        match client.get(&["api", "clusters", cluster_id]).await {
            Ok(cluster) => {
                let total = state_counts(&cluster).values().sum();
                let (terminated, line) = progress_line(&cluster, "Terminated", total);
                shown.update(terminated, total, line);
                if terminated == total {
                    shown.finish();
                    return Ok(());
                }
            }
            // The cluster is gone: nothing is left running.
            Err(CliError::Api { status: 404, .. }) => {
                shown.finish();
                progress(json_out, "cluster removed");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            return Err(CliError::Other(format!(
                "timed out after {timeout_secs} s waiting for the members of {cluster_id} to terminate (last: {})",
                shown.last
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
