//! Logins cheap to check and expensive to guess.
//!
//! - A verified credential is cached for [`CACHE_TTL`], keyed by an HMAC of login and password
//!   under a key this process draws at start (the table never holds a password, and its keys
//!   cannot be computed from outside, so looking one up leaks nothing by its timing): an
//!   authenticated request then costs a hash, not an argon2 verification of 19 MiB.
//! - Failed logins are counted per login and per source address; past a few, each further
//!   attempt waits a delay that doubles with every failure (up to [`MAX_DELAY`]) and is answered
//!   `429` with `Retry-After` until then, without verifying anything. A credential in the cache
//!   passes regardless, so an attacker guessing a login cannot lock out its owner's running
//!   sessions.
//! - An unknown login is verified against a dummy hash with the same parameters: it costs what a
//!   wrong password costs, so logins cannot be enumerated by timing.
//! - At most [`MAX_CONCURRENT_VERIFICATIONS`] argon2 verifications run at once, so memory stays
//!   bounded however many wrong passwords arrive in parallel.
//!
//! Every table is bounded ([`MAX_TRACKED`]); the state is per process (each replica counts its
//! own).

use crate::auth::Principal;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a verified credential is trusted without verifying it again.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(60);
/// Failures of one login that cost nothing more.
const FREE_LOGIN_FAILURES: u32 = 5;
/// Failures from one source address that cost nothing more (it may serve many users).
const FREE_SOURCE_FAILURES: u32 = 20;
/// The longest delay a run of failures earns.
const MAX_DELAY: Duration = Duration::from_secs(300);
/// A failure older than this is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Entries per table at most (cache, logins, sources).
pub(crate) const MAX_TRACKED: usize = 10_000;
/// argon2 verifications (19 MiB each) at once.
pub(crate) const MAX_CONCURRENT_VERIFICATIONS: usize = 4;

type CacheKey = [u8; 32];

struct Cached {
    principal: Principal,
    until: Instant,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// Until when the next attempt must wait, if it must.
    fn blocked_until(&self, free: u32) -> Option<Instant> {
        let over = self.count.checked_sub(free)?;
        if over == 0 {
            return None;
        }
        let delay = Duration::from_secs(1)
            .saturating_mul(1u32 << (over - 1).min(16))
            .min(MAX_DELAY);
        Some(self.last + delay)
    }
}

/// A login attempt refused before any verification: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttled {
    pub retry_after: Duration,
}

pub(crate) struct LoginGuard {
    cache_key: CacheKey,
    cache: Mutex<HashMap<CacheKey, Cached>>,
    logins: Mutex<HashMap<String, Failures>>,
    sources: Mutex<HashMap<IpAddr, Failures>>,
    verifications: Semaphore,
    verifier: std::sync::Arc<crate::auth::ReusingVerifier>,
}

impl LoginGuard {
    pub(crate) fn new() -> LoginGuard {
        LoginGuard {
            cache_key: rand::random(),
            cache: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
            verifications: Semaphore::new(MAX_CONCURRENT_VERIFICATIONS),
            verifier: Default::default(),
        }
    }

