//! What the agent is told: the payload (`launch-params`, one line of `KEY=VALUE` pairs joined by
//! `,`, as Stratos writes it from the instance user data) and an optional `agent.conf`
//! (`key = value` lines) for broker and timing settings.
//!
//! Lookup order for a setting: command line / environment, then `agent.conf`, then the payload
//! (`AMQP_URL`, for images that carry everything in the user data), then the default.

use messaging::events::MemberRef;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Payload keys the agent cannot work without.
pub const REQUIRED_KEYS: &[&str] = &[
    "SERVICE_NAME",
    "CLUSTER_ID",
    "MEMBER_ID",
    "NETWORK_PARTITION_ID",
    "PARTITION_ID",
    "PORTS",
];

/// Keys whose values never reach a log or an error message.
const SECRET_KEYS: &[&str] = &["CARTRIDGE_KEY", "TOKEN", "AMQP_URL", "MB_PASSWORD"];

pub fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key) || key.ends_with("PASSWORD")
}

/// Why the agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A required payload key is absent, empty or `null`.
    #[error("{path}: payload lacks required key {key}")]
    MissingKey { path: PathBuf, key: String },
    /// A key is present but its value cannot be used.
    #[error("{path}: key {key} is malformed: {reason}")]
    Malformed {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// The payload served by URL could not be fetched (the URL's token is never shown).
    #[error("cannot fetch the payload from {url}: {reason}")]
    Fetch { url: String, reason: String },
    /// No broker to talk to.
    #[error("no broker URL: pass --amqp-url, set ALTO_AMQP_URL, or put amqp.url in agent.conf")]
    NoBroker,
}

/// The parsed payload.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LaunchParams {
    entries: BTreeMap<String, String>,
}

impl std::fmt::Debug for LaunchParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .entries
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret(k) { "***" } else { v.as_str() }))
            .collect();
        shown.fmt(f)
    }
}

impl LaunchParams {
    /// Split on `,`, then each pair on its first `=`. Surrounding whitespace and line breaks
    /// (a trailing newline from `wget`) are ignored.
    pub fn parse(text: &str) -> LaunchParams {
        let entries = text
            .split([',', '\n', '\r'])
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                None => (pair.to_string(), String::new()),
            })
            .collect();
        LaunchParams { entries }
    }

    /// A value, with Stratos' `null` and empty treated as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty() && *v != "null")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A payload URL for messages: its token is a credential.
fn redact_payload_url(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _token)) => format!("{base}/***"),
        None => "***".to_string(),
    }
}

