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
use alto_registry::{Fence, Member, RegistryError, Transition};
use iaas::{Iaas, Instance, InstanceFilter};
use messaging::MemberState;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A failed termination is retried after this, doubling up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(2);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(120);

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
        if self.leadership.fence().is_none() {
            tracing::debug!(member = %member.member_id, "not leading: the leader starts it");
            return;
        }
        if !self.claim(&member.member_id) {
            tracing::debug!(member = %member.member_id, "a call for this member is in flight");
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let id = member.member_id.clone();
            if let Err(e) = me.run_start(&member, may_exist).await {
                tracing::warn!(member = %id, error = %e, "start not completed; the next reconciliation retries it");
            }
            me.release(&id);
            // Terminated while its start was in flight: finish that now.
            let id2 = id.clone();
            if let Ok(Some(m)) = me.store.run(move |r| r.get_member(&id2)).await {
                if m.state == MemberState::ReadyToShutDown {
                    me.finish_termination(m);
                }
            }
        });
    }

    async fn run_start(&self, member: &Member, may_exist: bool) -> Result<()> {
        let Some(cloud) = self.clouds.get(&member.provider_type) else {
            return self
                .start_failed(
                    member,
                    &format!("no usable cloud for provider {}", member.provider_type),
                )
                .await;
        };
        let cluster_id = member.cluster_id.clone();
        let Some(cluster) = self.store.run(move |r| r.get_cluster(&cluster_id)).await? else {
            return self.start_failed(member, "its cluster is gone").await;
        };
        let cartridge = match self.definitions.cartridge(&cluster.service_name) {
            Ok(c) => c,
            Err(e) => return self.start_failed(member, &e.to_string()).await,
        };
        let _permit = self.admission.start_permit(&member.provider_type).await;
        // Still wanted? (An unsubscribe may have come while it waited for the rate.)
        let id = member.member_id.clone();
        let current = self.store.run(move |r| r.get_member(&id)).await?;
        if current.as_ref().map(|m| m.state) != Some(MemberState::Created) {
            tracing::debug!(member = %member.member_id, state = ?current.map(|m| m.state), "start no longer wanted");
            return Ok(());
        }
        if may_exist {
            // Every driver's start is idempotent per member: asked again, it returns the
            // member's instance and finishes what the first attempt left undone (addresses,
            // volumes), so a recovered start goes through the same call.
            tracing::info!(member = %member.member_id, "resuming a start from before a restart");
        }
        // A payload the format cannot carry will not get better: the member ends here.
        let broker = self.tenant_buses.agent_keys(cluster.tenant_id).await?;
        let line = match launch::payload_line(
            &cartridge,
            &cluster,
            member,
            broker.as_ref(),
            &self.endpoints,
        ) {
            Ok(line) => line,
            Err(e) => return self.start_failed(member, &e.to_string()).await,
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
        self.commit_to_call(&member.member_id).await?;
        tracing::info!(member = %member.member_id, cluster = %cluster.cluster_id, partition = %member.partition_id, provider = %member.provider_type, "starting member");
        let result = self
            .metrics
            .cloud_call(
                &member.provider_type,
                "start_instance",
                cloud.start_instance(&spec),
            )
            .await;
        crash_point("after-start-call");
        self.scaling.record_start(
            &member.cluster_id,
            &member.partition_id,
            result.as_ref().err(),
            now_secs(),
        );
        match result {
            Ok(instance) => self.record_instance(&member.member_id, &instance).await,
            Err(e) => {
                tracing::warn!(member = %member.member_id, error = %e, "start failed");
                self.start_failed(member, &e.to_string()).await
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
    pub(crate) async fn record_instance(&self, member_id: &str, instance: &Instance) -> Result<()> {
        let (id, instance) = (member_id.to_string(), instance.clone());
        let outcome = self
            .store
            .run(move |r| {
                r.set_member_instance(
                    &id,
                    &instance.instance_id,
                    &instance.private_ips,
                    &instance.public_ips,
                )?;
                r.transition_member(&id, MemberState::Initialized)
            })
            .await;
        // Already further along (its agent reported first) or leaving: the instance id is
        // recorded either way.
        self.announce_if_moved(outcome).await
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
        let id = member.member_id.clone();
        if let Transition::Moved { member, .. } = self
            .store
            .run(move |r| r.transition_member(&id, MemberState::Terminated))
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
