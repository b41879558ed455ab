//! Policies as the decision functions see them (converted from the XML documents by the
//! controller's configuration layer).

use serde::Serialize;

/// How members are spread over the partitions of one network partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionAlgorithm {
    /// Fill partitions in order up to their max; scale down from the last.
    OneAfterAnother,
    /// Pick the partition with the fewest live members; scale down from the one with most.
    RoundRobin,
}

/// One partition of a deployment policy, resolved (its provider type known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionPolicy {
    pub id: String,
    /// The iaasProvider `type` the partition lives on.
    pub provider_type: String,
    pub min: u32,
    pub max: u32,
}

/// A network partition (Stratos 4.0 `partitionGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPartition {
    pub id: String,
    pub algorithm: PartitionAlgorithm,
    pub partitions: Vec<PartitionPolicy>,
}

impl NetworkPartition {
    /// The network partition's minimum: every partition keeps its own minimum.
    pub fn min(&self) -> u32 {
        self.partitions
            .iter()
            .fold(0, |n, p| n.saturating_add(p.min))
    }
    pub fn max(&self) -> u32 {
        self.partitions
            .iter()
            .fold(0, |n, p| n.saturating_add(p.max))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPolicy {
    pub id: String,
    pub network_partitions: Vec<NetworkPartition>,
}

impl DeploymentPolicy {
    /// The cluster's minimum member count.
    pub fn min(&self) -> u32 {
        self.network_partitions
            .iter()
            .fold(0, |n, np| n.saturating_add(np.min()))
    }

    /// The cluster's maximum member count (sums saturate: a policy may say 4294967295).
    pub fn max(&self) -> u32 {
        self.network_partitions
            .iter()
            .fold(0, |n, np| n.saturating_add(np.max()))
    }
}

/// Upper thresholds per metric (4.1 `threshold`, or 4.0 `average`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadThresholds {
    pub requests_in_flight: Option<f64>,
    pub memory_consumption: Option<f64>,
    pub load_average: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalePolicy {
    pub id: String,
    pub load_thresholds: LoadThresholds,
}
