//! Group commit: many members' writes in one transaction, each caller with its own result.
//!
//! A transaction's fixed cost (the write lock, the commit, a round trip to PostgreSQL) is
//! paid once per batch instead of once per member, and the work inside is set-based where
//! the rows allow it: new members are multi-row INSERTs, state changes are one UPDATE per
//! (from, to) pair of states over all the members making that move. Every operation still
//! reports its own outcome — a duplicate member id, a member not found, an illegal move, a
//! concurrent change — and none of those aborts the others: duplicates are skipped by the
//! INSERT itself (`ON CONFLICT DO NOTHING RETURNING`), and an UPDATE only reports the rows it
//! moved (`RETURNING`), the rest being decided one by one with the usual compare-and-set.
//!
//! Intent before action is unchanged: a fenced batch checks the term once, in the same
//! transaction that writes the intent; nobody calls a cloud before the batch has committed.

use crate::schema::members;
use crate::*;
use std::collections::{HashMap, HashSet};

/// Rows per statement: below SQLite's bound-parameter limit (32,766) with 23 columns a row,
/// and below PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 1_000;

/// The instance a member's start produced: recorded, and a `Created` member becomes
/// `Initialized`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInstance {
    pub member_id: String,
    pub instance_id: String,
    pub private_ips: Vec<String>,
    pub public_ips: Vec<String>,
}

/// One member write a group commit carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberWrite {
    /// A compare-and-set state change, as [`Registry::transition_member`].
    Transition { member_id: String, to: MemberState },
    /// A start's result, as [`Registry::set_member_instance`] followed by a transition to
    /// `Initialized` (a member already past it keeps its state: `Unchanged`, or the illegal
    /// move reported; the instance is recorded either way).
    Instance(MemberInstance),
}

impl MemberWrite {
    fn member_id(&self) -> &str {
        match self {
            MemberWrite::Transition { member_id, .. } => member_id,
            MemberWrite::Instance(i) => &i.member_id,
        }
    }

    fn target(&self) -> MemberState {
        match self {
            MemberWrite::Transition { to, .. } => *to,
            MemberWrite::Instance(_) => MemberState::Initialized,
        }
    }
}

/// Each write's own outcome, in the order given.
pub type WriteOutcomes = Vec<Result<Transition, RegistryError>>;

/// Move every member of `ids` from `from` to `next` (the column stamping `next` set too) and
/// return the rows that moved.
macro_rules! move_members {
    ($c:ident, $ids:expr, $from:expr, $next:expr, $now:expr) => {{
        let (ids, from, next, now): (&[String], MemberState, MemberState, i64) =
            ($ids, $from, $next, $now);
        let target = members::table
            .filter(members::member_id.eq_any(ids))
            .filter(members::state.eq(from.as_str()));
        let set_state = (
            members::state.eq(next.as_str()),
            members::updated_at.eq(now),
        );
        let returning = MemberRow::as_returning();
        let moved: Result<Vec<MemberRow>, DieselError> = match next {
            MemberState::Initialized => diesel::update(target)
                .set((set_state, members::initialized_at.eq(now)))
                .returning(returning)
                .get_results($c),
            MemberState::Starting => diesel::update(target)
                .set((set_state, members::started_at.eq(now)))
                .returning(returning)
                .get_results($c),
            MemberState::Active => diesel::update(target)
                .set((set_state, members::activated_at.eq(now)))
                .returning(returning)
                .get_results($c),
            MemberState::ReadyToShutDown => diesel::update(target)
                .set((set_state, members::terminate_requested_at.eq(now)))
                .returning(returning)
                .get_results($c),
            MemberState::Terminated => diesel::update(target)
                .set((set_state, members::terminated_at.eq(now)))
                .returning(returning)
                .get_results($c),
            MemberState::Created | MemberState::InMaintenance => diesel::update(target)
                .set(set_state)
                .returning(returning)
                .get_results($c),
        };
        moved.map_err(plain("transition_members"))
    }};
}

