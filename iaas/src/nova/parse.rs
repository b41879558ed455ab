//! OpenStack JSON responses → provider-neutral values.

use crate::types::{Instance, InstanceState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn timestamp(v: Option<&Value>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v?.as_str()?, &Rfc3339).ok()
}

/// How long a Keystone v3 token lives: `expires_at - issued_at`.
pub fn token_lifetime(body: &Value) -> Option<Duration> {
    let token = body.get("token")?;
    let expires = timestamp(token.get("expires_at"))?;
    let issued = timestamp(token.get("issued_at"))?;
    let secs = (expires - issued).whole_seconds();
    (secs > 0).then(|| Duration::from_secs(secs as u64))
}

/// The URL of the first catalog service of one of `types` (in that order of preference) with
/// an endpoint of `interface` in `region` (any region when `None`; compared case-insensitively).
pub fn catalog_endpoint(
    body: &Value,
    types: &[&str],
    region: Option<&str>,
    interface: &str,
) -> Option<String> {
    let catalog = body.get("token")?.get("catalog")?.as_array()?;
    types.iter().find_map(|wanted| {
        catalog
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) == Some(*wanted))
            .flat_map(|s| {
                s.get("endpoints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find(|e| {
                e.get("interface").and_then(Value::as_str) == Some(interface)
                    && region.is_none_or(|r| {
                        let of = |k: &str| {
                            e.get(k)
                                .and_then(Value::as_str)
                                .map(|v| v.eq_ignore_ascii_case(r))
                        };
                        of("region_id").or_else(|| of("region")).unwrap_or(false)
                    })
            })
            .and_then(|e| e.get("url").and_then(Value::as_str))
            .map(str::to_string)
    })
}

/// A Nova server status as ours.
pub fn state(status: &str) -> InstanceState {
    match status.to_ascii_uppercase().as_str() {
        "ACTIVE" => InstanceState::Running,
        "BUILD" | "REBUILD" | "REBOOT" | "HARD_REBOOT" | "RESIZE" | "VERIFY_RESIZE"
        | "MIGRATING" => InstanceState::Pending,
        "SHUTOFF" | "STOPPED" | "SUSPENDED" | "PAUSED" | "SHELVED" | "SHELVED_OFFLOADED" => {
            InstanceState::Stopped
        }
        "DELETED" | "SOFT_DELETED" => InstanceState::Terminated,
        _ => InstanceState::Unknown,
    }
}

/// One `server` object. Addresses typed `floating` are public, `fixed` private; untyped ones
/// (older clouds) are public when their network is called `public`.
pub fn server(s: &Value) -> Option<Instance> {
    // Recorded older clouds (and some Rackspace-era APIs) send numeric ids.
    let instance_id = match s.get("id")? {
        Value::String(id) if !id.is_empty() => id.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let status = s.get("status").and_then(Value::as_str).unwrap_or("");
    let mut private_ips = Vec::new();
    let mut public_ips = Vec::new();
    if let Some(networks) = s.get("addresses").and_then(Value::as_object) {
        for (network, addrs) in networks {
            for a in addrs.as_array().into_iter().flatten() {
                let Some(ip) = a.get("addr").and_then(Value::as_str) else {
                    continue;
                };
                let public = match a.get("OS-EXT-IPS:type").and_then(Value::as_str) {
                    Some(t) => t == "floating",
                    None => network.eq_ignore_ascii_case("public"),
                };
                let list = if public {
                    &mut public_ips
                } else {
                    &mut private_ips
                };
                if !list.iter().any(|x: &String| x == ip) {
                    list.push(ip.to_string());
                }
            }
        }
    }
    let tags: BTreeMap<String, String> = s
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut extra = BTreeMap::new();
    extra.insert("status".to_string(), status.to_string());
    let id_of = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        }
    };
    if let Some(f) = id_of(s.get("flavor")) {
        extra.insert("flavor".into(), f);
    }
    if let Some(i) = id_of(s.get("image")) {
        extra.insert("image".into(), i);
    }
    for (field, name) in [
        ("OS-EXT-AZ:availability_zone", "availability_zone"),
        ("key_name", "key_name"),
        ("name", "name"),
    ] {
        if let Some(v) = s.get(field).and_then(Value::as_str) {
            extra.insert(name.to_string(), v.to_string());
        }
    }
    if let Some(msg) = s
        .get("fault")
        .and_then(|f| f.get("message"))
        .and_then(Value::as_str)
    {
        extra.insert("fault".into(), msg.to_string());
    }
    Some(Instance {
        instance_id,
        state: state(status),
        private_ips,
        public_ips,
        tags,
        extra,
    })
}

