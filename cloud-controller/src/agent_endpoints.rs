//! Where agents reach the platform's services, as the payload tells them: the MQTT broker
//! (`MB_IP`/`MB_PORT`, read by Stratos 4.1 Python agents) and the Thrift health receiver
//! (`CEP_IP`/`CEP_PORT`, Stratos' name for it: CEP). One value, set once at startup from
//! `--mqtt-public`, `--amqp-url`, `--thrift-listen` and `--thrift-public`.

use std::fmt;
use std::net::SocketAddr;

/// A host (name or address, without `,`, `=`, whitespace or `:` beyond an IPv6 literal's) and
/// a port, as the payload carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// Why a `HOST:PORT` setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{setting} {value:?}: expected HOST:PORT")]
    NotHostPort { setting: String, value: String },
    #[error("{setting} {value:?}: the host may not contain ',', '=' or whitespace (the payload format cannot carry them)")]
    BadHost { setting: String, value: String },
}

impl HostPort {
    /// Parse `HOST:PORT` (`[::1]:1883` for an IPv6 literal) given as `setting`.
    pub fn parse(setting: &str, value: &str) -> Result<HostPort, EndpointError> {
        let not = || EndpointError::NotHostPort {
            setting: setting.into(),
            value: value.into(),
        };
        let (host, port) = value.rsplit_once(':').ok_or_else(not)?;
        let port: u16 = port.parse().map_err(|_| not())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(not());
        }
        if host.contains([',', '=']) || host.chars().any(char::is_whitespace) {
            return Err(EndpointError::BadHost {
                setting: setting.into(),
                value: value.into(),
            });
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }

    pub fn from_socket(addr: SocketAddr) -> HostPort {
        HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The addresses handed to every agent; `None` leaves the keys out of the payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentEndpoints {
    /// MQTT broker for Stratos agents (`MB_IP`, `MB_PORT`).
    pub mqtt: Option<HostPort>,
    /// Thrift data-bridge receiver (`CEP_IP`, `CEP_PORT`).
    pub cep: Option<HostPort>,
}

/// The MQTT port RabbitMQ's MQTT plugin listens on by default.
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// The broker host of an `amqp://` URL (never its credentials), for the default MQTT address.
pub fn amqp_host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("amqp://")
        .or_else(|| url.strip_prefix("amqps://"))?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parses_and_refuses() {
        assert_eq!(
            HostPort::parse("--mqtt-public", "127.0.0.1:1884").unwrap(),
            HostPort {
                host: "127.0.0.1".into(),
                port: 1884
            }
        );
        assert_eq!(
            HostPort::parse("--mqtt-public", "[::1]:1883").unwrap().host,
            "::1"
        );
        for bad in ["nohost", ":1883", "h:0", "h:99999", "h:x"] {
            assert!(
                matches!(
                    HostPort::parse("--x", bad),
                    Err(EndpointError::NotHostPort { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            HostPort::parse("--x", "a,b:1"),
            Err(EndpointError::BadHost { .. })
        ));
    }

    #[test]
    fn the_mqtt_host_defaults_to_the_brokers_without_credentials() {
        assert_eq!(
            amqp_host("amqp://guest:secret@mq.example.org:5672/%2f").as_deref(),
            Some("mq.example.org")
        );
        assert_eq!(amqp_host("amqp://127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(amqp_host("amqp://u:p@[::1]:5672/").as_deref(), Some("::1"));
        assert_eq!(amqp_host("http://x"), None);
    }
}