/// Apply one round of writes (every member at most once) inside a write transaction: the
/// instance columns row by row, then every state change set-based.
macro_rules! apply_round {
    ($c:ident, $writes:expr, $now:expr) => {{
        let (writes, now): (&[&MemberWrite], i64) = ($writes, $now);
        let c = &mut *$c;
        let result: Result<WriteOutcomes, RegistryError> = (|| {
            let mut outcomes: Vec<Option<Result<Transition, RegistryError>>> =
                writes.iter().map(|_| None).collect();
            for (slot, write) in writes.iter().enumerate() {
                if let MemberWrite::Instance(i) = write {
                    let private = to_json(&i.private_ips)?;
                    let public = to_json(&i.public_ips)?;
                    let n = diesel::update(members::table.find(&i.member_id))
                        .set((
                            members::instance_id.eq(&i.instance_id),
                            members::private_ips.eq(&private),
                            members::public_ips.eq(&public),
                            members::updated_at.eq(now),
                        ))
                        .execute(c)
                        .map_err(plain("set_member_instances"))?;
                    if n == 0 {
                        outcomes[slot] = Some(Err(RegistryError::NotFound(format!(
                            "member {}",
                            i.member_id
                        ))));
                    }
                }
            }
            let ids: Vec<String> = writes
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| o.is_none())
                .map(|(w, _)| w.member_id().to_string())
                .collect();
            // Only the states decide the moves: a whole row is read back only for a member
            // that moves (RETURNING) or stays (below), not twice for every member (the rows'
            // reading and JSON decoding were most of a batch's time on SQLite).
            let mut current: HashMap<String, MemberState> = HashMap::with_capacity(ids.len());
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let rows: Vec<(String, String)> = members::table
                    .filter(members::member_id.eq_any(chunk))
                    .select((members::member_id, members::state))
                    .load(c)
                    .map_err(plain("transition_members"))?;
                for (id, state) in rows {
                    let state: MemberState = state
                        .parse()
                        .map_err(|e| RegistryError::Corrupt(format!("member {id}: {e}")))?;
                    current.insert(id, state);
                }
            }
            let mut unchanged: Vec<(usize, MemberState)> = Vec::new();
            // Who makes which move: one UPDATE per (from, next) pair.
            let mut moves: HashMap<(MemberState, MemberState), Vec<usize>> = HashMap::new();
            for (slot, write) in writes.iter().enumerate() {
                if outcomes[slot].is_some() {
                    continue;
                }
                let id = write.member_id();
                let Some(from) = current.remove(id) else {
                    outcomes[slot] = Some(Err(RegistryError::NotFound(format!("member {id}"))));
                    continue;
                };
                match from.advance(write.target()) {
                    Ok(None) => unchanged.push((slot, from)),
                    Ok(Some(next)) => moves.entry((from, next)).or_default().push(slot),
                    Err(source) => {
                        outcomes[slot] = Some(Err(RegistryError::IllegalTransition {
                            member_id: id.to_string(),
                            source,
                        }))
                    }
                }
            }
            if !unchanged.is_empty() {
                let ids: Vec<String> = unchanged
                    .iter()
                    .map(|&(s, _)| writes[s].member_id().to_string())
                    .collect();
                let mut found: HashMap<String, Member> = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                    let rows: Vec<MemberRow> = members::table
                        .filter(members::member_id.eq_any(chunk))
                        .select(MemberRow::as_select())
                        .load(c)
                        .map_err(plain("transition_members"))?;
                    for row in rows {
                        let member = row.into_record()?;
                        found.insert(member.member_id.clone(), member);
                    }
                }
                for (slot, state) in unchanged {
                    let id = writes[slot].member_id();
                    outcomes[slot] = Some(match found.remove(id) {
                        Some(member) if member.state == state => Ok(Transition::Unchanged(member)),
                        // Changed since its state was read (another replica, on PostgreSQL):
                        // decide again on the row as it is now.
                        _ => cas_transition!(c, id, writes[slot].target(), now),
                    });
                }
            }
            for ((from, next), slots) in moves {
                let ids: Vec<String> = slots
                    .iter()
                    .map(|&s| writes[s].member_id().to_string())
                    .collect();
                let mut moved: HashMap<String, Member> = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                    for row in move_members!(c, chunk, from, next, now)? {
                        let member = row.into_record()?;
                        moved.insert(member.member_id.clone(), member);
                    }
                }
                for slot in slots {
                    let id = writes[slot].member_id();
                    outcomes[slot] = Some(match moved.remove(id) {
                        Some(member) => Ok(Transition::Moved { from, member }),
                        // Changed since it was read (another replica, on PostgreSQL): decide
                        // again on the row as it is now.
                        None => cas_transition!(c, id, writes[slot].target(), now),
                    });
                }
            }
            Ok(outcomes
                .into_iter()
                .map(|o| {
                    o.unwrap_or_else(|| {
                        Err(RegistryError::Corrupt(
                            "a batched write was not applied".into(),
                        ))
                    })
                })
                .collect())
        })();
        result
    }};
}