    fn key(&self, login: &str, password: &str) -> CacheKey {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.cache_key) {
            Ok(mac) => mac,
            // HMAC takes keys of any length: unreachable, and a miss is only slower.
            Err(_) => return [0; 32],
        };
        mac.update(login.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The principal of a credential verified less than [`CACHE_TTL`] ago.
    pub(crate) fn cached(&self, login: &str, password: &str, now: Instant) -> Option<Principal> {
        let key = self.key(login, password);
        let cache = self.cache.lock().ok()?;
        cache
            .get(&key)
            .filter(|c| c.until > now)
            .map(|c| c.principal.clone())
    }

    /// Whether an attempt for `login` from `source` must wait.
    pub(crate) fn check(
        &self,
        login: &str,
        source: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Throttled> {
        let by_login = self.logins.lock().ok().and_then(|l| {
            l.get(login)
                .and_then(|f| f.blocked_until(FREE_LOGIN_FAILURES))
        });
        let by_source = source.and_then(|ip| {
            self.sources.lock().ok().and_then(|s| {
                s.get(&ip)
                    .and_then(|f| f.blocked_until(FREE_SOURCE_FAILURES))
            })
        });
        match by_login.into_iter().chain(by_source).max() {
            Some(until) if until > now => Err(Throttled {
                retry_after: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// The argon2 verifier (its working memory reused from one verification to the next).
    pub(crate) fn verifier(&self) -> std::sync::Arc<crate::auth::ReusingVerifier> {
        self.verifier.clone()
    }

    /// Hold one of the verification slots while argon2 runs.
    pub(crate) async fn verification_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.verifications.acquire().await.ok()
    }

    pub(crate) fn succeeded(
        &self,
        login: &str,
        password: &str,
        principal: &Principal,
        now: Instant,
    ) {
        if let Ok(mut logins) = self.logins.lock() {
            logins.remove(login);
        }
        let key = self.key(login, password);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_TRACKED && !cache.contains_key(&key) {
                cache.retain(|_, c| c.until > now);
                if cache.len() >= MAX_TRACKED {
                    cache.clear();
                }
            }
            cache.insert(
                key,
                Cached {
                    principal: principal.clone(),
                    until: now + CACHE_TTL,
                },
            );
        }
    }

    pub(crate) fn failed(&self, login: &str, source: Option<IpAddr>, now: Instant) {
        if let Ok(mut logins) = self.logins.lock() {
            count_failure(&mut logins, login.to_string(), now);
        }
        if let (Some(ip), Ok(mut sources)) = (source, self.sources.lock()) {
            count_failure(&mut sources, ip, now);
        }
    }
}

/// One more failure for `key`, keeping the table within [`MAX_TRACKED`].
fn count_failure<K: std::hash::Hash + Eq>(table: &mut HashMap<K, Failures>, key: K, now: Instant) {
    if table.len() >= MAX_TRACKED && !table.contains_key(&key) {
        table.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        if table.len() >= MAX_TRACKED {
            // Still full of recent failures: forget the oldest half.
            let mut lasts: Vec<Instant> = table.values().map(|f| f.last).collect();
            lasts.sort();
            let cut = lasts[lasts.len() / 2];
            table.retain(|_, f| f.last > cut);
        }
    }
    let entry = table.entry(key).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now.duration_since(entry.last) >= FORGET_AFTER {
        entry.count = 0;
    }
    entry.count = entry.count.saturating_add(1);
    entry.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alto_registry::Role;

    fn principal() -> Principal {
        Principal {
            login: "boss@acme".into(),
            tenant_id: 7,
            role: Role::TenantAdmin,
        }
    }

    #[test]
    fn a_verified_credential_is_cached_for_its_ttl_only_and_only_for_that_password() {
        let guard = LoginGuard::new();
        let now = Instant::now();
        assert_eq!(guard.cached("boss@acme", "pw", now), None);
        guard.succeeded("boss@acme", "pw", &principal(), now);
        assert_eq!(guard.cached("boss@acme", "pw", now), Some(principal()));
        assert_eq!(guard.cached("boss@acme", "pw2", now), None);
        assert_eq!(
            guard.cached("boss@acm", "epw", now),
            None,
            "login and password are kept apart"
        );
        assert_eq!(guard.cached("boss@acme", "pw", now + CACHE_TTL), None);
        // Another process (key) cannot use this one's entries.
        assert_ne!(
            LoginGuard::new().key("boss@acme", "pw"),
            guard.key("boss@acme", "pw")
        );
    }

    #[test]
    fn failures_earn_doubling_delays_per_login_and_per_source() {
        let guard = LoginGuard::new();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FREE_LOGIN_FAILURES {
            assert!(guard.check("boss@acme", Some(ip), t0).is_ok());
            guard.failed("boss@acme", Some(ip), t0);
        }
        assert!(
            guard.check("boss@acme", Some(ip), t0).is_ok(),
            "five are free"
        );
        guard.failed("boss@acme", Some(ip), t0);
        assert_eq!(
            guard.check("boss@acme", None, t0),
            Err(Throttled {
                retry_after: Duration::from_secs(1)
            })
        );
        guard.failed("boss@acme", None, t0);
        assert_eq!(
            guard.check("boss@acme", None, t0).unwrap_err().retry_after,
            Duration::from_secs(2)
        );
        assert!(guard
            .check("boss@acme", None, t0 + Duration::from_secs(2))
            .is_ok());
        assert!(guard.check("other@acme", None, t0).is_ok(), "per login");
        // A success clears the login's record.
        guard.succeeded("boss@acme", "pw", &principal(), t0);
        assert!(guard.check("boss@acme", None, t0).is_ok());
        // Many logins from one source: the source waits.
        for i in 0..=FREE_SOURCE_FAILURES {
            guard.failed(&format!("u{i}"), Some(ip), t0);
        }
        assert!(guard.check("fresh@acme", Some(ip), t0).is_err());
        assert!(guard
            .check("fresh@acme", Some("192.0.2.8".parse().unwrap()), t0)
            .is_ok());
        // The delay stops doubling at its cap.
        for _ in 0..100 {
            guard.failed("boss@acme", None, t0);
        }
        assert_eq!(
            guard.check("boss@acme", None, t0).unwrap_err().retry_after,
            MAX_DELAY
        );
    }

    #[test]
    fn the_tables_stay_bounded_under_a_flood_of_logins() {
        let guard = LoginGuard::new();
        let now = Instant::now();
        for i in 0..(MAX_TRACKED + 500) {
            guard.failed(&format!("user{i}"), None, now);
            guard.succeeded(&format!("ok{i}"), "pw", &principal(), now);
        }
        assert!(guard.logins.lock().unwrap().len() <= MAX_TRACKED);
        assert!(guard.cache.lock().unwrap().len() <= MAX_TRACKED);
    }
}
