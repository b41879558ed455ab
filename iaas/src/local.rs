//! The `local` cloud: every member is a `cartridge-agent` process on this host.
//!
//! Each instance gets its own working directory under the controller's data directory
//! (`local-<type>/<instance-id>/`) holding `payload/launch-params`, `agent.conf`, the
//! cartridge's extension scripts (copied from the `local.extensions.dir` property) and its
//! logs, plus `instance.json` (pid and tags) so that `describe` finds it again after a
//! controller restart. Agents run in their own process group: stopping the controller does
//! not stop them, as stopping a cloud controller does not stop VMs.
//!
//! All members share the host, so the cartridge's ports cannot be the members' ports: each
//! cartridge port is mapped to a free loopback port, which the member gets as `PORTS` in its
//! payload (the hooks as `STRATOS_PORTS`); the mapping is in the instance's `extra["ports"]`.
//!
//! Terminate sends SIGTERM, then SIGKILL after a grace period, then removes the directory.

use crate::error::{ErrorClass, IaasError};
use crate::mock::parse_prop;
use crate::private_file::write_private;
use crate::registry::{AgentAmqp, DriverContext};
use crate::types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, InstanceState, Properties,
    ProviderSpec,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `instance.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LocalInstance {
    instance_id: String,
    pid: u32,
    tags: BTreeMap<String, String>,
    /// Cartridge port → loopback port given to the member.
    ports: BTreeMap<u16, u16>,
}

pub struct LocalIaas {
    provider_type: String,
    root: PathBuf,
    agent_bin: PathBuf,
    amqp: Option<AgentAmqp>,
    defaults: Properties,
    /// Children we started in this process (reaped on terminate).
    children: Mutex<HashMap<String, tokio::process::Child>>,
}

fn err(provider_type: &str, op: &'static str, class: ErrorClass, msg: String) -> IaasError {
    IaasError::new(provider_type, op, class, msg)
}

/// The agent binary: the `local.agent.path` property, else `ALTO_AGENT_BIN`, else
/// `cartridge-agent` beside the running executable, else from `PATH`.
fn agent_binary(properties: &Properties) -> PathBuf {
    if let Some(p) = properties.get("local.agent.path") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("ALTO_AGENT_BIN") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("cartridge-agent")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("cartridge-agent"))
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Is `pid` a live (not zombie) process whose command line mentions `marker`? The marker
/// guards against a recycled pid.
fn alive(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false);
    !zombie && String::from_utf8_lossy(&cmdline).contains(marker)
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), sig);
    }
}

/// Replace `PORTS=...` in a payload line with the member's own ports.
fn rewrite_ports(payload: &str, ports: &BTreeMap<u16, u16>) -> String {
    let mapped: Vec<String> = ports.values().map(u16::to_string).collect();
    payload
        .trim()
        .split(',')
        .map(|pair| match pair.split_once('=') {
            Some(("PORTS", _)) => format!("PORTS={}", mapped.join("|")),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn cartridge_ports(payload: &str) -> Vec<u16> {
    payload
        .split(',')
        .find_map(|pair| pair.strip_prefix("PORTS="))
        .map(|v| v.split('|').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_default()
}

impl LocalIaas {
    /// [`crate::DriverFactory`] for `local`.
    pub fn factory(spec: &ProviderSpec, ctx: &DriverContext) -> Result<Arc<dyn Iaas>, IaasError> {
        Ok(Arc::new(LocalIaas::new(spec, ctx)?))
    }

    pub fn new(spec: &ProviderSpec, ctx: &DriverContext) -> Result<LocalIaas, IaasError> {
        let t = &spec.provider_type;
        let base = ctx.state_dir.clone().ok_or_else(|| {
            err(
                t,
                "initialize",
                ErrorClass::InvalidRequest,
                "the local cloud needs a data directory".into(),
            )
        })?;
        let safe: String = t
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(LocalIaas {
            provider_type: t.clone(),
            root: base.join(format!("local-{safe}")),
            agent_bin: agent_binary(&spec.properties),
            amqp: ctx.agent_amqp.clone(),
            defaults: spec.properties.clone(),
            children: Mutex::new(HashMap::new()),
        })
    }

    fn record_path(&self, instance_id: &str) -> PathBuf {
        self.root.join(instance_id).join("instance.json")
    }

    fn records(&self) -> Vec<LocalInstance> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("instance.json")).ok())
            .filter_map(|bytes| serde_json::from_slice::<LocalInstance>(&bytes).ok())
            .collect()
    }

    fn is_alive(&self, record: &LocalInstance) -> bool {
        let dir = self.root.join(&record.instance_id);
        alive(record.pid, &dir.to_string_lossy())
    }

    fn to_instance(&self, record: &LocalInstance) -> Instance {
        let mut extra = BTreeMap::new();
        extra.insert("pid".to_string(), record.pid.to_string());
        extra.insert(
            "ports".to_string(),
            record
                .ports
                .iter()
                .map(|(c, m)| format!("{c}:{m}"))
                .collect::<Vec<_>>()
                .join("|"),
        );
        extra.insert(
            "workdir".to_string(),
            self.root.join(&record.instance_id).display().to_string(),
        );
        Instance {
            instance_id: record.instance_id.clone(),
            state: if self.is_alive(record) {
                InstanceState::Running
            } else {
                InstanceState::Terminated
            },
            private_ips: vec!["127.0.0.1".to_string()],
            public_ips: Vec::new(),
            tags: record.tags.clone(),
            extra,
        }
    }

    fn seconds(&self, props: &Properties, name: &str) -> Result<Option<f64>, IaasError> {
        let value: Option<f64> = parse_prop(&self.provider_type, props, name)?;
        match value {
            Some(v) if !(v.is_finite() && v > 0.0) => Err(err(
                &self.provider_type,
                "read properties",
                ErrorClass::InvalidRequest,
                format!("property {name} must be a positive number of seconds"),
            )),
            other => Ok(other),
        }
    }

    /// Lay out the working directory of a new instance.
    fn prepare(
        &self,
        dir: &Path,
        spec: &InstanceSpec,
        props: &Properties,
        ports: &BTreeMap<u16, u16>,
        amqp: &AgentAmqp,
    ) -> Result<(), IaasError> {
        let io = |what: &str, e: std::io::Error| {
            err(
                &self.provider_type,
                "start instance",
                ErrorClass::Transient,
                format!("{what} in {}: {e}", dir.display()),
            )
        };
        std::fs::create_dir_all(dir.join("payload")).map_err(|e| io("create", e))?;
        std::fs::create_dir_all(dir.join("extensions")).map_err(|e| io("create", e))?;
        write_private(
            &dir.join("payload/launch-params"),
            rewrite_ports(&spec.payload, ports),
        )
        .map_err(|e| io("write launch-params", e))?;
        let mut conf = format!(
            "# written by the local cloud\namqp.exchange = {}\namqp.queue.prefix = {}\n",
            amqp.exchange, amqp.queue_prefix
        );
        if let Some(ca) = &amqp.ca_cert {
            conf.push_str(&format!("amqp.ca.cert = {}\n", ca.display()));
        }
        for (prop, key) in [
            ("local.health.interval.secs", "health.interval.secs"),
            ("local.port.check.timeout.secs", "port.check.timeout.secs"),
            ("local.hook.timeout.secs", "hook.timeout.secs"),
        ] {
            if let Some(v) = self.seconds(props, prop)? {
                conf.push_str(&format!("{key} = {v}\n"));
            }
        }
        // It holds the broker URL with its credentials.
        write_private(&dir.join("agent.conf"), conf.as_bytes())
            .map_err(|e| io("write agent.conf", e))?;
        if let Some(src) = props.get("local.extensions.dir") {
            let entries = std::fs::read_dir(src).map_err(|e| {
                err(
                    &self.provider_type,
                    "start instance",
                    ErrorClass::InvalidRequest,
                    format!("property local.extensions.dir {src}: {e}"),
                )
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|x| x == "sh") {
                    if let Some(name) = path.file_name() {
                        std::fs::copy(&path, dir.join("extensions").join(name))
                            .map_err(|e| io("copy extension", e))?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Iaas for LocalIaas {
    fn provider_type(&self) -> &str {
        &self.provider_type
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            floating_ips: false,
            key_pairs: false,
            volumes: false,
            security_groups: false,
            max_payload_bytes: None,
        }
    }

    async fn initialize(&self) -> Result<(), IaasError> {
        if self.amqp.is_none() {
            return Err(err(
                &self.provider_type,
                "initialize",
                ErrorClass::InvalidRequest,
                "the local cloud runs real agents, which need the AMQP bus: start alto with --amqp-url"
                    .into(),
            ));
        }
        std::fs::create_dir_all(&self.root).map_err(|e| {
            err(
                &self.provider_type,
                "initialize",
                ErrorClass::Transient,
                format!("{}: {e}", self.root.display()),
            )
        })
    }

    async fn validate_partition(
        &self,
        _partition_id: &str,
        _properties: &Properties,
    ) -> Result<(), IaasError> {
        Ok(())
    }

    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError> {
        let t = &self.provider_type;
        let Some(amqp) = &self.amqp else {
            return Err(err(
                t,
                "start instance",
                ErrorClass::InvalidRequest,
                "no AMQP bus for the agents".into(),
            ));
        };
        // A retried start for the same member returns the instance already running.
        if let Some(existing) = self
            .records()
            .into_iter()
            .find(|r| r.tags == spec.tags && self.is_alive(r))
        {
            return Ok(self.to_instance(&existing));
        }
        let mut props = self.defaults.clone();
        props.extend(spec.properties.clone());
        let mut ports = BTreeMap::new();
        for port in cartridge_ports(&spec.payload) {
            let mapped = free_port().map_err(|e| {
                err(
                    t,
                    "start instance",
                    ErrorClass::Capacity,
                    format!("no free port: {e}"),
                )
            })?;
            ports.insert(port, mapped);
        }
        let instance_id = format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let dir = self.root.join(&instance_id);
        self.prepare(&dir, spec, &props, &ports, amqp)?;
        let log = std::fs::File::create(dir.join("agent.log")).map_err(|e| {
            err(
                t,
                "start instance",
                ErrorClass::Transient,
                format!("{}: {e}", dir.display()),
            )
        })?;
        let log2 = log
            .try_clone()
            .map_err(|e| err(t, "start instance", ErrorClass::Transient, e.to_string()))?;
        let mut cmd = tokio::process::Command::new(&self.agent_bin);
        cmd.arg("--payload")
            .arg(dir.join("payload/launch-params"))
            .arg("--config")
            .arg(dir.join("agent.conf"))
            .arg("--extensions")
            .arg(dir.join("extensions"))
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        // A payload naming the tenant's virtual host wins: the platform's URL (with its
        // administrator credentials) is for agents of a shared bus only.
        if !spec
            .payload
            .split(',')
            .any(|kv| kv.starts_with("AMQP_URL="))
        {
            cmd.env("ALTO_AMQP_URL", amqp.url.expose());
        }
        let child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            err(
                t,
                "start instance",
                ErrorClass::InvalidRequest,
                format!("cannot run the agent {}: {e}", self.agent_bin.display()),
            )
        })?;
        let pid = child.id().unwrap_or(0);
        let record = LocalInstance {
            instance_id: instance_id.clone(),
            pid,
            tags: spec.tags.clone(),
            ports,
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| err(t, "start instance", ErrorClass::Transient, e.to_string()))?;
        write_private(&self.record_path(&instance_id), &json)
            .map_err(|e| err(t, "start instance", ErrorClass::Transient, e.to_string()))?;
        if let Ok(mut children) = self.children.lock() {
            children.insert(instance_id.clone(), child);
        }
        tracing::info!(provider = %t, instance = %instance_id, pid, "agent process started");
        Ok(self.to_instance(&record))
    }

    async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, IaasError> {
        Ok(self
            .records()
            .iter()
            .filter(|r| filter.matches(&r.tags))
            .map(|r| self.to_instance(r))
            .collect())
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError> {
        let t = &self.provider_type;
        let not_found = || {
            err(
                t,
                "terminate instance",
                ErrorClass::NotFound,
                format!("no local instance {instance_id}"),
            )
        };
        if instance_id.contains(['/', '.']) || instance_id.is_empty() {
            return Err(not_found());
        }
        let bytes = std::fs::read(self.record_path(instance_id)).map_err(|_| not_found())?;
        let record: LocalInstance = serde_json::from_slice(&bytes).map_err(|_| not_found())?;
        let grace = self
            .seconds(&self.defaults, "local.terminate.grace.secs")?
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(10));
        let child = self
            .children
            .lock()
            .ok()
            .and_then(|mut c| c.remove(instance_id));
        if self.is_alive(&record) {
            signal(record.pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = tokio::time::Instant::now() + grace;
            match child {
                Some(mut child) => {
                    if tokio::time::timeout_at(deadline, child.wait())
                        .await
                        .is_err()
                    {
                        tracing::warn!(instance = %instance_id, "agent ignored SIGTERM; killing");
                        let _ = child.kill().await;
                    }
                }
                None => {
                    while self.is_alive(&record) && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    if self.is_alive(&record) {
                        tracing::warn!(instance = %instance_id, "agent ignored SIGTERM; killing");
                        signal(record.pid, nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        } else if let Some(mut child) = child {
            let _ = child.wait().await;
        }
        // Hooks may have started servers in the agent's process group; stop them too.
        if let Ok(raw) = i32::try_from(record.pid) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(raw),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = std::fs::remove_dir_all(self.root.join(instance_id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_rewritten_in_place() {
        let mut ports = BTreeMap::new();
        ports.insert(80, 41000);
        ports.insert(443, 41001);
        let payload = "SERVICE_NAME=php,PORTS=80|443,MEMBER_ID=m";
        assert_eq!(cartridge_ports(payload), vec![80, 443]);
        assert_eq!(
            rewrite_ports(payload, &ports),
            "SERVICE_NAME=php,PORTS=41000|41001,MEMBER_ID=m"
        );
        assert_eq!(cartridge_ports("A=b"), Vec::<u16>::new());
    }

    #[test]
    fn a_recycled_pid_is_not_ours() {
        let me = std::process::id();
        assert!(!alive(me, "/definitely/not/in/my/cmdline"));
        assert!(!alive(u32::MAX, ""));
    }
}
