//! Logins and tenants: HTTP Basic credentials checked against argon2 hashes in the registry,
//! and tenant creation by the platform admin.

use super::Controller;
use crate::auth::{self, Principal};
use crate::error::{ControllerError, Result};
use crate::model::{TenantInfo, TenantRequest};
use alto_registry::NewTenant;

/// The longest password a tenant admin may be given.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest user name (before `@domain`).
pub const MAX_USER_NAME: usize = 64;

impl Controller {
    /// Check a login; a refusal is counted (`alto_login_failures_total`).
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Principal> {
        let result = self.check_login(login, password).await;
        if matches!(result, Err(ControllerError::Unauthorized)) {
            self.metrics.login_failure();
        }
        result
    }

    async fn check_login(&self, login: &str, password: &str) -> Result<Principal> {
        let login_owned = login.to_string();
        let user = self.store.run(move |r| r.get_user(&login_owned)).await?;
        let Some(user) = user else {
            return Err(ControllerError::Unauthorized);
        };
        let password = password.to_string();
        let hash = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(ControllerError::Unauthorized);
        }
        Ok(Principal {
            login: user.login,
            tenant_id: user.tenant_id,
            role: user.role,
        })
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
