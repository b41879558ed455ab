//! Definitions as Stratos 4.1's REST API shows them (`CartridgeBean`, `AutoscalePolicyBean`,
//! `DeploymentPolicyBean`, `NetworkPartitionBean` field names: `portMapping`, `iaasProvider`,
//! `property`, `networkPartitions`, `partitionMax`, ...), for `GET .../{id}`.
//!
//! A definition posted as JSON is shown as posted, over the rendering of what was parsed: every
//! field the client sent comes back (`category`, `networkInterfaces`, `portMapping[].name`, ...
//! which the controller keeps without acting on), and what the parser added (defaults, the
//! normalised numbers) fills in around it. A definition from XML is the rendering alone.

use alto_config::{
    AutoscalePolicy, Cartridge, DeploymentPolicy, NetworkPartitionConfig, PartitionAlgorithm,
    PartitionConfig, Property, Thresholds,
};
use serde_json::{json, Map, Value};

/// A number as JSON: whole numbers without a fraction (`20`, not `20.0`), as Stratos' beans print them.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

fn properties(list: &[Property]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| json!({"name": p.name, "value": p.value}))
            .collect(),
    )
}

/// Insert `value` under `key` unless it is absent (`None`, an empty list).
fn put(o: &mut Map<String, Value>, key: &str, value: impl Into<Option<Value>>) {
    match value.into() {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(v) => {
            o.insert(key.to_string(), v);
        }
    }
}

pub fn cartridge(c: &Cartridge) -> Value {
    let mut o = Map::new();
    put(&mut o, "type", json!(c.cartridge_type));
    put(&mut o, "provider", c.provider.as_ref().map(|v| json!(v)));
    put(&mut o, "host", c.host.as_ref().map(|v| json!(v)));
    put(
        &mut o,
        "displayName",
        c.display_name.as_ref().map(|v| json!(v)),
    );
    put(
        &mut o,
        "description",
        c.description.as_ref().map(|v| json!(v)),
    );
    put(&mut o, "version", c.version.as_ref().map(|v| json!(v)));
    put(&mut o, "multiTenant", json!(c.multi_tenant));
    let ports: Vec<Value> = c
        .port_mappings
        .iter()
        .map(|p| {
            let mut m = Map::new();
            put(&mut m, "protocol", json!(p.protocol));
            put(&mut m, "port", json!(p.port));
            put(&mut m, "proxyPort", p.proxy_port.map(|v| json!(v)));
            Value::Object(m)
        })
        .collect();
    put(&mut o, "portMapping", Value::Array(ports));
    if let Some(d) = &c.deployment {
        let mut m = Map::new();
        put(&mut m, "baseDir", d.base_dir.as_ref().map(|v| json!(v)));
        put(&mut m, "dir", json!(d.dirs));
        put(&mut o, "deployment", Value::Object(m));
    }
    let providers: Vec<Value> = c
        .iaas_providers
        .iter()
        .map(|p| {
            let mut m = Map::new();
            put(&mut m, "type", json!(p.provider_type));
            put(&mut m, "imageId", p.image_id.as_ref().map(|v| json!(v)));
            put(
                &mut m,
                "maxInstanceLimit",
                p.max_instance_limit.map(|v| json!(v)),
            );
            put(&mut m, "property", properties(&p.properties));
            Value::Object(m)
        })
        .collect();
    put(&mut o, "iaasProvider", Value::Array(providers));
    if let Some(p) = &c.persistence {
        let volumes: Vec<Value> = p
            .volumes
            .iter()
            .map(|v| {
                let mut m = Map::new();
                put(&mut m, "id", v.id.as_ref().map(|x| json!(x)));
                put(&mut m, "size", json!(v.size_gb));
                put(&mut m, "device", v.device.as_ref().map(|x| json!(x)));
                put(
                    &mut m,
                    "mappingPath",
                    v.mapping_path.as_ref().map(|x| json!(x)),
                );
                put(
                    &mut m,
                    "snapshotId",
                    v.snapshot_id.as_ref().map(|x| json!(x)),
                );
                put(
                    &mut m,
                    "removeOnTermination",
                    json!(v.remove_on_termination),
                );
                Value::Object(m)
            })
            .collect();
        put(
            &mut o,
            "persistence",
            json!({"isRequired": p.required, "volume": volumes}),
        );
    }
    put(&mut o, "property", properties(&c.properties));
    Value::Object(o)
}

