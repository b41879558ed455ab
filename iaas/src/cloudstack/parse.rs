//! CloudStack JSON responses → provider-neutral values.

use super::api::id_string;
use crate::types::{Instance, InstanceState};
use serde_json::Value;
use std::collections::BTreeMap;

/// A CloudStack VM state as ours.
pub fn state(cloudstack_state: &str) -> InstanceState {
    match cloudstack_state.to_ascii_lowercase().as_str() {
        "running" => InstanceState::Running,
        "starting" | "creating" | "migrating" => InstanceState::Pending,
        "stopping" => InstanceState::Stopping,
        "stopped" | "shutdowned" => InstanceState::Stopped,
        "destroyed" | "expunging" | "expunged" => InstanceState::Terminated,
        _ => InstanceState::Unknown,
    }
}

/// One `virtualmachine` object.
pub fn virtual_machine(vm: &Value) -> Option<Instance> {
    let instance_id = vm.get("id").and_then(id_string)?;
    let raw_state = vm.get("state").and_then(Value::as_str).unwrap_or("");
    let mut private_ips = Vec::new();
    let mut public_ips = Vec::new();
    for nic in vm
        .get("nic")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for field in ["ipaddress", "ip6address"] {
            if let Some(ip) = nic.get(field).and_then(Value::as_str) {
                if !ip.is_empty() && !private_ips.iter().any(|p| p == ip) {
                    // The default NIC first.
                    if nic.get("isdefault").and_then(Value::as_bool) == Some(true) {
                        private_ips.insert(0, ip.to_string());
                    } else {
                        private_ips.push(ip.to_string());
                    }
                }
            }
        }
    }
    if let Some(ip) = vm.get("publicip").and_then(Value::as_str) {
        if !ip.is_empty() {
            public_ips.push(ip.to_string());
        }
    }
    let tags = vm
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get("key")?.as_str()?.to_string(),
                t.get("value")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let mut extra = BTreeMap::new();
    extra.insert("state".to_string(), raw_state.to_string());
    for (field, name) in [
        ("zoneid", "zone_id"),
        ("zonename", "zone"),
        ("templateid", "template_id"),
        ("serviceofferingid", "service_offering_id"),
        ("name", "name"),
        ("displayname", "display_name"),
        ("keypair", "key_pair"),
    ] {
        if let Some(v) = vm.get(field).and_then(id_string) {
            extra.insert(name.to_string(), v);
        }
    }
    Some(Instance {
        instance_id,
        state: state(raw_state),
        private_ips,
        public_ips,
        tags,
        extra,
    })
}

/// Every VM of a `listvirtualmachinesresponse` object (an empty response has no list).
pub fn virtual_machines(response: &Value) -> Vec<Instance> {
    response
        .get("virtualmachine")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(virtual_machine)
        .collect()
}

/// Ids of the objects under `field` (`zone`, `serviceoffering`, `template`) of a list response.
pub fn listed_ids(response: &Value, field: &str) -> Vec<String> {
    response
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("id").and_then(id_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_numeric_and_string_ids_nics_tags() {
        let vm = json!({"id": 2602, "state": "Running", "publicip": "7.5.6.1",
            "nic": [{"ipaddress": "10.0.0.2", "isdefault": false},
                    {"ipaddress": "192.168.1.2", "isdefault": true}],
            "tags": [{"key": "a", "value": "b"}]});
        let i = virtual_machine(&vm).unwrap();
        assert_eq!(i.instance_id, "2602");
        assert_eq!(i.state, InstanceState::Running);
        assert_eq!(i.private_ips, vec!["192.168.1.2", "10.0.0.2"]);
        assert_eq!(i.public_ips, vec!["7.5.6.1"]);
        assert_eq!(i.tags.get("a").map(String::as_str), Some("b"));
        assert!(virtual_machine(&json!({"state": "Running"})).is_none());
        assert!(virtual_machines(&json!({})).is_empty());
    }
}
