//! The CloudStack HTTP API: signed GET requests, JSON responses, async job polling.
//!
//! Signing, as CloudStack's developer guide specifies: take every parameter (including
//! `apiKey`, `command` and `response`), URL-encode each value (spaces as `%20`), sort the pairs
//! by lowercased field name, join them with `&`, lowercase the whole string, HMAC-SHA1 it with
//! the secret key, base64 the digest and send it (URL-encoded) as `signature`.

use super::errors::{cloud_error, truncate, CallKind};
use crate::error::{ErrorClass, IaasError};
use crate::types::Secret;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use sha1::Sha1;
use std::time::{Duration, Instant};

/// What Java's `URLEncoder` leaves alone (CloudStack re-encodes received values that way before
/// checking the signature): letters, digits and `-`, `_`, `.`, `*`. A space becomes `%20`.
const CLOUDSTACK_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// A parameter value encoded the way CloudStack signs and expects it.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, CLOUDSTACK_ENCODE).to_string()
}

/// The string CloudStack signs: pairs sorted by lowercased name, values encoded, all lowercased.
pub fn string_to_sign(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
        .to_lowercase()
}

/// The `signature` value (before URL encoding) of `params` with `secret_key`.
pub fn sign(params: &[(String, String)], secret_key: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret_key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign(params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Async job polling bounds.
#[derive(Debug, Clone, Copy)]
pub struct JobPolling {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub timeout: Duration,
}

/// Backoff of the calls that are safe to repeat.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_times: usize,
}

/// One CloudStack endpoint with one account's keys.
pub struct CloudStackApi {
    http: reqwest::Client,
    endpoint: String,
    api_key: Secret,
    secret_key: Secret,
    provider_type: String,
    pub polling: JobPolling,
    pub retry: RetryPolicy,
}

impl CloudStackApi {
    pub fn new(
        provider_type: &str,
        endpoint: &str,
        api_key: Secret,
        secret_key: Secret,
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
        Ok(CloudStackApi {
            http,
            endpoint: endpoint.to_string(),
            api_key,
            secret_key,
            provider_type: provider_type.to_string(),
            polling: JobPolling {
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(10),
                timeout: Duration::from_secs(600),
            },
            retry: RetryPolicy {
                min_delay: Duration::from_millis(500),
                max_times: 3,
            },
        })
    }

    /// The full request URL for `command` with `params`, signed.
    pub fn signed_url(&self, command: &str, params: &[(String, String)]) -> String {
        let mut all: Vec<(String, String)> = params.to_vec();
        all.push(("command".into(), command.into()));
        all.push(("response".into(), "json".into()));
        all.push(("apiKey".into(), self.api_key.expose().to_string()));
        let signature = sign(&all, self.secret_key.expose());
        let query = all
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}{query}&signature={}",
            self.endpoint,
            encode(&signature)
        )
    }

    /// One call; returns the `<command>response` object.
    pub async fn call(
        &self,
        operation: &'static str,
        kind: CallKind,
        command: &str,
        params: &[(String, String)],
    ) -> Result<Value, IaasError> {
        let url = self.signed_url(command, params);
        let response = self.http.get(&url).send().await.map_err(|e| {
            // reqwest's error text may contain the URL (and so the api key and user data).
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            IaasError::new(
                &self.provider_type,
                operation,
                ErrorClass::Transient,
                format!("{command}: {what}"),
            )
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let key = format!("{}response", command.to_ascii_lowercase());
        let json: Option<Value> = serde_json::from_str(&body).ok();
        let inner = json.as_ref().and_then(|j| {
            j.get(&key)
                .or_else(|| j.as_object().and_then(|o| o.values().next()))
                .cloned()
        });
        if let Some(inner) = &inner {
            if let Some(code) = inner.get("errorcode").and_then(as_u16) {
                let text = inner.get("errortext").and_then(Value::as_str).unwrap_or("");
                let mut err = cloud_error(&self.provider_type, operation, kind, code, text);
                if let ErrorClass::RateLimited { .. } = err.class {
                    err.class = ErrorClass::RateLimited { retry_after };
                }
                return Err(err);
            }
        }
        if !status.is_success() {
            let code = status.as_u16();
            let text = if body.trim().is_empty() {
                status.canonical_reason().unwrap_or("").to_string()
            } else {
                body.clone()
            };
            let mut err = cloud_error(&self.provider_type, operation, kind, code, &text);
            if let ErrorClass::RateLimited { .. } = err.class {
                err.class = ErrorClass::RateLimited { retry_after };
            }
            return Err(err);
        }
        inner.ok_or_else(|| {
            IaasError::new(
                &self.provider_type,
                operation,
                ErrorClass::Transient,
                format!(
                    "{command}: unexpected response (HTTP {}): {}",
                    status.as_u16(),
                    truncate(&body)
                ),
            )
        })
    }

    /// A call that is safe to repeat (a list, a delete): retried with bounded exponential
    /// backoff on transient failures and throttling.
    pub async fn call_retrying(
        &self,
        operation: &'static str,
        kind: CallKind,
        command: &str,
        params: &[(String, String)],
    ) -> Result<Value, IaasError> {
        let backoff = crate::retry::Backoff {
            min_delay: self.retry.min_delay,
            max_delay: Duration::from_secs(20),
            max_retries: self.retry.max_times,
            max_hint: Duration::from_secs(60),
        };
        crate::retry::retry_safe(backoff, operation, || {
            self.call(operation, kind, command, params)
        })
        .await
    }

    /// Wait for an async job and return its `jobresult`. Bounded by `polling.timeout`; the
    /// delay between polls doubles from `first_delay` up to `max_delay`.
    pub async fn wait_job(
        &self,
        operation: &'static str,
        kind: CallKind,
        job_id: &str,
    ) -> Result<Value, IaasError> {
        let started = Instant::now();
        let mut delay = self.polling.first_delay;
        loop {
            let result = self
                .call_retrying(
                    operation,
                    CallKind::Read,
                    "queryAsyncJobResult",
                    &[("jobid".to_string(), job_id.to_string())],
                )
                .await?;
            match result.get("jobstatus").and_then(as_u16) {
                Some(1) => return Ok(result.get("jobresult").cloned().unwrap_or(Value::Null)),
                Some(2) => {
                    let job = result.get("jobresult").cloned().unwrap_or(Value::Null);
                    let code = job
                        .get("errorcode")
                        .and_then(as_u16)
                        .or_else(|| result.get("jobresultcode").and_then(as_u16))
                        .unwrap_or(530);
                    let text = job
                        .get("errortext")
                        .and_then(Value::as_str)
                        .unwrap_or("async job failed");
                    return Err(cloud_error(
                        &self.provider_type,
                        operation,
                        kind,
                        code,
                        text,
                    ));
                }
                _ => {}
            }
            if started.elapsed() + delay > self.polling.timeout {
                return Err(IaasError::new(
                    &self.provider_type,
                    operation,
                    ErrorClass::Transient,
                    format!(
                        "async job {job_id} still running after {}s",
                        started.elapsed().as_secs()
                    ),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.polling.max_delay);
        }
    }
}

/// CloudStack sends numbers as numbers or strings, depending on version and field.
pub(crate) fn as_u16(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id as a string whether the cloud sent `"abc-..."` or `2602`.
pub(crate) fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The example of CloudStack's developer guide ("Signing API Requests", listUsers).
    #[test]
    fn signs_the_developer_guide_example() {
        let params = pairs(&[
            ("command", "listUsers"),
            ("response", "json"),
            (
                "apikey",
                "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg",
            ),
        ]);
        assert_eq!(
            string_to_sign(&params),
            "apikey=plgwjfzk4gys3momtvmjuvg-x-jlwlnfauj9gabbbf9edm-kaymmailqzzq1elzlyq_u38zcm0bewzgudp66mg&command=listusers&response=json"
        );
        assert_eq!(
            sign(
                &params,
                "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ"
            ),
            "TTpdDq/7j/J58XCRHomKoQXEQds="
        );
    }

    /// The guide's URL-building rules: sorted by name whatever the case, `%20` for spaces.
    #[test]
    fn sorts_by_lowercased_name_and_encodes_spaces_as_percent_20() {
        let params = pairs(&[
            ("zoneId", "4"),
            ("displayName", "a b+c/d=e"),
            ("apiKey", "K"),
        ]);
        assert_eq!(
            string_to_sign(&params),
            "apikey=k&displayname=a%20b%2bc%2fd%3de&zoneid=4"
        );
        assert_eq!(encode("a-b_c.d*e~f"), "a-b_c.d*e%7Ef");
    }

    #[test]
    fn signed_url_carries_every_parameter_and_the_signature() {
        let api = CloudStackApi::new(
            "cs",
            "http://127.0.0.1:1/client/api",
            Secret::new("KEY"),
            Secret::new("SECRET"),
            Duration::from_secs(1),
        )
        .unwrap();
        let url = api.signed_url("listZones", &pairs(&[("available", "true")]));
        assert!(url.starts_with("http://127.0.0.1:1/client/api?available=true&command=listZones&response=json&apiKey=KEY&signature="));
        assert!(!url.contains("SECRET"));
    }
}
