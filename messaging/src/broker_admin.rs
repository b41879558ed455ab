//! RabbitMQ's management HTTP API, for what keeps tenants apart on the broker: one virtual
//! host and one user per tenant, the user allowed into its own virtual host only.
//!
//! The broker enforces the separation (a tenant's credentials open no other virtual host);
//! the controller, which connects to every tenant's virtual host with the platform's
//! credentials, additionally accepts an event there only for members of that tenant.

use std::time::Duration;
use url::Url;

/// The management API's port when `--amqp-management-url` is not given.
pub const DEFAULT_MANAGEMENT_PORT: u16 = 15672;
/// Every management call gives up after this long (the broker being away is not our hang).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an error body is kept in an error message.
const ERROR_BODY_LIMIT: usize = 300;

/// Why a management call failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerAdminError {
    /// The URL given for the broker or its management API is not usable.
    #[error("broker URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The management API did not answer (down, not enabled, wrong port).
    #[error("RabbitMQ management API at {base}: {op}: {reason}")]
    Unreachable {
        base: String,
        op: String,
        reason: String,
    },
    /// The management API answered with an error status.
    #[error("RabbitMQ management API at {base}: {op}: HTTP {status}: {body}")]
    Refused {
        base: String,
        op: String,
        status: u16,
        body: String,
    },
}

/// One tenant's place on the broker.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantVhost {
    pub vhost: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for TenantVhost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantVhost")
            .field("vhost", &self.vhost)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// What a tenant's user may do in its own virtual host, as RabbitMQ permission patterns.
/// Agents declare and consume their own queues (ours: `<prefix>cartridge-agent.<member>`;
/// MQTT clients: `mqtt-subscription-…`), publish agent events and read topology. The
/// controller's own queues there are out of their reach, and the topic permission lets them
/// publish only what agents publish (no forged topology or cleanup events, even within the
/// tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPermissions {
    pub configure: String,
    pub write: String,
    pub read: String,
    /// The exchange the topic permission applies to.
    pub exchange: String,
    pub topic_write: String,
}

impl TenantPermissions {
    /// The permissions for agents of an installation using `queue_prefix`, `exchange` and
    /// `dead_letter` (the exchange and queue of the same name every AMQP client of ours
    /// declares, as [`crate::AmqpConfig::dead_letter_name`] names it).
    pub fn for_agents(queue_prefix: &str, exchange: &str, dead_letter: &str) -> TenantPermissions {
        let prefix = regex_escape(queue_prefix);
        let exchanges = format!("{}|amq\\.topic", regex_escape(exchange));
        let own = format!(
            "{prefix}cartridge-agent\\..*|mqtt-subscription-.*|amq\\.gen-.*|{}|{}",
            regex_escape(dead_letter),
            regex_escape(exchange)
        );
        TenantPermissions {
            configure: format!("^({own})$"),
            write: format!("^({own}|{exchanges})$"),
            read: format!("^({own}|{exchanges})$"),
            exchange: exchange.to_string(),
            topic_write: "^(instance\\.status|health|initializer)\\..*$".to_string(),
        }
    }
}

/// A client of the management API with the platform's (administrator's) credentials.
pub struct BrokerAdmin {
    http: reqwest::Client,
    /// `http://host:15672` without credentials.
    base: String,
    user: String,
    password: String,
}

impl std::fmt::Debug for BrokerAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerAdmin")
            .field("base", &self.base)
            .field("user", &self.user)
            .finish()
    }
}

