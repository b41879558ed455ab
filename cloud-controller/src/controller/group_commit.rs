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
use alto_registry::{MemberWrite, Registry, RegistryError, Transition};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Writes waiting for their transaction; a caller past this waits for room.
const QUEUE_LENGTH: usize = 10_000;
/// Most writes one transaction carries.
const MAX_BATCH: usize = 1_000;

type Reply = oneshot::Sender<std::result::Result<Transition, RegistryError>>;

pub(crate) struct GroupCommitter {
    queue: mpsc::Sender<(MemberWrite, Reply)>,
}

impl GroupCommitter {
    /// The committer and the task that drains it (stopped with the controller).
    pub(crate) fn start(store: Store) -> (GroupCommitter, JoinHandle<()>) {
        let (queue, pending) = mpsc::channel(QUEUE_LENGTH);
        let task = tokio::spawn(drain(store, pending));
        (GroupCommitter { queue }, task)
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

async fn drain(store: Store, mut pending: mpsc::Receiver<(MemberWrite, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if pending.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let (writes, replies): (Vec<MemberWrite>, Vec<Reply>) = batch.drain(..).unzip();
        let count = writes.len();
        let outcomes = store.run(move |r| Ok(commit(r, &writes))).await;
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
fn commit(
    r: &Registry,
    writes: &[MemberWrite],
) -> Vec<std::result::Result<Transition, RegistryError>> {
    match r.apply_member_writes(writes) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            if writes.len() > 1 {
                tracing::warn!(writes = writes.len(), error = %e, "batch failed; committing its writes one by one");
            }
            writes
                .iter()
                .map(|w| {
                    r.apply_member_writes(std::slice::from_ref(w))
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
    use alto_registry::{MemberInstance, NewMember};
    use messaging::MemberState;
    use std::sync::Arc;

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
}
