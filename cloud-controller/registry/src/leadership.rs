//! Leadership of controller replicas sharing one database: a lease row with an expiry and a
//! fencing token, and the fenced writes a leader's actions go through.
//!
//! A replica claims the lease (or renews its own) every fraction of the lease's length. A new
//! term — a different holder, or a holder whose lease had run out — gets the next fencing
//! token; tokens are never reused. Every write that records the intent of a cloud action (a
//! member to start, a cloud call about to go out) checks in its own transaction that the
//! writer still holds the lease with the token it was given and that the lease has not
//! expired, by the database's clock; on PostgreSQL it holds a share lock on the lease row
//! until it commits, so a takeover waits for it and then sees it. A leader that was paused past
//! its lease and wakes up gets [`RegistryError::Fenced`] instead of acting.
//!
//! Expiry is judged by the database's clock (PostgreSQL's `clock_timestamp()`), so replicas on
//! machines whose clocks disagree still agree on when a lease is over. SQLite serves one
//! process (the controller locks its data directory), whose clock is the database's.

use crate::schema::{controller_reports, leader_lease, members};

use crate::*;

/// The lease as the database holds it, and the database's time when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The replica holding it (empty: never held).
    pub holder: String,
    /// Which process of that replica: a restarted replica is a new term, so two processes
    /// started with the same replica id by mistake cannot share one.
    pub incarnation: String,
    /// The token of the holder's term.
    pub fencing_token: i64,
    /// When the term began (ms since epoch).
    pub since_ms: i64,
    pub expires_at_ms: i64,
    /// The database's clock at the read.
    pub now_ms: i64,
}

impl Lease {
    /// Whether `replica` holds a lease that has not expired.
    pub fn is_held_by(&self, replica: &str) -> bool {
        self.holder == replica && self.expires_at_ms > self.now_ms
    }

    /// Whether this process of `replica` holds a lease that has not expired.
    pub fn is_held_by_process(&self, replica: &str, incarnation: &str) -> bool {
        self.is_held_by(replica) && self.incarnation == incarnation
    }

    /// Whether anyone holds an unexpired lease.
    pub fn is_held(&self) -> bool {
        !self.holder.is_empty() && self.expires_at_ms > self.now_ms
    }
}

/// What a leader shows with each action: who it is and the token of its term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub token: i64,
}

/// The id of the one lease row.
pub(crate) const LEASE_ROW: i64 = 1;

/// Row locks on the lease and the database's clock, per backend.
pub(crate) trait LeaseAccess {
    /// Lock the lease row against a concurrent claim until the transaction ends (`update`:
    /// exclusively, for a claim; else shared, for a fenced write).
    fn lock_lease(&mut self, update: bool) -> Result<(), RegistryError>;
    fn db_now_ms(&mut self) -> Result<i64, RegistryError>;
}

impl LeaseAccess for SqliteConnection {
    fn lock_lease(&mut self, _update: bool) -> Result<(), RegistryError> {
        // Write transactions are BEGIN IMMEDIATE: the database is already locked.
        Ok(())
    }

    fn db_now_ms(&mut self) -> Result<i64, RegistryError> {
        Ok(now_ms())
    }
}

impl LeaseAccess for PgConnection {
    fn lock_lease(&mut self, update: bool) -> Result<(), RegistryError> {
        let mode = if update { "UPDATE" } else { "SHARE" };
        // A lock held by a stalled process is released by the server within its idle timeout
        // (see `POSTGRES_SESSION`); waiting longer than that means something else is wrong:
        // give up and let the next claim or write try again.
        self.batch_execute(&format!(
            "SET LOCAL lock_timeout = '3s'; SELECT 1 FROM leader_lease WHERE id = {LEASE_ROW} FOR {mode}"
        ))
        .map_err(plain("lock leader_lease"))
    }

    fn db_now_ms(&mut self) -> Result<i64, RegistryError> {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        ))
        .get_result(self)
        .map_err(plain("database clock"))
    }
}

/// The lease row, inside a transaction that has locked it.
macro_rules! read_lease_row {
    ($c:ident) => {{
        use $crate::leadership::LeaseAccess as _;
        use $crate::schema::leader_lease;
        let now = $c.db_now_ms()?;
        let (holder, incarnation, fencing_token, since_ms, expires_at_ms): (
            String,
            String,
            i64,
            i64,
            i64,
        ) = leader_lease::table
            .find($crate::leadership::LEASE_ROW)
            .select((
                leader_lease::holder,
                leader_lease::incarnation,
                leader_lease::fencing_token,
                leader_lease::since_ms,
                leader_lease::expires_at_ms,
            ))
            .first($c)
            .map_err($crate::plain("read leader_lease"))?;
        $crate::Lease {
            holder,
            incarnation,
            fencing_token,
            since_ms,
            expires_at_ms,
            now_ms: now,
        }
    }};
}

/// Fail with [`RegistryError::Fenced`] unless `fence` is the current, unexpired term; on
/// PostgreSQL the lease row stays share-locked until the transaction ends.
macro_rules! check_fence {
    ($c:ident, $fence:expr) => {{
        use $crate::leadership::LeaseAccess as _;
        let fence: &$crate::Fence = $fence;
        $c.lock_lease(false)?;
        let lease = read_lease_row!($c);
        if !lease.is_held_by(&fence.holder) || lease.fencing_token != fence.token {
            return Err($crate::RegistryError::Fenced {
                holder: fence.holder.clone(),
                token: fence.token,
            });
        }
    }};
}

