//! Graceful removal: a member whose agent reported is asked to clean up
//! (`InstanceCleanupMemberEvent`); its agent answers with maintenance mode and
//! `InstanceReadyToShutdownEvent`, and only then is the instance terminated. A member that does
//! not answer within the termination timeout is terminated anyway.
//!
//! The request is recorded in the registry (the member's `cleanup_requested_at` and reason)
//! before the event is sent, so after a restart the timeout still runs from the first request
//! and the request is sent again (agents treat a repeat as a no-op).

use super::leadership::Leadership;
use super::store::{now_ms, Store};
use super::topology::TopologyPublisher;
use crate::error::Result;
use alto_registry::Member;
use messaging::events::InstanceCleanupMemberEvent;
use messaging::Event;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request not answered yet is sent again this often: an event to an agent can be lost
/// (an agent that had not subscribed yet after a restart of either side, a lossy MQTT
/// session), and agents treat a repeat as a no-op. The termination timeout still runs from
/// the first request.
const RESEND_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) struct CleanupTracker {
    store: Store,
    topology: Arc<TopologyPublisher>,
    timeout: Duration,
    leadership: Arc<Leadership>,
    /// Members this process has sent the request to, and when it last did.
    sent: Mutex<HashMap<String, Instant>>,
}

impl CleanupTracker {
    pub(crate) fn new(
        store: Store,
        topology: Arc<TopologyPublisher>,
        timeout: Duration,
        leadership: Arc<Leadership>,
    ) -> Self {
        CleanupTracker {
            store,
            topology,
            timeout,
            leadership,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Record the request (once; the first reason is kept; only while this replica's term is
    /// current) and send it.
    pub(crate) async fn request(&self, member: &Member, reason: &str) -> Result<()> {
        if member.cleanup_requested_at.is_none() {
            let fence = self.leadership.acting()?;
            let (id, why) = (member.member_id.clone(), reason.to_string());
            self.store
                .run(move |r| r.request_cleanup(Some(&fence), &id, &why))
                .await?;
        }
        self.send(member).await;
        Ok(())
    }

    /// Send the request unless this process did within [`RESEND_INTERVAL`]; one the bus
    /// refused (an outage) is sent again by the next pass.
    async fn send(&self, member: &Member) {
        let member_id = member.member_id.as_str();
        let recent = self.sent.lock().is_ok_and(|s| {
            s.get(member_id)
                .is_some_and(|at| at.elapsed() < RESEND_INTERVAL)
        });
        if recent {
            return;
        }
        let sent = self
            .topology
            .try_publish_for(
                member.tenant_id,
                &member.service_name,
                &Event::InstanceCleanupMemberEvent(InstanceCleanupMemberEvent {
                    member_id: member_id.to_string(),
                }),
            )
            .await;
        if sent {
            if let Ok(mut s) = self.sent.lock() {
                s.insert(member_id.to_string(), Instant::now());
            }
        }
    }

    /// For members with a recorded request: send it again if this process has not lately (a
    /// restart or a lost event), and return those whose agent did not answer in time.
    pub(crate) async fn follow_up<'a>(&self, members: &'a [Member]) -> Vec<&'a Member> {
        let now = now_ms();
        let mut overdue = Vec::new();
        for m in members {
            let Some(at) = m.cleanup_requested_at else {
                continue;
            };
            if m.state == messaging::MemberState::ReadyToShutDown {
                continue;
            }
            if now.saturating_sub(at) >= self.timeout.as_millis() as i64 {
                overdue.push(m);
            } else {
                self.send(m).await;
            }
        }
        overdue
    }

    /// Forget members no longer live.
    pub(crate) fn retain(&self, live: &HashSet<&str>) {
        if let Ok(mut s) = self.sent.lock() {
            s.retain(|id, _| live.contains(id.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::definitions::Definitions;
    use async_trait::async_trait;
    use messaging::{Bus, BusError, Subscription, SubscriptionSpec};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Refuses the first `refuse` publishes (a broker outage), then records them.
    struct OutageBus {
        refuse: AtomicUsize,
        published: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Bus for OutageBus {
        async fn publish(&self, event: &Event) -> Result<(), BusError> {
            if self
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(BusError::Unavailable("broker down".into()));
            }
            if let Event::InstanceCleanupMemberEvent(e) = event {
                self.published.lock().unwrap().push(e.member_id.clone());
            }
            Ok(())
        }

        async fn subscribe(&self, _spec: SubscriptionSpec) -> Result<Subscription, BusError> {
            Err(BusError::Unavailable("not in this test".into()))
        }
    }

    #[tokio::test]
    async fn a_request_the_bus_refused_is_sent_again_and_then_not_repeated() {
        let dir = std::env::temp_dir().join(format!("alto-cleanup-{}", uuid::Uuid::new_v4()));
        let registry =
            alto_registry::Registry::open(&dir.join("registry.db").display().to_string()).unwrap();
        let store = Store::new(registry);
        let definitions = Arc::new(Definitions::load(&store, None).await.unwrap());
        let bus = Arc::new(OutageBus {
            refuse: AtomicUsize::new(1),
            published: Mutex::new(Vec::new()),
        });
        let leadership = Arc::new(Leadership::new(
            store.clone(),
            iaas::Caller::new("test"),
            Duration::from_secs(10),
        ));
        let tracker = CleanupTracker::new(
            store,
            Arc::new(TopologyPublisher::new(
                bus.clone(),
                Arc::new(crate::controller::tenant_bus::TenantBuses::shared()),
                definitions,
            )),
            Duration::from_secs(60),
            leadership,
        );
        let m1 =
            crate::controller::test_support::member("m1", messaging::MemberState::Active, None);
        tracker.send(&m1).await;
        assert!(
            bus.published.lock().unwrap().is_empty(),
            "the outage refused it"
        );
        tracker.send(&m1).await;
        tracker.send(&m1).await;
        assert_eq!(
            *bus.published.lock().unwrap(),
            ["m1"],
            "sent once it could be"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
