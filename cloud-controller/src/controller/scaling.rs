//! The scaling loop: every pass reads the registry, asks the pure autoscaler what each
//! cluster needs, keeps the decision record and turns its actions into intent — committed
//! `Created` members, cleanup requests, terminations — which the actuator carries out in the
//! background. Clusters are evaluated concurrently (at most [`CLUSTER_CONCURRENCY`] at once)
//! and no cloud call is awaited here, so one cluster's slow cloud never delays another's
//! evaluation. Woken by requests, by health stats (at most every [`HEALTH_WAKE_SECONDS`]) and
//! by its period.

use super::actuator::Actuator;
use super::admission::Admission;
use super::cleanup::CleanupTracker;
use super::clouds::Clouds;
use super::decisions::DecisionLog;
use super::definitions::Definitions;
use super::failpoint::crash_point;
use super::heartbeats::Heartbeats;
use super::launch;
use super::leadership::Leadership;
use super::scaling_state::{MemberFacts, ScalingState};
use super::store::{now_secs, Store};
use super::topology::TopologyPublisher;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::naming;
use alto_registry::{Cluster, ClusterStatus, Member, NewMember};
use autoscaler::{EvaluationGate, EvaluationInput, GateDecision, ScalingAction, ScalingSettings};
use futures_util::StreamExt;
use messaging::MemberState;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Clusters evaluated at once.
pub(crate) const CLUSTER_CONCURRENCY: usize = 32;
/// A health stat wakes the loop at most this often (event-driven, rate-limited).
pub(crate) const HEALTH_WAKE_SECONDS: f64 = 0.25;

/// What wakes the scaling loop.
pub(crate) struct ScalingWake {
    notify: Notify,
    gate: Mutex<EvaluationGate>,
    deferred: AtomicBool,
}

impl ScalingWake {
    pub(crate) fn new() -> Arc<ScalingWake> {
        Arc::new(ScalingWake {
            notify: Notify::new(),
            gate: Mutex::new(EvaluationGate::new(HEALTH_WAKE_SECONDS)),
            deferred: AtomicBool::new(false),
        })
    }

    /// Something changed (a subscription, an unsubscribe): evaluate now.
    pub(crate) fn now(&self) {
        self.notify.notify_one();
    }

    /// A health stat arrived: evaluate now, or once the gate's interval is over (one delayed
    /// wake at a time), so a stat never waits for the periodic pass.
    pub(crate) fn for_health(self: &Arc<Self>) {
        let now = now_secs();
        let decision = match self.gate.lock() {
            Ok(mut gate) => gate.request(now),
            Err(_) => GateDecision::Now,
        };
        match decision {
            GateDecision::Now => self.notify.notify_one(),
            GateDecision::At(at) => {
                if self.deferred.swap(true, Ordering::SeqCst) {
                    return;
                }
                let me = self.clone();
                let delay = Duration::from_secs_f64((at - now).clamp(0.0, HEALTH_WAKE_SECONDS));
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    me.deferred.store(false, Ordering::SeqCst);
                    if let Ok(mut gate) = me.gate.lock() {
                        gate.due(now_secs());
                    }
                    me.notify.notify_one();
                });
            }
        }
    }

    async fn wait(&self, period: Duration) {
        tokio::select! {
            _ = self.notify.notified() => {}
            _ = tokio::time::sleep(period) => {}
        }
    }
}

pub(crate) struct ScalingLoop {
    pub(crate) store: Store,
    pub(crate) definitions: Arc<Definitions>,
    pub(crate) clouds: Arc<Clouds>,
    pub(crate) admission: Arc<Admission>,
    pub(crate) topology: Arc<TopologyPublisher>,
    pub(crate) scaling: Arc<ScalingState>,
    pub(crate) decisions: Arc<DecisionLog>,
    pub(crate) heartbeats: Arc<Heartbeats>,
    pub(crate) cleanup: Arc<CleanupTracker>,
    pub(crate) actuator: Arc<Actuator>,
    pub(crate) wake: Arc<ScalingWake>,
    /// The autoscaler's tunables; each cluster's thresholds come from its autoscale policy.
    pub(crate) template: ScalingSettings,
    pub(crate) period: Duration,
    /// Every start decided here is committed with the term's fence.
    pub(crate) leadership: Arc<Leadership>,
    /// Decisions are counted by outcome.
    pub(crate) metrics: Arc<Metrics>,
}

