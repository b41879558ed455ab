//! Test support: Apache Libcloud's recorded API responses, served from a local stub.
//!
//! The recorded files are not in this repository: `scripts/libcloud-fixtures.sh` downloads
//! Libcloud's source distribution from PyPI and prints the fixtures root; tests read it from
//! `ALTO_LIBCLOUD_FIXTURES` or the script's default cache directory.
#![allow(dead_code)]

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const LIBCLOUD_VERSION: &str = "3.8.0";

/// `…/libcloud/test/compute/fixtures` of the unpacked sdist.
pub fn fixtures_root() -> PathBuf {
    let root = match std::env::var_os("ALTO_LIBCLOUD_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("ALTO_LIBCLOUD_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/altostratus/libcloud")
                });
            cache.join(format!(
                "apache-libcloud-{LIBCLOUD_VERSION}/libcloud/test/compute/fixtures"
            ))
        }
    };
    if !root.join("cloudstack").is_dir() || !root.join("openstack_v1.1").is_dir() {
        panic!(
            "Apache Libcloud's recorded responses are not at {}.\n\
             Run `scripts/libcloud-fixtures.sh` (it downloads apache-libcloud=={LIBCLOUD_VERSION} \
             from PyPI) and/or set ALTO_LIBCLOUD_FIXTURES to the directory it prints.",
            root.display()
        );
    }
    root
}

/// The text of one recorded response, e.g. `cloudstack/listZones_default.json`.
pub fn fixture(relative: &str) -> String {
    let path = fixtures_root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("recorded response {}: {e}", path.display()))
}

pub fn fixture_json(relative: &str) -> Value {
    serde_json::from_str(&fixture(relative))
        .unwrap_or_else(|e| panic!("recorded response {relative} is not JSON: {e}"))
}

// ---------------------------------------------------------------------------------------------
// CloudStack

/// How CloudStack's server re-encodes a received value before checking the signature
/// (java.net.URLEncoder, then `+` → `%20`). Written independently of the driver's encoder.
fn java_url_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The signature CloudStack expects for the received (decoded) parameters.
pub fn cloudstack_expected_signature(params: &[(String, String)], secret: &str) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "signature")
        .map(|(k, v)| format!("{}={}", k.to_lowercase(), java_url_encode(v)))
        .collect();
    pairs.sort();
    let canonical = pairs.join("&").to_lowercase();
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Adjusts a recorded body before it is sent: `(command, decoded request parameters, body)`.
pub type Transform = Arc<dyn Fn(&str, &HashMap<String, String>, Value) -> Value + Send + Sync>;

/// A CloudStack API stub at `/client/api`: checks every request's signature with `secret`
/// and answers `<command>_default.json` (or the file `overrides` names for a command;
/// `queryAsyncJobResult_<jobid>.json` for job polls). A body with `errorcode` is sent with
/// that HTTP status, as CloudStack does. `transform` may adjust a parsed body before it is
/// sent, depending on the request (used to add our tags, names or states to recorded VMs, and
/// to answer a filtered list with the VMs that filter would select).
pub struct CloudStackStub {
    pub server: MockServer,
}

impl CloudStackStub {
    pub async fn start(
        api_key: &str,
        secret: &str,
        overrides: HashMap<String, String>,
        transform: Option<Transform>,
    ) -> CloudStackStub {
        let server = MockServer::start().await;
        let api_key = api_key.to_string();
        let secret = secret.to_string();
        Mock::given(wiremock::matchers::path("/client/api"))
            .respond_with(move |req: &Request| {
                let params: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
                let get = |name: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                };
                let command = get("command").unwrap_or_default();
                let lower = command.to_lowercase();
                let signed_ok = get("apiKey").as_deref() == Some(api_key.as_str())
                    && get("response").as_deref() == Some("json")
                    && get("signature")
                        == Some(cloudstack_expected_signature(&params, &secret));
                if !signed_ok {
                    return ResponseTemplate::new(401).set_body_string(format!(
                        "{{\"{lower}response\":{{\"errorcode\":401,\"errortext\":\"unable to verify user credentials and/or request signature\"}}}}"
                    ));
                }
                let file = if command == "queryAsyncJobResult" {
                    format!("queryAsyncJobResult_{}.json", get("jobid").unwrap_or_default())
                } else {
                    overrides
                        .get(&command)
                        .cloned()
                        .unwrap_or_else(|| format!("{command}_default.json"))
                };
                let path = fixtures_root().join("cloudstack").join(&file);
                let Ok(text) = std::fs::read_to_string(&path) else {
                    return ResponseTemplate::new(530).set_body_string(format!(
                        "{{\"{lower}response\":{{\"errorcode\":530,\"errortext\":\"stub: no recorded response {file}\"}}}}"
                    ));
                };
                let mut body: Value = serde_json::from_str(&text).expect("recorded JSON");
                if let Some(t) = &transform {
                    let decoded: HashMap<String, String> = params.iter().cloned().collect();
                    body = t(&command, &decoded, body);
                }
                let status = body
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(|inner| inner.get("errorcode"))
                    .and_then(Value::as_u64)
                    .unwrap_or(200) as u16;
                ResponseTemplate::new(status)
                    .set_body_raw(body.to_string(), "application/json")
            })
            .mount(&server)
            .await;
        CloudStackStub { server }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/client/api", self.server.uri())
    }

    /// The decoded parameters of every request received so far.
    pub async fn requests(&self) -> Vec<HashMap<String, String>> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| r.url.query_pairs().into_owned().collect())
            .collect()
    }

    pub async fn commands(&self) -> Vec<String> {
        self.requests()
            .await
            .into_iter()
            .filter_map(|p| p.get("command").cloned())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// OpenStack

/// Replace the scheme and authority of every `http(s)://…` URL in `text` with `base`, so the
/// recorded Keystone catalog points at the local stub (and never at the recorded hosts).
pub fn rewrite_urls(text: &str, base: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("http") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let scheme_len = if from.starts_with("https://") {
            8
        } else if from.starts_with("http://") {
            7
        } else {
            out.push_str("http");
            rest = &from[4..];
            continue;
        };
        let host_end = from[scheme_len..]
            .find(['/', '"', '\\'])
            .map_or(from.len(), |i| i + scheme_len);
        out.push_str(base);
        rest = &from[host_end..];
    }
    out.push_str(rest);
    out
}

pub const KEYSTONE_TOKEN: &str = "gAAAAA-test-token";

/// Libcloud's recorded Keystone v3 token response with its catalog pointing at `base`.
pub fn keystone_body(base: &str) -> String {
    rewrite_urls(&fixture("openstack/_v3__auth.json"), base)
}

/// The path of the public compute endpoint of the (rewritten) catalog, e.g. `/v2/<project>`.
pub fn catalog_path(keystone_body: &str, service_type: &str, base: &str) -> String {
    let body: Value = serde_json::from_str(keystone_body).unwrap();
    let url = body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == service_type)
        .flat_map(|s| s["endpoints"].as_array().unwrap().iter())
        .find(|e| e["interface"] == "public")
        .and_then(|e| e["url"].as_str())
        .unwrap()
        .to_string();
    url.strip_prefix(base).unwrap().to_string()
}

pub fn json_response(status: u16, relative: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(relative), "application/json")
}

pub fn json_value_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

/// How many requests went to `path` with `method`.
pub async fn count(server: &MockServer, method: &str, path: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .count()
}

/// The JSON bodies of the requests to `path` with `method`.
pub async fn bodies(server: &MockServer, method: &str, path: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}