impl BrokerAdmin {
    /// The management API at `management_url` (credentials in it, else those of `amqp_url`),
    /// or, when none is given, on the AMQP host's port 15672 with the AMQP credentials (the
    /// first node's, when `amqp_url` lists a cluster's: any node's API manages the cluster).
    /// `ca_pem`: a CA certificate trusted (besides the system's roots) for an https://
    /// management API.
    pub fn new(
        amqp_url: &str,
        management_url: Option<&str>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, BrokerAdminError> {
        let amqp = parse(first_node(amqp_url))?;
        let (mut base, user, password) = match management_url {
            Some(m) => {
                let m = parse(m)?;
                let user = if m.username().is_empty() {
                    percent_decode(amqp.username())
                } else {
                    percent_decode(m.username())
                };
                let password = m
                    .password()
                    .or(amqp.password())
                    .map(percent_decode)
                    .unwrap_or_default();
                (m, user, password)
            }
            None => {
                let host = amqp.host_str().ok_or_else(|| BrokerAdminError::BadUrl {
                    url: crate::amqp::redact_url(amqp_url),
                    reason: "no host".into(),
                })?;
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host.to_string()
                };
                let scheme = if amqp.scheme() == "amqps" {
                    "https"
                } else {
                    "http"
                };
                let base = parse(&format!("{scheme}://{host}:{DEFAULT_MANAGEMENT_PORT}"))?;
                let password = amqp.password().map(percent_decode).unwrap_or_default();
                (base, percent_decode(amqp.username()), password)
            }
        };
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let base = base.as_str().trim_end_matches('/').to_string();
        let mut http = reqwest::Client::builder().timeout(CALL_TIMEOUT);
        if let Some(pem) = ca_pem {
            let ca = reqwest::Certificate::from_pem(pem).map_err(|e| BrokerAdminError::BadUrl {
                url: base.clone(),
                reason: format!("the CA certificate: {e}"),
            })?;
            http = http.add_root_certificate(ca);
        }
        let http = http.build().map_err(|e| BrokerAdminError::Unreachable {
            base: base.clone(),
            op: "build an HTTP client".into(),
            reason: e.to_string(),
        })?;
        Ok(BrokerAdmin {
            http,
            base,
            user: if user.is_empty() {
                "guest".into()
            } else {
                user
            },
            password,
        })
    }

    /// The platform user (who is also given every permission in each tenant's virtual host).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Create (or bring back to what it must be) the tenant's virtual host, its user with its
    /// password and permissions, and the platform user's full permissions there. Idempotent.
    pub async fn ensure_tenant(
        &self,
        tenant: &TenantVhost,
        permissions: &TenantPermissions,
    ) -> Result<(), BrokerAdminError> {
        let vhost = encode(&tenant.vhost);
        self.put(
            &format!("/api/vhosts/{vhost}"),
            serde_json::json!({"description": "Altostratus tenant"}),
            "create the virtual host",
        )
        .await?;
        self.put(
            &format!("/api/users/{}", encode(&tenant.user)),
            serde_json::json!({"password": tenant.password, "tags": ""}),
            "create the tenant's user",
        )
        .await?;
        self.put(
            &format!("/api/permissions/{vhost}/{}", encode(&self.user)),
            serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
            "give the platform user its permissions",
        )
        .await?;
        self.put(
            &format!("/api/permissions/{vhost}/{}", encode(&tenant.user)),
            serde_json::json!({
                "configure": permissions.configure,
                "write": permissions.write,
                "read": permissions.read,
            }),
            "give the tenant's user its permissions",
        )
        .await?;
        self.put(
            &format!("/api/topic-permissions/{vhost}/{}", encode(&tenant.user)),
            serde_json::json!({
                "exchange": permissions.exchange,
                "write": permissions.topic_write,
                "read": ".*",
            }),
            "give the tenant's user its topic permissions",
        )
        .await
    }

    /// Make sure `vhost` exists and the platform user may do anything there (the virtual
    /// host the broker puts anonymous MQTT clients in; its users are the operator's).
    pub async fn ensure_platform_access(&self, vhost: &str) -> Result<(), BrokerAdminError> {
        let encoded = encode(vhost);
        self.put(
            &format!("/api/vhosts/{encoded}"),
            serde_json::json!({"description": "anonymous MQTT agents"}),
            "create the virtual host",
        )
        .await?;
        self.put(
            &format!("/api/permissions/{encoded}/{}", encode(&self.user)),
            serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
            "give the platform user its permissions",
        )
        .await
    }

    /// Delete the tenant's user and virtual host (with its queues). Already gone is fine.
    pub async fn remove_tenant(&self, vhost: &str, user: &str) -> Result<(), BrokerAdminError> {
        self.delete(&format!("/api/users/{}", encode(user)), "delete the user")
            .await?;
        self.delete(
            &format!("/api/vhosts/{}", encode(vhost)),
            "delete the virtual host",
        )
        .await
    }

    /// The names of every virtual host.
    pub async fn list_vhosts(&self) -> Result<Vec<String>, BrokerAdminError> {
        #[derive(serde::Deserialize)]
        struct Vhost {
            name: String,
        }
        let op = "list virtual hosts";
        let response = self
            .send(self.http.get(format!("{}/api/vhosts", self.base)), op)
            .await?;
        let vhosts: Vec<Vhost> = response.json().await.map_err(|e| self.unreachable(op, e))?;
        Ok(vhosts.into_iter().map(|v| v.name).collect())
    }

