//! The HTTP protocol between a [`super::remote::RemoteMock`] (in each controller replica) and
//! the `alto mock-cloud` process: routes, headers, bodies and how an [`IaasError`] crosses the
//! wire. Both sides use these types, so they cannot drift apart.
//!
//! Routes (JSON bodies; `{type}` is an iaasProvider type, `[A-Za-z0-9_-]` so that it is its
//! state file's name unchanged and two types never share one, at most [`MAX_NAME_BYTES`]):
//! - `POST /providers/{type}` [`RegisterRequest`] → 200 [`RegisterResponse`]: the server
//!   creates the type's cloud with these provider-level properties; a later registration keeps
//!   the existing one (`created: false`).
//! - `POST /providers/{type}/instances` [`StartRequest`] → 200 [`crate::Instance`].
//! - `GET /providers/{type}/instances[?cluster_id=C][&member_id=M]` → 200 `[Instance, ...]`.
//! - `DELETE /providers/{type}/instances/{instance id}` → 204.
//! - `GET /calls` → 200 [`CallCounts`]: `{"<replica id>": {"start": n, "terminate": n,
//!   "stale": n}}`.
//!
//! Every request names its caller in [`REPLICA_HEADER`] and [`FENCING_TOKEN_HEADER`]. Every
//! failure is an [`ErrorBody`] with the status of [`status_for`].

use crate::error::{ErrorClass, IaasError};
use crate::types::{InstanceSpec, Properties};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The caller's replica id (`--replica-id`; empty for a controller that never said).
pub const REPLICA_HEADER: &str = "X-Alto-Replica";
/// The caller's fencing token (0: not leader, never refused as stale).
pub const FENCING_TOKEN_HEADER: &str = "X-Alto-Fencing-Token";
/// Longest replica id or provider type the server accepts.
pub const MAX_NAME_BYTES: usize = 128;
/// The error code of a start or terminate whose fencing token is older than one already seen.
pub const STALE_FENCING_TOKEN: &str = "StaleFencingToken";
/// The error code for a provider type nobody registered (yet, or since the server restarted):
/// the client registers it again and repeats the call.
pub const UNKNOWN_PROVIDER: &str = "UnknownProvider";

/// `POST /providers/{type}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The provider-level properties of cloud-controller.xml.
    pub properties: Properties,
}

/// The answer to a registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub provider_type: String,
    /// `false`: the type was registered before and keeps its first properties.
    pub created: bool,
}

/// `POST /providers/{type}/instances`: an [`InstanceSpec`] (without volumes: the mock has
/// none). `Debug` leaves the payload out: it carries CARTRIDGE_KEY.
#[derive(Clone, Serialize, Deserialize)]
pub struct StartRequest {
    pub member_id: String,
    pub cluster_id: String,
    pub service_name: String,
    pub network_partition_id: String,
    pub partition_id: String,
    #[serde(default)]
    pub image_id: Option<String>,
    pub payload: String,
    /// The merged properties (provider < cartridge < partition).
    #[serde(default)]
    pub properties: Properties,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl fmt::Debug for StartRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartRequest")
            .field("member_id", &self.member_id)
            .field("cluster_id", &self.cluster_id)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .finish_non_exhaustive()
    }
}

impl StartRequest {
    pub fn new(spec: &InstanceSpec, properties: Properties) -> StartRequest {
        StartRequest {
            member_id: spec.member_id.clone(),
            cluster_id: spec.cluster_id.clone(),
            service_name: spec.service_name.clone(),
            network_partition_id: spec.network_partition_id.clone(),
            partition_id: spec.partition_id.clone(),
            image_id: spec.image_id.clone(),
            payload: spec.payload.clone(),
            properties,
            tags: spec.tags.clone(),
        }
    }

    pub fn into_spec(self) -> InstanceSpec {
        InstanceSpec {
            member_id: self.member_id,
            cluster_id: self.cluster_id,
            service_name: self.service_name,
            network_partition_id: self.network_partition_id,
            partition_id: self.partition_id,
            image_id: self.image_id,
            payload: self.payload,
            properties: self.properties,
            tags: self.tags,
            volumes: Vec::new(),
        }
    }
}

/// The query of `GET /providers/{type}/instances`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DescribeQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
}

/// One caller's calls, as `GET /calls` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCount {
    pub start: u64,
    pub terminate: u64,
    /// Starts and terminations refused for a stale fencing token (counted in the two above
    /// too: they were calls made).
    pub stale: u64,
}

/// `GET /calls`: per replica id.
pub type CallCounts = BTreeMap<String, CallCount>;

