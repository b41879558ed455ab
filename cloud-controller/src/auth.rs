//! Who is calling, and password hashing (argon2: a maintained, memory-hard KDF).

use crate::error::{ControllerError, Result};
use alto_registry::Role;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use serde::Serialize;

/// Stratos' super tenant: the platform admin's own tenant.
pub const SUPER_TENANT_ID: i64 = -1234;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub login: String,
    pub tenant_id: i64,
    #[serde(serialize_with = "role_name")]
    pub role: Role,
}

fn role_name<S: serde::Serializer>(role: &Role, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(match role {
        Role::Admin => "admin",
        Role::TenantAdmin => "tenant-admin",
        Role::TenantUser => "tenant-user",
    })
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self, what: &str) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ControllerError::Forbidden(format!(
                "{what} requires the platform admin"
            )))
        }
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ControllerError::Internal(format!("password hashing failed: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The most argon2 memory a stored hash may ask for (64 MiB): ours use 19 MiB.
const MAX_VERIFY_BLOCKS: usize = 64 * 1024;

/// Verifies passwords against argon2 PHC strings in memory it keeps: argon2 allocates its
/// 19 MiB working memory on every call, and freed on whatever thread ran it, that memory stayed
/// with the allocator (a process verifying in parallel grew by tens of MiB per verification).
/// Here at most as many buffers exist as verifications ever ran at once (the caller bounds
/// that), each reused.
#[derive(Default)]
pub struct ReusingVerifier {
    buffers: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
}

impl ReusingVerifier {
    /// Whether `password` matches the PHC string `hash` (malformed or oversized: no).
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Ok(params), Ok(algorithm)) = (
            argon2::Params::try_from(&parsed),
            argon2::Algorithm::try_from(parsed.algorithm),
        ) else {
            return false;
        };
        let version = match parsed.version.map(argon2::Version::try_from) {
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
            None => argon2::Version::default(),
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let blocks = params.block_count();
        if blocks > MAX_VERIFY_BLOCKS {
            return false;
        }
        let mut memory = self
            .buffers
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_default();
        memory.resize(blocks, argon2::Block::default());
        let mut out = vec![0u8; expected.len()];
        let computed = Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut memory[..blocks],
            )
            .is_ok();
        if let Ok(mut buffers) = self.buffers.lock() {
            buffers.push(memory);
        }
        // Output's equality is constant-time.
        computed && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
    }
}

/// A random password for `alto dev` when ALTO_ADMIN_PASSWORD is unset.
pub fn generate_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_password() {
        let hash = hash_password("s3cret").unwrap();
        assert!(!hash.contains("s3cret"));
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("s3cret ", &hash));
        let verifier = ReusingVerifier::default();
        for _ in 0..2 {
            assert!(verifier.verify("s3cret", &hash));
            assert!(!verifier.verify("s3cret ", &hash));
        }
        assert!(!verifier.verify("s3cret", "not a hash"));
        assert_eq!(
            verifier.buffers.lock().unwrap().len(),
            1,
            "one buffer, reused"
        );
        assert!(!verify_password("s3cret", "not a hash"));
    }
}