/// Only HTTPS, or plain HTTP to this host, may carry a payload (it holds CARTRIDGE_KEY).
fn payload_url_allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// When `launch-params` holds only a bootstrap line (`PAYLOAD_URL=...`, written by the
/// controller for clouds whose user data is too small), fetch the payload and put it in the
/// file, so that a restarted agent does not need the (expiring) token again. Returns whether it
/// fetched.
pub async fn resolve_payload_url(payload_path: &Path) -> Result<bool, ConfigError> {
    let params = LaunchParams::parse(&read(payload_path)?);
    let Some(url) = params.get("PAYLOAD_URL") else {
        return Ok(false);
    };
    if params.get("SERVICE_NAME").is_some() {
        return Ok(false);
    }
    let shown = redact_payload_url(url);
    if !payload_url_allowed(url) {
        return Err(ConfigError::Malformed {
            path: payload_path.to_path_buf(),
            key: "PAYLOAD_URL".into(),
            reason: format!("{shown} is neither https:// nor a loopback http:// URL"),
        });
    }
    let fetch_error = |reason: String| ConfigError::Fetch {
        url: shown.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fetch_error(e.to_string()))?;
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0;
    let body = loop {
        attempt += 1;
        let outcome = match client.get(url).send().await {
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(text) => Ok(text),
                Err(e) => Err(e.without_url().to_string()),
            },
            // 404: unknown, expired or revoked token; retrying will not help.
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                return Err(fetch_error("the token is unknown or expired (404)".into()));
            }
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.without_url().to_string()),
        };
        match outcome {
            Ok(text) => break text,
            Err(reason) if attempt >= 5 => return Err(fetch_error(reason)),
            Err(reason) => {
                tracing::warn!(url = %shown, %reason, "payload fetch failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    };
    if LaunchParams::parse(&body).get("SERVICE_NAME").is_none() {
        return Err(fetch_error("the answer is not a payload".into()));
    }
    write_private(payload_path, &body).map_err(|source| ConfigError::Read {
        path: payload_path.to_path_buf(),
        source,
    })?;
    Ok(true)
}

/// Write a file only its owner can read (a payload holds CARTRIDGE_KEY).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// `agent.conf`: `key = value` lines, `#` comments.
#[derive(Debug, Clone, Default)]
pub struct AgentConf {
    values: BTreeMap<String, String>,
}

impl AgentConf {
    pub fn parse(text: &str) -> AgentConf {
        let values = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .filter(|(_, v)| !v.is_empty() && v != "null")
            .collect();
        AgentConf { values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Settings given on the command line (or environment); they win over files.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub amqp_url: Option<String>,
    pub exchange: Option<String>,
    pub extensions_dir: Option<PathBuf>,
    pub health_interval: Option<Duration>,
    pub port_check_timeout: Option<Duration>,
    /// `--amqp-ca-cert` (wins over `amqp.ca.cert` in agent.conf).
    pub amqp_ca_cert: Option<PathBuf>,
}

/// Everything the agent runs with.
#[derive(Clone)]
pub struct AgentConfig {
    pub payload_path: PathBuf,
    pub payload: LaunchParams,
    pub member: MemberRef,
    pub ports: Vec<u16>,
    pub amqp_url: String,
    /// PEM certificates trusted for an `amqps://` broker besides the system's roots
    /// (`amqp.ca.cert` in agent.conf: a file path).
    pub amqp_ca_cert: Option<String>,
    pub exchange: String,
    /// Prefix of queue names on the broker (see the controller's `--amqp-queue-prefix`).
    pub queue_prefix: String,
    pub extensions_dir: PathBuf,
    /// Interval between health stats (Stratos: `stats.notifier.interval`, 15 s).
    pub health_interval: Duration,
    /// How long to wait for the cartridge's ports to open (Stratos: `port.check.timeout`).
    pub port_check_timeout: Duration,
    /// Longest a single extension hook may run.
    pub hook_timeout: Duration,
    /// File holding the current requests in flight, when the cartridge provides one.
    pub requests_in_flight_file: Option<PathBuf>,
    /// Where hook output goes.
    pub log_dir: PathBuf,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("member", &self.member.member_id)
            .field("ports", &self.ports)
            .field("amqp_url", &messaging::amqp::redact_url(&self.amqp_url))
            .field("extensions_dir", &self.extensions_dir)
            .finish()
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The largest CA file read (a bundle of a few hundred roots).
const MAX_CA_BYTES: u64 = 1024 * 1024;

/// A CA file's PEM text, checked to hold a certificate (the TLS handshake parses it).
fn ca_cert(path: &Path) -> Result<String, ConfigError> {
    let malformed = |reason: &str| ConfigError::Malformed {
        path: path.to_path_buf(),
        key: "amqp.ca.cert".to_string(),
        reason: reason.to_string(),
    };
    let size = std::fs::metadata(path)
        .map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if size > MAX_CA_BYTES {
        return Err(malformed("larger than 1 MiB: not a PEM CA file"));
    }
    let text = read(path)?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(malformed("no PEM certificate in it"));
    }
    Ok(text)
}

fn secs(path: &Path, key: &str, value: &str) -> Result<Duration, ConfigError> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(ConfigError::Malformed {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: format!("{value:?} is not a positive number of seconds"),
        }),
    }
}

/// `80|443` (Stratos' PORTS form).
pub fn parse_ports(path: &Path, value: &str) -> Result<Vec<u16>, ConfigError> {
    value
        .split('|')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(ConfigError::Malformed {
                path: path.to_path_buf(),
                key: "PORTS".into(),
                reason: format!("{p:?} is not a port number (expected e.g. 80|443)"),
            }),
        })
        .collect()
}

