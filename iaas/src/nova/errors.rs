//! OpenStack (Nova, Cinder, Keystone) HTTP errors → [`ErrorClass`].
//!
//! | status | body / context | class |
//! | --- | --- | --- |
//! | 401 | after one re-authentication | Auth |
//! | 403, 413 | message contains "quota" | Quota |
//! | 413 (`overLimit`), 429 | otherwise | RateLimited (`Retry-After` seconds or date) |
//! | 403 | otherwise (policy) | Auth |
//! | 404 | delete | NotFound |
//! | 404 | create | InvalidRequest (unknown image, flavor, network) |
//! | 404 | read | NotFound |
//! | 400, 422 | | InvalidRequest |
//! | 409 | delete | Transient (task in progress) |
//! | 409 | otherwise | InvalidRequest |
//! | 5xx | message contains "No valid host" | Capacity |
//! | 5xx | otherwise | Transient |
//! | server in ERROR | fault "No valid host" → Capacity, "quota" → Quota, else Transient | |

use crate::error::{ErrorClass, IaasError};
use serde_json::Value;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Read,
    Create,
    Delete,
}

const MAX_MESSAGE: usize = 400;

pub(crate) fn truncate(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The fault name and message of an OpenStack error body: `{"itemNotFound": {"message": ...}}`
/// (Nova, Cinder), `{"error": {"message": ...}}` (Keystone), `{"NeutronError": {"type": ...,
/// "message": ...}}` (Neutron). Anything else (HTML from a proxy, empty) gives the text itself.
pub fn fault(body: &str) -> (Option<String>, String) {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
        for (key, inner) in &map {
            if let Some(message) = inner.get("message").and_then(Value::as_str) {
                let code = inner
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| key.clone());
                return (Some(code), truncate(message));
            }
        }
        if let Some(message) = map.get("message").and_then(Value::as_str) {
            return (None, truncate(message));
        }
    }
    (None, truncate(body))
}

/// The class of an HTTP error status with the cloud's message.
pub fn classify(
    status: u16,
    message: &str,
    kind: CallKind,
    retry_after: Option<Duration>,
) -> ErrorClass {
    let text = message.to_ascii_lowercase();
    match status {
        401 => ErrorClass::Auth,
        403 | 413 if text.contains("quota") => ErrorClass::Quota,
        413 | 429 => ErrorClass::RateLimited { retry_after },
        403 => ErrorClass::Auth,
        404 if kind == CallKind::Create => ErrorClass::InvalidRequest,
        404 => ErrorClass::NotFound,
        409 if kind == CallKind::Delete => ErrorClass::Transient,
        500..=599 if text.contains("no valid host") => ErrorClass::Capacity,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::InvalidRequest,
    }
}

/// The class of a server's `fault` after it went to ERROR.
pub fn server_fault_class(message: &str) -> ErrorClass {
    let text = message.to_ascii_lowercase();
    if text.contains("no valid host") {
        ErrorClass::Capacity
    } else if text.contains("quota") {
        ErrorClass::Quota
    } else {
        ErrorClass::Transient
    }
}

pub fn http_error(
    provider_type: &str,
    operation: &'static str,
    kind: CallKind,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> IaasError {
    let (code, message) = fault(body);
    let message = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        message
    };
    IaasError::new(
        provider_type,
        operation,
        classify(status, &message, kind, retry_after),
        message,
    )
    .with_code(match code {
        Some(c) => format!("{status} {c}"),
        None => status.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use CallKind::*;
        let secs = Some(Duration::from_secs(3));
        assert_eq!(
            classify(413, "Quota exceeded for instances", Create, None),
            ErrorClass::Quota
        );
        assert_eq!(
            classify(403, "Quota exceeded for cores", Create, None),
            ErrorClass::Quota
        );
        assert_eq!(
            classify(403, "Policy doesn't allow", Create, None),
            ErrorClass::Auth
        );
        assert_eq!(
            classify(429, "", Read, secs),
            ErrorClass::RateLimited { retry_after: secs }
        );
        assert_eq!(
            classify(413, "This request was rate-limited.", Read, secs),
            ErrorClass::RateLimited { retry_after: secs }
        );
        assert_eq!(classify(401, "", Read, None), ErrorClass::Auth);
        assert_eq!(
            classify(400, "Invalid flavorRef", Create, None),
            ErrorClass::InvalidRequest
        );
        assert_eq!(
            classify(404, "Image not found", Create, None),
            ErrorClass::InvalidRequest
        );
        assert_eq!(classify(404, "", Delete, None), ErrorClass::NotFound);
        assert_eq!(classify(503, "", Read, None), ErrorClass::Transient);
        assert_eq!(
            classify(500, "No valid host was found.", Create, None),
            ErrorClass::Capacity
        );
        assert_eq!(
            server_fault_class("No valid host was found. There are not enough hosts"),
            ErrorClass::Capacity
        );
        assert_eq!(
            server_fault_class("The server has either erred"),
            ErrorClass::Transient
        );
    }

    #[test]
    fn bodies_of_any_shape_never_panic() {
        assert_eq!(
            fault(
                r#"{"itemNotFound": {"message": "Instance x could not be found.", "code": 404}}"#
            ),
            (
                Some("itemNotFound".into()),
                "Instance x could not be found.".into()
            )
        );
        assert_eq!(
            fault(r#"{"NeutronError": {"type": "FloatingIPNotFound", "message": "gone", "detail": ""}}"#).0.as_deref(),
            Some("FloatingIPNotFound")
        );
        assert_eq!(
            fault("<html>502 Bad Gateway</html>").1,
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(fault("").1, "");
        assert_eq!(fault("[1,2]").1, "[1,2]");
        let e = http_error("os", "start_instance", CallKind::Create, 502, None, "");
        assert_eq!(e.class, ErrorClass::Transient);
        assert_eq!(e.message, "HTTP 502");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
