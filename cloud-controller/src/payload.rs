//! The instance payload: one line of `KEY=VALUE` pairs joined by `,`, as Stratos builds it.
//!
//! The format has no escaping, so a value containing `,` (or a key containing `=`) would
//! silently split into garbage on the instance: we reject it with an error naming the key.

use crate::agent_endpoints::AgentEndpoints;
use std::fmt;

/// An ordered payload under construction.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Payload {
    entries: Vec<(String, String)>,
}

/// Why a payload cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload value of {key} contains ',' which would break the KEY=VALUE,... format")]
    CommaInValue { key: String },
    #[error("payload key {key:?} is empty or contains ',', '=' or whitespace")]
    BadKey { key: String },
    #[error("payload value of {key} contains a line break")]
    LineBreakInValue { key: String },
}

/// Keys whose value is secret: shown as `***` by `Debug`.
const SECRET_KEYS: &[&str] = &["CARTRIDGE_KEY", "MB_PASSWORD", "TOKEN", "AMQP_URL"];

impl Payload {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key` (replacing an earlier value in place, as Stratos does for
    /// `payload_parameter.*` overrides).
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, PayloadError> {
        if key.is_empty() || key.contains([',', '=']) || key.chars().any(char::is_whitespace) {
            return Err(PayloadError::BadKey { key: key.into() });
        }
        if value.contains(',') {
            return Err(PayloadError::CommaInValue { key: key.into() });
        }
        if value.contains(['\n', '\r']) {
            return Err(PayloadError::LineBreakInValue { key: key.into() });
        }
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.entries.push((key.to_string(), value.to_string())),
        }
        Ok(self)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The wire form handed to the instance as user data.
    pub fn to_line(&self) -> String {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parse a payload line (split on `,`, then on the first `=`), as agents do.
    pub fn parse(line: &str) -> Payload {
        let entries = line
            .trim()
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (pair.to_string(), String::new()),
            })
            .collect();
        Payload { entries }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.entries {
            if SECRET_KEYS.contains(&k.as_str()) {
                map.entry(k, &"***");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// Everything a member's payload is built from.
pub struct PayloadInput<'a> {
    pub service_name: &'a str,
    pub host_name: &'a str,
    pub multi_tenant: bool,
    pub tenant_id: i64,
    pub alias: &'a str,
    pub cluster_id: &'a str,
    pub member_id: &'a str,
    pub network_partition_id: &'a str,
    pub partition_id: &'a str,
    pub ports: &'a [u16],
    pub cartridge_key: &'a str,
    pub deployment: &'a str,
    pub provider: &'a str,
    /// Cartridge properties; `payload_parameter.X` become `X`.
    pub properties: &'a [(String, String)],
    /// The member's tenant's place on the broker, when tenants are kept apart there.
    pub broker: Option<BrokerKeys<'a>>,
    /// The broker and health receiver addresses for Stratos agents.
    pub endpoints: &'a AgentEndpoints,
}

/// How a member's agent reaches its tenant's virtual host (docs/PROTOCOL.md).
#[derive(Clone, Copy)]
pub struct BrokerKeys<'a> {
    /// `amqp://user:password@host:port/vhost`.
    pub url: &'a str,
    pub user: &'a str,
    pub password: &'a str,
    pub vhost: &'a str,
}

/// Stratos 4.1's `APPLICATION_ID`: Altostratus has no applications, so a subscription is its
/// own application, named by its alias (the topology's `appId` is the same value).
pub fn application_id(alias: &str) -> String {
    alias.to_string()
}

/// Stratos 4.1's `CLUSTER_INSTANCE_ID`: a cluster has one instance here, `<alias>-1` (the
/// topology's member `clusterInstanceId` is the same value).
pub fn cluster_instance_id(alias: &str) -> String {
    format!("{alias}-1")
}

