//! Reconciliation: the registry compared with what each cloud says it runs.
//!
//! At startup (before the first scaling pass) and every `--reconcile-interval`, per provider,
//! concurrently: describe the instances carrying our managed-by tag, then read the registry
//! (in that order: a member row always exists before its instance, so an instance seen here
//! whose member the registry does not know is truly nobody's), and [`plan`] — a pure function —
//! says what to do:
//!
//! - `terminateOrphan`: an instance whose member is unknown or `Terminated`, or a second
//!   instance of one member;
//! - `startMissing`: a `Created` member without an instance (a crash between the commit and the
//!   cloud call): started now, under the same member id;
//! - `adopt`: a `Created` member whose instance exists, or a live member without a recorded
//!   instance: its id and addresses are recorded (`Created` becomes `Initialized`) and a later
//!   agent event moves it on;
//! - `markVanished`: a live member whose instance is gone: terminated with reason
//!   `instance vanished` (the scaling loop replaces it).
//!
//! Members with a cloud call in flight, and members changed since the describe began, are left
//! to the next pass. In `report` mode the plan is logged and kept, and nothing is done.

use super::actuator::Actuator;
use super::clouds::Clouds;
use super::store::{now_ms, Store};
use super::topology::TopologyPublisher;
use crate::error::Result;
use crate::metrics::Metrics;
use alto_registry::Member;
use iaas::{Iaas, Instance, InstanceFilter};
use messaging::MemberState;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether a pass acts on what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReconcileMode {
    Act,
    Report,
}

impl std::str::FromStr for ReconcileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "act" => Ok(ReconcileMode::Act),
            "report" => Ok(ReconcileMode::Report),
            other => Err(format!("{other:?}: expected act or report")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    TerminateOrphan,
    StartMissing,
    Adopt,
    MarkVanished,
}

impl ActionKind {
    const ALL: [ActionKind; 4] = [
        ActionKind::TerminateOrphan,
        ActionKind::StartMissing,
        ActionKind::Adopt,
        ActionKind::MarkVanished,
    ];
}

/// One thing a pass found to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileAction {
    pub action: ActionKind,
    pub provider_type: String,
    pub instance_id: Option<String>,
    /// `None` for an orphan.
    pub member_id: Option<String>,
    pub reason: String,
}

/// Name of the reconciliation report in the registry's `controller_reports`.
const REPORT_NAME: &str = "reconcile";

/// The last pass, as `GET /api/reconcile` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// When the pass started (ms since the epoch); `None` before the first pass.
    pub time: Option<i64>,
    pub mode: ReconcileMode,
    pub actions: Vec<ReconcileAction>,
    /// Providers that could not be described, and why (their members were left alone).
    pub errors: Vec<String>,
    /// Actions carried out by the replica that ran the pass, since it started, by kind.
    pub totals: BTreeMap<String, u64>,
}

/// What the registry knows of the members one cloud's instances name.
pub struct RegistryView<'a> {
    /// Live members on this provider.
    pub live: &'a [Member],
    /// Members named by an instance tag that are not live: `Terminated` (`true`) or unknown.
    pub terminated: &'a HashMap<String, bool>,
}