impl Registry {
    /// Take the lease for process `incarnation` of replica `holder` if it is free or expired
    /// (a new term, the next token), or renew it if that process has it (same term). Returns
    /// the lease as it stands afterwards: held by someone else when the claim lost.
    /// `takeover`: take it even from an unexpired holder — only for SQLite, whose
    /// data-directory lock proves the previous process is gone.
    pub fn claim_lease(
        &self,
        holder: &str,
        incarnation: &str,
        lease_ms: i64,
        takeover: bool,
    ) -> Result<Lease, RegistryError> {
        if holder.is_empty() {
            return Err(RegistryError::Conflict(
                "a replica id must not be empty".into(),
            ));
        }
        write_tx!(self, c => {
            c.lock_lease(true)?;
            let mut lease = read_lease_row!(c);
            let renew = lease.is_held_by_process(holder, incarnation) && !takeover;
            if !renew && lease.is_held() && !takeover {
                return Ok(lease);
            }
            if !renew {
                lease.fencing_token += 1;
                lease.since_ms = lease.now_ms;
                lease.holder = holder.to_string();
                lease.incarnation = incarnation.to_string();
            }
            lease.expires_at_ms = lease.now_ms.saturating_add(lease_ms.max(1));
            diesel::update(leader_lease::table.find(LEASE_ROW))
                .set((
                    leader_lease::holder.eq(&lease.holder),
                    leader_lease::incarnation.eq(&lease.incarnation),
                    leader_lease::fencing_token.eq(lease.fencing_token),
                    leader_lease::since_ms.eq(lease.since_ms),
                    leader_lease::expires_at_ms.eq(lease.expires_at_ms),
                ))
                .execute(c)
                .map_err(plain("claim leader_lease"))?;
            Ok(lease)
        })
    }

    /// The lease as it stands.
    pub fn read_lease(&self) -> Result<Lease, RegistryError> {
        run!(self, c => {
            let lease: Result<Lease, RegistryError> = (|| Ok(read_lease_row!(c)))();
            lease
        })
    }

    /// End `fence`'s term now (a replica shutting down), so another takes over at once.
    /// `false` when the term was already over.
    pub fn release_lease(&self, fence: &Fence) -> Result<bool, RegistryError> {
        write_tx!(self, c => {
            c.lock_lease(true)?;
            let lease = read_lease_row!(c);
            if !lease.is_held_by(&fence.holder) || lease.fencing_token != fence.token {
                return Ok(false);
            }
            diesel::update(leader_lease::table.find(LEASE_ROW))
                .set(leader_lease::expires_at_ms.eq(lease.now_ms))
                .execute(c)
                .map_err(plain("release leader_lease"))?;
            Ok(true)
        })
    }

    /// Fail with [`RegistryError::Fenced`] unless `fence` is the current term.
    pub fn check_fence(&self, fence: &Fence) -> Result<(), RegistryError> {
        write_tx!(self, c => {
            check_fence!(c, fence);
            Ok(())
        })
    }

    /// Record that `fence`'s leader is about to call the cloud for `member_id` (start or
    /// terminate), in one transaction with the check that its term is current.
    pub fn record_cloud_action(&self, fence: &Fence, member_id: &str) -> Result<(), RegistryError> {
        write_tx!(self, c => {
            check_fence!(c, fence);
            let updated = diesel::update(members::table.find(member_id))
                .set(members::action_token.eq(Some(fence.token)))
                .execute(c)
                .map_err(plain("record_cloud_action"))?;
            if updated == 0 {
                return Err(RegistryError::NotFound(format!("member {member_id}")));
            }
            Ok(())
        })
    }

    /// The fencing token of the term that last recorded a cloud action for the member.
    pub fn member_action_token(&self, member_id: &str) -> Result<Option<i64>, RegistryError> {
        let token: Option<Option<i64>> = run!(self, c => members::table
            .find(member_id)
            .select(members::action_token)
            .first(c)
            .optional()
            .map_err(plain("member_action_token")))?;
        Ok(token.flatten())
    }

    /// Store a report under `name` (JSON), replacing the previous one.
    pub fn put_report(&self, name: &str, body: &str) -> Result<(), RegistryError> {
        let now = now_ms();
        run!(self, c => diesel::insert_into(controller_reports::table)
            .values((
                controller_reports::name.eq(name),
                controller_reports::body.eq(body),
                controller_reports::updated_at.eq(now),
            ))
            .on_conflict(controller_reports::name)
            .do_update()
            .set((
                controller_reports::body.eq(body),
                controller_reports::updated_at.eq(now),
            ))
            .execute(c)
            .map_err(plain("put_report")))?;
        Ok(())
    }

    /// Store `body` under `name` unless something is stored there already; returns what is
    /// stored afterwards. Replicas racing to create the same value (a shared key) all end up
    /// with the one that won the insert.
    pub fn put_report_if_absent(&self, name: &str, body: &str) -> Result<String, RegistryError> {
        let now = now_ms();
        run!(self, c => diesel::insert_into(controller_reports::table)
            .values((
                controller_reports::name.eq(name),
                controller_reports::body.eq(body),
                controller_reports::updated_at.eq(now),
            ))
            .on_conflict(controller_reports::name)
            .do_nothing()
            .execute(c)
            .map_err(plain("put_report_if_absent")))?;
        self.get_report(name)?
            .ok_or_else(|| RegistryError::NotFound(format!("report {name} after its insert")))
    }

    /// The report stored under `name`, if any.
    pub fn get_report(&self, name: &str) -> Result<Option<String>, RegistryError> {
        run!(self, c => controller_reports::table
            .find(name)
            .select(controller_reports::body)
            .first(c)
            .optional()
            .map_err(plain("get_report")))
    }
}
