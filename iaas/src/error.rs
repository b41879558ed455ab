//! IaaS errors carry a class (what the controller should do about it) and the cloud's own code.

use std::fmt;
use std::time::Duration;

/// What kind of failure a cloud call had; the autoscaler backs a partition off per class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass {
    /// Account or project quota exhausted (EC2 `InstanceLimitExceeded`).
    Quota,
    /// The cloud has no capacity for this shape here (EC2 `InsufficientInstanceCapacity`).
    Capacity,
    /// Throttled; retry after the hint when the cloud gives one.
    RateLimited { retry_after: Option<Duration> },
    /// Credentials rejected.
    Auth,
    /// The request itself is wrong (bad image, bad parameter): retrying will not help.
    InvalidRequest,
    /// The instance (or other object) does not exist.
    NotFound,
    /// A network error or a 5xx: safe to retry idempotent calls.
    Transient,
}

impl ErrorClass {
    /// Parse the names used in failure-injection properties (`quota`, `rate-limited`, ...).
    pub fn from_name(name: &str) -> Option<ErrorClass> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "quota" => ErrorClass::Quota,
            "capacity" => ErrorClass::Capacity,
            "rate-limited" | "ratelimited" | "throttled" => {
                ErrorClass::RateLimited { retry_after: None }
            }
            "auth" => ErrorClass::Auth,
            "invalid-request" | "invalid" => ErrorClass::InvalidRequest,
            "not-found" | "notfound" => ErrorClass::NotFound,
            "transient" => ErrorClass::Transient,
            _ => return None,
        })
    }

    /// Worth another attempt (for calls that are safe to repeat).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ErrorClass::RateLimited { .. } | ErrorClass::Transient)
    }

    pub fn name(&self) -> &'static str {
        match self {
            ErrorClass::Quota => "quota",
            ErrorClass::Capacity => "capacity",
            ErrorClass::RateLimited { .. } => "rate-limited",
            ErrorClass::Auth => "auth",
            ErrorClass::InvalidRequest => "invalid-request",
            ErrorClass::NotFound => "not-found",
            ErrorClass::Transient => "transient",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorClass::RateLimited {
                retry_after: Some(d),
            } => write!(f, "rate-limited, retry after {}ms", d.as_millis()),
            other => f.write_str(other.name()),
        }
    }
}

/// A failed cloud call. Never carries credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider_type}: {operation} failed [{class}{}]: {message}", code.as_deref().map(|c| format!(", code {c}")).unwrap_or_default())]
pub struct IaasError {
    /// The iaasProvider `type` (e.g. `ec2-us-east`), not the driver name.
    pub provider_type: String,
    pub operation: &'static str,
    pub class: ErrorClass,
    /// The cloud's own error code (`InstanceLimitExceeded`), when it gave one.
    pub code: Option<String>,
    pub message: String,
}

impl IaasError {
    pub fn new(
        provider_type: &str,
        operation: &'static str,
        class: ErrorClass,
        message: impl Into<String>,
    ) -> Self {
        IaasError {
            provider_type: provider_type.to_string(),
            operation,
            class,
            code: None,
            message: message.into(),
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_provider_operation_class_and_code() {
        let e = IaasError::new("ec2", "start_instance", ErrorClass::Quota, "limit reached")
            .with_code("InstanceLimitExceeded");
        assert_eq!(
            e.to_string(),
            "ec2: start_instance failed [quota, code InstanceLimitExceeded]: limit reached"
        );
        let e = IaasError::new(
            "ec2",
            "start_instance",
            ErrorClass::RateLimited {
                retry_after: Some(Duration::from_millis(1500)),
            },
            "slow down",
        );
        assert!(e.to_string().contains("retry after 1500ms"));
    }

    #[test]
    fn class_names_round_trip() {
        for name in [
            "quota",
            "capacity",
            "rate-limited",
            "auth",
            "invalid-request",
            "not-found",
            "transient",
        ] {
            assert_eq!(ErrorClass::from_name(name).unwrap().name(), name);
        }
        assert_eq!(ErrorClass::from_name("bogus"), None);
    }
}
