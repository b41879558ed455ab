//! Keystone v3 password authentication and authenticated calls to Nova, Cinder and Neutron.
//!
//! The token is reused until shortly before it expires (lifetime = `expires_at - issued_at`,
//! applied to our own clock so clock skew does not matter) and renewed once on a 401.

use super::errors::{http_error, parse_retry_after, truncate, CallKind};
use super::parse;
use crate::error::{ErrorClass, IaasError};
use crate::types::Secret;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Which service of the catalog a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Compute,
    Volume,
}

impl Service {
    fn catalog_types(self) -> &'static [&'static str] {
        match self {
            Service::Compute => &["compute"],
            Service::Volume => &["volumev3", "block-storage", "volumev2", "volume"],
        }
    }
}

/// Who we are to Keystone.
#[derive(Clone)]
pub struct Credentials {
    /// `…/v3` of Keystone.
    pub keystone: String,
    pub user: String,
    pub project: String,
    pub domain: String,
    pub password: Secret,
    pub region: Option<String>,
    pub interface: String,
}

struct Session {
    token: Secret,
    valid_until: Instant,
    body: Value,
}

pub struct NovaApi {
    http: reqwest::Client,
    creds: Credentials,
    provider_type: String,
    session: Mutex<Option<Arc<Session>>>,
    pub retry_min_delay: Duration,
}

/// Keystone URL as configured (`http://host:5000/`, `…/v2.0`, `…/v3`) → `…/v3`.
pub fn keystone_v3(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    let base = base
        .strip_suffix("/v2.0")
        .or_else(|| base.strip_suffix("/v3"))
        .unwrap_or(base);
    format!("{base}/v3")
}

fn transport_error(provider_type: &str, operation: &'static str, e: &reqwest::Error) -> IaasError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    IaasError::new(provider_type, operation, ErrorClass::Transient, what)
}

