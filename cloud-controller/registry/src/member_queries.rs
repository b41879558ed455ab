//! Member rows: insertion, lookups, compare-and-set state changes, and the cleanup requests
//! the controller must not lose in a crash.

use crate::schema::members;
use crate::*;

/// Compare-and-set a member's state inside a write transaction: the update only applies while
/// the row is still in the state it was read in. On PostgreSQL a concurrent transition makes it
/// match nothing; re-read and decide again.
macro_rules! cas_transition {
    ($c:ident, $member_id:expr, $to:expr, $now:expr) => {{
        let (member_id, to, now): (&str, MemberState, i64) = ($member_id, $to, $now);
        let c = &mut *$c;
        let result: Result<Transition, RegistryError> = (|| {
            for _ in 0..TRANSITION_ATTEMPTS {
                let row: Option<MemberRow> = members::table
                    .find(member_id)
                    .select(MemberRow::as_select())
                    .first(c)
                    .optional()
                    .map_err(plain("transition_member"))?;
                let member = row
                    .ok_or_else(|| RegistryError::NotFound(format!("member {member_id}")))?
                    .into_record()?;
                let from = member.state;
                let next = match from.advance(to) {
                    Ok(None) => return Ok(Transition::Unchanged(member)),
                    Ok(Some(next)) => next,
                    Err(source) => {
                        return Err(RegistryError::IllegalTransition {
                            member_id: member_id.to_string(),
                            source,
                        })
                    }
                };
                let target = members::table
                    .find(member_id)
                    .filter(members::state.eq(from.as_str()));
                let set_state = (
                    members::state.eq(next.as_str()),
                    members::updated_at.eq(now),
                );
                let updated = match next {
                    MemberState::Initialized => diesel::update(target)
                        .set((set_state, members::initialized_at.eq(now)))
                        .execute(c),
                    MemberState::Starting => diesel::update(target)
                        .set((set_state, members::started_at.eq(now)))
                        .execute(c),
                    MemberState::Active => diesel::update(target)
                        .set((set_state, members::activated_at.eq(now)))
                        .execute(c),
                    MemberState::ReadyToShutDown => diesel::update(target)
                        .set((set_state, members::terminate_requested_at.eq(now)))
                        .execute(c),
                    MemberState::Terminated => diesel::update(target)
                        .set((set_state, members::terminated_at.eq(now)))
                        .execute(c),
                    MemberState::Created | MemberState::InMaintenance => {
                        diesel::update(target).set(set_state).execute(c)
                    }
                }
                .map_err(plain("transition_member"))?;
                if updated == 0 {
                    continue;
                }
                let row: MemberRow = members::table
                    .find(member_id)
                    .select(MemberRow::as_select())
                    .first(c)
                    .map_err(plain("transition_member"))?;
                return Ok(Transition::Moved {
                    from,
                    member: row.into_record()?,
                });
            }
            Err(RegistryError::Conflict(format!(
                "member {member_id} kept changing concurrently; transition to {to} not applied"
            )))
        })();
        result
    }};
}

impl Registry {
    /// Insert a `Created` member. With a fence (a leader's decision to start one), in one
    /// transaction with the check that its term is current: the intent of a start.
    pub fn insert_member(
        &self,
        fence: Option<&Fence>,
        m: NewMember,
    ) -> Result<Member, RegistryError> {
        let mut row = MemberRow::created(m, now_ms())?;
        row.action_token = fence.map(|f| f.token);
        let id = row.member_id.clone();
        write_tx!(self, c => {
            if let Some(fence) = fence {
                check_fence!(c, fence);
            }
            diesel::insert_into(members::table)
                .values(&row)
                .execute(c)
                .map_err(query("insert_member", || format!("member {id} already exists")))?;
            Ok(())
        })?;
        row.into_record()
    }