impl AgentConfig {
    /// Read the payload (and `agent.conf` when `conf_path` is given or exists beside the
    /// payload's directory) and check every required key.
    pub fn load(
        payload_path: &Path,
        conf_path: Option<&Path>,
        overrides: Overrides,
    ) -> Result<AgentConfig, ConfigError> {
        let payload = LaunchParams::parse(&read(payload_path)?);
        let conf = match conf_path {
            Some(p) => AgentConf::parse(&read(p)?),
            None => AgentConf::default(),
        };
        for key in REQUIRED_KEYS {
            if payload.get(key).is_none() {
                return Err(ConfigError::MissingKey {
                    path: payload_path.to_path_buf(),
                    key: key.to_string(),
                });
            }
        }
        let required = |key: &str| payload.get(key).unwrap_or_default().to_string();
        let ports = parse_ports(payload_path, payload.get("PORTS").unwrap_or_default())?;
        let conf_file = conf_path.unwrap_or(payload_path);
        let setting = |key: &str| -> Result<Option<Duration>, ConfigError> {
            conf.get(key).map(|v| secs(conf_file, key, v)).transpose()
        };
        let amqp_url = overrides
            .amqp_url
            .or_else(|| conf.get("amqp.url").map(str::to_string))
            .or_else(|| payload.get("AMQP_URL").map(str::to_string))
            .ok_or(ConfigError::NoBroker)?;
        let amqp_ca_cert = match overrides
            .amqp_ca_cert
            .or_else(|| conf.get("amqp.ca.cert").map(PathBuf::from))
        {
            Some(path) => Some(ca_cert(&path)?),
            None => None,
        };
        let base = payload_path
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let extensions_dir = overrides
            .extensions_dir
            .or_else(|| conf.get("extensions.dir").map(PathBuf::from))
            .unwrap_or_else(|| base.join("extensions"));
        Ok(AgentConfig {
            payload_path: payload_path.to_path_buf(),
            member: MemberRef {
                service_name: required("SERVICE_NAME"),
                cluster_id: required("CLUSTER_ID"),
                cluster_instance_id: payload.get("CLUSTER_INSTANCE_ID").map(str::to_string),
                network_partition_id: required("NETWORK_PARTITION_ID"),
                partition_id: required("PARTITION_ID"),
                member_id: required("MEMBER_ID"),
            },
            ports,
            amqp_url,
            amqp_ca_cert,
            extensions_dir,
            exchange: overrides
                .exchange
                .or_else(|| conf.get("amqp.exchange").map(str::to_string))
                .unwrap_or_else(|| "amq.topic".to_string()),
            queue_prefix: conf
                .get("amqp.queue.prefix")
                .unwrap_or_default()
                .to_string(),
            health_interval: match overrides.health_interval {
                Some(d) => d,
                None => setting("health.interval.secs")?.unwrap_or(Duration::from_secs(15)),
            },
            port_check_timeout: match overrides.port_check_timeout {
                Some(d) => d,
                None => setting("port.check.timeout.secs")?.unwrap_or(Duration::from_secs(600)),
            },
            hook_timeout: setting("hook.timeout.secs")?.unwrap_or(Duration::from_secs(300)),
            requests_in_flight_file: conf
                .get("requests.in.flight.file")
                .map(PathBuf::from)
                .or_else(|| Some(base.join("requests-in-flight")).filter(|p| p.exists())),
            log_dir: conf
                .get("log.dir")
                .map(PathBuf::from)
                .unwrap_or_else(|| base.join("logs")),
            payload,
        })
    }

