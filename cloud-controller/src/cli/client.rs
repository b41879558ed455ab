//! A thin reqwest client of the REST API: Basic auth, JSON in and out, the API's error shape.

use super::Connection;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

pub use crate::api::error::ErrorBody;
use crate::api::paging::NEXT_CURSOR_HEADER;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API answered with an error.
    #[error("{message}")]
    Api {
        status: u16,
        message: String,
        problems: Vec<String>,
    },
    /// The API could not be reached (or answered something that is not the API).
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub fn problems(&self) -> &[String] {
        match self {
            CliError::Api { problems, .. } => problems,
            _ => &[],
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    user: String,
    password: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// `error: A: B: C` from an error and its sources (reqwest hides the cause, e.g. "Connection
/// refused", in its source chain).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl Client {
    pub fn new(conn: &Connection) -> Result<Client, CliError> {
        let base = Url::parse(&conn.url)
            .map_err(|e| CliError::Other(format!("invalid --url {:?}: {e}", conn.url)))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(CliError::Other(format!(
                "invalid --url {:?}: expected http://HOST:PORT or https://HOST:PORT",
                conn.url
            )));
        }
        let password = conn.password.clone().ok_or_else(|| {
            CliError::Other("no password: set ALTO_PASSWORD (or pass --password)".to_string())
        })?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(120))
            .https_only(base.scheme() == "https");
        if let Some(path) = &conn.ca_cert {
            let pem = crate::tls::ca_pem("--ca-cert", path)
                .map_err(|e| CliError::Other(e.to_string()))?;
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| CliError::Other(format!("--ca-cert {}: {e}", path.display())))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| CliError::Other(chain(&e)))?;
        Ok(Client {
            http,
            base,
            user: conn.user.clone(),
            password,
        })
    }

    /// The URL of a path given as segments (each percent-encoded as needed).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub async fn get(&self, segments: &[&str]) -> Result<Value, CliError> {
        self.send(Method::GET, segments, None).await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Value, CliError> {
        self.send(Method::DELETE, segments, None).await
    }

    pub async fn post(
        &self,
        segments: &[&str],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, CliError> {
        self.send(Method::POST, segments, Some((content_type, body)))
            .await
    }

    pub async fn post_json(&self, segments: &[&str], body: &Value) -> Result<Value, CliError> {
        let bytes = serde_json::to_vec(body).map_err(|e| CliError::Other(e.to_string()))?;
        self.post(segments, "application/json", bytes).await
    }

    /// GET a list route and every page after it (following `X-Next-Cursor`), `limit` items
    /// a request (the server's default when `None`): all items in one array.
    pub async fn get_all(
        &self,
        segments: &[&str],
        limit: Option<usize>,
    ) -> Result<Value, CliError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let url = page_url(self.url(segments), limit, cursor.as_deref());
            let (page, next) = self.send_to(Method::GET, url, None).await?;
            match page {
                Value::Array(items) => all.extend(items),
                other => {
                    return Err(CliError::Transport(format!(
                        "expected a JSON array from /{}, got {}",
                        segments.join("/"),
                        kind_of(&other)
                    )))
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(Value::Array(all)),
            }
        }
        Err(too_many_pages(segments))
    }

    /// GET a cluster with all its members: its first page, then each page its `nextCursor`
    /// names, the members appended in order.
    pub async fn get_cluster_all(
        &self,
        cluster_id: &str,
        limit: Option<usize>,
    ) -> Result<Value, CliError> {
        let segments = ["api", "clusters", cluster_id];
        let mut cluster: Option<Value> = None;
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let url = page_url(self.url(&segments), limit, cursor.as_deref());
            let (mut page, _) = self.send_to(Method::GET, url, None).await?;
            cursor = page["nextCursor"].as_str().map(str::to_string);
            let members = match page.get_mut("members").map(Value::take) {
                Some(Value::Array(members)) => members,
                _ => Vec::new(),
            };
            let whole = cluster.get_or_insert(page);
            if let Some(Value::Array(all)) = whole.get_mut("members") {
                all.extend(members);
            } else {
                whole["members"] = Value::Array(members);
            }
            if cursor.is_none() {
                whole["nextCursor"] = Value::Null;
                return Ok(cluster.unwrap_or(Value::Null));
            }
        }
        Err(too_many_pages(&segments))
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, CliError> {
        let url = self.url(segments);
        Ok(self.send_to(method, url, body).await?.0)
    }

    /// One request; the body and the next page's cursor (`X-Next-Cursor`), if any.
    async fn send_to(
        &self,
        method: Method,
        url: Url,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(Value, Option<String>), CliError> {
        let mut req = self
            .http
            .request(method, url.clone())
            .basic_auth(&self.user, Some(&self.password))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some((content_type, bytes)) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = req.send().await.map_err(|e| {
            let cause = chain(&e);
            let hint = if cause.contains("certificate") {
                " (the server's certificate is not trusted: pass its CA with --ca-cert or ALTO_CA_CERT)"
            } else {
                ""
            };
            CliError::Transport(format!("cannot reach {}: {cause}{hint}", self.base))
        })?;
        let status = response.status();
        let next = response
            .headers()
            .get(NEXT_CURSOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        let bytes = response.bytes().await.map_err(|e| {
            CliError::Transport(format!("reading the response of {url}: {}", chain(&e)))
        })?;
        Ok((decode(status, &bytes)?, next))
    }
}

/// Most pages one listing follows: a server whose list never ends is an error, not a hang.
pub const MAX_PAGES: usize = 1000;

/// `url` with the paging query (`limit`, `cursor`) when given.
fn page_url(mut url: Url, limit: Option<usize>, cursor: Option<&str>) -> Url {
    if limit.is_some() || cursor.is_some() {
        let mut query = url.query_pairs_mut();
        if let Some(limit) = limit {
            query.append_pair("limit", &limit.to_string());
        }
        if let Some(cursor) = cursor {
            query.append_pair("cursor", cursor);
        }
    }
    url
}

fn too_many_pages(segments: &[&str]) -> CliError {
    CliError::Other(format!(
        "gave up after {MAX_PAGES} pages of /{}: the list did not end",
        segments.join("/")
    ))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A response body as JSON, or the API's error as [`CliError::Api`].
pub fn decode(status: StatusCode, bytes: &[u8]) -> Result<Value, CliError> {
    if status.is_success() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(bytes).map_err(|e| {
            CliError::Transport(format!(
                "the server answered {status} with a body that is not JSON: {e}"
            ))
        });
    }
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => {
            let mut message = body.message;
            if status == StatusCode::UNAUTHORIZED {
                message.push_str(" (check --user/ALTO_USER and --password/ALTO_PASSWORD)");
            }
            Err(CliError::Api {
                status: status.as_u16(),
                message,
                problems: body.problems,
            })
        }
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            let message = if text.is_empty() {
                format!("the server answered {status}")
            } else {
                format!(
                    "the server answered {status}: {}",
                    text.chars().take(500).collect::<String>()
                )
            };
            Err(CliError::Api {
                status: status.as_u16(),
                message,
                problems: Vec::new(),
            })
        }
    }
}
