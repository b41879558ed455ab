//! The group committer: members' state changes and start results from every part of the
//! controller (the actuator, status ingestion) meet in one queue, and one task commits what
//! has gathered in one registry transaction while the next batch gathers.
//!
//! A caller hands over one write and awaits its own outcome (moved, unchanged, an illegal
//! move, a member not found): batching changes when a write commits, never what it means. A
//! write is acknowledged only after its transaction has committed. When a batch's transaction
//! fails as a whole, each of its writes is tried again on its own, so one bad row cannot fail
//! the others and every caller still gets the error that is its own.

use super::store::Store;
use crate::error::{ControllerError, Result};
use alto_registry::{MemberWrite, RegistryError, Transition, WriteOutcomes};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Writes waiting for their transaction; a caller past this waits for room.
const QUEUE_LENGTH: usize = 10_000;
/// Most writes one transaction carries.
const MAX_BATCH: usize = 1_000;

type Reply = oneshot::Sender<std::result::Result<Transition, RegistryError>>;
type Pending = mpsc::Receiver<(MemberWrite, Reply)>;

pub(crate) struct GroupCommitter {
    queue: mpsc::Sender<(MemberWrite, Reply)>,
}

impl GroupCommitter {
    /// The committer and the task that drains it (stopped with the controller).
    pub(crate) fn start(store: Store) -> (GroupCommitter, JoinHandle<()>) {
        let (committer, pending) = GroupCommitter::queue(QUEUE_LENGTH);
        let task = tokio::spawn(drain(store, pending));
        (committer, task)
    }

    /// The committer's side of a queue of `length` writes, and the side a drain reads.
    fn queue(length: usize) -> (GroupCommitter, Pending) {
        let (queue, pending) = mpsc::channel(length);
        (GroupCommitter { queue }, pending)
    }

    /// Commit `write` with whatever else is waiting; its own outcome once committed.
    pub(crate) async fn write(&self, write: MemberWrite) -> Result<Transition> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send((write, reply))
            .await
            .map_err(|_| ControllerError::Internal("the group committer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| ControllerError::Internal("the group committer has stopped".into()))?
            .map_err(ControllerError::Registry)
    }
}

async fn drain(store: Store, mut pending: Pending) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if pending.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let (writes, replies): (Vec<MemberWrite>, Vec<Reply>) = batch.drain(..).unzip();
        let count = writes.len();
        let outcomes = store
            .run(move |r| Ok(commit(|w| r.apply_member_writes(w), &writes)))
            .await;
        match outcomes {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A caller that gave up waiting has nothing to be told.
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(writes = count, error = %e, "group commit could not run");
                for reply in replies {
                    let _ = reply.send(Err(RegistryError::Pool(e.to_string())));
                }
            }
        }
    }
}

