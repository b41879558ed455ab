//! Leadership: which replica acts. Every replica serves the REST API and consumes lifecycle
//! events; only the leader runs the scaling loop, the reconciler and the actuator.
//!
//! The lease lives in the registry (`leader_lease`, see alto-registry's `leadership`): each
//! replica claims it every third of `--leader-lease`; the holder renews it, the others take it
//! once it has run out, with the next fencing token. A leader trusts its own term only until
//! the moment it sent its last successful claim plus the lease — measured on the monotonic
//! clock, so a process stopped (SIGSTOP, a stall, a partition from PostgreSQL) wakes up knowing
//! its term may be over — and every write of an action's intent is checked against the
//! registry's lease in the same transaction ([`Fence`]), so a deposed leader acts on nothing.

use super::store::Store;
use crate::error::{ControllerError, Result};
use alto_registry::{Backend, Fence, Lease, RegistryError};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What `GET /api/leader` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderView {
    /// The replica holding the lease (`null` when nobody does).
    pub leader: Option<String>,
    #[serde(rename = "self")]
    pub self_id: String,
    pub is_leader: bool,
    /// When the current term began (ms since epoch; 0 when nobody leads).
    pub since: i64,
    pub fencing_token: i64,
}

/// This replica's current term, if it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Term {
    pub token: i64,
}

struct Held {
    fence: Fence,
    /// The term is trusted until then (claim sent + lease).
    valid_until: Instant,
}

pub(crate) struct Leadership {
    replica_id: String,
    /// This process (a random id): a restart of the replica is a new term.
    incarnation: String,
    lease: Duration,
    store: Store,
    /// SQLite serves one process (the data-directory lock): the first claim takes over a
    /// lease left by this installation's previous, dead process instead of waiting it out.
    takeover_first: bool,
    /// Shared with the drivers: the token they name on each call (0: not leading).
    caller: iaas::Caller,
    held: Mutex<Option<Held>>,
    /// The token of this replica's latest term (0: it never led), for refusals.
    last_token: std::sync::atomic::AtomicI64,
    /// The last lease read, for `GET /api/leader`.
    seen: Mutex<Option<Lease>>,
    term: watch::Sender<Option<Term>>,
}

impl Leadership {
    pub(crate) fn new(store: Store, caller: iaas::Caller, lease: Duration) -> Leadership {
        let takeover_first = store.backend() == Backend::Sqlite;
        Leadership {
            replica_id: caller.replica_id.clone(),
            incarnation: uuid::Uuid::new_v4().to_string(),
            lease,
            store,
            takeover_first,
            caller,
            held: Mutex::new(None),
            last_token: std::sync::atomic::AtomicI64::new(0),
            seen: Mutex::new(None),
            term: watch::channel(None).0,
        }
    }

    /// The fence of the current term, while it is trusted; `None`: do not act.
    pub(crate) fn fence(&self) -> Option<Fence> {
        let held = self.held.lock().ok()?;
        held.as_ref()
            .filter(|h| Instant::now() < h.valid_until)
            .map(|h| h.fence.clone())
    }

    /// The fence to act with, or the refusal to act (this replica does not lead, or no longer
    /// trusts its term).
    pub(crate) fn acting(&self) -> Result<Fence> {
        self.fence().ok_or_else(|| {
            ControllerError::Registry(RegistryError::Fenced {
                holder: self.replica_id.clone(),
                token: self.last_token.load(Ordering::SeqCst),
            })
        })
    }

    /// Changes of this replica's term (`None`: not leading).
    pub(crate) fn watch(&self) -> watch::Receiver<Option<Term>> {
        self.term.subscribe()
    }

    pub(crate) fn view(&self) -> LeaderView {
        let fence = self.fence();
        let seen = self.seen.lock().ok().and_then(|s| s.clone());
        let held = seen.as_ref().filter(|l| l.is_held());
        LeaderView {
            leader: held.map(|l| l.holder.clone()),
            self_id: self.replica_id.clone(),
            is_leader: fence.is_some(),
            since: held.map(|l| l.since_ms).unwrap_or(0),
            fencing_token: held.map(|l| l.fencing_token).unwrap_or(0),
        }
    }

    /// Claim or renew every third of the lease, and stop trusting the term the moment its
    /// lease may have run out, whether or not the registry answers.
    pub(crate) async fn run(self: Arc<Self>) {
        let period = self.lease / 3;
        let mut first = true;
        loop {
            let sent = Instant::now();
            let (id, incarnation, lease_ms, takeover) = (
                self.replica_id.clone(),
                self.incarnation.clone(),
                self.lease.as_millis().min(i64::MAX as u128) as i64,
                first && self.takeover_first,
            );
            match self
                .store
                .run(move |r| r.claim_lease(&id, &incarnation, lease_ms, takeover))
                .await
            {
                Ok(lease) => {
                    first = false;
                    self.observe(lease, sent);
                }
                Err(e) => tracing::warn!(error = %e, "cannot claim or renew the leader lease"),
            }
            let wake = match self
                .held
                .lock()
                .ok()
                .and_then(|h| h.as_ref().map(|h| h.valid_until))
            {
                Some(until) => (sent + period).min(until),
                None => sent + period,
            };
            tokio::time::sleep_until(wake.into()).await;
            self.expire_if_due();
        }
    }

