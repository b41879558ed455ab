//! Who may send statistics: the login the agent's `agent.conf` gives
//! (`thrift.server.admin.username` / `.password`), checked against `--thrift-user` /
//! `--thrift-password`. A trait so that per-tenant logins can come later; whoever logs in, a
//! stat only ever moves a live member of the cluster it names (see `HealthSink`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// On whose behalf a session sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The platform's own login (`--thrift-user`): any cluster.
    Platform,
}

pub trait Authenticator: Send + Sync {
    fn authenticate(&self, user: &str, password: &str) -> Option<Principal>;
}

/// The one platform login. Only SHA-256 digests are kept, compared in constant time, so
/// neither the password's content nor its length leaks through timing.
pub struct PlatformLogin {
    user: [u8; 32],
    password: [u8; 32],
}

impl PlatformLogin {
    pub fn new(user: &str, password: &str) -> PlatformLogin {
        PlatformLogin {
            user: Sha256::digest(user.as_bytes()).into(),
            password: Sha256::digest(password.as_bytes()).into(),
        }
    }
}

impl Authenticator for PlatformLogin {
    fn authenticate(&self, user: &str, password: &str) -> Option<Principal> {
        let user_ok = self
            .user
            .ct_eq(&<[u8; 32]>::from(Sha256::digest(user.as_bytes())));
        let password_ok = self
            .password
            .ct_eq(&<[u8; 32]>::from(Sha256::digest(password.as_bytes())));
        bool::from(user_ok & password_ok).then_some(Principal::Platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_login_is_a_principal() {
        let login = PlatformLogin::new("admin", "s3cret");
        assert_eq!(
            login.authenticate("admin", "s3cret"),
            Some(Principal::Platform)
        );
        assert_eq!(login.authenticate("admin", "s3cre"), None);
        assert_eq!(login.authenticate("root", "s3cret"), None);
        assert_eq!(login.authenticate("", ""), None);
    }
}