/// One transaction for the batch; when it fails as a whole, one per write.
/// `apply` is [`alto_registry::Registry::apply_member_writes`] (a parameter so that the tests can fail a
/// transaction).
fn commit(
    apply: impl Fn(&[MemberWrite]) -> std::result::Result<WriteOutcomes, RegistryError>,
    writes: &[MemberWrite],
) -> Vec<std::result::Result<Transition, RegistryError>> {
    match apply(writes) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            if writes.len() > 1 {
                tracing::warn!(writes = writes.len(), error = %e, "batch failed; committing its writes one by one");
            }
            writes
                .iter()
                .map(|w| {
                    apply(std::slice::from_ref(w))
                        .and_then(|mut o| {
                            o.pop().ok_or_else(|| {
                                RegistryError::Corrupt("a write had no outcome".into())
                            })
                        })
                        .and_then(|o| o)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alto_registry::{MemberInstance, NewMember, Registry};
    use messaging::MemberState;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::Poll;

    fn member(id: &str) -> NewMember {
        NewMember {
            member_id: id.into(),
            cluster_id: "c1".into(),
            tenant_id: 1,
            service_name: "php".into(),
            network_partition_id: "np".into(),
            partition_id: "p".into(),
            provider_type: "mock".into(),
            tags: Default::default(),
        }
    }

    /// Many concurrent callers, each told its own outcome: moved, unchanged, not found.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_each_get_their_own_outcome() {
        let dir = std::env::temp_dir().join(format!("alto-group-commit-{}", rand::random::<u64>()));
        let registry = Registry::open(&dir.join("r.db").display().to_string()).unwrap();
        let ids: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
        registry
            .insert_members(None, ids.iter().map(|id| member(id)).collect())
            .unwrap();
        let (committer, task) = GroupCommitter::start(Store::new(registry.clone()));
        let committer = Arc::new(committer);
        let calls: Vec<_> = ids
            .iter()
            .map(|id| {
                let (committer, id) = (committer.clone(), id.clone());
                tokio::spawn(async move {
                    let instance = committer
                        .write(MemberWrite::Instance(MemberInstance {
                            member_id: id.clone(),
                            instance_id: format!("i-{id}"),
                            private_ips: vec![],
                            public_ips: vec![],
                        }))
                        .await;
                    let again = committer
                        .write(MemberWrite::Transition {
                            member_id: id.clone(),
                            to: MemberState::Initialized,
                        })
                        .await;
                    (instance, again)
                })
            })
            .collect();
        let unknown = committer
            .write(MemberWrite::Transition {
                member_id: "nobody".into(),
                to: MemberState::Active,
            })
            .await;
        assert!(
            matches!(
                unknown,
                Err(ControllerError::Registry(RegistryError::NotFound(_)))
            ),
            "{unknown:?}"
        );
        for call in calls {
            let (instance, again) = call.await.unwrap();
            match instance.unwrap() {
                Transition::Moved { from, member } => {
                    assert_eq!(from, MemberState::Created);
                    assert_eq!(
                        member.instance_id.as_deref(),
                        Some(format!("i-{}", member.member_id).as_str())
                    );
                }
                other => panic!("expected a move, got {other:?}"),
            }
            assert!(matches!(again.unwrap(), Transition::Unchanged(_)));
        }
        assert_eq!(
            registry
                .list_members_in_state(MemberState::Initialized)
                .unwrap()
                .len(),
            500
        );
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn registry_with(ids: &[&str]) -> (Registry, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("alto-group-commit-{}", rand::random::<u64>()));
        let registry = Registry::open(&dir.join("r.db").display().to_string()).unwrap();
        registry
            .insert_members(None, ids.iter().map(|id| member(id)).collect())
            .unwrap();
        (registry, dir)
    }

    fn to(id: &str, state: MemberState) -> MemberWrite {
        MemberWrite::Transition {
            member_id: id.into(),
            to: state,
        }
    }

    /// Poll a future once: has it finished?
    async fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> bool {
        let mut f = Some(f);
        std::future::poll_fn(|cx| {
            let done = f.take().is_some_and(|f| f.poll(cx).is_ready());
            Poll::Ready(done)
        })
        .await
    }

    /// A transaction that fails as a whole (here: whenever the batch holds `poison`'s write)
    /// costs only the write that fails it: the others are committed one by one, each with its
    /// own outcome, and the failing one is told its own error.
    #[test]
    fn a_failing_batch_fails_only_its_failing_write() {
        let (registry, dir) = registry_with(&["m1", "m2", "poison"]);
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let apply = |writes: &[MemberWrite]| {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if writes
                .iter()
                .any(|w| w == &to("poison", MemberState::Initialized))
            {
                return Err(RegistryError::Pool("the transaction failed".into()));
            }
            registry.apply_member_writes(writes)
        };
        let writes = vec![
            to("m1", MemberState::Initialized),
            to("poison", MemberState::Initialized),
            to("m2", MemberState::Initialized),
            to("m1", MemberState::Starting),
        ];
        let outcomes = commit(apply, &writes);
        assert_eq!(outcomes.len(), 4);
        assert!(matches!(
            &outcomes[0],
            Ok(Transition::Moved {
                from: MemberState::Created,
                ..
            })
        ));
        assert!(
            matches!(&outcomes[1], Err(RegistryError::Pool(m)) if m == "the transaction failed"),
            "{:?}",
            outcomes[1]
        );
        assert!(matches!(&outcomes[2], Ok(Transition::Moved { .. })));
        // Retried one by one, a member's writes keep their order.
        assert!(matches!(
            &outcomes[3],
            Ok(Transition::Moved { from: MemberState::Initialized, member }) if member.state == MemberState::Starting
        ));
        assert_eq!(tries.load(std::sync::atomic::Ordering::Relaxed), 5);
        let state = |id: &str| registry.get_member(id).unwrap().unwrap().state;
        assert_eq!(state("m1"), MemberState::Starting);
        assert_eq!(state("m2"), MemberState::Initialized);
        assert_eq!(state("poison"), MemberState::Created);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A registry that cannot commit at all: every write of the batch is told so.
    #[test]
    fn a_registry_that_cannot_commit_is_reported_to_each_write() {
        let apply = |_: &[MemberWrite]| -> std::result::Result<WriteOutcomes, RegistryError> {
            Err(RegistryError::Pool("database unreachable".into()))
        };
        let writes = vec![
            to("m1", MemberState::Initialized),
            to("m2", MemberState::Active),
            to("m1", MemberState::Starting),
        ];
        let outcomes = commit(apply, &writes);
        assert_eq!(outcomes.len(), 3);
        for outcome in outcomes {
            assert!(
                matches!(&outcome, Err(RegistryError::Pool(m)) if m == "database unreachable"),
                "{outcome:?}"
            );
        }
    }

    /// Writes for one member handed over in order are committed in that order, whether they
    /// share a transaction or not: Created, Initialized, Starting, Active, each a move.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_members_writes_commit_in_order() {
        let (registry, dir) = registry_with(&["m1"]);
        let (committer, pending) = GroupCommitter::queue(16);
        let instance = MemberWrite::Instance(MemberInstance {
            member_id: "m1".into(),
            instance_id: "i-1".into(),
            private_ips: vec![],
            public_ips: vec![],
        });
        let mut first = pin!(committer.write(instance));
        let mut second = pin!(committer.write(to("m1", MemberState::Starting)));
        let mut third = pin!(committer.write(to("m1", MemberState::Active)));
        // Each polled once, in order: all three are queued before the drain runs, so they
        // reach it in one batch.
        for queued in [
            poll_once(first.as_mut()).await,
            poll_once(second.as_mut()).await,
            poll_once(third.as_mut()).await,
        ] {
            assert!(!queued, "nothing is committed before the drain runs");
        }
        assert_eq!(pending.len(), 3);
        let task = tokio::spawn(drain(Store::new(registry.clone()), pending));
        let moves = [first.await, second.await, third.await].map(|o| match o {
            Ok(Transition::Moved { from, member }) => (from, member.state),
            other => panic!("expected a move, got {other:?}"),
        });
        assert_eq!(
            moves,
            [
                (MemberState::Created, MemberState::Initialized),
                (MemberState::Initialized, MemberState::Starting),
                (MemberState::Starting, MemberState::Active),
            ]
        );
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The queue is bounded: past its length a caller waits for room instead of queueing
    /// without limit, and gets in once the drain takes a write.
    #[tokio::test]
    async fn a_full_queue_makes_callers_wait() {
        let (committer, mut pending) = GroupCommitter::queue(2);
        let mut a = pin!(committer.write(to("a", MemberState::Initialized)));
        let mut b = pin!(committer.write(to("b", MemberState::Initialized)));
        let mut c = pin!(committer.write(to("c", MemberState::Initialized)));
        assert!(!poll_once(a.as_mut()).await);
        assert!(!poll_once(b.as_mut()).await);
        assert!(!poll_once(c.as_mut()).await);
        assert_eq!(pending.len(), 2, "the third caller waits for room");
        let (write, reply) = pending.recv().await.unwrap();
        assert_eq!(write, to("a", MemberState::Initialized));
        assert!(!poll_once(c.as_mut()).await);
        assert_eq!(
            pending.len(),
            2,
            "room made, the third caller's write is queued"
        );
        // The caller is told what the drain replies.
        reply
            .send(Err(RegistryError::NotFound("member a".into())))
            .unwrap();
        assert!(matches!(
            a.await,
            Err(ControllerError::Registry(RegistryError::NotFound(_)))
        ));
        // A stopped committer is an error to its waiting callers, never a hang.
        drop(pending);
        assert!(matches!(b.await, Err(ControllerError::Internal(_))));
        assert!(matches!(c.await, Err(ControllerError::Internal(_))));
    }
}