/// Build a member's payload with Stratos' keys and order.
pub fn build(input: &PayloadInput<'_>) -> Result<Payload, PayloadError> {
    let mut p = Payload::new();
    let ports = input
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("|");
    p.set("SERVICE_NAME", input.service_name)?
        .set("HOST_NAME", input.host_name)?
        .set(
            "MULTITENANT",
            if input.multi_tenant { "true" } else { "false" },
        )?
        .set("TENANT_ID", &input.tenant_id.to_string())?
        .set("TENANT_RANGE", &input.tenant_id.to_string())?
        .set("CARTRIDGE_ALIAS", input.alias)?
        .set("CLUSTER_ID", input.cluster_id)?
        .set("CARTRIDGE_KEY", input.cartridge_key)?
        .set("DEPLOYMENT", input.deployment)?
        .set("PORTS", &ports)?
        .set("PROVIDER", input.provider)?;
    for (name, value) in input.properties {
        if let Some(key) = name.strip_prefix("payload_parameter.") {
            p.set(key, value)?;
        }
    }
    // After the cartridge's parameters: a cartridge cannot point its agents at another
    // tenant's virtual host.
    if let Some(broker) = input.broker {
        p.set("AMQP_URL", broker.url)?
            .set("MB_USERNAME", broker.user)?
            .set("MB_PASSWORD", broker.password)?
            .set("MB_VHOST", broker.vhost)?;
    }
    p.set("MEMBER_ID", input.member_id)?
        .set("LB_CLUSTER_ID", "null")?
        .set("NETWORK_PARTITION_ID", input.network_partition_id)?
        .set("PARTITION_ID", input.partition_id)?;
    add_stratos_keys(&mut p, input)?;
    Ok(p)
}