/// What to do about one provider. `skip(member)`: leave it to the next pass (a call in flight,
/// or changed since the describe began).
pub fn plan(
    provider_type: &str,
    instances: &[Instance],
    registry: &RegistryView<'_>,
    skip: &dyn Fn(&Member) -> bool,
) -> Vec<ReconcileAction> {
    let mut actions = Vec::new();
    let action =
        |action, instance: Option<&str>, member: Option<&str>, reason: String| ReconcileAction {
            action,
            provider_type: provider_type.to_string(),
            instance_id: instance.map(str::to_string),
            member_id: member.map(str::to_string),
            reason,
        };
    let live: HashMap<&str, &Member> = registry
        .live
        .iter()
        .map(|m| (m.member_id.as_str(), m))
        .collect();
    let mut by_member: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
    for instance in instances {
        match instance.member_id() {
            Some(member_id) => by_member.entry(member_id).or_default().push(instance),
            None => actions.push(action(
                ActionKind::TerminateOrphan,
                Some(&instance.instance_id),
                None,
                "no member tag".to_string(),
            )),
        }
    }
    for (member_id, found) in &by_member {
        let Some(member) = live.get(member_id) else {
            let why = match registry.terminated.get(*member_id) {
                Some(true) => format!("member {member_id} is Terminated"),
                _ => format!("member {member_id} is unknown to the registry"),
            };
            for instance in found {
                actions.push(action(
                    ActionKind::TerminateOrphan,
                    Some(&instance.instance_id),
                    None,
                    why.clone(),
                ));
            }
            continue;
        };
        if skip(member) {
            continue;
        }
        let kept = found
            .iter()
            .find(|i| member.instance_id.as_deref() == Some(i.instance_id.as_str()))
            .or_else(|| found.first())
            .copied();
        for extra in found.iter().filter(|i| Some(**i) != kept) {
            actions.push(action(
                ActionKind::TerminateOrphan,
                Some(&extra.instance_id),
                None,
                format!("second instance of member {member_id}"),
            ));
        }
        let Some(kept) = kept else { continue };
        let recorded = member.instance_id.as_deref() == Some(kept.instance_id.as_str());
        // A Created member with an instance is adopted even when its id was recorded: a crash
        // between recording the id and the move to Initialized leaves exactly that.
        let adopt = match member.state {
            MemberState::Created => true,
            MemberState::ReadyToShutDown => false,
            _ => !recorded,
        };
        if adopt {
            actions.push(action(
                ActionKind::Adopt,
                Some(&kept.instance_id),
                Some(member_id),
                format!("{} member's instance found by its tag", member.state),
            ));
        }
    }
    for member in registry.live {
        if by_member.contains_key(member.member_id.as_str()) || skip(member) {
            continue;
        }
        match member.state {
            MemberState::Created => actions.push(action(
                ActionKind::StartMissing,
                None,
                Some(&member.member_id),
                "Created without an instance (start interrupted)".to_string(),
            )),
            // Its termination is under way; the actuator finishes it.
            MemberState::ReadyToShutDown | MemberState::Terminated => {}
            _ => actions.push(action(
                ActionKind::MarkVanished,
                member.instance_id.as_deref(),
                Some(&member.member_id),
                "instance vanished".to_string(),
            )),
        }
    }
    actions
}

pub(crate) struct Reconciler {
    store: Store,
    clouds: Arc<Clouds>,
    actuator: Arc<Actuator>,
    topology: Arc<TopologyPublisher>,
    mode: ReconcileMode,
    last: Mutex<ReconcileReport>,
    totals: [AtomicU64; 4],
    metrics: Arc<Metrics>,
}

impl Reconciler {
    pub(crate) fn new(
        store: Store,
        clouds: Arc<Clouds>,
        actuator: Arc<Actuator>,
        topology: Arc<TopologyPublisher>,
        mode: ReconcileMode,
        metrics: Arc<Metrics>,
    ) -> Reconciler {
        Reconciler {
            metrics,
            store,
            clouds,
            actuator,
            topology,
            mode,
            last: Mutex::new(ReconcileReport {
                time: None,
                mode,
                actions: Vec::new(),
                errors: Vec::new(),
                totals: BTreeMap::new(),
            }),
            totals: Default::default(),
        }
    }

