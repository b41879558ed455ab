//! Checks between documents: references, duplicates, ranges.

use crate::{
    AutoscalePolicy, Cartridge, ConfigSet, DeploymentPolicy, Location, NetworkPartitionConfig,
    PartitionConfig, Problem,
};
use std::collections::HashMap;

fn problem(location: &Location, message: String) -> Problem {
    Problem {
        location: location.clone(),
        message,
    }
}

/// Provider types known from cloud-controller.xml; `None` when the set has none (then
/// references cannot be checked, e.g. when validating a single cartridge file).
fn provider_types(set: &ConfigSet) -> Option<Vec<&str>> {
    set.cloud_controller.as_ref().map(|cc| {
        cc.iaas_providers
            .iter()
            .map(|p| p.provider_type.as_str())
            .collect()
    })
}

fn check_provider(
    set: &ConfigSet,
    location: &Location,
    provider: &str,
    what: &str,
    out: &mut Vec<Problem>,
) {
    if let Some(types) = provider_types(set) {
        if !types.contains(&provider) {
            out.push(problem(location, format!("{what} names iaasProvider type {provider:?}, which cloud-controller.xml does not define (known: {})", if types.is_empty() { "none".to_string() } else { types.join(", ") })));
        }
    }
}

fn check_range(p: &PartitionConfig, out: &mut Vec<Problem>) {
    if let (Some(min), Some(max)) = (p.min, p.max) {
        if min > max {
            out.push(problem(
                &p.location,
                format!("partition {}: min {min} is greater than max {max}", p.id),
            ));
        }
    }
}

pub(crate) fn cartridge(set: &ConfigSet, c: &Cartridge) -> Vec<Problem> {
    let mut out = Vec::new();
    for p in &c.iaas_providers {
        check_provider(
            set,
            &p.location,
            &p.provider_type,
            &format!("cartridge {}", c.cartridge_type),
            &mut out,
        );
    }
    if c.cartridge_type.contains(['.', ',', '=', ' ']) {
        out.push(problem(&c.location, format!("cartridge type {:?} may not contain '.', ',', '=' or spaces (it becomes part of cluster ids and payloads)", c.cartridge_type)));
    }
    out
}

pub(crate) fn deployment_policy(set: &ConfigSet, d: &DeploymentPolicy) -> Vec<Problem> {
    let mut out = Vec::new();
    if d.partition_groups.is_empty() {
        out.push(problem(
            &d.location,
            format!("deployment policy {} has no partitionGroup", d.id),
        ));
    }
    for g in &d.partition_groups {
        if g.partitions.is_empty() {
            out.push(problem(
                &g.location,
                format!("partitionGroup {} has no partition", g.id),
            ));
        }
        let mut seen: HashMap<&str, &Location> = HashMap::new();
        for p in &g.partitions {
            if let Some(first) = seen.insert(p.id.as_str(), &p.location) {
                out.push(problem(
                    &p.location,
                    format!(
                        "partition {} appears twice in partitionGroup {} (first at {first})",
                        p.id, g.id
                    ),
                ));
            }
            match set.resolve_partition(g, p) {
                None => out.push(problem(
                    &p.location,
                    match set.network_partition(&g.id) {
                        Some(np) => format!(
                            "partition {} is not in network partition {} (it holds {})",
                            p.id,
                            g.id,
                            np.partitions
                                .iter()
                                .map(|x| x.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None => format!(
                            "partition {} names no provider and no standalone partition has that \
                             id (nor is there a network partition {} holding it)",
                            p.id, g.id
                        ),
                    },
                )),
                Some(resolved) => {
                    if let Some(provider) = &resolved.provider {
                        check_provider(
                            set,
                            &p.location,
                            provider,
                            &format!("partition {}", p.id),
                            &mut out,
                        );
                    } else {
                        out.push(problem(
                            &p.location,
                            format!("partition {} names no provider", p.id),
                        ));
                    }
                    check_range(&resolved, &mut out);
                }
            }
        }
    }
    out
}

pub(crate) fn network_partition(set: &ConfigSet, np: &NetworkPartitionConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    if !np.provider.is_empty() {
        check_provider(
            set,
            &np.location,
            &np.provider,
            &format!("network partition {}", np.id),
            &mut out,
        );
    }
    for p in &np.partitions {
        match &p.provider {
            Some(provider) if *provider != np.provider => check_provider(
                set,
                &p.location,
                provider,
                &format!("partition {} of network partition {}", p.id, np.id),
                &mut out,
            ),
            _ => {}
        }
    }
    out
}

pub(crate) fn autoscale_policy(p: &AutoscalePolicy) -> Vec<Problem> {
    let mut out = Vec::new();
    let t = &p.load_thresholds;
    for (name, value) in [
        ("requestsInFlight", &t.requests_in_flight),
        ("memoryConsumption", &t.memory_consumption),
        ("loadAverage", &t.load_average),
    ] {
        if let Some(threshold) = value.as_ref().and_then(|v| v.threshold) {
            if !threshold.is_finite() || threshold <= 0.0 {
                out.push(problem(
                    &p.location,
                    format!(
                        "autoscale policy {}: {name} threshold must be positive, not {threshold}",
                        p.id
                    ),
                ));
            }
        }
    }
    out
}

fn duplicates<'a>(
    items: impl Iterator<Item = (&'a str, &'a Location)>,
    what: &str,
    out: &mut Vec<Problem>,
) {
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    for (id, location) in items {
        if let Some(first) = seen.insert(id, location) {
            out.push(problem(
                location,
                format!("duplicate {what} {id:?} (first defined at {first})"),
            ));
        }
    }
}

pub(crate) fn all(set: &ConfigSet) -> Vec<Problem> {
    let mut out = Vec::new();
    duplicates(
        set.cartridges
            .iter()
            .map(|c| (c.cartridge_type.as_str(), &c.location)),
        "cartridge type",
        &mut out,
    );
    duplicates(
        set.autoscale_policies
            .iter()
            .map(|p| (p.id.as_str(), &p.location)),
        "autoscale policy",
        &mut out,
    );
    duplicates(
        set.deployment_policies
            .iter()
            .map(|p| (p.id.as_str(), &p.location)),
        "deployment policy",
        &mut out,
    );
    duplicates(
        set.partitions.iter().map(|p| (p.id.as_str(), &p.location)),
        "partition",
        &mut out,
    );
    duplicates(
        set.network_partitions
            .iter()
            .map(|p| (p.id.as_str(), &p.location)),
        "network partition",
        &mut out,
    );
    for np in &set.network_partitions {
        out.extend(network_partition(set, np));
    }
    for c in &set.cartridges {
        out.extend(cartridge(set, c));
    }
    for p in &set.autoscale_policies {
        out.extend(autoscale_policy(p));
    }
    for d in &set.deployment_policies {
        out.extend(deployment_policy(set, d));
    }
    for p in &set.partitions {
        match &p.provider {
            Some(provider) => check_provider(
                set,
                &p.location,
                provider,
                &format!("partition {}", p.id),
                &mut out,
            ),
            None => out.push(problem(
                &p.location,
                format!("standalone partition {} requires <provider>", p.id),
            )),
        }
        check_range(p, &mut out);
    }
    out
}
