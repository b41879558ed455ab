//! Provider-neutral values and the `Iaas` trait.

use crate::error::IaasError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Merged `property` values (cloud-controller.xml < cartridge < cartridge iaasProvider <
/// partition). Unknown names pass through to the driver untouched.
pub type Properties = BTreeMap<String, String>;

/// Tag carrying the member id on every instance we start (how `describe` finds it again).
pub const TAG_MEMBER_ID: &str = "altostratus:member-id";
/// Tag carrying the cluster id.
pub const TAG_CLUSTER_ID: &str = "altostratus:cluster-id";
/// Marker tag: instances without it are never ours to touch.
pub const TAG_MANAGED_BY: &str = "altostratus:managed-by";
pub const MANAGED_BY_VALUE: &str = "altostratus";

/// A credential: printable only as `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that sends it to the cloud.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One `iaasProvider` of cloud-controller.xml, as a driver needs it.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    /// The unique key cartridges and partitions use (`type` attribute).
    pub provider_type: String,
    /// The driver (`provider` element: `mock`, `aws-ec2`, ...).
    pub provider: String,
    /// Stratos `className`, mapped to a driver when `provider` is unknown.
    pub class_name: Option<String>,
    pub identity: Secret,
    pub credential: Secret,
    pub image_id: Option<String>,
    pub properties: Properties,
}

/// What the controller asks a driver to start. `Debug` leaves the payload out: it carries
/// CARTRIDGE_KEY.
#[derive(Clone)]
pub struct InstanceSpec {
    pub member_id: String,
    pub cluster_id: String,
    pub service_name: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub image_id: Option<String>,
    /// The Stratos payload line (`KEY=VALUE,...`), handed to the instance as user data.
    /// It contains CARTRIDGE_KEY: drivers never log it.
    pub payload: String,
    pub properties: Properties,
    /// Tags to set on the instance (always include [`TAG_MEMBER_ID`] and friends).
    pub tags: BTreeMap<String, String>,
    /// Persistent volumes the cartridge asks for (Stratos `persistence`); drivers without
    /// volume support ([`Capabilities::volumes`] false) ignore them.
    pub volumes: Vec<VolumeSpec>,
}

/// One persistent volume of a member (Stratos cartridge `persistence.volume`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeSpec {
    /// The cartridge's name for the volume (Stratos `volume.id`).
    pub id: String,
    pub size_gb: u32,
    /// Device to attach it as; empty: the driver's default.
    pub device: String,
    /// Create it from this snapshot.
    pub snapshot_id: Option<String>,
    /// Delete the volume when the member is terminated (Stratos `removeOntermination`).
    pub remove_on_termination: bool,
}

impl fmt::Debug for InstanceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceSpec")
            .field("member_id", &self.member_id)
            .field("cluster_id", &self.cluster_id)
            .field("service_name", &self.service_name)
            .field("network_partition_id", &self.network_partition_id)
            .field("partition_id", &self.partition_id)
            .field("image_id", &self.image_id)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("properties", &self.properties)
            .field("tags", &self.tags)
            .field("volumes", &self.volumes)
            .finish()
    }
}

/// Provider-neutral instance state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    Terminated,
    Unknown,
}

/// An instance as a cloud reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    pub state: InstanceState,
    pub private_ips: Vec<String>,
    pub public_ips: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Free-form provider details (zone, flavor, ...).
    pub extra: BTreeMap<String, String>,
}

impl Instance {
    pub fn member_id(&self) -> Option<&str> {
        self.tags.get(TAG_MEMBER_ID).map(String::as_str)
    }
}

/// Which of our instances `describe_instances` returns; always limited to instances carrying
/// our marker tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub cluster_id: Option<String>,
    pub member_id: Option<String>,
}

impl InstanceFilter {
    pub fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
            && self
                .cluster_id
                .as_ref()
                .is_none_or(|c| tags.get(TAG_CLUSTER_ID) == Some(c))
            && self
                .member_id
                .as_ref()
                .is_none_or(|m| tags.get(TAG_MEMBER_ID) == Some(m))
    }
}

/// What a provider supports; differences between clouds are explicit, not surprises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub floating_ips: bool,
    pub key_pairs: bool,
    pub volumes: bool,
    pub security_groups: bool,
    /// Largest user data the cloud accepts, in bytes (`None`: no practical limit).
    pub max_payload_bytes: Option<usize>,
}

/// A cloud. One value per `iaasProvider` type; all methods are safe to call concurrently.
#[async_trait]
pub trait Iaas: Send + Sync {
    /// The iaasProvider `type` this driver instance serves.
    fn provider_type(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    /// Connect, subscribe, resume background work. Called once before any other call.
    async fn initialize(&self) -> Result<(), IaasError> {
        Ok(())
    }

    /// Check a partition's properties (region, zone, ...) against the cloud.
    async fn validate_partition(
        &self,
        partition_id: &str,
        properties: &Properties,
    ) -> Result<(), IaasError>;

    /// Start one instance carrying `spec.payload` as user data and `spec.tags`.
    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError>;

    /// Our instances matching `filter` (found by tag, so they survive a controller restart).
    async fn describe_instances(&self, filter: &InstanceFilter)
        -> Result<Vec<Instance>, IaasError>;

    /// Terminate; `ErrorClass::NotFound` when the instance is already gone.
    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError>;

    /// The process stops cleanly: persist what is pending (the mock cloud compacts its state
    /// file). Nothing else is called after it.
    async fn shutdown(&self) -> Result<(), IaasError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let spec = ProviderSpec {
            provider_type: "ec2".into(),
            provider: "aws-ec2".into(),
            class_name: None,
            identity: Secret::new("AKIAEXAMPLE"),
            credential: Secret::new("very-secret"),
            image_id: None,
            properties: Properties::new(),
        };
        let printed = format!("{spec:?}");
        assert!(!printed.contains("AKIAEXAMPLE") && !printed.contains("very-secret"));
        assert_eq!(spec.credential.expose(), "very-secret");
    }

    #[test]
    fn a_spec_never_prints_its_payload() {
        let spec = InstanceSpec {
            member_id: "m1".into(),
            cluster_id: "c1".into(),
            service_name: "php".into(),
            network_partition_id: "np".into(),
            partition_id: "p".into(),
            image_id: None,
            payload: "SERVICE_NAME=php,CARTRIDGE_KEY=s3cr3tKey".into(),
            properties: Properties::new(),
            tags: BTreeMap::new(),
            volumes: Vec::new(),
        };
        let printed = format!("{spec:?}");
        assert!(!printed.contains("s3cr3tKey"), "{printed}");
        assert!(
            printed.contains("m1") && printed.contains("<40 bytes>"),
            "{printed}"
        );
    }

    #[test]
    fn filter_requires_marker_and_matching_tags() {
        let mut tags = BTreeMap::new();
        tags.insert(TAG_MEMBER_ID.to_string(), "m1".to_string());
        tags.insert(TAG_CLUSTER_ID.to_string(), "c1".to_string());
        let by_cluster = InstanceFilter {
            cluster_id: Some("c1".into()),
            member_id: None,
        };
        assert!(!by_cluster.matches(&tags), "no marker: not ours");
        tags.insert(TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
        assert!(by_cluster.matches(&tags));
        assert!(!InstanceFilter {
            cluster_id: Some("c2".into()),
            member_id: None
        }
        .matches(&tags));
    }
}
