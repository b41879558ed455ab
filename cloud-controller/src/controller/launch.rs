//! What a member is started with: its Stratos payload, the partition's image and merged
//! properties, the tags that find it again, its volumes. Built from the registry's member and
//! cluster rows alone, so a start after a restart is the same start.

use super::definitions::Definitions;
use super::tenant_bus::AgentBusKeys;
use crate::agent_endpoints::AgentEndpoints;
use crate::error::{ControllerError, Result};
use crate::payload::{self, BrokerKeys, Payload, PayloadInput};
use alto_config::Cartridge;
use alto_registry::{Cluster, Member};
use iaas::{InstanceSpec, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID};
use std::collections::BTreeMap;

/// The member's identity as the payload carries it.
pub(crate) struct PayloadFor<'a> {
    pub cluster: &'a Cluster,
    pub member_id: &'a str,
    pub network_partition_id: &'a str,
    pub partition_id: &'a str,
    /// Its tenant's virtual host, when tenants are kept apart on the broker.
    pub broker: Option<&'a AgentBusKeys>,
}

pub(crate) fn member_payload(
    cartridge: &Cartridge,
    who: &PayloadFor<'_>,
    endpoints: &AgentEndpoints,
) -> Result<Payload, payload::PayloadError> {
    let ports: Vec<u16> = cartridge.port_mappings.iter().map(|p| p.port).collect();
    let properties: Vec<(String, String)> = cartridge
        .properties
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    payload::build(&PayloadInput {
        service_name: &cartridge.cartridge_type,
        host_name: &who.cluster.host_name,
        multi_tenant: cartridge.multi_tenant,
        tenant_id: who.cluster.tenant_id,
        alias: &who.cluster.alias,
        cluster_id: &who.cluster.cluster_id,
        member_id: who.member_id,
        network_partition_id: who.network_partition_id,
        partition_id: who.partition_id,
        ports: &ports,
        cartridge_key: &who.cluster.cartridge_key,
        deployment: "default",
        provider: cartridge.provider.as_deref().unwrap_or("default"),
        properties: &properties,
        broker: who.broker.map(|b| BrokerKeys {
            url: &b.url,
            user: &b.user,
            password: &b.password,
            vhost: &b.vhost,
        }),
        endpoints,
    })
}

/// The tags every instance of a member carries (how reconciliation finds it).
pub(crate) fn member_tags(member_id: &str, cluster_id: &str) -> BTreeMap<String, String> {
    [
        (TAG_MEMBER_ID, member_id),
        (TAG_CLUSTER_ID, cluster_id),
        (TAG_MANAGED_BY, MANAGED_BY_VALUE),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The instance spec of `member` with `user_data` (the payload, or its URL line).
pub(crate) fn instance_spec(
    definitions: &Definitions,
    cluster: &Cluster,
    member: &Member,
    cartridge: &Cartridge,
    user_data: String,
    capabilities: iaas::Capabilities,
) -> Result<InstanceSpec> {
    let launch = definitions.partition_launch(
        cartridge,
        &cluster.deployment_policy,
        &member.network_partition_id,
        &member.partition_id,
        &member.provider_type,
    )?;
    Ok(InstanceSpec {
        member_id: member.member_id.clone(),
        cluster_id: cluster.cluster_id.clone(),
        service_name: cluster.service_name.clone(),
        network_partition_id: member.network_partition_id.clone(),
        partition_id: member.partition_id.clone(),
        image_id: launch.image_id,
        payload: user_data,
        properties: launch.properties,
        tags: member_tags(&member.member_id, &cluster.cluster_id),
        volumes: volumes_for(cartridge, &member.member_id, capabilities),
    })
}

/// The payload line of `member` (a value the format cannot carry is refused).
pub(crate) fn payload_line(
    cartridge: &Cartridge,
    cluster: &Cluster,
    member: &Member,
    broker: Option<&AgentBusKeys>,
    endpoints: &AgentEndpoints,
) -> Result<String> {
    member_payload(
        cartridge,
        &PayloadFor {
            cluster,
            member_id: &member.member_id,
            network_partition_id: &member.network_partition_id,
            partition_id: &member.partition_id,
            broker,
        },
        endpoints,
    )
    .map(|p| p.to_line())
    .map_err(|e| ControllerError::invalid(e.to_string()))
}

/// The volumes a member of `cartridge` gets (`persistence required="true"`). A cloud without
/// volumes degrades to none, loudly.
fn volumes_for(
    cartridge: &Cartridge,
    member_id: &str,
    capabilities: iaas::Capabilities,
) -> Vec<iaas::VolumeSpec> {
    let Some(persistence) = cartridge.persistence.as_ref().filter(|p| p.required) else {
        return Vec::new();
    };
    if !capabilities.volumes {
        tracing::warn!(member = member_id, cartridge = %cartridge.cartridge_type, "the cartridge asks for volumes but this cloud has none; starting without");
        return Vec::new();
    }
    persistence
        .volumes
        .iter()
        .enumerate()
        .map(|(i, v)| iaas::VolumeSpec {
            id: v.id.clone().unwrap_or_else(|| format!("volume-{i}")),
            size_gb: v.size_gb,
            device: v.device.clone().unwrap_or_default(),
            snapshot_id: v.snapshot_id.clone(),
            remove_on_termination: v.remove_on_termination,
        })
        .collect()
}
