//! The EC2 Query API over HTTP: form-encoded POSTs (`Action=...&Version=2016-11-15`), signed with
//! SigV4 by the `aws-sigv4` crate, answered in XML.
//!
//! Calls that are safe to repeat (Describe*, RunInstances with its ClientToken,
//! TerminateInstances, ...) are retried on [`ErrorClass::RateLimited`] and
//! [`ErrorClass::Transient`] with bounded, jittered exponential backoff (`backon`), honouring a
//! `Retry-After` hint. Errors carry the cloud's code and message, never credentials nor the
//! request body (it may hold the user data).

use super::errors::{classify, parse_retry_after};
use super::parse::{self, Element};
use crate::error::{ErrorClass, IaasError};
use crate::types::Secret;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The EC2 API version we speak.
pub const API_VERSION: &str = "2016-11-15";
/// The SigV4 service name of EC2.
pub const SERVICE: &str = "ec2";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The default endpoint of a region.
pub fn default_endpoint(region: &str) -> String {
    format!("https://ec2.{region}.amazonaws.com/")
}

/// SigV4-sign one request at `time`; returns the headers to add (`x-amz-date`,
/// `authorization`, and `x-amz-security-token` for temporary credentials).
///
/// `headers` are the request headers to sign besides `host`, which the signer takes from
/// `url` (without a default port), as the HTTP client will send it.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    access_key: &str,
    secret_key: &str,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity: Identity =
        Credentials::new(access_key, secret_key, None, None, "altostratus").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("signable request: {e}"))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

/// Bounded exponential backoff for retryable calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// Whether a call may be sent again after a throttle or a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, and writes that are idempotent (ClientToken, terminate, tagging).
    Safe,
    /// Calls that would create a second object (AllocateAddress, ...): one attempt only.
    Once,
}

/// A signed EC2 Query API client for one set of credentials.
pub struct Ec2Client {
    provider_type: String,
    http: reqwest::Client,
    access_key: Secret,
    secret_key: Secret,
    /// Fixed endpoint (`jclouds.endpoint` / `endpoint`), else per region.
    endpoint: Option<String>,
    retry: RetryConfig,
    attempts: AtomicU64,
}

