//! Decision records: the last [`DECISIONS_KEPT`] evaluations of each cluster that decided
//! something new, kept in the registry so `alto explain` still answers after a restart.

use super::store::Store;
use crate::error::Result;
use autoscaler::DecisionRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// Decision records kept per cluster.
pub(crate) const DECISIONS_KEPT: usize = 100;

pub(crate) struct DecisionLog {
    store: Store,
    /// Per cluster: the reason of the last record kept (to skip repeats of it).
    last_reason: Mutex<HashMap<String, String>>,
}

impl DecisionLog {
    pub(crate) fn new(store: Store) -> DecisionLog {
        DecisionLog {
            store,
            last_reason: Mutex::new(HashMap::new()),
        }
    }

    /// Keep what changed: an unchanged "within thresholds" every pass would push the
    /// interesting records out.
    pub(crate) async fn keep(&self, record: &DecisionRecord) -> Result<()> {
        let repeat = record.actions().is_empty()
            && self
                .last_reason
                .lock()
                .ok()
                .and_then(|last| last.get(&record.cluster_id).cloned())
                .is_some_and(|reason| reason == record.reason);
        if repeat {
            return Ok(());
        }
        let body = serde_json::to_string(record).map_err(super::store::internal)?;
        let cluster_id = record.cluster_id.clone();
        self.store
            .run(move |r| r.append_decision(&cluster_id, &body, DECISIONS_KEPT))
            .await?;
        if let Ok(mut last) = self.last_reason.lock() {
            last.insert(record.cluster_id.clone(), record.reason.clone());
        }
        Ok(())
    }

    /// A cluster's records, oldest first, as they were recorded.
    pub(crate) async fn list(&self, cluster_id: &str) -> Result<Vec<serde_json::Value>> {
        let id = cluster_id.to_string();
        let stored = self.store.run(move |r| r.list_decisions(&id)).await?;
        Ok(stored
            .into_iter()
            .filter_map(|d| match serde_json::from_str(&d.body) {
                Ok(value) => Some(value),
                Err(e) => {
                    tracing::warn!(cluster = cluster_id, seq = d.seq, error = %e, "unreadable decision record skipped");
                    None
                }
            })
            .collect())
    }

    /// The cluster is gone: so are its records.
    pub(crate) async fn forget(&self, cluster_id: &str) -> Result<()> {
        if let Ok(mut last) = self.last_reason.lock() {
            last.remove(cluster_id);
        }
        let id = cluster_id.to_string();
        self.store.run(move |r| r.delete_decisions(&id)).await?;
        Ok(())
    }
}