    /// The environment every hook gets: each payload key as `STRATOS_<KEY>`.
    pub fn hook_env(&self) -> Vec<(String, String)> {
        self.payload
            .iter()
            .map(|(k, v)| (format!("STRATOS_{k}"), v.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on the loopback answering `status` and `body`.
    async fn serve_once(status: &str, body: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        format!("http://{addr}/api/payload/secret-token-123")
    }

    #[tokio::test]
    async fn a_bootstrap_line_is_replaced_by_the_fetched_payload() {
        let dir = tempfile::tempdir().unwrap();
        let url = serve_once("200 OK", GOOD.trim()).await;
        let p = write(dir.path(), "launch-params", &format!("PAYLOAD_URL={url}\n"));
        assert!(resolve_payload_url(&p).await.unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), GOOD.trim());
        let cfg = AgentConfig::load(&p, None, overrides()).unwrap();
        assert_eq!(cfg.member.member_id, "web.php.domainabc");
        // A complete payload is left alone.
        assert!(!resolve_payload_url(&p).await.unwrap());
    }

    #[tokio::test]
    async fn bad_payload_urls_fail_without_showing_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let url = serve_once("404 Not Found", "").await;
        let p = write(dir.path(), "lp", &format!("PAYLOAD_URL={url}"));
        let err = resolve_payload_url(&p).await.unwrap_err().to_string();
        assert!(
            err.contains("404") && !err.contains("secret-token-123"),
            "{err}"
        );
        let p = write(
            dir.path(),
            "lp",
            "PAYLOAD_URL=http://203.0.113.9/api/payload/secret-token-123",
        );
        let err = resolve_payload_url(&p).await.unwrap_err().to_string();
        assert!(
            err.contains("PAYLOAD_URL") && !err.contains("secret-token-123"),
            "{err}"
        );
        assert!(payload_url_allowed("https://cc.example.org/api/payload/x"));
        assert!(payload_url_allowed("http://127.0.0.1:9443/api/payload/x"));
        assert!(payload_url_allowed("http://[::1]:9443/api/payload/x"));
        assert!(!payload_url_allowed("http://10.0.0.1/api/payload/x"));
        assert!(!payload_url_allowed("ftp://127.0.0.1/x"));
    }

    const GOOD: &str = "SERVICE_NAME=php,CLUSTER_ID=web.php.domain,CARTRIDGE_KEY=s3cr3t,\
        MEMBER_ID=web.php.domainabc,NETWORK_PARTITION_ID=np1,PARTITION_ID=p1,PORTS=8080|8443,\
        LB_CLUSTER_ID=null,EXTRA=a=b\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn overrides() -> Overrides {
        Overrides {
            amqp_url: Some("amqp://u:pw@127.0.0.1/".into()),
            ..Overrides::default()
        }
    }