/// A multi-row INSERT of members that skips ids already taken and says which rows it wrote.
trait InsertNewMembers {
    fn insert_new_members(&mut self, rows: &[&MemberRow]) -> Result<Vec<String>, RegistryError>;
}

impl InsertNewMembers for SqliteConnection {
    /// diesel runs an SQLite batch INSERT with RETURNING row by row; the transaction holds
    /// the write lock (`BEGIN IMMEDIATE`), so the taken ids are read first and the rest go in
    /// one statement.
    fn insert_new_members(&mut self, rows: &[&MemberRow]) -> Result<Vec<String>, RegistryError> {
        let ids: Vec<&str> = rows.iter().map(|r| r.member_id.as_str()).collect();
        let taken: HashSet<String> = members::table
            .filter(members::member_id.eq_any(&ids))
            .select(members::member_id)
            .load::<String>(self)
            .map_err(plain("insert_members"))?
            .into_iter()
            .collect();
        let fresh: Vec<&MemberRow> = rows
            .iter()
            .copied()
            .filter(|r| !taken.contains(&r.member_id))
            .collect();
        diesel::insert_into(members::table)
            .values(fresh.clone())
            .execute(self)
            .map_err(plain("insert_members"))?;
        Ok(fresh.into_iter().map(|r| r.member_id.clone()).collect())
    }
}

impl InsertNewMembers for PgConnection {
    /// Another replica may insert concurrently: the statement itself skips taken ids.
    fn insert_new_members(&mut self, rows: &[&MemberRow]) -> Result<Vec<String>, RegistryError> {
        diesel::insert_into(members::table)
            .values(rows.to_vec())
            .on_conflict_do_nothing()
            .returning(members::member_id)
            .get_results(self)
            .map_err(plain("insert_members"))
    }
}

/// Split writes into rounds in which each member appears once, keeping each member's writes
/// in their order: returns, per round, the positions of its writes.
fn rounds(writes: &[MemberWrite]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        let round = seen
            .entry(w.member_id())
            .and_modify(|r| *r += 1)
            .or_insert(0);
        if rounds.len() <= *round {
            rounds.push(Vec::new());
        }
        rounds[*round].push(i);
    }
    rounds
}