/// Every failure's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// An [`ErrorClass`] name (`quota`, `transient`, ...).
    pub class: String,
    /// The cloud's code (`MockInjectedFailure`, `InstanceNotFound`, ...), when it has one.
    pub code: Option<String>,
    pub message: String,
    /// A rate limit's retry-after hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    pub fn new(class: &ErrorClass, code: Option<&str>, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            class: class.name().to_string(),
            code: code.map(str::to_string),
            message: message.into(),
            retry_after_ms: match class {
                ErrorClass::RateLimited {
                    retry_after: Some(hint),
                } => Some(u64::try_from(hint.as_millis()).unwrap_or(u64::MAX)),
                _ => None,
            },
        }
    }

    /// The body of a driver's error (its message only: the provider type and operation are the
    /// client's to say).
    pub fn from_error(error: &IaasError) -> ErrorBody {
        ErrorBody::new(&error.class, error.code.as_deref(), error.message.clone())
    }

    /// The error the client reports: the server's class and code; a class this build does not
    /// know falls back to what the status says.
    pub fn into_error(
        self,
        provider_type: &str,
        operation: &'static str,
        status: u16,
    ) -> IaasError {
        let class = match ErrorClass::from_name(&self.class) {
            Some(ErrorClass::RateLimited { .. }) => ErrorClass::RateLimited {
                retry_after: self.retry_after_ms.map(Duration::from_millis),
            },
            Some(class) => class,
            None => class_for_status(status),
        };
        let error = IaasError::new(provider_type, operation, class, self.message);
        match self.code {
            Some(code) => error.with_code(code),
            None => error,
        }
    }
}

/// The HTTP status of an error of `class` (the body says the class; the status is for people
/// and proxies).
pub fn status_for(class: &ErrorClass, code: Option<&str>) -> u16 {
    match class {
        ErrorClass::InvalidRequest if code == Some(STALE_FENCING_TOKEN) => 409,
        ErrorClass::InvalidRequest => 400,
        ErrorClass::Auth => 401,
        ErrorClass::Quota => 403,
        ErrorClass::NotFound => 404,
        ErrorClass::RateLimited { .. } => 429,
        ErrorClass::Capacity | ErrorClass::Transient => 503,
    }
}

/// The class of a failure without a readable body (a proxy's page, a truncated answer). A
/// bare 404 is a wrong endpoint, not a vanished instance: only the server's body says
/// `not-found`.
pub fn class_for_status(status: u16) -> ErrorClass {
    match status {
        401 | 403 => ErrorClass::Auth,
        429 => ErrorClass::RateLimited { retry_after: None },
        400..=499 => ErrorClass::InvalidRequest,
        _ => ErrorClass::Transient,
    }
}

/// Whether `name` may be a provider type in a route: exactly the names the state file keeps
/// unchanged (`mock-<type>.json`), so two types never share a file.
pub fn valid_provider_type(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_its_class_code_and_hint_across_the_wire() {
        let sent = IaasError::new("t", "start_instance", ErrorClass::Quota, "injected #1")
            .with_code("MockInjectedFailure");
        let json = serde_json::to_string(&ErrorBody::from_error(&sent)).unwrap();
        assert_eq!(
            json,
            r#"{"class":"quota","code":"MockInjectedFailure","message":"injected #1"}"#
        );
        let body: ErrorBody = serde_json::from_str(&json).unwrap();
        let got = body.into_error("t", "start instance", 403);
        assert_eq!(got.class, ErrorClass::Quota);
        assert_eq!(got.code.as_deref(), Some("MockInjectedFailure"));

        let limited = ErrorClass::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        };
        let body = ErrorBody::new(&limited, None, "slow down");
        assert_eq!(body.retry_after_ms, Some(1500));
        assert_eq!(body.into_error("t", "op", 429).class, limited);

        let unknown = ErrorBody {
            class: "from-the-future".into(),
            code: None,
            message: "?".into(),
            retry_after_ms: None,
        };
        assert_eq!(
            unknown.into_error("t", "op", 503).class,
            ErrorClass::Transient
        );
        assert_eq!(class_for_status(404), ErrorClass::InvalidRequest);
    }

    #[test]
    fn a_start_request_never_prints_its_payload() {
        let request = StartRequest {
            member_id: "m1".into(),
            cluster_id: "c1".into(),
            service_name: "php".into(),
            network_partition_id: "np".into(),
            partition_id: "p".into(),
            image_id: None,
            payload: "CARTRIDGE_KEY=s3cr3t".into(),
            properties: Properties::new(),
            tags: BTreeMap::new(),
        };
        let printed = format!("{request:?}");
        assert!(
            !printed.contains("s3cr3t") && printed.contains("m1"),
            "{printed}"
        );
    }

    #[test]
    fn provider_types_in_routes_are_plain_names() {
        assert!(valid_provider_type("mock-eu1_a"));
        for bad in [
            "",
            "a/b",
            "..",
            "a.b",
            "a b",
            &"x".repeat(MAX_NAME_BYTES + 1),
        ] {
            assert!(!valid_provider_type(bad), "{bad:?}");
        }
    }
}