    /// Take in a claim's answer, sent at `sent`.
    fn observe(&self, lease: Lease, sent: Instant) {
        let mine = lease.is_held_by_process(&self.replica_id, &self.incarnation);
        let valid_until = sent + self.lease;
        let fence = Fence {
            holder: lease.holder.clone(),
            token: lease.fencing_token,
        };
        let previous = self
            .seen
            .lock()
            .ok()
            .and_then(|mut s| s.replace(lease.clone()));
        if previous.as_ref().map(|p| (&p.holder, p.fencing_token))
            != Some((&lease.holder, lease.fencing_token))
            && !mine
            && lease.is_held()
        {
            tracing::info!(leader = %lease.holder, fencing_token = lease.fencing_token, "another replica leads");
        }
        if mine {
            let new_term = {
                let Ok(mut held) = self.held.lock() else {
                    return;
                };
                let new_term = held.as_ref().map(|h| h.fence.token) != Some(fence.token);
                *held = Some(Held {
                    fence: fence.clone(),
                    valid_until,
                });
                new_term
            };
            self.caller
                .fencing_token
                .store(u64::try_from(fence.token).unwrap_or(0), Ordering::SeqCst);
            self.last_token.store(fence.token, Ordering::SeqCst);
            if new_term {
                tracing::info!(replica = %self.replica_id, fencing_token = fence.token, "this replica leads");
                self.term.send_replace(Some(Term { token: fence.token }));
            }
        } else {
            self.step_down("another replica holds the lease");
        }
    }

    /// The term's lease may have run out without a renewal (the registry unreachable, the
    /// process stalled): stop trusting it.
    fn expire_if_due(&self) {
        let due = self
            .held
            .lock()
            .is_ok_and(|h| h.as_ref().is_some_and(|h| Instant::now() >= h.valid_until));
        if due {
            self.step_down("the lease ran out before it was renewed");
        }
    }

    fn step_down(&self, why: &str) {
        let had = self.held.lock().ok().and_then(|mut h| h.take());
        self.caller.fencing_token.store(0, Ordering::SeqCst);
        if let Some(held) = had {
            tracing::warn!(replica = %self.replica_id, fencing_token = held.fence.token, reason = why, "this replica no longer leads");
            self.term.send_replace(None);
        }
    }

    /// End this replica's term now (a graceful shutdown), so another takes over at once.
    pub(crate) async fn resign(&self) {
        let fence = self.fence();
        self.step_down("shutting down");
        if let Some(fence) = fence {
            if let Err(e) = self.store.run(move |r| r.release_lease(&fence)).await {
                tracing::warn!(error = %e, "cannot release the leader lease; it runs out by itself");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("alto-leader-{}", uuid::Uuid::new_v4()));
        let registry =
            alto_registry::Registry::open(&dir.join("registry.db").display().to_string()).unwrap();
        (Store::new(registry), dir)
    }

    async fn wait_for_term(terms: &mut watch::Receiver<Option<Term>>, leading: bool) {
        tokio::time::timeout(
            Duration::from_secs(10),
            terms.wait_for(|t| t.is_some() == leading),
        )
        .await
        .expect("term change in time")
        .expect("leadership alive");
    }

    #[tokio::test]
    async fn leads_names_its_token_and_steps_down_when_another_takes_over() {
        let (store, dir) = sqlite_store();
        let caller = iaas::Caller::new("a");
        let a = Arc::new(Leadership::new(
            store.clone(),
            caller.clone(),
            Duration::from_millis(600),
        ));
        assert!(a.acting().is_err(), "nobody leads before the first claim");
        let mut terms = a.watch();
        let task = tokio::spawn(a.clone().run());
        wait_for_term(&mut terms, true).await;
        let fence = a.acting().unwrap();
        assert_eq!(fence.holder, "a");
        assert_eq!(caller.token(), fence.token as u64, "drivers see the token");
        let view = a.view();
        assert!(view.is_leader);
        assert_eq!(view.leader.as_deref(), Some("a"));
        assert_eq!(view.fencing_token, fence.token);
        assert!(view.since > 0);

        // Another process takes the lease (on SQLite: a restart that proved the old one gone).
        let b = store
            .run(|r| r.claim_lease("b", "x", 60_000, true))
            .await
            .unwrap();
        assert_eq!(b.fencing_token, fence.token + 1);
        wait_for_term(&mut terms, false).await;
        assert!(a.fence().is_none());
        assert_eq!(caller.token(), 0, "a deposed replica names no token");
        let view = a.view();
        assert!(!view.is_leader);
        assert_eq!(view.leader.as_deref(), Some("b"));
        assert!(store.run(move |r| r.check_fence(&fence)).await.is_err());
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn resigning_frees_the_lease_at_once() {
        let (store, dir) = sqlite_store();
        let a = Arc::new(Leadership::new(
            store.clone(),
            iaas::Caller::new("a"),
            Duration::from_secs(60),
        ));
        let mut terms = a.watch();
        let task = tokio::spawn(a.clone().run());
        wait_for_term(&mut terms, true).await;
        task.abort();
        a.resign().await;
        assert!(a.fence().is_none());
        let lease = store
            .run(|r| r.claim_lease("b", "x", 60_000, false))
            .await
            .unwrap();
        assert_eq!(lease.holder, "b", "the lease of a 60 s term was released");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