fn thresholds(t: &Thresholds) -> Value {
    let mut m = Map::new();
    for (key, value) in [
        ("threshold", t.threshold),
        ("average", t.average),
        ("gradient", t.gradient),
        ("secondDerivative", t.second_derivative),
        ("scaleDownMarginOfGradient", t.scale_down_margin_of_gradient),
        (
            "scaleDownMarginOfSecondDerivative",
            t.scale_down_margin_of_second_derivative,
        ),
        ("upperLimit", t.upper_limit),
        ("lowerLimit", t.lower_limit),
    ] {
        put(&mut m, key, value.map(number));
    }
    Value::Object(m)
}

pub fn autoscale_policy(p: &AutoscalePolicy) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", json!(p.id));
    put(
        &mut o,
        "displayName",
        p.display_name.as_ref().map(|v| json!(v)),
    );
    put(
        &mut o,
        "description",
        p.description.as_ref().map(|v| json!(v)),
    );
    let t = &p.load_thresholds;
    let mut lt = Map::new();
    for (key, value) in [
        ("requestsInFlight", &t.requests_in_flight),
        ("memoryConsumption", &t.memory_consumption),
        ("loadAverage", &t.load_average),
    ] {
        put(&mut lt, key, value.as_ref().map(thresholds));
    }
    put(&mut o, "loadThresholds", Value::Object(lt));
    // Our extensions, shown only when set.
    if p.dry_run {
        put(&mut o, "dryRun", json!(true));
    }
    if p.scaling != Default::default() {
        let scaling = serde_json::to_value(&p.scaling)
            .map(|v| match v {
                Value::Object(m) => {
                    Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect())
                }
                other => other,
            })
            .unwrap_or(Value::Null);
        put(&mut o, "scaling", scaling);
    }
    Value::Object(o)
}

fn partition_reference(p: &PartitionConfig) -> Value {
    let mut m = Map::new();
    put(&mut m, "id", json!(p.id));
    put(&mut m, "partitionMax", p.max.map(|v| json!(v)));
    put(&mut m, "partitionMin", p.min.map(|v| json!(v)));
    put(&mut m, "provider", p.provider.as_ref().map(|v| json!(v)));
    put(&mut m, "property", properties(&p.properties));
    Value::Object(m)
}

pub fn deployment_policy(d: &DeploymentPolicy) -> Value {
    let groups: Vec<Value> = d
        .partition_groups
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "partitionAlgo": match g.algorithm {
                    PartitionAlgorithm::OneAfterAnother => "one-after-another",
                    PartitionAlgorithm::RoundRobin => "round-robin",
                },
                "partitions": g.partitions.iter().map(partition_reference).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"id": d.id, "networkPartitions": groups})
}

pub fn network_partition(np: &NetworkPartitionConfig) -> Value {
    let partitions: Vec<Value> = np
        .partitions
        .iter()
        .map(|p| {
            let mut m = Map::new();
            put(&mut m, "id", json!(p.id));
            if p.provider.as_deref() != Some(np.provider.as_str()) {
                put(&mut m, "provider", p.provider.as_ref().map(|v| json!(v)));
            }
            put(&mut m, "property", properties(&p.properties));
            Value::Object(m)
        })
        .collect();
    let mut o = Map::new();
    put(&mut o, "id", json!(np.id));
    if !np.provider.is_empty() {
        put(&mut o, "provider", json!(np.provider));
    }
    o.insert("partitions".into(), Value::Array(partitions));
    put(&mut o, "properties", properties(&np.properties));
    Value::Object(o)
}

/// Lay `posted` over `base`: objects merge key by key, arrays of the same length element by
/// element, and anything else posted wins. Keys are kept as posted: a client that wrote a 4.0
/// or milestone spelling (`partitionGroup`, `max`, a single object for a list) reads its own
/// spelling back, next to the 4.1 names of the rendering.
fn overlay(base: Value, posted: Value) -> Value {
    match (base, posted) {
        (Value::Object(mut b), Value::Object(p)) => {
            for (k, v) in p {
                let merged = match b.remove(&k) {
                    Some(old) => overlay(old, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Object(b)
        }
        (Value::Array(b), Value::Array(p)) if b.len() == p.len() => {
            Value::Array(b.into_iter().zip(p).map(|(b, p)| overlay(b, p)).collect())
        }
        (_, posted) => posted,
    }
}

/// What `GET .../{id}` answers: the rendering, with the posted document (if any) over it.
pub fn shown(rendered: Value, posted: Option<Value>) -> Value {
    match posted {
        Some(p) => overlay(rendered, p),
        None => rendered,
    }
}