impl ScalingLoop {
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.pass().await {
                tracing::error!(error = %e, "scaling pass failed");
            }
            super::free_memory::release_after_pass();
            self.wake.wait(self.period).await;
        }
    }

    async fn pass(&self) -> Result<()> {
        let (clusters, members) = self
            .store
            .run(|r| Ok((r.list_clusters(None, false)?, r.list_live_members()?)))
            .await?;
        {
            let live: HashSet<&str> = members.iter().map(|m| m.member_id.as_str()).collect();
            self.heartbeats.retain(&live);
            self.cleanup.retain(&live);
            self.actuator.retain(&live);
            self.scaling
                .retain_clusters(&clusters.iter().map(|c| c.cluster_id.as_str()).collect());
        }
        // Terminations recorded but not finished (a restart, a failed call due for a retry).
        self.actuator.resume(&members);
        let mut by_cluster: HashMap<String, Vec<Member>> = HashMap::new();
        for m in members {
            by_cluster.entry(m.cluster_id.clone()).or_default().push(m);
        }
        let work: Vec<(Cluster, Vec<Member>)> = clusters
            .into_iter()
            .map(|c| {
                let members = by_cluster.remove(&c.cluster_id).unwrap_or_default();
                (c, members)
            })
            .collect();
        futures_util::stream::iter(work)
            .for_each_concurrent(CLUSTER_CONCURRENCY, |(cluster, members)| async move {
                let result = match cluster.status {
                    ClusterStatus::Terminating => self.teardown(&cluster, &members).await,
                    ClusterStatus::Removed => Ok(()),
                    _ => self.evaluate(&cluster, &members).await,
                };
                if let Err(e) = result {
                    tracing::error!(cluster = %cluster.cluster_id, error = %e, "cluster pass failed");
                }
            })
            .await;
        Ok(())
    }

    /// The controller's tunables, overridden by what the autoscale policy sets (its
    /// thresholds, dry run and `<scaling>`), read afresh for every evaluation.
    fn settings(&self, autoscale_policy: &str) -> ScalingSettings {
        let policy = self.definitions.autoscale(autoscale_policy);
        let mut settings = self.template.clone();
        settings.thresholds = policy.thresholds;
        settings.dry_run |= policy.dry_run;
        let o = &policy.scaling;
        let set = |slot: &mut f64, value: Option<f64>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(
            &mut settings.scale_up_cooldown_seconds,
            o.scale_up_cooldown_seconds,
        );
        set(
            &mut settings.scale_down_cooldown_seconds,
            o.scale_down_cooldown_seconds,
        );
        set(
            &mut settings.scale_down_stabilization_seconds,
            o.scale_down_stabilization_seconds,
        );
        set(
            &mut settings.pending_timeout_seconds,
            o.pending_timeout_seconds,
        );
        set(&mut settings.fault_timeout_seconds, o.fault_timeout_seconds);
        set(&mut settings.window_seconds, o.window_seconds);
        if let Some(step) = o.max_scale_up_step {
            settings.max_scale_up_step = step;
        }
        settings
    }

    /// Evaluate one cluster (minimum, faults, expiry, scaling by load), keep the decision
    /// record, and turn its actions into intent.
    async fn evaluate(&self, cluster: &Cluster, members: &[Member]) -> Result<()> {
        let (_, policy) = match self
            .definitions
            .resolve(&cluster.service_name, &cluster.deployment_policy)
        {
            Ok(resolved) => resolved,
            Err(e) => {
                tracing::warn!(cluster = %cluster.cluster_id, error = %e, "cannot resolve cluster policies");
                return Ok(());
            }
        };
        for member in self.cleanup.follow_up(members).await {
            tracing::warn!(member = %member.member_id, "no ReadyToShutdown before the termination timeout; terminating anyway");
            self.actuator
                .terminate(member, "termination timeout")
                .await?;
        }
        let mut settings = self.settings(&cluster.autoscale_policy);
        // The start budget of one evaluation is at least a second's worth of the fastest
        // provider's start rate: a brake on runaway spawning, not a cap below what the
        // operator allowed (members still starting count toward capacity, so nothing is
        // started twice).
        let fastest = policy
            .network_partitions
            .iter()
            .flat_map(|np| np.partitions.iter())
            .filter_map(|p| self.admission.starts_per_second(&p.provider_type))
            .fold(0.0, f64::max);
        settings.max_starts_per_evaluation = settings
            .max_starts_per_evaluation
            .max(fastest.ceil().min(u32::MAX as f64) as u32);
        let bus_up = self
            .heartbeats
            .bus_is_up(self.topology.bus().as_ref())
            .await;
        let now = now_secs();
        let (statuses, memory) = self.scaling.prepare(
            &cluster.cluster_id,
            members,
            &settings,
            |m| MemberFacts {
                // While the bus is down silence proves nothing.
                last_heard_at: if bus_up {
                    self.heartbeats.last_heard_at(&m.member_id, now)
                } else {
                    Some(now)
                },
                leaving: m.cleanup_requested_at.is_some(),
            },
            now,
        );
        let np_ids: Vec<&str> = policy
            .network_partitions
            .iter()
            .map(|np| np.id.as_str())
            .collect();
        let np_health =
            self.scaling
                .network_partition_health(&cluster.cluster_id, &np_ids, &statuses, now);
        let record = autoscaler::evaluate(
            &EvaluationInput {
                cluster_id: &cluster.cluster_id,
                deployment_policy: &policy,
                settings: &settings,
                members: &statuses,
                network_partition_health: &np_health,
            },
            &memory,
            now,
        );
        self.metrics.decision(&record);
        self.decisions.keep(&record).await?;
        // The one place that actuates; `actions()` is empty for a dry run. Starts are
        // committed together, one batch per provider.
        let mut starts = Vec::new();
        for action in record.actions() {
            match action {
                ScalingAction::StartMember {
                    network_partition_id,
                    partition_id,
                    provider_type,
                    ..
                } => starts.push(PlannedStart {
                    network_partition_id,
                    partition_id,
                    provider_type,
                }),
                _ => self.act(members, action).await?,
            }
        }
        self.admit_starts(cluster, &starts).await?;
        self.scaling.commit(&cluster.cluster_id, &record, &settings);
        let active = members
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .count() as u32;
        // Active once its minimum is: a scale-up planned on top (load, a dry run) does not
        // keep a running cluster `Created`.
        if cluster.status == ClusterStatus::Created && active >= policy.min() {
            let id = cluster.cluster_id.clone();
            self.store
                .run(move |r| r.set_cluster_status(&id, ClusterStatus::Active))
                .await?;
        }
        Ok(())
    }

    /// Carry out a decision's action other than a start.
    async fn act(&self, members: &[Member], action: &ScalingAction) -> Result<()> {
        let member = |id: &str| members.iter().find(|m| m.member_id == id);
        match action {
            // Committed in batches by `admit_starts`.
            ScalingAction::StartMember { .. } => Ok(()),
            ScalingAction::TerminateMember { member_id, .. } => match member(member_id) {
                // Nobody on the instance could clean up yet: terminate at once.
                Some(m) if matches!(m.state, MemberState::Created | MemberState::Initialized) => {
                    self.actuator.terminate(m, "scaled down").await
                }
                Some(m) => self.cleanup.request(m, "scaled down").await,
                None => Ok(()),
            },
            ScalingAction::MarkFaulty {
                member_id,
                silent_seconds,
                ..
            } => match member(member_id) {
                Some(m) => {
                    let reason = format!("faulty: silent {silent_seconds:.0}s");
                    tracing::warn!(member = %member_id, %reason, "member faulty");
                    // Its agent is gone: nobody would clean up, so terminate at once.
                    self.heartbeats.forget(member_id);
                    self.actuator.terminate(m, &reason).await
                }
                None => Ok(()),
            },
            ScalingAction::ExpirePending {
                member_id,
                pending_seconds,
                ..
            } => match member(member_id) {
                Some(m) => {
                    let reason = format!("expired: not Active after {pending_seconds:.0}s");
                    self.actuator.terminate(m, &reason).await
                }
                None => Ok(()),
            },
        }
    }

    /// Intent before action: quota checked, then the members' rows (state `Created`, with the
    /// tags their instances will carry) committed in one fenced transaction per provider; the
    /// actuator starts them at the cloud's pace.
    async fn admit_starts(&self, cluster: &Cluster, starts: &[PlannedStart<'_>]) -> Result<()> {
        let mut by_provider: HashMap<&str, Vec<&PlannedStart>> = HashMap::new();
        for start in starts {
            by_provider
                .entry(start.provider_type)
                .or_default()
                .push(start);
        }
        for (provider_type, planned) in by_provider {
            if self.clouds.get(provider_type).is_none() {
                tracing::warn!(cluster = %cluster.cluster_id, provider = provider_type, "no cloud for provider; cannot start");
                continue;
            }
            // Quota check and member rows are one step per provider, so concurrent clusters
            // cannot both take the last free slots.
            let admitted = self.admission.commit_lock(provider_type).await;
            let (room, refusal) = self
                .admission
                .check_quota(&self.store, cluster.tenant_id, provider_type, planned.len())
                .await?;
            if let Some(refusal) = refusal {
                tracing::warn!(cluster = %cluster.cluster_id, provider = provider_type, refused = planned.len() - room, error = %refusal, "starts refused");
                for start in &planned[room..] {
                    self.scaling.record_start(
                        &cluster.cluster_id,
                        start.partition_id,
                        Some(&refusal),
                        now_secs(),
                    );
                }
            }
            let new_members: Vec<NewMember> = planned[..room]
                .iter()
                .map(|start| {
                    let member_id = naming::member_id(&cluster.cluster_id);
                    NewMember {
                        tags: launch::member_tags(&member_id, &cluster.cluster_id),
                        member_id,
                        cluster_id: cluster.cluster_id.clone(),
                        tenant_id: cluster.tenant_id,
                        service_name: cluster.service_name.clone(),
                        network_partition_id: start.network_partition_id.to_string(),
                        partition_id: start.partition_id.to_string(),
                        provider_type: provider_type.to_string(),
                    }
                })
                .collect();
            if new_members.is_empty() {
                continue;
            }
            let fence = self.leadership.acting()?;
            let outcomes = self
                .store
                .run(move |r| r.insert_members(Some(&fence), new_members))
                .await?;
            drop(admitted);
            crash_point("after-member-commit");
            let mut committed = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                match outcome {
                    Ok(member) => committed.push(member),
                    // A fresh id already taken: that start is skipped; the next pass plans it again.
                    Err(e) => {
                        tracing::warn!(cluster = %cluster.cluster_id, error = %e, "member not committed")
                    }
                }
            }
            for member in &committed {
                self.topology.member_state(member).await;
            }
            self.actuator.start_all(committed, false);
        }
        Ok(())
    }
}

/// A start the autoscaler decided: where it goes.
struct PlannedStart<'a> {
    network_partition_id: &'a str,
    partition_id: &'a str,
    provider_type: &'a str,
}
