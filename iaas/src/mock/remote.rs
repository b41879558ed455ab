//! The `mock` provider with `mock.endpoint`: the simulated cloud lives in the `alto mock-cloud`
//! process, shared by every controller replica as a real cloud is, and this driver talks to it
//! over HTTP ([`super::wire`]).
//!
//! Every request names the caller (replica id and current fencing token) so that the shared
//! cloud can count each replica's calls and refuse a fenced leader's. Server errors keep their
//! class and code (a quota stays a quota for the partition backoff); transport failures are
//! transient. Registration, and describe, are retried (safe to repeat); start and terminate are
//! not: the controller decides about those, and a test counts them. A provider type the server
//! does not know (it restarted) is registered again and the call made once more.

use super::parse_prop;
use super::wire::{
    self, DescribeQuery, ErrorBody, RegisterRequest, StartRequest, FENCING_TOKEN_HEADER,
    REPLICA_HEADER, UNKNOWN_PROVIDER,
};
use crate::error::{ErrorClass, IaasError};
use crate::registry::{Caller, DriverContext};
use crate::retry::{retry_safe, Backoff};
use crate::types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, Properties, ProviderSpec,
};
use async_trait::async_trait;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{Method, RequestBuilder};
use std::time::Duration;

/// The provider property naming the mock-cloud process (`http://ADDR`).
pub const ENDPOINT_PROPERTY: &str = "mock.endpoint";

/// Longest a connection to the mock cloud may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a call may take beyond the latency the mock simulates for it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (a describe of many instances fits many times over).
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Retries of the calls safe to repeat: a few seconds' worth, so that a mock cloud started
/// just after the controller is still found.
const BACKOFF: Backoff = Backoff {
    min_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(2),
    max_retries: 5,
    max_hint: Duration::from_secs(5),
};

/// The mock cloud of another process.
pub struct RemoteMock {
    provider_type: String,
    /// `mock.endpoint` without a trailing `/`.
    endpoint: String,
    client: reqwest::Client,
    /// Provider-level properties: sent at registration, under each start's own.
    defaults: Properties,
    caller: Caller,
    terminate_latency: Duration,
    max_payload_bytes: Option<usize>,
}

impl RemoteMock {
    pub fn new(spec: &ProviderSpec, ctx: &DriverContext) -> Result<RemoteMock, IaasError> {
        let t = &spec.provider_type;
        let invalid = |message: String| {
            IaasError::new(t, "read properties", ErrorClass::InvalidRequest, message)
        };
        let raw = spec
            .properties
            .get(ENDPOINT_PROPERTY)
            .map(|e| e.trim().trim_end_matches('/'))
            .unwrap_or_default();
        let url = reqwest::Url::parse(raw)
            .map_err(|e| invalid(format!("property {ENDPOINT_PROPERTY} {raw:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(format!(
                "property {ENDPOINT_PROPERTY} {raw:?}: expected http://HOST:PORT"
            )));
        }
        if !wire::valid_provider_type(t) {
            return Err(invalid(format!(
                "provider type {t:?} cannot be served by a shared mock cloud: use letters, digits, '-' and '_' (at most {} bytes)",
                wire::MAX_NAME_BYTES
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| IaasError::new(t, "build client", ErrorClass::Transient, e.to_string()))?;
        let terminate_ms: u64 =
            parse_prop(t, &spec.properties, "mock.terminate.latency.ms")?.unwrap_or(0);
        Ok(RemoteMock {
            provider_type: t.clone(),
            endpoint: raw.to_string(),
            client,
            defaults: spec.properties.clone(),
            caller: ctx.caller.clone(),
            terminate_latency: Duration::from_millis(terminate_ms),
            max_payload_bytes: parse_prop(t, &spec.properties, "mock.max.payload.bytes")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/providers/{}{path}",
            self.endpoint,
            utf8_percent_encode(&self.provider_type, NON_ALPHANUMERIC)
        )
    }

    /// A request naming the caller, with a timeout `extra` beyond the usual one.
    fn request(&self, method: Method, url: String, extra: Duration) -> RequestBuilder {
        self.client
            .request(method, url)
            .timeout(CALL_TIMEOUT + extra)
            .header(REPLICA_HEADER, &self.caller.replica_id)
            .header(FENCING_TOKEN_HEADER, self.caller.token().to_string())
    }

    fn error(&self, operation: &'static str, class: ErrorClass, message: String) -> IaasError {
        IaasError::new(&self.provider_type, operation, class, message)
    }

    /// Send one request; the body of a success, or the server's error as an [`IaasError`].
    async fn send(
        &self,
        operation: &'static str,
        request: RequestBuilder,
    ) -> Result<Vec<u8>, IaasError> {
        // reqwest's errors name the URL (no secret in it), never the body.
        let response = request.send().await.map_err(|e| {
            self.error(
                operation,
                ErrorClass::Transient,
                format!("mock cloud at {} unreachable: {e}", self.endpoint),
            )
        })?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(self.error(
                operation,
                ErrorClass::Transient,
                format!("mock cloud answered more than {MAX_RESPONSE_BYTES} bytes"),
            ));
        }
        let body = response.bytes().await.map_err(|e| {
            self.error(
                operation,
                ErrorClass::Transient,
                format!("reading the mock cloud's answer: {e}"),
            )
        })?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(error) => error.into_error(&self.provider_type, operation, status.as_u16()),
            Err(_) => self.error(
                operation,
                wire::class_for_status(status.as_u16()),
                format!("mock cloud answered {status} without an error body"),
            ),
        })
    }