impl Ec2Client {
    pub fn new(
        provider_type: &str,
        access_key: Secret,
        secret_key: Secret,
        endpoint: Option<String>,
        retry: RetryConfig,
        timeout: Duration,
    ) -> Result<Ec2Client, IaasError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| {
                IaasError::new(
                    provider_type,
                    "create HTTP client",
                    ErrorClass::Transient,
                    e.to_string(),
                )
            })?;
        Ok(Ec2Client {
            provider_type: provider_type.to_string(),
            http,
            access_key,
            secret_key,
            endpoint: endpoint.map(|e| if e.ends_with('/') { e } else { format!("{e}/") }),
            retry,
            attempts: AtomicU64::new(0),
        })
    }

    /// The URL requests for `region` go to.
    pub fn endpoint(&self, region: &str) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| default_endpoint(region))
    }

    /// HTTP requests sent so far (retries included).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Call `action` in `region` with `params` (`Action` and `Version` are added).
    pub async fn call(
        &self,
        region: &str,
        action: &'static str,
        params: &[(String, String)],
        idempotency: Idempotency,
    ) -> Result<Element, IaasError> {
        let once = || self.call_once(region, action, params);
        if idempotency == Idempotency::Once || self.retry.max_retries == 0 {
            return once().await;
        }
        let backoff = crate::retry::Backoff {
            min_delay: self.retry.min_delay,
            max_delay: self.retry.max_delay,
            max_retries: self.retry.max_retries,
            max_hint: self.retry.max_delay,
        };
        crate::retry::retry_safe(backoff, action, once).await
    }

    async fn call_once(
        &self,
        region: &str,
        action: &'static str,
        params: &[(String, String)],
    ) -> Result<Element, IaasError> {
        let error = |class: ErrorClass, message: String| {
            IaasError::new(&self.provider_type, action, class, message)
        };
        let url = self.endpoint(region);
        let mut form = vec![
            ("Action".to_string(), action.to_string()),
            ("Version".to_string(), API_VERSION.to_string()),
        ];
        form.extend(params.iter().cloned());
        let body = encode_form(&form);
        let signed = sign_request(
            "POST",
            &url,
            &[("content-type", FORM_CONTENT_TYPE)],
            body.as_bytes(),
            self.access_key.expose(),
            self.secret_key.expose(),
            region,
            SERVICE,
            SystemTime::now(),
        )
        .map_err(|e| error(ErrorClass::InvalidRequest, format!("{url}: {e}")))?;
        let mut request = self
            .http
            .post(&url)
            .header("content-type", FORM_CONTENT_TYPE)
            .body(body);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let response = request.send().await.map_err(|e| {
            // reqwest's error text names the URL, never the body or our headers.
            error(
                ErrorClass::Transient,
                format!("request to {url} failed: {}", without_url_secrets(&e)),
            )
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, self.retry.max_delay.max(Duration::from_secs(1))));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_string();
        let text = response.text().await.map_err(|e| {
            error(
                ErrorClass::Transient,
                format!(
                    "reading the response from {url}: {}",
                    without_url_secrets(&e)
                ),
            )
        })?;
        let document = parse::parse_document(&text);
        if (200..300).contains(&status) {
            return match document {
                Ok(root) => match parse::parse_error(&root) {
                    // Some proxies answer 200 with an error document.
                    Some(api) if root.name == "Response" || root.name == "ErrorResponse" => {
                        Err(api_error(&self.provider_type, action, status, retry_after, api))
                    }
                    _ => Ok(root),
                },
                Err(why) => Err(error(
                    ErrorClass::Transient,
                    format!(
                        "HTTP {status} from {url} with an unreadable body ({content_type}, {} bytes): {why}",
                        text.len()
                    ),
                )),
            };
        }
        match document.ok().and_then(|root| parse::parse_error(&root)) {
            Some(api) => Err(api_error(&self.provider_type, action, status, retry_after, api)),
            None => Err(error(
                classify(None, status, retry_after),
                format!(
                    "HTTP {status} from {url} is not an EC2 error document ({content_type}, {} bytes); \
                     is the endpoint an EC2 API, and does it implement {action}?",
                    text.len()
                ),
            )),
        }
    }
}

fn api_error(
    provider_type: &str,
    action: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    api: parse::ApiError,
) -> IaasError {
    let class = classify(Some(&api.code), status, retry_after);
    let mut message = format!("HTTP {status}: {}", api.message);
    if let Some(id) = api.request_id.filter(|id| !id.is_empty()) {
        message.push_str(&format!(" (request id {id})"));
    }
    IaasError::new(provider_type, action, class, message).with_code(api.code)
}

/// A transport error as text: what failed and its innermost cause (connection refused, timed
/// out, certificate...), without the URL's userinfo should an endpoint carry one.
fn without_url_secrets(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let mut text = format!("{what}: {cause}");
    if let Some(url) = e.url() {
        if !url.username().is_empty() || url.password().is_some() {
            let mut clean = url.clone();
            let _ = clean.set_username("");
            let _ = clean.set_password(None);
            text = text.replace(url.as_str(), clean.as_str());
        }
    }
    text
}