/// Every server of a `servers/detail` body.
pub fn servers(body: &Value) -> Vec<Instance> {
    body.get("servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(server)
        .collect()
}

/// A floating IP of Nova's `os-floating-ips`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIp {
    pub id: String,
    pub ip: String,
    pub instance_id: Option<String>,
    pub pool: Option<String>,
}

fn floating_ip(v: &Value) -> Option<FloatingIp> {
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(FloatingIp {
        id: match v.get("id")? {
            Value::Number(n) => n.to_string(),
            other => other.as_str()?.to_string(),
        },
        ip: text("ip")?,
        instance_id: text("instance_id"),
        pool: text("pool"),
    })
}

pub fn floating_ips(body: &Value) -> Vec<FloatingIp> {
    body.get("floating_ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(floating_ip)
        .collect()
}

pub fn single_floating_ip(body: &Value) -> Option<FloatingIp> {
    floating_ip(body.get("floating_ip")?)
}

/// A Cinder volume of a `volumes/detail` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    pub status: String,
    /// Servers it is attached to.
    pub attached_to: Vec<String>,
    pub metadata: BTreeMap<String, String>,
}

fn volume(v: &Value) -> Option<Volume> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(Volume {
        id: text(v.get("id")?)?,
        status: v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        attached_to: v
            .get("attachments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("server_id").and_then(text))
            .collect(),
        metadata: v
            .get("metadata")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Every volume of a Cinder `volumes` / `volumes/detail` body.
pub fn volumes(body: &Value) -> Vec<Volume> {
    body.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(volume)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_and_untyped_addresses() {
        let s = json!({"id": "a", "status": "ACTIVE", "metadata": {"k": "v"},
            "addresses": {"net": [{"addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed"},
                                  {"addr": "172.24.4.9", "OS-EXT-IPS:type": "floating"}],
                          "public": [{"addr": "50.1.1.1"}]}});
        let i = server(&s).unwrap();
        assert_eq!(i.private_ips, vec!["10.0.0.5"]);
        assert_eq!(i.public_ips, vec!["172.24.4.9", "50.1.1.1"]);
        assert_eq!(i.state, InstanceState::Running);
        assert_eq!(i.tags["k"], "v");
    }

    #[test]
    fn volumes_with_attachments_and_metadata() {
        let body = json!({"volumes": [
            {"id": "v1", "status": "in-use", "attachments": [{"server_id": "s1"}],
             "metadata": {"k": "v"}},
            {"id": "v2", "status": "available", "attachments": []},
            {"status": "available"}]});
        let v = volumes(&body);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].attached_to, vec!["s1"]);
        assert_eq!(v[0].metadata["k"], "v");
        assert!(v[1].attached_to.is_empty() && v[1].metadata.is_empty());
        assert!(volumes(&json!({})).is_empty());
    }

    #[test]
    fn lifetime_from_issue_and_expiry() {
        let b = json!({"token": {"issued_at": "2014-08-10T18:15:57.096078Z", "expires_at": "2014-08-10T19:15:57.096078Z"}});
        assert_eq!(token_lifetime(&b), Some(Duration::from_secs(3600)));
        assert_eq!(token_lifetime(&json!({})), None);
    }
}
