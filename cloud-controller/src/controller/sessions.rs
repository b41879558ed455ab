//! What the web console's sessions rest on: one signing key shared by every replica, kept in
//! the registry, and the user a session names (with a fingerprint of its password hash, so a
//! changed password ends the sessions signed before).

use super::store::internal;
use super::Controller;
use crate::auth::Principal;
use crate::error::Result;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The registry report under which the key is kept (never shown by any route).
const KEY_REPORT: &str = "console-session-key";

/// The console's session signing key, read (or created) once per process.
pub(crate) struct SessionKey {
    key: OnceCell<Vec<u8>>,
}

impl SessionKey {
    pub(crate) fn new() -> SessionKey {
        SessionKey {
            key: OnceCell::new(),
        }
    }
}

/// A user a session may name: who it is and a fingerprint of its current password hash.
pub struct SessionUser {
    pub principal: Principal,
    pub password_fingerprint: Vec<u8>,
}

impl Controller {
    /// The key every replica signs and checks console sessions with. The first replica to
    /// need it creates it; an insert-if-absent settles a race between replicas.
    pub async fn session_key(&self) -> Result<Vec<u8>> {
        let store = self.store.clone();
        self.session_key
            .key
            .get_or_try_init(|| async move {
                let mut fresh = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut fresh);
                let encoded = base64::engine::general_purpose::STANDARD.encode(fresh);
                let stored = store
                    .run(move |r| r.put_report_if_absent(KEY_REPORT, &encoded))
                    .await?;
                base64::engine::general_purpose::STANDARD
                    .decode(stored.trim())
                    .map_err(|e| internal(format!("stored console session key unreadable: {e}")))
            })
            .await
            .cloned()
    }

    /// The user `login` names, if it exists (no password check: the session's signature is
    /// the credential).
    pub async fn session_user(&self, login: &str) -> Result<Option<SessionUser>> {
        let login = login.to_string();
        let user = self.store.run(move |r| r.get_user(&login)).await?;
        Ok(user.map(|u| SessionUser {
            password_fingerprint: Sha256::digest(u.password_hash.as_bytes()).to_vec(),
            principal: Principal {
                login: u.login,
                tenant_id: u.tenant_id,
                role: u.role,
            },
        }))
    }
}