    async fn put(
        &self,
        path: &str,
        body: serde_json::Value,
        op: &str,
    ) -> Result<(), BrokerAdminError> {
        let request = self.http.put(format!("{}{path}", self.base)).json(&body);
        self.send(request, op).await.map(|_| ())
    }

    async fn delete(&self, path: &str, op: &str) -> Result<(), BrokerAdminError> {
        let request = self.http.delete(format!("{}{path}", self.base));
        match self.send(request, op).await {
            Ok(_) => Ok(()),
            Err(BrokerAdminError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        op: &str,
    ) -> Result<reqwest::Response, BrokerAdminError> {
        let response = request
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .map_err(|e| self.unreachable(op, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(BrokerAdminError::Refused {
            base: self.base.clone(),
            op: op.to_string(),
            status: status.as_u16(),
            body: body.chars().take(ERROR_BODY_LIMIT).collect(),
        })
    }

    fn unreachable(&self, op: &str, e: impl std::fmt::Display) -> BrokerAdminError {
        BrokerAdminError::Unreachable {
            base: self.base.clone(),
            op: op.to_string(),
            reason: e.to_string(),
        }
    }
}

/// `amqp_url` (each node's, for a cluster) with the tenant's credentials and virtual host in
/// place of its own.
pub fn tenant_url(amqp_url: &str, tenant: &TenantVhost) -> Result<String, BrokerAdminError> {
    each_node(amqp_url, |url| tenant_node_url(url, tenant))
}

fn tenant_node_url(amqp_url: &str, tenant: &TenantVhost) -> Result<String, BrokerAdminError> {
    let mut url = parse(amqp_url)?;
    let bad = |reason: &str| BrokerAdminError::BadUrl {
        url: crate::amqp::redact_url(amqp_url),
        reason: reason.to_string(),
    };
    url.set_username(&tenant.user)
        .map_err(|()| bad("cannot hold a user name"))?;
    url.set_password(Some(&tenant.password))
        .map_err(|()| bad("cannot hold a password"))?;
    url.set_path(&format!("/{}", encode(&tenant.vhost)));
    Ok(url.to_string())
}

/// `amqp_url` with `vhost` in place of its own (same credentials): the platform's connection
/// to a tenant's virtual host.
pub fn vhost_url(amqp_url: &str, vhost: &str) -> Result<String, BrokerAdminError> {
    each_node(amqp_url, |node| {
        let mut url = parse(node)?;
        url.set_path(&format!("/{}", encode(vhost)));
        Ok(url.to_string())
    })
}

/// `change` applied to every node's URL of a list (one URL: a list of one).
fn each_node(
    amqp_url: &str,
    change: impl Fn(&str) -> Result<String, BrokerAdminError>,
) -> Result<String, BrokerAdminError> {
    let nodes = crate::broker_urls::split(amqp_url);
    if nodes.len() <= 1 {
        return change(amqp_url.trim());
    }
    let changed = nodes
        .into_iter()
        .map(change)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::broker_urls::join(&changed))
}

/// The first node's URL of a list.
fn first_node(amqp_url: &str) -> &str {
    crate::broker_urls::split(amqp_url)
        .first()
        .copied()
        .unwrap_or(amqp_url)
}

/// The host and port agents reach the broker at (from the AMQP URL).
pub fn broker_address(amqp_url: &str) -> Result<(String, u16), BrokerAdminError> {
    let url = parse(first_node(amqp_url))?;
    let host = url.host_str().ok_or_else(|| BrokerAdminError::BadUrl {
        url: crate::amqp::redact_url(amqp_url),
        reason: "no host".into(),
    })?;
    let default = if url.scheme() == "amqps" { 5671 } else { 5672 };
    Ok((host.to_string(), url.port().unwrap_or(default)))
}

fn parse(url: &str) -> Result<Url, BrokerAdminError> {
    Url::parse(url).map_err(|e| BrokerAdminError::BadUrl {
        url: crate::amqp::redact_url(url),
        reason: e.to_string(),
    })
}

/// Percent-encode everything but RFC 3986's unreserved characters (a path segment).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escape regular-expression metacharacters (a queue prefix is literal text).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantVhost {
        TenantVhost {
            vhost: "t1.alto.tenant.7".into(),
            user: "t1.alto.tenant.7".into(),
            password: "pw-With+odd/chars".into(),
        }
    }

    #[test]
    fn management_defaults_to_the_amqp_host_and_credentials() {
        let admin = BrokerAdmin::new("amqp://bob:s%40cret@10.0.0.9:5673/%2f", None, None).unwrap();
        assert_eq!(admin.base, "http://10.0.0.9:15672");
        assert_eq!(admin.user, "bob");
        assert_eq!(admin.password, "s@cret");
        let admin = BrokerAdmin::new(
            "amqp://bob:pw@10.0.0.9/%2f",
            Some("https://mgmt.example:8443/"),
            None,
        )
        .unwrap();
        assert_eq!(admin.base, "https://mgmt.example:8443");
        assert_eq!(
            (admin.user.as_str(), admin.password.as_str()),
            ("bob", "pw")
        );
        assert!(!format!("{admin:?}").contains("pw"));
    }

    #[test]
    fn a_cluster_gives_every_node_the_tenant_vhost() {
        let cluster = "amqp://guest:guest@127.0.0.1:5681/%2f,amqp://guest:guest@127.0.0.1:5682/%2f";
        let url = tenant_url(cluster, &tenant()).unwrap();
        let nodes = crate::broker_urls::split(&url);
        assert_eq!(nodes.len(), 2, "{url}");
        assert!(!url.contains(','), "a payload value holds no comma: {url}");
        for (node, port) in nodes.iter().zip([5681, 5682]) {
            let parsed = Url::parse(node).unwrap();
            assert_eq!(parsed.port(), Some(port));
            assert_eq!(parsed.path(), "/t1.alto.tenant.7");
        }
        let admin = BrokerAdmin::new(cluster, None, None).unwrap();
        assert_eq!(admin.base, "http://127.0.0.1:15672");
        assert_eq!(broker_address(cluster).unwrap().1, 5681);
    }

    #[test]
    fn tenant_urls_carry_the_tenant_vhost_and_credentials() {
        let url = tenant_url("amqp://guest:guest@127.0.0.1:5672/%2f", &tenant()).unwrap();
        let parsed = Url::parse(&url).unwrap();
        assert_eq!(parsed.username(), "t1.alto.tenant.7");
        assert_eq!(
            percent_decode(parsed.password().unwrap()),
            "pw-With+odd/chars"
        );
        assert_eq!(parsed.path(), "/t1.alto.tenant.7");
        let platform = vhost_url("amqp://guest:guest@127.0.0.1:5672/%2f", "a b").unwrap();
        assert!(platform.ends_with("/a%20b"), "{platform}");
        assert!(platform.starts_with("amqp://guest:guest@"));
        assert_eq!(
            broker_address("amqp://u:p@broker.example/%2f").unwrap(),
            ("broker.example".to_string(), 5672)
        );
        assert!(!format!("{:?}", tenant()).contains("odd"));
    }

    #[test]
    fn permissions_keep_agents_out_of_the_controllers_queues() {
        let p = TenantPermissions::for_agents("t1.", "alto.x", "t1.alto.dead-letter");
        let re = |pattern: &str, name: &str| {
            // The patterns are anchored alternations of literal prefixes and `.*`.
            let inner = pattern.trim_start_matches("^(").trim_end_matches(")$");
            inner.split('|').any(|alt| {
                let literal = alt.trim_end_matches(".*").replace('\\', "");
                if alt.ends_with(".*") {
                    name.starts_with(&literal)
                } else {
                    name == literal
                }
            })
        };
        assert!(re(&p.configure, "t1.cartridge-agent.m-1"));
        assert!(re(&p.configure, "mqtt-subscription-abcqos1"));
        assert!(re(&p.configure, "t1.alto.dead-letter"));
        assert!(!re(&p.configure, "t1.cloud-controller.instance-status"));
        assert!(!re(&p.read, "t1.cloud-controller.health.r1"));
        assert!(re(&p.write, "alto.x"));
        assert!(re(&p.write, "amq.topic"));
        assert_eq!(regex_escape("a.b"), "a\\.b");
    }

    #[test]
    fn encoding_leaves_only_unreserved_characters() {
        assert_eq!(encode("/"), "%2F");
        assert_eq!(encode("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
    }
}