    #[test]
    fn reads_a_stratos_payload() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "launch-params", GOOD);
        let cfg = AgentConfig::load(&p, None, overrides()).unwrap();
        assert_eq!(cfg.member.member_id, "web.php.domainabc");
        assert_eq!(cfg.ports, vec![8080, 8443]);
        assert_eq!(cfg.payload.get("LB_CLUSTER_ID"), None, "null is absent");
        assert_eq!(
            cfg.payload.get("EXTRA"),
            Some("a=b"),
            "split on the first ="
        );
        assert_eq!(cfg.health_interval, Duration::from_secs(15));
        let env = cfg.hook_env();
        assert!(env.contains(&("STRATOS_CARTRIDGE_KEY".into(), "s3cr3t".into())));
        let printed = format!("{:?} {:?}", cfg, cfg.payload);
        assert!(
            !printed.contains("s3cr3t") && !printed.contains(":pw@"),
            "{printed}"
        );
    }

    #[test]
    fn every_missing_required_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for key in REQUIRED_KEYS {
            let text: String = GOOD
                .trim()
                .split(',')
                .filter(|pair| !pair.starts_with(&format!("{key}=")))
                .collect::<Vec<_>>()
                .join(",");
            let p = write(dir.path(), "lp", &text);
            let err = AgentConfig::load(&p, None, overrides()).unwrap_err();
            assert!(
                matches!(&err, ConfigError::MissingKey { key: k, .. } if k == key),
                "{key}: {err}"
            );
            assert!(err.to_string().contains(key));
        }
        let p = write(dir.path(), "lp", &GOOD.replace("np1", "null"));
        assert!(AgentConfig::load(&p, None, overrides())
            .unwrap_err()
            .to_string()
            .contains("NETWORK_PARTITION_ID"));
    }

    #[test]
    fn malformed_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "lp", &GOOD.replace("8080|8443", "8080|http"));
        let err = AgentConfig::load(&p, None, overrides()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Malformed { key, .. } if key == "PORTS"),
            "{err}"
        );
        let lp = write(dir.path(), "lp", GOOD);
        let conf = write(dir.path(), "agent.conf", "health.interval.secs = soon\n");
        let err = AgentConfig::load(&lp, Some(&conf), overrides()).unwrap_err();
        assert!(err.to_string().contains("health.interval.secs"), "{err}");
        let err = AgentConfig::load(&lp, None, Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::NoBroker));
        assert!(matches!(
            AgentConfig::load(&dir.path().join("absent"), None, overrides()),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn agent_conf_and_overrides_take_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let lp = write(
            dir.path(),
            "lp",
            &format!("{},AMQP_URL=amqp://payload/", GOOD.trim()),
        );
        let conf = write(
            dir.path(),
            "agent.conf",
            "# comment\n[agent]\namqp.url = amqp://conf/\nhealth.interval.secs = 0.5\nextensions.dir = /x\n",
        );
        let cfg = AgentConfig::load(&lp, Some(&conf), Overrides::default()).unwrap();
        assert_eq!(cfg.amqp_url, "amqp://conf/");
        assert_eq!(cfg.health_interval, Duration::from_millis(500));
        assert_eq!(cfg.extensions_dir, PathBuf::from("/x"));
        let cfg = AgentConfig::load(&lp, None, Overrides::default()).unwrap();
        assert_eq!(cfg.amqp_url, "amqp://payload/");
        let cfg = AgentConfig::load(&lp, Some(&conf), overrides()).unwrap();
        assert_eq!(cfg.amqp_url, "amqp://u:pw@127.0.0.1/");
        assert_eq!(cfg.amqp_ca_cert, None);
    }

    #[test]
    fn amqp_ca_cert_is_read_from_agent_conf_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let lp = write(dir.path(), "lp", GOOD.trim());
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let ca = write(dir.path(), "ca.pem", pem);
        let conf = write(
            dir.path(),
            "agent.conf",
            &format!("amqp.ca.cert = {}\n", ca.display()),
        );
        let cfg = AgentConfig::load(&lp, Some(&conf), overrides()).unwrap();
        assert_eq!(cfg.amqp_ca_cert.as_deref(), Some(pem));
        // Not a certificate: named with the key.
        let garbage = write(dir.path(), "garbage.pem", "hello");
        let conf = write(
            dir.path(),
            "agent2.conf",
            &format!("amqp.ca.cert = {}\n", garbage.display()),
        );
        let err = AgentConfig::load(&lp, Some(&conf), overrides()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Malformed { key, .. } if key == "amqp.ca.cert"),
            "{err}"
        );
        // Missing: a read error naming the file.
        let conf = write(
            dir.path(),
            "agent3.conf",
            "amqp.ca.cert = /no/such/ca.pem\n",
        );
        let err = AgentConfig::load(&lp, Some(&conf), overrides()).unwrap_err();
        assert!(err.to_string().contains("/no/such/ca.pem"), "{err}");
    }
}