impl NovaApi {
    pub fn new(
        provider_type: &str,
        creds: Credentials,
        timeout: Duration,
    ) -> Result<Self, IaasError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| {
                IaasError::new(
                    provider_type,
                    "initialize",
                    ErrorClass::InvalidRequest,
                    format!("HTTP client: {e}"),
                )
            })?;
        Ok(NovaApi {
            http,
            creds,
            provider_type: provider_type.to_string(),
            session: Mutex::new(None),
            retry_min_delay: Duration::from_millis(500),
        })
    }

    async fn authenticate(&self, operation: &'static str) -> Result<Arc<Session>, IaasError> {
        let c = &self.creds;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.user, "domain": {"id": c.domain}, "password": c.password.expose()}}},
            "scope": {"project": {"name": c.project, "domain": {"id": c.domain}}}
        }});
        let response = self
            .http
            .post(format!("{}/auth/tokens", c.keystone))
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(&self.provider_type, operation, &e))?;
        let status = response.status();
        let token = response
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let mut e = http_error(
                &self.provider_type,
                operation,
                CallKind::Read,
                status.as_u16(),
                retry_after,
                &text,
            );
            if status.as_u16() == 404 {
                e.class = ErrorClass::InvalidRequest;
                e.message = format!("Keystone v3 not found at {}: {}", c.keystone, e.message);
            }
            return Err(e);
        }
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            IaasError::new(
                &self.provider_type,
                operation,
                ErrorClass::Transient,
                format!("Keystone answered with no JSON token: {}", truncate(&text)),
            )
        })?;
        let token = token.ok_or_else(|| {
            IaasError::new(
                &self.provider_type,
                operation,
                ErrorClass::Auth,
                "Keystone sent no X-Subject-Token",
            )
        })?;
        let lifetime = parse::token_lifetime(&body).unwrap_or(Duration::from_secs(3600));
        let margin = (lifetime / 10).min(Duration::from_secs(300));
        Ok(Arc::new(Session {
            token: Secret::new(token),
            valid_until: Instant::now() + lifetime.saturating_sub(margin),
            body,
        }))
    }

    /// A valid session; `stale` is the token that just got a 401 (renewed unless already done).
    async fn session(
        &self,
        operation: &'static str,
        stale: Option<&Arc<Session>>,
    ) -> Result<Arc<Session>, IaasError> {
        let mut guard = self.session.lock().await;
        if let Some(current) = guard.as_ref() {
            let is_stale = stale.is_some_and(|s| Arc::ptr_eq(s, current));
            if !is_stale && Instant::now() < current.valid_until {
                return Ok(current.clone());
            }
        }
        let fresh = self.authenticate(operation).await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// Authenticate now (validation) and return the URL of `service` in the catalog.
    pub async fn endpoint(
        &self,
        operation: &'static str,
        service: Service,
        region: Option<&str>,
    ) -> Result<String, IaasError> {
        let session = self.session(operation, None).await?;
        self.endpoint_in(&session, operation, service, region)
    }

    fn endpoint_in(
        &self,
        session: &Session,
        operation: &'static str,
        service: Service,
        region: Option<&str>,
    ) -> Result<String, IaasError> {
        let region = region.or(self.creds.region.as_deref());
        parse::catalog_endpoint(
            &session.body,
            service.catalog_types(),
            region,
            &self.creds.interface,
        )
        .ok_or_else(|| {
            IaasError::new(
                &self.provider_type,
                operation,
                ErrorClass::InvalidRequest,
                format!(
                    "no {} endpoint ({} interface) in region {} of the Keystone catalog",
                    service.catalog_types()[0],
                    self.creds.interface,
                    region.unwrap_or("(any)")
                ),
            )
        })
    }

    /// One call; a 401 renews the token and tries once more. Returns the JSON body (Null when
    /// empty).
    pub async fn call(
        &self,
        operation: &'static str,
        kind: CallKind,
        method: Method,
        service: Service,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, IaasError> {
        let mut session = self.session(operation, None).await?;
        for attempt in 0..2 {
            let base = self.endpoint_in(&session, operation, service, None)?;
            let mut request = self
                .http
                .request(
                    method.clone(),
                    format!("{}{path}", base.trim_end_matches('/')),
                )
                .header("X-Auth-Token", session.token.expose())
                .header("Accept", "application/json");
            if let Some(b) = body {
                request = request.json(b);
            }
            let response = request
                .send()
                .await
                .map_err(|e| transport_error(&self.provider_type, operation, &e))?;
            let status = response.status();
            if status.as_u16() == 401 && attempt == 0 {
                session = self.session(operation, Some(&session)).await?;
                continue;
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(http_error(
                    &self.provider_type,
                    operation,
                    kind,
                    status.as_u16(),
                    retry_after,
                    &text,
                ));
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|_| {
                IaasError::new(
                    &self.provider_type,
                    operation,
                    ErrorClass::Transient,
                    format!("HTTP {}: not JSON: {}", status.as_u16(), truncate(&text)),
                )
            });
        }
        unreachable!("the loop returns on its second pass")
    }

    /// A call safe to repeat (GET, DELETE): bounded exponential backoff on transient errors and
    /// throttling (honouring Retry-After, at most 60 s).
    pub async fn call_retrying(
        &self,
        operation: &'static str,
        kind: CallKind,
        method: Method,
        service: Service,
        path: &str,
    ) -> Result<Value, IaasError> {
        let backoff = crate::retry::Backoff {
            min_delay: self.retry_min_delay,
            max_delay: Duration::from_secs(20),
            max_retries: 3,
            max_hint: Duration::from_secs(60),
        };
        crate::retry::retry_safe(backoff, operation, || {
            self.call(operation, kind, method.clone(), service, path, None)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_urls_become_v3() {
        assert_eq!(keystone_v3("http://k:5000/"), "http://k:5000/v3");
        assert_eq!(keystone_v3("http://k:5000/v2.0"), "http://k:5000/v3");
        assert_eq!(
            keystone_v3("https://k/identity/v3/"),
            "https://k/identity/v3"
        );
    }
}
