//! The actuator: the one place that calls clouds to start and terminate instances.
//!
//! Callers commit intent first — a `Created` member row, or `ReadyToShutDown` with a reason —
//! then hand the member here and go on: nothing that consumes events or evaluates clusters
//! ever waits for a cloud. Each call runs in its own task under its provider's admission
//! (start rate, worker cap), so a slow or failing cloud delays only its own members. A member
//! has at most one call in flight; the registry rows are the durable queue (a restarted
//! controller finds `Created` and `ReadyToShutDown` members and hands them here again). Every
//! driver's start is idempotent per member, so a retried start finds the member's instance
//! and completes it instead of creating a second one.

use super::admission::Admission;
use super::clouds::Clouds;
use super::definitions::Definitions;
use super::failpoint::crash_point;
use super::grants::PayloadGrants;
use super::group_commit::GroupCommitter;
use super::heartbeats::Heartbeats;
use super::launch;
use super::leadership::Leadership;
use super::scaling_state::ScalingState;
use super::store::{internal, now_secs, Store};
use super::tenant_bus::TenantBuses;
use super::topology::TopologyPublisher;
use crate::agent_endpoints::AgentEndpoints;
use crate::error::{ControllerError, Result};
use crate::metrics::Metrics;
use alto_registry::{
    Cluster, Fence, Member, MemberInstance, MemberWrite, RegistryError, Transition,
};
use iaas::{Iaas, Instance, InstanceFilter, InstanceSpec};
use messaging::MemberState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A failed termination is retried after this, doubling up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(2);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(120);
/// Most starts re-checked and fenced in one registry round (what the start rate lets through
/// at once, up to this).
const START_GROUP: usize = 1_000;

/// A start ready to go out: its member, the cloud and the instance to ask for.
struct PreparedStart {
    member: Member,
    cluster_id: String,
    cloud: Arc<dyn Iaas>,
    spec: InstanceSpec,
}

pub(crate) struct Actuator {
    store: Store,
    definitions: Arc<Definitions>,
    clouds: Arc<Clouds>,
    admission: Arc<Admission>,
    grants: Arc<PayloadGrants>,
    topology: Arc<TopologyPublisher>,
    scaling: Arc<ScalingState>,
    heartbeats: Arc<Heartbeats>,
    leadership: Arc<Leadership>,
    metrics: Arc<Metrics>,
    tenant_buses: Arc<TenantBuses>,
    /// Broker and health receiver addresses for the payload.
    endpoints: Arc<AgentEndpoints>,
    /// Start results and state changes are committed in groups.
    committer: Arc<GroupCommitter>,
    /// Members with a cloud call in flight.
    busy: Mutex<HashSet<String>>,
    /// Members whose termination failed: not before this, and how many failures so far.
    retry_at: Mutex<HashMap<String, (Instant, u32)>>,
}

/// The parts the actuator works with.
pub(crate) struct ActuatorParts {
    pub store: Store,
    pub definitions: Arc<Definitions>,
    pub clouds: Arc<Clouds>,
    pub admission: Arc<Admission>,
    pub grants: Arc<PayloadGrants>,
    pub topology: Arc<TopologyPublisher>,
    pub scaling: Arc<ScalingState>,
    pub heartbeats: Arc<Heartbeats>,
    /// Only the leader calls the clouds, each call's intent fenced with its term's token.
    pub leadership: Arc<Leadership>,
    /// Every cloud call is counted and timed here.
    pub metrics: Arc<Metrics>,
    /// Each member's payload names its tenant's virtual host.
    pub tenant_buses: Arc<TenantBuses>,
    pub endpoints: Arc<AgentEndpoints>,
    pub committer: Arc<GroupCommitter>,
}

impl Actuator {
    pub(crate) fn new(parts: ActuatorParts) -> Actuator {
        Actuator {
            store: parts.store,
            definitions: parts.definitions,
            clouds: parts.clouds,
            admission: parts.admission,
            grants: parts.grants,
            topology: parts.topology,
            scaling: parts.scaling,
            heartbeats: parts.heartbeats,
            leadership: parts.leadership,
            metrics: parts.metrics,
            tenant_buses: parts.tenant_buses,
            endpoints: parts.endpoints,
            committer: parts.committer,
            busy: Mutex::new(HashSet::new()),
            retry_at: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn is_busy(&self, member_id: &str) -> bool {
        self.busy.lock().is_ok_and(|b| b.contains(member_id))
    }

    fn claim(&self, member_id: &str) -> bool {
        self.busy
            .lock()
            .is_ok_and(|mut b| b.insert(member_id.to_string()))
    }

    fn release(&self, member_id: &str) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(member_id);
        }
    }

