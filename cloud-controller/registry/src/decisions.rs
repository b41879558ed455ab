//! Decision records: the newest few per cluster, so a restarted controller can still say why it
//! did or did not scale. The body is the controller's JSON; the registry only orders and trims.

use crate::schema::decision_records;
use crate::*;

/// Optimistic seq allocations per transaction before falling back to the table lock.
const OPTIMISTIC_ATTEMPTS: usize = 4;

impl Registry {
    /// Append a record for `cluster_id` (seq = previous max + 1, 1 when none) and keep only the
    /// newest `keep` records of that cluster, in one write transaction.
    pub fn append_decision(
        &self,
        cluster_id: &str,
        body: &str,
        keep: usize,
    ) -> Result<(), RegistryError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        // SQLite's `BEGIN IMMEDIATE` already serializes appends, so the first insert always
        // lands. On PostgreSQL appends to different clusters must not queue on one table lock:
        // the insert skips a seq another transaction took (waiting for it to commit) and the
        // next read of the max sees it. A transaction that keeps losing the race (several
        // writers on one cluster) is rolled back and done again under the table lock, where
        // the first insert is certain; upgrading the lock in place could deadlock.
        for locked in [false, true] {
            let now = now_ms();
            let appended = write_tx!(self, c => {
                if locked {
                    c.lock_tables("decision_records")?;
                }
                for _ in 0..OPTIMISTIC_ATTEMPTS {
                    let max: Option<i64> = decision_records::table
                        .filter(decision_records::cluster_id.eq(cluster_id))
                        .select(diesel::dsl::max(decision_records::seq))
                        .first(c)
                        .map_err(plain("append_decision"))?;
                    let row = DecisionRow {
                        cluster_id: cluster_id.to_string(),
                        seq: max.unwrap_or(0) + 1,
                        recorded_at: now,
                        body: body.to_string(),
                    };
                    let inserted = diesel::insert_into(decision_records::table)
                        .values(&row)
                        .on_conflict_do_nothing()
                        .execute(c)
                        .map_err(plain("append_decision"))?;
                    if inserted == 0 {
                        continue;
                    }
                    // The newest record not kept, if any: it and everything older go.
                    let cutoff: Option<i64> = decision_records::table
                        .filter(decision_records::cluster_id.eq(cluster_id))
                        .select(decision_records::seq)
                        .order(decision_records::seq.desc())
                        .offset(keep)
                        .first(c)
                        .optional()
                        .map_err(plain("append_decision"))?;
                    if let Some(cutoff) = cutoff {
                        diesel::delete(
                            decision_records::table
                                .filter(decision_records::cluster_id.eq(cluster_id))
                                .filter(decision_records::seq.le(cutoff)),
                        )
                        .execute(c)
                        .map_err(plain("append_decision"))?;
                    }
                    return Ok(true);
                }
                Ok(false)
            })?;
            if appended {
                return Ok(());
            }
        }
        Err(RegistryError::Conflict(format!(
            "decision record for cluster {cluster_id}: seq taken concurrently even under the lock"
        )))
    }

    /// The stored records of `cluster_id`, oldest first.
    pub fn list_decisions(&self, cluster_id: &str) -> Result<Vec<StoredDecision>, RegistryError> {
        let rows: Vec<DecisionRow> = run!(self, c => decision_records::table
            .filter(decision_records::cluster_id.eq(cluster_id))
            .order(decision_records::seq.asc())
            .select(DecisionRow::as_select())
            .load(c)
            .map_err(plain("list_decisions")))?;
        Ok(rows.into_iter().map(DecisionRow::into_record).collect())
    }

    /// Forget every record of `cluster_id`; returns how many there were.
    pub fn delete_decisions(&self, cluster_id: &str) -> Result<usize, RegistryError> {
        run!(self, c => diesel::delete(
            decision_records::table.filter(decision_records::cluster_id.eq(cluster_id)),
        )
        .execute(c)
        .map_err(plain("delete_decisions")))
    }
}