    /// [`Self::send`], registering the provider type again when the server does not know it
    /// (it restarted) and then sending once more.
    async fn exchange(
        &self,
        operation: &'static str,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Vec<u8>, IaasError> {
        match self.send(operation, make()).await {
            Err(e) if e.code.as_deref() == Some(UNKNOWN_PROVIDER) => {
                tracing::info!(provider = %self.provider_type, "mock cloud forgot this provider type; registering it again");
                self.register().await?;
                self.send(operation, make()).await
            }
            other => other,
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        body: &[u8],
    ) -> Result<T, IaasError> {
        serde_json::from_slice(body).map_err(|e| {
            self.error(
                operation,
                ErrorClass::Transient,
                format!("unexpected answer from the mock cloud: {e}"),
            )
        })
    }

    async fn register(&self) -> Result<(), IaasError> {
        let body = RegisterRequest {
            properties: self.defaults.clone(),
        };
        retry_safe(BACKOFF, "initialize", || {
            self.send(
                "initialize",
                self.request(Method::POST, self.url(""), Duration::ZERO)
                    .json(&body),
            )
        })
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl Iaas for RemoteMock {
    fn provider_type(&self) -> &str {
        &self.provider_type
    }

    fn capabilities(&self) -> Capabilities {
        // The in-process mock's, which the server runs.
        super::capabilities(self.max_payload_bytes)
    }

    async fn initialize(&self) -> Result<(), IaasError> {
        self.register().await
    }

    async fn validate_partition(
        &self,
        _partition_id: &str,
        _properties: &Properties,
    ) -> Result<(), IaasError> {
        // As the in-process mock: every region/zone/host is valid.
        Ok(())
    }

    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError> {
        const OP: &str = "start_instance";
        let mut properties = self.defaults.clone();
        properties.extend(spec.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        let latency_ms: u64 =
            parse_prop(&self.provider_type, &properties, "mock.start.latency.ms")?.unwrap_or(0);
        let body = StartRequest::new(spec, properties);
        let latency = Duration::from_millis(latency_ms);
        let answer = self
            .exchange(OP, || {
                self.request(Method::POST, self.url("/instances"), latency)
                    .json(&body)
            })
            .await?;
        self.decode(OP, &answer)
    }

    async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, IaasError> {
        const OP: &str = "describe_instances";
        let query = DescribeQuery {
            cluster_id: filter.cluster_id.clone(),
            member_id: filter.member_id.clone(),
        };
        let answer = retry_safe(BACKOFF, OP, || {
            self.exchange(OP, || {
                self.request(Method::GET, self.url("/instances"), Duration::ZERO)
                    .query(&query)
            })
        })
        .await?;
        self.decode(OP, &answer)
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError> {
        let url = self.url(&format!(
            "/instances/{}",
            utf8_percent_encode(instance_id, NON_ALPHANUMERIC)
        ));
        self.exchange("terminate_instance", || {
            self.request(Method::DELETE, url.clone(), self.terminate_latency)
        })
        .await
        .map(|_| ())
    }
}
