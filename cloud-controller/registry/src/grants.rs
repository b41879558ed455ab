//! Payload grants: a member's payload, served once by URL against a one-time token. Only the
//! token's hash (computed by the controller) is stored, so nothing read from the table can be
//! replayed as a URL. Payloads carry secrets: they never reach an error or a log line.

use crate::schema::payload_grants;
use crate::*;

impl Registry {
    /// Store a grant. A second grant under the same hash is a `Conflict`, never an overwrite.
    pub fn put_payload_grant(
        &self,
        token_hash: &str,
        member_id: &str,
        payload: &str,
        expires_at: i64,
    ) -> Result<(), RegistryError> {
        let row = PayloadGrantRow {
            token_hash: token_hash.to_string(),
            member_id: member_id.to_string(),
            payload: payload.to_string(),
            expires_at,
        };
        run!(self, c => diesel::insert_into(payload_grants::table)
        .values(&row)
        .execute(c)
        .map_err(query("put_payload_grant", || {
            format!("a payload grant with that token already exists (member {member_id})")
        })))?;
        Ok(())
    }

    /// Redeem a grant: it is deleted either way, and its payload returned only if it has not
    /// expired (`expires_at > now`). A second take of the same token gets `None`.
    pub fn take_payload_grant(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<String>, RegistryError> {
        write_tx!(self, c => {
            let grant: Option<(String, i64)> = payload_grants::table
                .find(token_hash)
                .select((payload_grants::payload, payload_grants::expires_at))
                .first(c)
                .optional()
                .map_err(plain("take_payload_grant"))?;
            let Some((payload, expires_at)) = grant else {
                return Ok(None);
            };
            // Only the caller whose delete removed the row gets the payload: on PostgreSQL a
            // concurrent take waits here for the first one and then deletes nothing.
            let deleted = diesel::delete(payload_grants::table.find(token_hash))
                .execute(c)
                .map_err(plain("take_payload_grant"))?;
            Ok((deleted == 1 && expires_at > now).then_some(payload))
        })
    }

    /// Drop every grant of `member_id` (it terminated, or got a new payload).
    pub fn delete_payload_grants(&self, member_id: &str) -> Result<usize, RegistryError> {
        run!(self, c => diesel::delete(
            payload_grants::table.filter(payload_grants::member_id.eq(member_id)),
        )
        .execute(c)
        .map_err(plain("delete_payload_grants")))
    }

    /// Drop the grants that expired at or before `now`.
    pub fn delete_expired_payload_grants(&self, now: i64) -> Result<usize, RegistryError> {
        run!(self, c => diesel::delete(
            payload_grants::table.filter(payload_grants::expires_at.le(now)),
        )
        .execute(c)
        .map_err(plain("delete_expired_payload_grants")))
    }
}
