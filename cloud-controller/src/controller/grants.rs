//! Payloads served by URL, for clouds whose user data is too small to carry one (Rackspace's
//! 255 bytes): the instance gets `PAYLOAD_URL=<public url>/api/payload/<token>` instead and its
//! agent fetches the payload once. The registry keeps only a SHA-256 of the token, so neither a
//! restart nor a copy of the database hands out a usable token; a token is single-use, expires
//! after the grant's time to live and is revoked when its member terminates.

use super::store::{now_ms, Store};
use crate::error::{ControllerError, Result};
use sha2::{Digest, Sha256};
use std::sync::RwLock;
use std::time::Duration;

pub(crate) struct PayloadGrants {
    store: Store,
    ttl: Duration,
    /// Where instances reach the REST API; without it payloads are never served by URL.
    public_url: RwLock<Option<String>>,
}

fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PayloadGrants {
    pub(crate) fn new(store: Store, ttl: Duration) -> PayloadGrants {
        PayloadGrants {
            store,
            ttl,
            public_url: RwLock::new(None),
        }
    }

    pub(crate) fn set_public_url(&self, url: &str) {
        if let Ok(mut u) = self.public_url.write() {
            *u = Some(url.to_string());
        }
    }

    /// The instance's user data: the payload itself when the cloud takes it, else a bootstrap
    /// line with a fresh grant. Without a public URL the payload is passed as is and the
    /// cloud's own error says it is too large.
    pub(crate) async fn user_data(
        &self,
        member_id: &str,
        payload: String,
        capabilities: iaas::Capabilities,
    ) -> Result<String> {
        let Some(limit) = capabilities.max_payload_bytes else {
            return Ok(payload);
        };
        if payload.len() <= limit {
            return Ok(payload);
        }
        let Some(base) = self.public_url.read().ok().and_then(|u| u.clone()) else {
            tracing::warn!(
                member = member_id,
                bytes = payload.len(),
                limit,
                "payload larger than the cloud accepts and no public URL to serve it from"
            );
            return Ok(payload);
        };
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let (hash, member, expires) = (
            token_hash(&token),
            member_id.to_string(),
            now_ms() + self.ttl.as_millis() as i64,
        );
        self.store
            .run(move |r| {
                r.delete_expired_payload_grants(now_ms())?;
                r.put_payload_grant(&hash, &member, &payload, expires)
            })
            .await?;
        Ok(format!(
            "PAYLOAD_URL={}/api/payload/{token}",
            base.trim_end_matches('/')
        ))
    }

    /// The payload behind a token, once. Unknown, used, expired and revoked tokens are
    /// indistinguishable (`NotFound`).
    pub(crate) async fn take(&self, token: &str) -> Result<String> {
        let hash = token_hash(token);
        self.store
            .run(move |r| r.take_payload_grant(&hash, now_ms()))
            .await?
            .ok_or_else(|| ControllerError::NotFound("no such payload".into()))
    }

    /// The member terminated: its grants go with it.
    pub(crate) async fn revoke(&self, member_id: &str) -> Result<()> {
        let id = member_id.to_string();
        self.store
            .run(move |r| r.delete_payload_grants(&id))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_registry_sees_a_digest_not_the_token() {
        let hash = super::token_hash("abc");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, "abc");
        assert_eq!(hash, super::token_hash("abc"));
        assert_ne!(hash, super::token_hash("abd"));
    }
}