    pub(crate) fn report(&self) -> ReconcileReport {
        let mut report = self
            .last
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|_| ReconcileReport {
                time: None,
                mode: self.mode,
                actions: Vec::new(),
                errors: vec!["report unavailable".to_string()],
                totals: BTreeMap::new(),
            });
        report.totals = ActionKind::ALL
            .iter()
            .zip(&self.totals)
            .map(|(kind, n)| (kind_name(*kind), n.load(Ordering::Relaxed)))
            .collect();
        report
    }

    /// The first pass, before the scaling loop starts. It also re-announces members that are
    /// part-way through a handshake with their agent (`Initialized`, `Starting`,
    /// `In_Maintenance`): the agent's answer to the announcement before a crash may have been
    /// lost with the process (on the in-process bus), and agents treat a repeat as a no-op.
    pub(crate) async fn startup(&self) {
        if let Err(e) = self.pass().await {
            tracing::error!(error = %e, "startup reconciliation failed");
        }
        match self.store.run(|r| r.list_live_members()).await {
            Ok(members) => {
                for m in members.iter().filter(|m| {
                    matches!(
                        m.state,
                        MemberState::Initialized
                            | MemberState::Starting
                            | MemberState::InMaintenance
                    )
                }) {
                    self.topology.member_state(m).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot re-announce starting members"),
        }
    }

    pub(crate) async fn run_periodic(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            ticker.tick().await;
            if let Err(e) = self.pass().await {
                tracing::error!(error = %e, "reconciliation failed");
            }
        }
    }

    /// One pass over every cloud, concurrently.
    pub(crate) async fn pass(&self) -> Result<ReconcileReport> {
        let timer = std::time::Instant::now();
        let report = self.pass_untimed().await;
        self.metrics.reconcile_pass(timer.elapsed());
        super::free_memory::release_after_pass();
        report
    }

    async fn pass_untimed(&self) -> Result<ReconcileReport> {
        let started = now_ms();
        let clouds: Vec<(String, Arc<dyn Iaas>)> = self
            .clouds
            .all()
            .map(|(t, c)| (t.clone(), c.clone()))
            .collect();
        let results = futures_util::future::join_all(
            clouds
                .iter()
                .map(|(t, cloud)| self.provider_pass(t, cloud.as_ref(), started)),
        )
        .await;
        let mut actions = Vec::new();
        let mut errors = Vec::new();
        for ((provider, _), result) in clouds.iter().zip(results) {
            match result {
                Ok(found) => actions.extend(found),
                Err(e) => {
                    tracing::warn!(provider = %provider, error = %e, "cannot reconcile provider");
                    errors.push(format!("{provider}: {e}"));
                }
            }
        }
        let report = ReconcileReport {
            time: Some(started),
            mode: self.mode,
            actions,
            errors,
            totals: BTreeMap::new(),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = report.clone();
        }
        // Every replica answers GET /api/reconcile with the leader's last pass.
        match serde_json::to_string(&self.report()) {
            Ok(body) => {
                if let Err(e) = self
                    .store
                    .run(move |r| r.put_report(REPORT_NAME, &body))
                    .await
                {
                    tracing::warn!(error = %e, "cannot store the reconciliation report");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode the reconciliation report"),
        }
        Ok(report)
    }

    /// The leader's last pass: this process's own when it leads (time `null` until its
    /// startup pass is over), else the copy the leader keeps in the registry.
    pub(crate) async fn shared_report(&self, leading: bool) -> Result<serde_json::Value> {
        if leading {
            return serde_json::to_value(self.report()).map_err(super::store::internal);
        }
        if let Some(body) = self.store.run(|r| r.get_report(REPORT_NAME)).await? {
            if let Ok(report) = serde_json::from_str(&body) {
                return Ok(report);
            }
            tracing::warn!(
                "the stored reconciliation report is unreadable; showing this replica's"
            );
        }
        serde_json::to_value(self.report()).map_err(super::store::internal)
    }

    async fn provider_pass(
        &self,
        provider_type: &str,
        cloud: &dyn Iaas,
        started: i64,
    ) -> Result<Vec<ReconcileAction>> {
        let instances = self
            .metrics
            .cloud_call(
                provider_type,
                "describe_instances",
                cloud.describe_instances(&InstanceFilter::default()),
            )
            .await
            .map_err(super::store::internal)?;
        let provider = provider_type.to_string();
        let named: Vec<String> = instances
            .iter()
            .filter_map(|i| i.member_id().map(str::to_string))
            .collect();
        let (live, terminated) = self
            .store
            .run(move |r| {
                let live: Vec<Member> = r
                    .list_live_members()?
                    .into_iter()
                    .filter(|m| m.provider_type == provider)
                    .collect();
                // A set, not a scan of `live` per instance: that was quadratic, minutes of
                // string compares per pass at 100,000 members.
                let live_ids: HashSet<&str> = live.iter().map(|m| m.member_id.as_str()).collect();
                let mut terminated = HashMap::new();
                for id in named {
                    if live_ids.contains(id.as_str()) || terminated.contains_key(&id) {
                        continue;
                    }
                    let known = r
                        .get_member(&id)?
                        .map(|m| m.state == MemberState::Terminated);
                    terminated.insert(id, known.unwrap_or(false));
                }
                Ok((live, terminated))
            })
            .await?;
        let skip = |m: &Member| self.actuator.is_busy(&m.member_id) || m.updated_at >= started;
        let actions = plan(
            provider_type,
            &instances,
            &RegistryView {
                live: &live,
                terminated: &terminated,
            },
            &skip,
        );
        for a in &actions {
            tracing::info!(mode = ?self.mode, action = ?a.action, provider = %a.provider_type, instance = ?a.instance_id, member = ?a.member_id, reason = %a.reason, "reconcile");
            if self.mode == ReconcileMode::Act {
                match self.carry_out(a, &live, &instances).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(action = ?a.action, member = ?a.member_id, instance = ?a.instance_id, error = %e, "reconcile action failed; the next pass retries");
                        continue;
                    }
                }
                if let Some(i) = ActionKind::ALL.iter().position(|k| *k == a.action) {
                    self.totals[i].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(actions)
    }

    async fn carry_out(
        &self,
        a: &ReconcileAction,
        live: &[Member],
        instances: &[Instance],
    ) -> Result<bool> {
        let member = || {
            live.iter()
                .find(|m| Some(m.member_id.as_str()) == a.member_id.as_deref())
        };
        match a.action {
            ActionKind::TerminateOrphan => match &a.instance_id {
                Some(id) => self
                    .actuator
                    .terminate_orphan(&a.provider_type, id)
                    .await
                    .map(|()| true),
                None => Ok(false),
            },
            ActionKind::StartMissing => {
                if let Some(m) = member() {
                    self.actuator.start(m.clone(), true);
                }
                Ok(true)
            }
            ActionKind::Adopt => {
                let instance = instances
                    .iter()
                    .find(|i| Some(i.instance_id.as_str()) == a.instance_id.as_deref());
                match (member(), instance) {
                    // Its start may have stopped half-way (no volume, no address yet): the
                    // driver's idempotent start finds the instance and completes it.
                    (Some(m), Some(_)) if m.state == MemberState::Created => {
                        self.actuator.start(m.clone(), true);
                        Ok(true)
                    }
                    (Some(m), Some(i)) => self
                        .actuator
                        .record_instance(&m.member_id, i)
                        .await
                        .map(|_| true),
                    _ => Ok(false),
                }
            }
            ActionKind::MarkVanished => match member() {
                Some(m) => {
                    // Clouds list new instances late (EC2 is eventually consistent): ask once
                    // more for this member before calling its instance gone.
                    let cloud = self.clouds.get(&a.provider_type).ok_or_else(|| {
                        super::store::internal(format!("no cloud for provider {}", a.provider_type))
                    })?;
                    let found = self
                        .actuator
                        .describe_member(&a.provider_type, cloud.as_ref(), &m.member_id)
                        .await
                        .map_err(super::store::internal)?;
                    if found.is_empty() {
                        self.actuator
                            .terminate(m, "instance vanished")
                            .await
                            .map(|()| true)
                    } else {
                        tracing::info!(member = %m.member_id, "instance listed on a second look: not vanished");
                        Ok(false)
                    }
                }
                None => Ok(false),
            },
        }
    }
}

fn kind_name(kind: ActionKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