impl Registry {
    /// Insert many `Created` members in one transaction; with a fence (a leader's decision to
    /// start them), checked once in that transaction: the intent of their starts. Returns each
    /// member's own outcome in the order given (`Conflict` for an id that exists already, or
    /// that appears twice); `Fenced` for all of them when the term is over.
    pub fn insert_members(
        &self,
        fence: Option<&Fence>,
        new_members: Vec<NewMember>,
    ) -> Result<Vec<Result<Member, RegistryError>>, RegistryError> {
        let now = now_ms();
        let mut rows = Vec::with_capacity(new_members.len());
        let mut given = HashSet::new();
        let mut duplicate = Vec::with_capacity(new_members.len());
        for m in new_members {
            duplicate.push(!given.insert(m.member_id.clone()));
            let mut row = MemberRow::created(m, now)?;
            row.action_token = fence.map(|f| f.token);
            rows.push(row);
        }
        let fresh: Vec<&MemberRow> = rows
            .iter()
            .zip(&duplicate)
            .filter(|(_, dup)| !**dup)
            .map(|(r, _)| r)
            .collect();
        let inserted: HashSet<String> = write_tx!(self, c => {
            if let Some(fence) = fence {
                check_fence!(c, fence);
            }
            let mut inserted = HashSet::with_capacity(fresh.len());
            for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
                inserted.extend(c.insert_new_members(chunk)?);
            }
            Ok(inserted)
        })?;
        rows.into_iter()
            .zip(duplicate)
            .map(|(row, dup)| {
                if dup || !inserted.contains(&row.member_id) {
                    return Ok(Err(RegistryError::Conflict(format!(
                        "member {} already exists",
                        row.member_id
                    ))));
                }
                row.into_record().map(Ok)
            })
            .collect()
    }

    /// Record, for many members at once, that `fence`'s leader is about to call the cloud for
    /// each (as [`Registry::record_cloud_action`]), in one transaction with the check that the
    /// term is current. Each member's own outcome (`NotFound`); `Fenced` for all of them.
    pub fn record_cloud_actions(
        &self,
        fence: &Fence,
        member_ids: &[String],
    ) -> Result<Vec<Result<(), RegistryError>>, RegistryError> {
        let recorded: HashSet<String> = write_tx!(self, c => {
            check_fence!(c, fence);
            let mut recorded = HashSet::with_capacity(member_ids.len());
            for chunk in member_ids.chunks(ROWS_PER_STATEMENT) {
                let ids: Vec<String> =
                    diesel::update(members::table.filter(members::member_id.eq_any(chunk)))
                        .set(members::action_token.eq(Some(fence.token)))
                        .returning(members::member_id)
                        .get_results(c)
                        .map_err(plain("record_cloud_actions"))?;
                recorded.extend(ids);
            }
            Ok(recorded)
        })?;
        Ok(member_ids
            .iter()
            .map(|id| {
                if recorded.contains(id) {
                    Ok(())
                } else {
                    Err(RegistryError::NotFound(format!("member {id}")))
                }
            })
            .collect())
    }

    /// Many members' writes in one transaction, applied in the order given (a member's later
    /// write sees its earlier one). Returns each write's own outcome; `Err` only when the
    /// transaction itself failed (nothing of the batch is then committed).
    pub fn apply_member_writes(
        &self,
        writes: &[MemberWrite],
    ) -> Result<WriteOutcomes, RegistryError> {
        let now = now_ms();
        let rounds = rounds(writes);
        let mut outcomes: Vec<Option<Result<Transition, RegistryError>>> =
            writes.iter().map(|_| None).collect();
        let applied: Vec<(Vec<usize>, WriteOutcomes)> = write_tx!(self, c => {
            let mut applied = Vec::with_capacity(rounds.len());
            for round in &rounds {
                let batch: Vec<&MemberWrite> = round.iter().map(|&i| &writes[i]).collect();
                let results = apply_round!(c, &batch, now)?;
                applied.push((round.clone(), results));
            }
            Ok(applied)
        })?;
        for (positions, results) in applied {
            for (i, result) in positions.into_iter().zip(results) {
                outcomes[i] = Some(result);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(RegistryError::Corrupt("write not applied".into()))))
            .collect())
    }

    /// Many members by id (those that exist), in no particular order.
    pub fn get_members(&self, member_ids: &[String]) -> Result<Vec<Member>, RegistryError> {
        let mut found = Vec::with_capacity(member_ids.len());
        for chunk in member_ids.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<MemberRow> = run!(self, c => members::table
                .filter(members::member_id.eq_any(chunk))
                .select(MemberRow::as_select())
                .load(c)
                .map_err(plain("get_members")))?;
            for row in rows {
                found.push(row.into_record()?);
            }
        }
        Ok(found)
    }
}