/// The keys the Stratos 4.1 Python agent needs besides the above (its `config.py` requires
/// `APPLICATION_ID`; `agent.py` reads the broker from `MB_IP`/`MB_PORT` through the image's
/// configurator, the health receiver from `CEP_IP`/`CEP_PORT`). A value a cartridge's
/// `payload_parameter.*` already set is kept: the admin's word wins.
fn add_stratos_keys(p: &mut Payload, input: &PayloadInput<'_>) -> Result<(), PayloadError> {
    let mut keys = vec![
        ("APPLICATION_ID", application_id(input.alias)),
        ("CLUSTER_INSTANCE_ID", cluster_instance_id(input.alias)),
    ];
    if let Some(mqtt) = &input.endpoints.mqtt {
        keys.push(("MB_IP", mqtt.host.clone()));
        keys.push(("MB_PORT", mqtt.port.to_string()));
    }
    if let Some(cep) = &input.endpoints.cep {
        keys.push(("CEP_IP", cep.host.clone()));
        keys.push(("CEP_PORT", cep.port.to_string()));
    }
    for (key, value) in keys {
        if p.get(key).is_none() {
            p.set(key, &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(props: &'a [(String, String)]) -> PayloadInput<'a> {
        PayloadInput {
            service_name: "php",
            host_name: "myphp.php.stratos.org",
            multi_tenant: false,
            tenant_id: 3,
            alias: "myphp",
            cluster_id: "myphp.php.domain",
            member_id: "myphp.php.domain-1",
            network_partition_id: "np1",
            partition_id: "p1",
            ports: &[80, 443],
            cartridge_key: "abcdefghijklmnop",
            deployment: "default",
            provider: "apache",
            properties: props,
            broker: None,
            endpoints: &NO_ENDPOINTS,
        }
    }

    static NO_ENDPOINTS: AgentEndpoints = AgentEndpoints {
        mqtt: None,
        cep: None,
    };

    #[test]
    fn builds_stratos_keys_in_order() {
        let props = vec![
            (
                "payload_parameter.MB_URLS".to_string(),
                "127.0.0.1:5672".to_string(),
            ),
            ("instanceType".to_string(), "m1.small".to_string()),
        ];
        let line = build(&input(&props)).unwrap().to_line();
        assert_eq!(
            line,
            "SERVICE_NAME=php,HOST_NAME=myphp.php.stratos.org,MULTITENANT=false,TENANT_ID=3,\
TENANT_RANGE=3,CARTRIDGE_ALIAS=myphp,CLUSTER_ID=myphp.php.domain,CARTRIDGE_KEY=abcdefghijklmnop,\
DEPLOYMENT=default,PORTS=80|443,PROVIDER=apache,MB_URLS=127.0.0.1:5672,MEMBER_ID=myphp.php.domain-1,\
LB_CLUSTER_ID=null,NETWORK_PARTITION_ID=np1,PARTITION_ID=p1,APPLICATION_ID=myphp,\
CLUSTER_INSTANCE_ID=myphp-1"
        );
        let parsed = Payload::parse(&line);
        assert_eq!(parsed.get("PORTS"), Some("80|443"));
        assert_eq!(parsed.get("MB_URLS"), Some("127.0.0.1:5672"));
    }

    #[test]
    fn comma_in_a_value_is_rejected_with_the_key() {
        let props = vec![(
            "payload_parameter.MB_URLS".to_string(),
            "a:1,b:2".to_string(),
        )];
        let err = build(&input(&props)).unwrap_err();
        assert_eq!(
            err,
            PayloadError::CommaInValue {
                key: "MB_URLS".into()
            }
        );
        assert!(err.to_string().contains("MB_URLS"));
        let props = vec![("payload_parameter.A=B".to_string(), "x".to_string())];
        assert!(matches!(
            build(&input(&props)),
            Err(PayloadError::BadKey { .. })
        ));
    }

    #[test]
    fn payload_parameters_override_in_place() {
        let props = vec![(
            "payload_parameter.DEPLOYMENT".to_string(),
            "blue".to_string(),
        )];
        let p = build(&input(&props)).unwrap();
        assert_eq!(p.get("DEPLOYMENT"), Some("blue"));
        assert_eq!(p.to_line().matches("DEPLOYMENT=").count(), 1);
    }

    #[test]
    fn debug_hides_the_cartridge_key() {
        let p = build(&input(&[])).unwrap();
        let printed = format!("{p:?}");
        assert!(!printed.contains("abcdefghijklmnop"), "{printed}");
        assert!(printed.contains("myphp.php.domain"));
    }

    /// Every key the Stratos 4.1 Python agent's `config.py` reads as required
    /// (`read_property(KEY)` with `critical=True`), and the broker and receiver keys, as it
    /// splits the line: on `,`, then on `=` keeping the second piece only.
    #[test]
    fn carries_what_the_stratos_agent_requires() {
        let endpoints = AgentEndpoints {
            mqtt: Some(crate::agent_endpoints::HostPort {
                host: "10.0.0.1".into(),
                port: 1883,
            }),
            cep: Some(crate::agent_endpoints::HostPort {
                host: "10.0.0.2".into(),
                port: 7711,
            }),
        };
        let mut inp = input(&[]);
        inp.endpoints = &endpoints;
        let line = build(&inp).unwrap().to_line();
        let stratos: std::collections::HashMap<&str, &str> = line
            .split(',')
            .map(|pair| {
                let mut pieces = pair.split('=');
                (pieces.next().unwrap(), pieces.next().unwrap_or(""))
            })
            .collect();
        for key in [
            "APPLICATION_ID",
            "SERVICE_NAME",
            "CLUSTER_ID",
            "CARTRIDGE_KEY",
            "PORTS",
            "MULTITENANT",
            "TENANT_ID",
        ] {
            let value = stratos.get(key).copied().unwrap_or("");
            assert!(
                !value.is_empty() && value != "null",
                "{key} missing in {line}"
            );
        }
        assert_eq!(stratos["CLUSTER_INSTANCE_ID"], "myphp-1");
        assert_eq!(stratos["MEMBER_ID"], "myphp.php.domain-1");
        assert_eq!(stratos["MB_IP"], "10.0.0.1");
        assert_eq!(stratos["MB_PORT"], "1883");
        assert_eq!(stratos["CEP_IP"], "10.0.0.2");
        assert_eq!(stratos["CEP_PORT"], "7711");
        // A cartridge's payload_parameter wins over the controller's address.
        let props = vec![(
            "payload_parameter.MB_IP".to_string(),
            "mq.internal".to_string(),
        )];
        let mut inp = input(&props);
        inp.endpoints = &endpoints;
        let p = build(&inp).unwrap();
        assert_eq!(p.get("MB_IP"), Some("mq.internal"));
        assert_eq!(p.to_line().matches("MB_IP=").count(), 1);
    }
}