    pub fn get_member(&self, member_id: &str) -> Result<Option<Member>, RegistryError> {
        let row: Option<MemberRow> = run!(self, c => members::table.find(member_id).select(MemberRow::as_select()).first(c).optional().map_err(plain("get_member")))?;
        row.map(MemberRow::into_record).transpose()
    }

    pub fn list_members(
        &self,
        cluster_id: &str,
        include_terminated: bool,
    ) -> Result<Vec<Member>, RegistryError> {
        let rows: Vec<MemberRow> = run!(self, c => {
            let mut q = members::table
                .filter(members::cluster_id.eq(cluster_id))
                .select(MemberRow::as_select())
                .order((members::created_at.asc(), members::member_id.asc()))
                .into_boxed();
            if !include_terminated {
                q = q.filter(members::state.ne(MemberState::Terminated.as_str()));
            }
            q.load(c).map_err(plain("list_members"))
        })?;
        rows.into_iter().map(MemberRow::into_record).collect()
    }

    pub fn list_live_members(&self) -> Result<Vec<Member>, RegistryError> {
        let rows: Vec<MemberRow> = run!(self, c => members::table
            .filter(members::state.ne(MemberState::Terminated.as_str()))
            .select(MemberRow::as_select())
            .order((members::created_at.asc(), members::member_id.asc()))
            .load(c)
            .map_err(plain("list_live_members")))?;
        rows.into_iter().map(MemberRow::into_record).collect()
    }

    /// Compare-and-set state change in one transaction, following `MemberState::advance`.
    pub fn transition_member(
        &self,
        member_id: &str,
        to: MemberState,
    ) -> Result<Transition, RegistryError> {
        let now = now_ms();
        write_tx!(self, c => cas_transition!(c, member_id, to, now))
    }

    /// Record a termination: the reason (the first one recorded is kept) and the move to
    /// `ReadyToShutDown`, in one transaction. With a fence (a leader's decision: scale-down,
    /// fault, expiry, unsubscribe), only while its term is current; without (an agent asked
    /// to shut down), always.
    pub fn request_termination(
        &self,
        fence: Option<&Fence>,
        member_id: &str,
        reason: &str,
    ) -> Result<Transition, RegistryError> {
        let now = now_ms();
        write_tx!(self, c => {
            if let Some(fence) = fence {
                check_fence!(c, fence);
            }
            diesel::update(
                members::table
                    .find(member_id)
                    .filter(members::termination_reason.is_null()),
            )
            .set(members::termination_reason.eq(reason))
            .execute(c)
            .map_err(plain("request_termination"))?;
            cas_transition!(c, member_id, MemberState::ReadyToShutDown, now)
        })
    }

