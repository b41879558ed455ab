//! Tables of the API's JSON for humans (comfy-table). Every renderer takes the JSON the API
//! returned, so that the CLI keeps working when the server adds fields.

use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;

/// The first of `keys` present in `v`, as text (`-` when absent).
pub fn field(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|k| v.get(*k))
        .find(|x| !x.is_null())
        .map(text)
        .unwrap_or_else(|| "-".to_string())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(text).collect();
            if parts.is_empty() {
                "-".to_string()
            } else {
                parts.join(", ")
            }
        }
        other => other.to_string(),
    }
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    t
}

pub fn cartridges(v: &Value) -> Table {
    let mut t = table(&[
        "Type",
        "Display name",
        "Version",
        "Provider",
        "Multi-tenant",
        "Host",
        "Clouds",
    ]);
    for c in list(v) {
        let clouds: Vec<String> = list(
            c.get("iaasProviders")
                .or_else(|| c.get("iaasProvider"))
                .unwrap_or(&Value::Null),
        )
        .into_iter()
        .map(|p| field(p, &["providerType", "type"]))
        .collect();
        t.add_row(vec![
            field(c, &["type", "cartridgeType"]),
            field(c, &["displayName"]),
            field(c, &["version"]),
            field(c, &["provider"]),
            field(c, &["multiTenant"]),
            field(c, &["host", "hostName"]),
            if clouds.is_empty() {
                "-".to_string()
            } else {
                clouds.join(", ")
            },
        ]);
    }
    t
}

/// One cartridge as `key: value` lines (nested values as compact JSON).
pub fn cartridge_detail(v: &Value) -> String {
    let mut t = table(&["Field", "Value"]);
    if let Value::Object(o) = v {
        for (k, x) in o {
            let shown = match x {
                Value::Object(_) => x.to_string(),
                Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                    x.to_string()
                }
                other => text(other),
            };
            t.add_row(vec![k.clone(), shown]);
        }
    }
    t.to_string()
}

pub fn autoscaling_policies(v: &Value) -> Table {
    let mut t = table(&[
        "ID",
        "Requests in flight",
        "Memory consumption",
        "Load average",
    ]);
    for p in list(v) {
        let th = p.get("loadThresholds").unwrap_or(&Value::Null);
        let metric = |name: &str| {
            let m = th.get(name).unwrap_or(&Value::Null);
            if m.is_object() {
                field(m, &["threshold", "average", "upperLimit"])
            } else {
                text(m)
            }
        };
        t.add_row(vec![
            field(p, &["id"]),
            metric("requestsInFlight"),
            metric("memoryConsumption"),
            metric("loadAverage"),
        ]);
    }
    t
}

pub fn deployment_policies(v: &Value) -> Table {
    let mut t = table(&[
        "ID",
        "Network partition",
        "Algorithm",
        "Partitions (min..max)",
    ]);
    for p in list(v) {
        let groups = list(
            p.get("partitionGroups")
                .or_else(|| p.get("networkPartitions"))
                .or_else(|| p.get("partitionGroup"))
                .unwrap_or(&Value::Null),
        );
        if groups.is_empty() {
            t.add_row(vec![field(p, &["id"]), "-".into(), "-".into(), "-".into()]);
        }
        for g in groups {
            let partitions: Vec<String> = list(
                g.get("partitions")
                    .or_else(|| g.get("partition"))
                    .unwrap_or(&Value::Null),
            )
            .into_iter()
            .map(|x| {
                format!(
                    "{} ({}..{})",
                    field(x, &["id"]),
                    field(x, &["min", "partitionMin"]),
                    field(x, &["max", "partitionMax"])
                )
            })
            .collect();
            t.add_row(vec![
                field(p, &["id"]),
                field(g, &["id"]),
                field(g, &["algorithm", "partitionAlgo"]),
                partitions.join(", "),
            ]);
        }
    }
    t
}

pub fn subscriptions(v: &Value) -> Table {
    let mut t = table(&[
        "Alias",
        "Cartridge",
        "Status",
        "Members (active/total, min)",
        "Cluster ID",
        "Host",
        "Autoscaling policy",
        "Deployment policy",
    ]);
    for s in list(v) {
        t.add_row(vec![
            field(s, &["alias"]),
            field(s, &["cartridgeType"]),
            field(s, &["status"]),
            format!(
                "{}/{}, min {}",
                field(s, &["membersActive"]),
                field(s, &["membersTotal"]),
                field(s, &["minMembers"])
            ),
            field(s, &["clusterId"]),
            field(s, &["hostName"]),
            field(s, &["autoscalePolicy"]),
            field(s, &["deploymentPolicy"]),
        ]);
    }
    t
}

pub fn clusters(v: &Value) -> Table {
    let mut t = table(&[
        "Cluster ID",
        "Alias",
        "Service",
        "Status",
        "Members",
        "Active",
        "Host",
    ]);
    for c in list(v) {
        let members = list(c.get("members").unwrap_or(&Value::Null));
        let active = members
            .iter()
            .filter(|m| m.get("state").and_then(Value::as_str) == Some("Active"))
            .count();
        t.add_row(vec![
            field(c, &["clusterId"]),
            field(c, &["alias"]),
            field(c, &["serviceName"]),
            field(c, &["status"]),
            members.len().to_string(),
            active.to_string(),
            field(c, &["hostName"]),
        ]);
    }
    t
}

pub fn members(v: &Value) -> Table {
    let mut t = table(&[
        "Member ID",
        "State",
        "Partition",
        "Private IPs",
        "Public IPs",
        "Instance ID",
        "Last error",
    ]);
    for m in list(v) {
        t.add_row(vec![
            field(m, &["memberId"]),
            field(m, &["state"]),
            format!(
                "{}/{}",
                field(m, &["networkPartitionId"]),
                field(m, &["partitionId"])
            ),
            field(m, &["privateIps"]),
            field(m, &["publicIps"]),
            field(m, &["instanceId"]),
            field(m, &["lastError"]),
        ]);
    }
    t
}

/// Decision records (`alto explain`): one row per record, newest last.
pub fn decisions(v: &Value) -> Table {
    let mut t = table(&[
        "Time (UTC)",
        "Active",
        "Pending",
        "Required",
        "Actions",
        "Reason",
    ]);
    for d in list(v) {
        let time = d.get("time").and_then(Value::as_f64).unwrap_or(0.0);
        let secs_of_day = (time.rem_euclid(86_400.0)) as u64;
        let actions: Vec<String> = list(d.get("actions").unwrap_or(&Value::Null))
            .iter()
            .map(|a| {
                let kind = field(a, &["action"]);
                match a.get("memberId").and_then(Value::as_str) {
                    Some(member) => format!("{kind} {member}"),
                    None => format!("{kind} in {}", field(a, &["partitionId"])),
                }
            })
            .collect();
        t.add_row(vec![
            format!(
                "{:02}:{:02}:{:02}",
                secs_of_day / 3600,
                secs_of_day / 60 % 60,
                secs_of_day % 60
            ),
            field(d.get("members").unwrap_or(&Value::Null), &["active"]),
            field(d.get("members").unwrap_or(&Value::Null), &["pending"]),
            field(d, &["required"]),
            if actions.is_empty() {
                "-".to_string()
            } else {
                actions.join(", ")
            },
            field(d, &["reason"]),
        ]);
    }
    t
}