/// `application/x-www-form-urlencoded` with RFC 3986 escaping (what SigV4 expects).
pub fn encode_form(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Builder for EC2's flattened list parameters (`Filter.1.Name`, `Filter.1.Value.1`, ...).
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
    filters: usize,
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.pairs.push((name.into(), value.into()));
        self
    }

    /// `Prefix.1=a&Prefix.2=b`.
    pub fn list<S: AsRef<str>>(&mut self, prefix: &str, values: &[S]) -> &mut Self {
        for (i, value) in values.iter().enumerate() {
            self.set(format!("{prefix}.{}", i + 1), value.as_ref());
        }
        self
    }

    /// `Filter.N.Name=name&Filter.N.Value.1=...`.
    pub fn filter<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> &mut Self {
        self.filters += 1;
        let n = self.filters;
        self.set(format!("Filter.{n}.Name"), name);
        self.list(&format!("Filter.{n}.Value"), values)
    }

    /// `TagSpecification.N.ResourceType=kind&TagSpecification.N.Tag.M.Key/Value`.
    pub fn tag_specification<'a>(
        &mut self,
        n: usize,
        resource_type: &str,
        tags: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> &mut Self {
        self.set(format!("TagSpecification.{n}.ResourceType"), resource_type);
        for (i, (key, value)) in tags.into_iter().enumerate() {
            self.set(
                format!("TagSpecification.{n}.Tag.{}.Key", i + 1),
                key.as_str(),
            );
            self.set(
                format!("TagSpecification.{n}.Tag.{}.Value", i + 1),
                value.as_str(),
            );
        }
        self
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const ACCESS: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// 2015-08-30T12:36:00Z, the fixed time of the AWS SigV4 test suite.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
    }

    #[test]
    fn signs_the_aws_suite_get_vanilla_request() {
        let headers = sign_request(
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            ACCESS,
            SECRET,
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(header(&headers, "x-amz-date"), "20150830T123600Z");
        assert_eq!(
            header(&headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn form_posts_sign_content_type_and_the_body() {
        let sign = |body: &[u8], url: &str| {
            sign_request(
                "POST",
                url,
                &[("content-type", FORM_CONTENT_TYPE)],
                body,
                ACCESS,
                SECRET,
                "us-east-1",
                SERVICE,
                suite_time(),
            )
            .unwrap()
        };
        let a = sign(
            b"Action=DescribeInstances",
            "https://ec2.us-east-1.amazonaws.com/",
        );
        let auth = header(&a, "authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        let b = sign(
            b"Action=RunInstances",
            "https://ec2.us-east-1.amazonaws.com/",
        );
        assert_ne!(auth, header(&b, "authorization"), "the body is signed");
        let c = sign(b"Action=DescribeInstances", "http://127.0.0.1:5000/");
        assert_ne!(auth, header(&c, "authorization"), "the host is signed");
        assert!(!auth.contains(SECRET));
    }

    #[test]
    fn form_encoding_is_rfc3986() {
        let encoded = encode_form(&[
            ("UserData".into(), "a+b/c=".into()),
            ("Filter.1.Name".into(), "tag:altostratus:member-id".into()),
            ("X".into(), "sp ace~ü".into()),
        ]);
        assert_eq!(
            encoded,
            "UserData=a%2Bb%2Fc%3D&Filter.1.Name=tag%3Aaltostratus%3Amember-id&X=sp%20ace~%C3%BC"
        );
    }

    #[test]
    fn params_flatten_lists_filters_and_tags() {
        let mut tags = std::collections::BTreeMap::new();
        tags.insert("k1".to_string(), "v1".to_string());
        let mut p = Params::new();
        p.filter("tag:a", &["x"])
            .filter("instance-state-name", &["pending", "running"])
            .list("SecurityGroupId", &["sg-1", "sg-2"])
            .tag_specification(1, "instance", &tags);
        let got: Vec<String> = p.pairs().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            got,
            vec![
                "Filter.1.Name=tag:a",
                "Filter.1.Value.1=x",
                "Filter.2.Name=instance-state-name",
                "Filter.2.Value.1=pending",
                "Filter.2.Value.2=running",
                "SecurityGroupId.1=sg-1",
                "SecurityGroupId.2=sg-2",
                "TagSpecification.1.ResourceType=instance",
                "TagSpecification.1.Tag.1.Key=k1",
                "TagSpecification.1.Tag.1.Value=v1",
            ]
        );
    }
}