    pub fn set_member_instance(
        &self,
        member_id: &str,
        instance_id: &str,
        private_ips: &[String],
        public_ips: &[String],
    ) -> Result<Member, RegistryError> {
        let now = now_ms();
        let private = to_json(&private_ips)?;
        let public = to_json(&public_ips)?;
        let n = run!(self, c => diesel::update(members::table.find(member_id))
            .set((members::instance_id.eq(instance_id), members::private_ips.eq(&private), members::public_ips.eq(&public), members::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("set_member_instance")))?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("member {member_id}")));
        }
        self.get_member(member_id)?
            .ok_or_else(|| RegistryError::NotFound(format!("member {member_id}")))
    }

    pub fn set_member_error(&self, member_id: &str, error: &str) -> Result<(), RegistryError> {
        let now = now_ms();
        let n = run!(self, c => diesel::update(members::table.find(member_id))
            .set((members::last_error.eq(error), members::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("set_member_error")))?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("member {member_id}")));
        }
        Ok(())
    }

    pub fn set_termination_reason(
        &self,
        member_id: &str,
        reason: &str,
    ) -> Result<(), RegistryError> {
        let now = now_ms();
        let n = run!(self, c => diesel::update(members::table.find(member_id))
            .set((members::termination_reason.eq(reason), members::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("set_termination_reason")))?;
        if n == 0 {
            return Err(RegistryError::NotFound(format!("member {member_id}")));
        }
        Ok(())
    }

    /// Members now in `state` (any state, Terminated included), oldest first.
    pub fn list_members_in_state(&self, state: MemberState) -> Result<Vec<Member>, RegistryError> {
        let rows: Vec<MemberRow> = run!(self, c => members::table
            .filter(members::state.eq(state.as_str()))
            .select(MemberRow::as_select())
            .order((members::created_at.asc(), members::member_id.asc()))
            .load(c)
            .map_err(plain("list_members_in_state")))?;
        rows.into_iter().map(MemberRow::into_record).collect()
    }

    /// Non-Terminated members on provider `provider_type` (of one tenant, if given), counted by
    /// the database.
    pub fn count_live_members(
        &self,
        provider_type: &str,
        tenant_id: Option<i64>,
    ) -> Result<usize, RegistryError> {
        let n: i64 = run!(self, c => {
            let mut q = members::table
                .filter(members::provider_type.eq(provider_type))
                .filter(members::state.ne(MemberState::Terminated.as_str()))
                .into_boxed();
            if let Some(t) = tenant_id {
                q = q.filter(members::tenant_id.eq(t));
            }
            q.count().get_result(c).map_err(plain("count_live_members"))
        })?;
        usize::try_from(n)
            .map_err(|_| RegistryError::Corrupt(format!("count_live_members returned {n}")))
    }

    /// Record, once, that `member_id` is to be cleaned up: stamps `cleanup_requested_at` and,
    /// when none is set yet, the termination reason. `Some(member)` when this call made the
    /// request; `None` when it was already requested or the member is Terminated.
    /// With a fence (a leader's scale-down), only while its term is current.
    pub fn request_cleanup(
        &self,
        fence: Option<&Fence>,
        member_id: &str,
        reason: &str,
    ) -> Result<Option<Member>, RegistryError> {
        let now = now_ms();
        write_tx!(self, c => {
            if let Some(fence) = fence {
                check_fence!(c, fence);
            }
            // The condition is in the UPDATE itself, so racing callers on PostgreSQL (which
            // re-checks it after waiting for the row) still set the stamp exactly once.
            let claimed = diesel::update(
                members::table
                    .find(member_id)
                    .filter(members::state.ne(MemberState::Terminated.as_str()))
                    .filter(members::cleanup_requested_at.is_null()),
            )
            .set((members::cleanup_requested_at.eq(now), members::updated_at.eq(now)))
            .execute(c)
            .map_err(plain("request_cleanup"))?;
            if claimed == 0 {
                let exists: i64 = members::table
                    .find(member_id)
                    .count()
                    .get_result(c)
                    .map_err(plain("request_cleanup"))?;
                return if exists == 0 {
                    Err(RegistryError::NotFound(format!("member {member_id}")))
                } else {
                    Ok(None)
                };
            }
            diesel::update(
                members::table
                    .find(member_id)
                    .filter(members::termination_reason.is_null()),
            )
            .set(members::termination_reason.eq(reason))
            .execute(c)
            .map_err(plain("request_cleanup"))?;
            let row: MemberRow = members::table
                .find(member_id)
                .select(MemberRow::as_select())
                .first(c)
                .map_err(plain("request_cleanup"))?;
            row.into_record().map(Some)
        })
    }

    /// Live members whose cleanup was requested, oldest request first: what a restarted
    /// controller still has to clean up.
    pub fn list_cleanups_requested(&self) -> Result<Vec<Member>, RegistryError> {
        let rows: Vec<MemberRow> = run!(self, c => members::table
            .filter(members::cleanup_requested_at.is_not_null())
            .filter(members::state.ne(MemberState::Terminated.as_str()))
            .select(MemberRow::as_select())
            .order((members::cleanup_requested_at.asc(), members::member_id.asc()))
            .load(c)
            .map_err(plain("list_cleanups_requested")))?;
        rows.into_iter().map(MemberRow::into_record).collect()
    }
}