    /// Start the instance of a committed `Created` member. `may_exist`: the member may
    /// already have an instance (a start from before a restart); the driver's idempotent start
    /// finds and completes it.
    pub(crate) fn start(self: &Arc<Self>, member: Member, may_exist: bool) {
        self.start_all(vec![member], may_exist);
    }

    /// Start the instances of committed `Created` members (a scale-up's batch), each
    /// provider's at its own pace. A member with a call in flight is skipped.
    pub(crate) fn start_all(self: &Arc<Self>, members: Vec<Member>, may_exist: bool) {
        if self.leadership.fence().is_none() {
            tracing::debug!(
                members = members.len(),
                "not leading: the leader starts them"
            );
            return;
        }
        let mut by_provider: HashMap<String, VecDeque<Member>> = HashMap::new();
        for member in members {
            if !self.claim(&member.member_id) {
                tracing::debug!(member = %member.member_id, "a call for this member is in flight");
                continue;
            }
            by_provider
                .entry(member.provider_type.clone())
                .or_default()
                .push_back(member);
        }
        for (provider, queue) in by_provider {
            let me = self.clone();
            tokio::spawn(async move { me.run_starts(&provider, queue, may_exist).await });
        }
    }

    /// Issue one provider's starts as its start rate admits them: every group the rate lets
    /// through at once is re-checked, prepared and fenced in one registry round each, then its
    /// calls go out concurrently (each under a worker permit).
    async fn run_starts(
        self: Arc<Self>,
        provider: &str,
        mut queue: VecDeque<Member>,
        may_exist: bool,
    ) {
        while !queue.is_empty() {
            self.admission.wait_start(provider).await;
            let mut group: Vec<Member> = queue.drain(..1).collect();
            while group.len() < START_GROUP
                && !queue.is_empty()
                && self.admission.try_start(provider)
            {
                group.extend(queue.pop_front());
            }
            let ids: Vec<String> = group.iter().map(|m| m.member_id.clone()).collect();
            match self.start_group(group, may_exist).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(members = ids.len(), error = %e, "starts not issued; the next reconciliation retries them");
                    for id in &ids {
                        self.release(id);
                    }
                }
            }
        }
    }

    /// Re-check, prepare and fence one group of starts, then hand each to its own call.
    /// Members this returns without a call are released here.
    async fn start_group(self: &Arc<Self>, group: Vec<Member>, may_exist: bool) -> Result<()> {
        // Still wanted? (An unsubscribe may have come while they waited for the rate.)
        let ids: Vec<String> = group.iter().map(|m| m.member_id.clone()).collect();
        let current: HashMap<String, MemberState> = self
            .store
            .run(move |r| r.get_members(&ids))
            .await?
            .into_iter()
            .map(|m| (m.member_id, m.state))
            .collect();
        let mut clusters: HashMap<String, Option<Cluster>> = HashMap::new();
        let mut ready = Vec::with_capacity(group.len());
        for member in group {
            let state = current.get(&member.member_id).copied();
            if state != Some(MemberState::Created) {
                tracing::debug!(member = %member.member_id, ?state, "start no longer wanted");
                self.release(&member.member_id);
                continue;
            }
            if !clusters.contains_key(&member.cluster_id) {
                let id = member.cluster_id.clone();
                let cluster = self.store.run(move |r| r.get_cluster(&id)).await?;
                clusters.insert(member.cluster_id.clone(), cluster);
            }
            let cluster = clusters.get(&member.cluster_id).cloned().flatten();
            match self.prepare_start(&member, cluster, may_exist).await {
                Ok(Some(start)) => ready.push(start),
                Ok(None) => self.release(&member.member_id),
                Err(e) => {
                    tracing::warn!(member = %member.member_id, error = %e, "start not prepared; the next reconciliation retries it");
                    self.release(&member.member_id);
                }
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        // Intent before action, for the whole group in one fenced transaction.
        let fence = self.leadership.acting()?;
        let ids: Vec<String> = ready.iter().map(|s| s.member.member_id.clone()).collect();
        let recorded = self
            .store
            .run(move |r| r.record_cloud_actions(&fence, &ids))
            .await;
        let recorded = match recorded.and_then(|r| self.leadership.acting().map(|_| r)) {
            Ok(recorded) => recorded,
            Err(e) => {
                for s in &ready {
                    self.release(&s.member.member_id);
                }
                return Err(e);
            }
        };
        for (start, outcome) in ready.into_iter().zip(recorded) {
            if let Err(e) = outcome {
                tracing::debug!(member = %start.member.member_id, error = %e, "start no longer wanted");
                self.release(&start.member.member_id);
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move { me.call_start(start).await });
        }
        Ok(())
    }

    /// What a member's start call needs; `None` when the member ended instead (no cloud, no
    /// cluster, a payload the format cannot carry: those will not get better).
    async fn prepare_start(
        &self,
        member: &Member,
        cluster: Option<Cluster>,
        may_exist: bool,
    ) -> Result<Option<PreparedStart>> {
        let Some(cloud) = self.clouds.get(&member.provider_type) else {
            let why = format!("no usable cloud for provider {}", member.provider_type);
            self.start_failed(member, &why).await?;
            return Ok(None);
        };
        let Some(cluster) = cluster else {
            self.start_failed(member, "its cluster is gone").await?;
            return Ok(None);
        };
        let cartridge = match self.definitions.cartridge(&cluster.service_name) {
            Ok(c) => c,
            Err(e) => {
                self.start_failed(member, &e.to_string()).await?;
                return Ok(None);
            }
        };
        if may_exist {
            // Every driver's start is idempotent per member: asked again, it returns the
            // member's instance and finishes what the first attempt left undone (addresses,
            // volumes), so a recovered start goes through the same call.
            tracing::info!(member = %member.member_id, "resuming a start from before a restart");
        }
        let broker = self.tenant_buses.agent_keys(cluster.tenant_id).await?;
        let line = match launch::payload_line(
            &cartridge,
            &cluster,
            member,
            broker.as_ref(),
            &self.endpoints,
        ) {
            Ok(line) => line,
            Err(e) => {
                self.start_failed(member, &e.to_string()).await?;
                return Ok(None);
            }
        };
        let user_data = self
            .grants
            .user_data(&member.member_id, line, cloud.capabilities())
            .await?;
        let spec = launch::instance_spec(
            &self.definitions,
            &cluster,
            member,
            &cartridge,
            user_data,
            cloud.capabilities(),
        )?;
        Ok(Some(PreparedStart {
            member: member.clone(),
            cluster_id: cluster.cluster_id,
            cloud,
            spec,
        }))
    }

    /// One start call, its intent already committed; then its result recorded.
    async fn call_start(self: Arc<Self>, start: PreparedStart) {
        let member = &start.member;
        let id = member.member_id.clone();
        let outcome = {
            let _worker = self.admission.worker_permit(&member.provider_type).await;
            tracing::info!(member = %id, cluster = %start.cluster_id, partition = %member.partition_id, provider = %member.provider_type, "starting member");
            self.metrics
                .cloud_call(
                    &member.provider_type,
                    "start_instance",
                    start.cloud.start_instance(&start.spec),
                )
                .await
        };
        crash_point("after-start-call");
        self.scaling.record_start(
            &member.cluster_id,
            &member.partition_id,
            outcome.as_ref().err(),
            now_secs(),
        );
        let recorded = match outcome {
            Ok(instance) => self.record_instance(&id, &instance).await,
            Err(e) => {
                tracing::warn!(member = %id, error = %e, "start failed");
                self.start_failed(member, &e.to_string())
                    .await
                    .map(|()| None)
            }
        };
        self.release(&id);
        match recorded {
            // Terminated while its start was in flight: finish that now.
            Ok(Some(MemberState::ReadyToShutDown)) => {
                let id2 = id.clone();
                if let Ok(Some(m)) = self.store.run(move |r| r.get_member(&id2)).await {
                    if m.state == MemberState::ReadyToShutDown {
                        self.finish_termination(m);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(member = %id, error = %e, "start not completed; the next reconciliation retries it");
            }
        }
    }

    /// Record the intent of a cloud call for the member with this term's fencing token (the
    /// registry refuses it once the term is over), then look at the term's deadline once more
    /// right before the call goes out.
    async fn commit_to_call(&self, member_id: &str) -> Result<()> {
        let fence = self.leadership.acting()?;
        let id = member_id.to_string();
        self.store
            .run(move |r| r.record_cloud_action(&fence, &id))
            .await?;
        self.leadership.acting().map(drop)
    }

    /// The cloud refused (or cannot be asked): the member ends without an instance.
    async fn start_failed(&self, member: &Member, message: &str) -> Result<()> {
        let (id, message) = (member.member_id.clone(), message.to_string());
        let outcome = self
            .store
            .run(move |r| {
                r.set_member_error(&id, &message)?;
                r.transition_member(&id, MemberState::Terminated)
            })
            .await;
        // An illegal move: it moved on meanwhile (an agent reported, or it is leaving).
        self.announce_if_moved(outcome).await
    }

    /// Publish the member's new state when the transition moved it. A transition the member
    /// has moved past is not an error: the caller's fact is recorded either way.
    async fn announce_if_moved(&self, outcome: Result<Transition>) -> Result<()> {
        match outcome {
            Ok(Transition::Moved { member, .. }) => {
                self.topology.member_state(&member).await;
                Ok(())
            }
            Ok(Transition::Unchanged(_)) => Ok(()),
            Err(ControllerError::Registry(RegistryError::IllegalTransition { .. })) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Record the instance a member runs on; a `Created` member becomes `Initialized`.
    /// Returns the state the member is in (`None`: not known, it moved on meanwhile).
    pub(crate) async fn record_instance(
        &self,
        member_id: &str,
        instance: &Instance,
    ) -> Result<Option<MemberState>> {
        let outcome = self
            .committer
            .write(MemberWrite::Instance(MemberInstance {
                member_id: member_id.to_string(),
                instance_id: instance.instance_id.clone(),
                private_ips: instance.private_ips.clone(),
                public_ips: instance.public_ips.clone(),
            }))
            .await;
        // Already further along (its agent reported first) or leaving: the instance id is
        // recorded either way.
        let state = match &outcome {
            Ok(Transition::Moved { member, .. } | Transition::Unchanged(member)) => {
                Some(member.state)
            }
            Err(ControllerError::Registry(RegistryError::IllegalTransition { source, .. })) => {
                Some(source.from)
            }
            Err(_) => None,
        };
        self.announce_if_moved(outcome).await?;
        Ok(state)
    }

    /// Termination decided by the leader (scale-down, fault, expiry, unsubscribe, a vanished
    /// instance): intent (`ReadyToShutDown` and the reason) is committed now, fenced with the
    /// term's token; the cloud is asked in the background. The first reason recorded is kept.
    pub(crate) async fn terminate(self: &Arc<Self>, member: &Member, reason: &str) -> Result<()> {
        let fence = self.leadership.acting()?;
        self.commit_termination(member, reason, Some(fence)).await
    }

    /// Termination an agent asked for (`InstanceReadyToShutdownEvent`): a fact any replica
    /// records; the leader's actuator calls the cloud.
    pub(crate) async fn terminate_on_request(
        self: &Arc<Self>,
        member: &Member,
        reason: &str,
    ) -> Result<()> {
        self.commit_termination(member, reason, None).await
    }

    async fn commit_termination(
        self: &Arc<Self>,
        member: &Member,
        reason: &str,
        fence: Option<Fence>,
    ) -> Result<()> {
        let (id, why) = (member.member_id.clone(), reason.to_string());
        let moved = self
            .store
            .run(move |r| r.request_termination(fence.as_ref(), &id, &why))
            .await;
        let member = match moved {
            Ok(Transition::Moved { member, .. }) => {
                self.topology.member_state(&member).await;
                member
            }
            Ok(Transition::Unchanged(member)) => member,
            // Already Terminated.
            Err(ControllerError::Registry(RegistryError::IllegalTransition { .. })) => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        tracing::info!(member = %member.member_id, reason, "terminating member");
        self.finish_termination(member);
        Ok(())
    }

    /// Ask the cloud to terminate a `ReadyToShutDown` member's instance (unless a call for it
    /// is in flight, or its last failure is too recent), then mark it `Terminated`.
    pub(crate) fn finish_termination(self: &Arc<Self>, member: Member) {
        if self.leadership.fence().is_none() {
            tracing::debug!(member = %member.member_id, "not leading: the leader terminates it");
            return;
        }
        let now = Instant::now();
        let waiting = self
            .retry_at
            .lock()
            .is_ok_and(|r| r.get(&member.member_id).is_some_and(|(at, _)| *at > now));
        if waiting || !self.claim(&member.member_id) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let id = member.member_id.clone();
            match me.run_terminate(&member).await {
                Ok(()) => {
                    if let Ok(mut r) = me.retry_at.lock() {
                        r.remove(&id);
                    }
                }
                Err(e) => {
                    let failures = me.note_failure(&id);
                    tracing::warn!(member = %id, error = %e, failures, "terminate failed; will retry");
                }
            }
            me.release(&id);
        });
    }

    fn note_failure(&self, member_id: &str) -> u32 {
        let Ok(mut retry) = self.retry_at.lock() else {
            return 0;
        };
        let failures = retry.get(member_id).map(|(_, n)| n + 1).unwrap_or(1);
        let delay = FIRST_RETRY_DELAY
            .saturating_mul(1u32 << (failures - 1).min(16))
            .min(MAX_RETRY_DELAY);
        retry.insert(member_id.to_string(), (Instant::now() + delay, failures));
        failures
    }

    async fn run_terminate(&self, member: &Member) -> Result<()> {
        let cloud = self.clouds.get(&member.provider_type).ok_or_else(|| {
            ControllerError::Internal(format!("no cloud for provider {}", member.provider_type))
        })?;
        let _worker = self.admission.worker_permit(&member.provider_type).await;
        self.commit_to_call(&member.member_id).await?;
        // The recorded instance; without one (a start interrupted before its id was recorded)
        // every instance carrying the member's tag. A duplicate is the reconciler's to find.
        let instances: Vec<String> = match &member.instance_id {
            Some(id) => vec![id.clone()],
            None => self
                .describe_member(&member.provider_type, cloud.as_ref(), &member.member_id)
                .await
                .map_err(internal)?
                .into_iter()
                .map(|i| i.instance_id)
                .collect(),
        };
        for instance_id in instances {
            match self
                .metrics
                .cloud_call(
                    &member.provider_type,
                    "terminate_instance",
                    cloud.terminate_instance(&instance_id),
                )
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    let (id, message) = (member.member_id.clone(), e.to_string());
                    self.store
                        .run(move |r| r.set_member_error(&id, &message))
                        .await?;
                    return Err(internal(e));
                }
            }
        }
        if let Transition::Moved { member, .. } = self
            .committer
            .write(MemberWrite::Transition {
                member_id: member.member_id.clone(),
                to: MemberState::Terminated,
            })
            .await?
        {
            self.heartbeats.forget(&member.member_id);
            self.grants.revoke(&member.member_id).await?;
            tracing::info!(member = %member.member_id, reason = member.termination_reason.as_deref().unwrap_or(""), "member terminated");
            self.topology.member_state(&member).await;
        }
        Ok(())
    }

    /// The instances carrying a member's tag (counted and timed like every cloud call).
    pub(crate) async fn describe_member(
        &self,
        provider_type: &str,
        cloud: &dyn Iaas,
        member_id: &str,
    ) -> std::result::Result<Vec<Instance>, iaas::IaasError> {
        let filter = InstanceFilter {
            cluster_id: None,
            member_id: Some(member_id.to_string()),
        };
        self.metrics
            .cloud_call(
                provider_type,
                "describe_instances",
                cloud.describe_instances(&filter),
            )
            .await
    }

    /// Terminate an instance no member owns (an orphan found by reconciliation).
    pub(crate) async fn terminate_orphan(
        &self,
        provider_type: &str,
        instance_id: &str,
    ) -> Result<()> {
        let cloud = self.clouds.get(provider_type).ok_or_else(|| {
            ControllerError::Internal(format!("no cloud for provider {provider_type}"))
        })?;
        let _worker = self.admission.worker_permit(provider_type).await;
        let fence = self.leadership.acting()?;
        self.store.run(move |r| r.check_fence(&fence)).await?;
        self.leadership.acting()?;
        match self
            .metrics
            .cloud_call(
                provider_type,
                "terminate_instance",
                cloud.terminate_instance(instance_id),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(internal(e)),
        }
    }

    /// Resume what the registry says is pending for these members: terminations recorded but
    /// not finished (after a restart, or a failed call whose retry is due).
    pub(crate) fn resume(self: &Arc<Self>, members: &[Member]) {
        for m in members {
            if m.state == MemberState::ReadyToShutDown && !self.is_busy(&m.member_id) {
                self.finish_termination(m.clone());
            }
        }
    }

    /// Forget retry timers of members no longer live.
    pub(crate) fn retain(&self, live: &HashSet<&str>) {
        if let Ok(mut r) = self.retry_at.lock() {
            r.retain(|id, _| live.contains(id.as_str()));
        }
    }
}
