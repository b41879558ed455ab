//! From the XML documents (alto-config) to the values the autoscaler and the drivers use.

use alto_config::{ConfigSet, IaasProviderConfig, MockIaasConfig};
use autoscaler::{
    AutoscalePolicy, DeploymentPolicy, LoadThresholds, NetworkPartition, PartitionAlgorithm,
    PartitionPolicy,
};
use iaas::mock::{HealthFactor, HealthPattern, HealthPatterns, PatternMode};
use iaas::{ProviderSpec, Secret};
use std::time::Duration;

/// A partition without `<min>` keeps one member: a subscription without members would be
/// pointless, and Stratos' samples always set it.
pub const DEFAULT_PARTITION_MIN: u32 = 1;
/// A partition without `<max>` may grow to this many members.
pub const DEFAULT_PARTITION_MAX: u32 = 10;

pub fn provider_spec(p: &IaasProviderConfig) -> ProviderSpec {
    ProviderSpec {
        provider_type: p.provider_type.clone(),
        provider: p.provider.clone(),
        class_name: Some(p.class_name.clone()),
        identity: Secret::new(p.identity.expose()),
        credential: Secret::new(p.credential.expose()),
        image_id: p.image_id.clone(),
        properties: p
            .properties
            .iter()
            .map(|prop| (prop.name.clone(), prop.value.clone()))
            .collect(),
    }
}

pub fn health_patterns(mock: Option<&MockIaasConfig>) -> HealthPatterns {
    let mut patterns = HealthPatterns::default();
    let Some(mock) = mock.filter(|m| m.enabled) else {
        return patterns;
    };
    for cartridge in &mock.cartridges {
        let list = cartridge
            .patterns
            .iter()
            .map(|p| HealthPattern {
                factor: match p.factor {
                    alto_config::HealthFactor::MemoryConsumption => HealthFactor::MemoryConsumption,
                    alto_config::HealthFactor::LoadAverage => HealthFactor::LoadAverage,
                    alto_config::HealthFactor::RequestsInFlight => HealthFactor::RequestsInFlight,
                },
                mode: match p.mode {
                    alto_config::PatternMode::Loop => PatternMode::Loop,
                    alto_config::PatternMode::Continue => PatternMode::Continue,
                    alto_config::PatternMode::Stop => PatternMode::Stop,
                },
                sample_values: p.sample_values.clone(),
                sample_duration: Duration::from_secs(p.sample_duration_secs),
            })
            .collect();
        patterns
            .by_cartridge
            .insert(cartridge.cartridge_type.clone(), list);
    }
    patterns
}

pub fn autoscale_policy(p: &alto_config::AutoscalePolicy) -> AutoscalePolicy {
    let t = &p.load_thresholds;
    AutoscalePolicy {
        id: p.id.clone(),
        load_thresholds: LoadThresholds {
            requests_in_flight: t.requests_in_flight.as_ref().and_then(|x| x.threshold),
            memory_consumption: t.memory_consumption.as_ref().and_then(|x| x.threshold),
            load_average: t.load_average.as_ref().and_then(|x| x.threshold),
        },
    }
}

/// Resolve a deployment policy's partitions (inline or standalone) into the autoscaler's view.
/// Errors name the partition that cannot be resolved.
pub fn deployment_policy(
    set: &ConfigSet,
    p: &alto_config::DeploymentPolicy,
) -> Result<DeploymentPolicy, String> {
    let mut network_partitions = Vec::new();
    for group in &p.partition_groups {
        let mut partitions = Vec::new();
        for partition in &group.partitions {
            let resolved = set.resolve_partition(group, partition).ok_or_else(|| {
                format!(
                    "deployment policy {}: partition {} of network partition {} is not defined",
                    p.id, partition.id, group.id
                )
            })?;
            let provider_type = resolved.provider.clone().ok_or_else(|| {
                format!(
                    "deployment policy {}: partition {} names no provider",
                    p.id, partition.id
                )
            })?;
            let min = resolved.min.unwrap_or(DEFAULT_PARTITION_MIN);
            let max = resolved.max.unwrap_or(DEFAULT_PARTITION_MAX.max(min));
            partitions.push(PartitionPolicy {
                id: resolved.id.clone(),
                provider_type,
                min,
                max,
            });
        }
        network_partitions.push(NetworkPartition {
            id: group.id.clone(),
            algorithm: match group.algorithm {
                alto_config::PartitionAlgorithm::OneAfterAnother => {
                    PartitionAlgorithm::OneAfterAnother
                }
                alto_config::PartitionAlgorithm::RoundRobin => PartitionAlgorithm::RoundRobin,
            },
            partitions,
        });
    }
    Ok(DeploymentPolicy {
        id: p.id.clone(),
        network_partitions,
    })
}
