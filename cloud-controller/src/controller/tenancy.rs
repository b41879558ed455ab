//! Logins and tenants: HTTP Basic credentials checked against argon2 hashes in the registry,
//! and tenant creation by the platform admin.

use super::Controller;
use crate::auth::{self, Principal};
use crate::error::{ControllerError, Result};
use crate::model::{TenantInfo, TenantRequest};
use alto_registry::NewTenant;
use std::net::IpAddr;
use std::time::Instant;

/// The longest password a tenant admin may be given.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest user name (before `@domain`).
pub const MAX_USER_NAME: usize = 64;
/// The longest login presented (`user@domain`: a name and a domain name).
pub const MAX_LOGIN_BYTES: usize = MAX_USER_NAME + 1 + 253;

impl Controller {
    /// Check a login (no source address known: only the per-login limit applies).
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Principal> {
        self.authenticate_from(login, password, None).await
    }

    /// Check a login presented from `source`: a credential verified within the last minute is
    /// taken from the cache; otherwise the attempt may have to wait (429) after repeated
    /// failures of this login or from this address, and is verified with argon2 — against a
    /// dummy hash when the login is unknown, so that both cost the same. A refusal is counted
    /// (`alto_login_failures_total`). See logins.rs.
    pub async fn authenticate_from(
        &self,
        login: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal> {
        let now = Instant::now();
        if let Some(principal) = self.logins.cached(login, password, now) {
            return Ok(principal);
        }
        if let Err(throttled) = self.logins.check(login, source, now) {
            return Err(ControllerError::TooManyAttempts {
                retry_after_secs: throttled.retry_after.as_secs_f64().ceil() as u64,
            });
        }
        let result = self.check_login(login, password).await;
        match &result {
            Ok(principal) => self
                .logins
                .succeeded(login, password, principal, Instant::now()),
            Err(ControllerError::Unauthorized) => {
                self.logins.failed(login, source, Instant::now());
                self.metrics.login_failure();
            }
            Err(_) => {}
        }
        result
    }

    async fn check_login(&self, login: &str, password: &str) -> Result<Principal> {
        // Longer than anything we accept: refused without a verification.
        if password.len() > MAX_PASSWORD_BYTES || login.len() > MAX_LOGIN_BYTES {
            return Err(ControllerError::Unauthorized);
        }
        let login_owned = login.to_string();
        let user = self.store.run(move |r| r.get_user(&login_owned)).await?;
        // An unknown login is verified too, against a hash of nothing anyone knows.
        let hash = match &user {
            Some(u) => u.password_hash.clone(),
            None => self.dummy_hash.clone(),
        };
        let password = password.to_string();
        let ok = {
            let _slot = self.logins.verification_slot().await;
            let verifier = self.logins.verifier();
            tokio::task::spawn_blocking(move || verifier.verify(&password, &hash))
                .await
                .unwrap_or(false)
        };
        match user {
            Some(user) if ok => Ok(Principal {
                login: user.login,
                tenant_id: user.tenant_id,
                role: user.role,
            }),
            _ => Err(ControllerError::Unauthorized),
        }
    }

    pub async fn create_tenant(&self, p: &Principal, req: TenantRequest) -> Result<TenantInfo> {
        p.require_admin("creating a tenant")?;
        let domain = req.tenant_domain.trim().to_ascii_lowercase();
        let valid_domain = !domain.is_empty()
            && domain.len() <= 253
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-']);
        if !valid_domain {
            return Err(ControllerError::invalid(format!(
                "tenantDomain {:?} is not a domain name (letters, digits, '.' and '-')",
                req.tenant_domain
            )));
        }
        let admin = req.admin.trim();
        if admin.is_empty() || admin.contains(['@', ':']) || admin.chars().any(char::is_whitespace)
        {
            return Err(ControllerError::invalid(format!(
                "admin {:?} must be a user name without '@', ':' or spaces",
                req.admin
            )));
        }
        if admin.len() > MAX_USER_NAME {
            return Err(ControllerError::invalid(format!(
                "admin must have at most {MAX_USER_NAME} characters"
            )));
        }
        if req.admin_password.len() < 6 {
            return Err(ControllerError::invalid(
                "adminPassword must have at least 6 characters",
            ));
        }
        // A longer one could never be presented: it would not fit an HTTP header.
        if req.admin_password.len() > MAX_PASSWORD_BYTES {
            return Err(ControllerError::invalid(format!(
                "adminPassword must have at most {MAX_PASSWORD_BYTES} bytes"
            )));
        }
        let hash = auth::hash_password(&req.admin_password)?;
        let new = NewTenant {
            domain: domain.clone(),
            email: req.email.clone(),
            admin_username: admin.to_string(),
            admin_password_hash: hash,
        };
        let tenant = self.store.run(move |r| r.create_tenant(new)).await?;
        Ok(TenantInfo {
            tenant_id: tenant.id,
            tenant_domain: tenant.domain.clone(),
            admin: format!("{admin}@{}", tenant.domain),
            email: tenant.email.clone(),
            created_at: tenant.created_at,
        })
    }
}
