//! Every event that crosses the bus, with Stratos 4.1 names and camelCase bodies.
//!
//! The routing key of an event is `<category>.<EventName>` (`topology.MemberActivatedEvent`,
//! `instance.status.InstanceStartedEvent`, ...). As in Stratos 4.1 the body carries no type tag:
//! the event class comes from the last segment of the routing key, so one JSON body per struct.

use crate::topology::MemberState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The identifiers every member-level event carries (Stratos' field names).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    pub service_name: String,
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_instance_id: Option<String>,
    pub network_partition_id: String,
    pub partition_id: String,
    pub member_id: String,
}

/// A port of a cartridge (`Port{protocol, value, proxy}` in the Stratos topology).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub protocol: String,
    pub value: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<u16>,
}

/// Addresses of a member; the JSON names are Stratos 4.1's (`memberPublicIPs`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberAddresses {
    #[serde(rename = "memberPrivateIPs", default)]
    pub private_ips: Vec<String>,
    #[serde(rename = "defaultPrivateIP", default)]
    pub default_private_ip: Option<String>,
    #[serde(rename = "memberPublicIPs", default)]
    pub public_ips: Vec<String>,
    #[serde(rename = "defaultPublicIP", default)]
    pub default_public_ip: Option<String>,
}

impl MemberAddresses {
    pub fn new(private_ips: Vec<String>, public_ips: Vec<String>) -> Self {
        MemberAddresses {
            default_private_ip: private_ips.first().cloned(),
            default_public_ip: public_ips.first().cloned(),
            private_ips,
            public_ips,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberCreatedEvent {
    #[serde(flatten)]
    pub member: MemberRef,
    /// Milliseconds since the Unix epoch.
    pub init_time: i64,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInitializedEvent {
    #[serde(flatten)]
    pub member: MemberRef,
    pub instance_id: String,
    #[serde(flatten)]
    pub addresses: MemberAddresses,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// Shared shape of MemberStarted, MemberMaintenanceMode and MemberReadyToShutdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatusEvent {
    #[serde(flatten)]
    pub member: MemberRef,
    pub status: MemberState,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberActivatedEvent {
    #[serde(flatten)]
    pub member: MemberRef,
    /// Keyed by proxy port (as a string), as in Stratos 4.1.
    #[serde(default)]
    pub port_map: BTreeMap<String, Port>,
    #[serde(flatten)]
    pub addresses: MemberAddresses,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberTerminatedEvent {
    #[serde(flatten)]
    pub member: MemberRef,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// The cluster as carried by ClusterCreatedEvent (Stratos 4.1 `Cluster` shape, trimmed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub service_name: String,
    pub cluster_id: String,
    pub autoscale_policy_name: String,
    pub deployment_policy_name: String,
    pub host_names: Vec<String>,
    pub tenant_range: String,
    pub is_lb_cluster: bool,
    /// Always `false` here; Stratos 4.1 agents read it (docs/PROTOCOL.md).
    #[serde(default)]
    pub is_kubernetes_cluster: bool,
    /// Stratos 4.1's application id; Altostratus has no applications and gives the
    /// subscription alias, the same value as the payload's `APPLICATION_ID`.
    #[serde(default)]
    pub app_id: String,
    /// Always empty; Stratos 4.1.6 agents read it.
    #[serde(default)]
    pub kubernetes_services: Vec<serde_json::Value>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCreatedEvent {
    pub cluster: ClusterInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRemovedEvent {
    pub service_name: String,
    pub cluster_id: String,
    pub deployment_policy: String,
    pub is_lb_cluster: bool,
}

/// One member in a [`CompleteTopologyEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologyMember {
    #[serde(flatten)]
    pub member: MemberRef,
    pub status: MemberState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(flatten)]
    pub addresses: MemberAddresses,
    /// Milliseconds since the Unix epoch.
    pub init_time: i64,
    /// Stratos' member state holder: Stratos 4.1 agents take the member's state from the top
    /// of `stateStack`, not from `status`.
    #[serde(default)]
    pub member_state_manager: MemberStateManager,
    /// The cartridge's ports, keyed by proxy port (as in MemberActivatedEvent).
    #[serde(default)]
    pub port_map: BTreeMap<String, Port>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// Stratos 4.1's `memberStateManager`: here the stack holds the current state only (the
/// history is not kept), which is all a Stratos agent reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStateManager {
    pub state_stack: Vec<MemberState>,
}

impl MemberStateManager {
    pub fn current(state: MemberState) -> Self {
        MemberStateManager {
            state_stack: vec![state],
        }
    }
}

/// One cluster in a [`CompleteTopologyEvent`]: the ClusterCreatedEvent shape plus its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologyCluster {
    #[serde(flatten)]
    pub cluster: ClusterInfo,
    /// Members by member id (Stratos' `memberMap`).
    #[serde(default)]
    pub member_map: BTreeMap<String, TopologyMember>,
}

/// One service (cartridge type) in a [`CompleteTopologyEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologyService {
    pub service_name: String,
    /// `SingleTenant` or `MultiTenant`.
    pub service_type: String,
    /// Keyed by proxy port, as in MemberActivatedEvent.
    #[serde(default)]
    pub port_map: BTreeMap<String, Port>,
    /// Clusters by cluster id (Stratos' `clusterIdClusterMap`).
    #[serde(default)]
    pub cluster_id_cluster_map: BTreeMap<String, TopologyCluster>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    /// Services by service name (Stratos' `serviceMap`).
    #[serde(default)]
    pub service_map: BTreeMap<String, TopologyService>,
    pub initialized: bool,
}

/// The whole topology, published by the controller at start, periodically and on request, so
/// that a late subscriber (a load balancer, a restarted agent) can catch up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteTopologyEvent {
    pub topology: Topology,
}

/// Instance status events published by agents (and by the mock cloud standing in for them).
/// Stratos' Python agent also sends `instanceId`/`applicationId`; unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatusEvent {
    #[serde(flatten)]
    pub member: MemberRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCleanupMemberEvent {
    pub member_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCleanupClusterEvent {
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompleteTopologyRequestEvent {}

/// Health statistics of one member: one message carries every metric of one sample, so that
/// ingestion costs one delivery per member per interval. Our design (Stratos used a Thrift
/// stream per metric); metrics a member cannot measure are absent, never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberHealthStatsEvent {
    #[serde(flatten)]
    pub member: MemberRef,
    /// Milliseconds since the Unix epoch, taken by the publisher.
    pub timestamp: i64,
    /// 1-minute load average per core × 100 (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<f64>,
    /// Used physical memory, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_consumption: Option<f64>,
    /// Requests in flight on this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_in_flight: Option<f64>,
}

/// Requests in flight of one cluster, as its load balancer counts them: the cluster-level
/// figure Stratos' load balancers published. Our design, on the health topic beside
/// [`MemberHealthStatsEvent`] (same `health.stats.` prefix, so the controller's one lossy
/// `health.#` queue takes it; `Cluster` for what it describes, `RequestsInFlight` for the
/// policy's metric name). Without `networkPartitionId` the figure is the whole cluster's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRequestsInFlightEvent {
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_instance_id: Option<String>,
    /// The network partition the figure is for; absent: the whole cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_partition_id: Option<String>,
    /// Requests in flight across the cluster's members (or the network partition's).
    pub requests_in_flight: f64,
    /// Milliseconds since the Unix epoch, taken by the publisher.
    pub timestamp: i64,
}

/// Why a message could not become an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    /// The routing key names no event we know.
    #[error("unknown event routing key {0:?}")]
    UnknownRoutingKey(String),
    /// The body is not the JSON shape of the event its routing key names.
    #[error("malformed body for {routing_key}: {source}")]
    MalformedBody {
        routing_key: String,
        #[source]
        source: serde_json::Error,
    },
}

macro_rules! events {
    ($( $variant:ident ( $ty:ty ) => $category:literal ),+ $(,)?) => {
        /// Every event on the bus.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $( $variant($ty), )+
        }

        impl Event {
            /// Every routing key we publish or consume, in declaration order.
            pub const ROUTING_KEYS: &'static [&'static str] = &[
                $( concat!($category, ".", stringify!($variant)), )+
            ];

            /// The Stratos 4.1 event name (`MemberActivatedEvent`).
            pub fn name(&self) -> &'static str {
                match self { $( Event::$variant(_) => stringify!($variant), )+ }
            }

            /// The AMQP routing key (`topology.MemberActivatedEvent`).
            pub fn routing_key(&self) -> &'static str {
                match self { $( Event::$variant(_) => concat!($category, ".", stringify!($variant)), )+ }
            }

            /// The camelCase JSON body.
            pub fn to_json(&self) -> Vec<u8> {
                // Serializing these plain structs cannot fail (string keys, no custom Serialize).
                let value = match self { $( Event::$variant(e) => serde_json::to_vec(e), )+ };
                value.unwrap_or_default()
            }

            /// Decode a message from its routing key and body.
            pub fn decode(routing_key: &str, body: &[u8]) -> Result<Event, EventDecodeError> {
                match routing_key {
                    $( concat!($category, ".", stringify!($variant)) => serde_json::from_slice::<$ty>(body)
                        .map(Event::$variant)
                        .map_err(|source| EventDecodeError::MalformedBody { routing_key: routing_key.to_string(), source }), )+
                    other => Err(EventDecodeError::UnknownRoutingKey(other.to_string())),
                }
            }
        }
    };
}

events! {
    MemberCreatedEvent(MemberCreatedEvent) => "topology",
    MemberInitializedEvent(MemberInitializedEvent) => "topology",
    MemberStartedEvent(MemberStatusEvent) => "topology",
    MemberActivatedEvent(MemberActivatedEvent) => "topology",
    MemberMaintenanceModeEvent(MemberStatusEvent) => "topology",
    MemberReadyToShutdownEvent(MemberStatusEvent) => "topology",
    MemberTerminatedEvent(MemberTerminatedEvent) => "topology",
    ClusterCreatedEvent(ClusterCreatedEvent) => "topology",
    ClusterRemovedEvent(ClusterRemovedEvent) => "topology",
    CompleteTopologyEvent(CompleteTopologyEvent) => "topology",
    InstanceStartedEvent(InstanceStatusEvent) => "instance.status",
    InstanceActivatedEvent(InstanceStatusEvent) => "instance.status",
    InstanceMaintenanceModeEvent(InstanceStatusEvent) => "instance.status",
    InstanceReadyToShutdownEvent(InstanceStatusEvent) => "instance.status",
    InstanceCleanupMemberEvent(InstanceCleanupMemberEvent) => "instance.notifier",
    InstanceCleanupClusterEvent(InstanceCleanupClusterEvent) => "instance.notifier",
    CompleteTopologyRequestEvent(CompleteTopologyRequestEvent) => "initializer",
    MemberHealthStatsEvent(MemberHealthStatsEvent) => "health.stats",
    ClusterRequestsInFlightEvent(ClusterRequestsInFlightEvent) => "health.stats",
}

impl Event {
    /// The member an event is about, when it is about one member.
    pub fn member(&self) -> Option<&MemberRef> {
        match self {
            Event::MemberCreatedEvent(e) => Some(&e.member),
            Event::MemberInitializedEvent(e) => Some(&e.member),
            Event::MemberStartedEvent(e)
            | Event::MemberMaintenanceModeEvent(e)
            | Event::MemberReadyToShutdownEvent(e) => Some(&e.member),
            Event::MemberActivatedEvent(e) => Some(&e.member),
            Event::MemberTerminatedEvent(e) => Some(&e.member),
            Event::InstanceStartedEvent(e)
            | Event::InstanceActivatedEvent(e)
            | Event::InstanceMaintenanceModeEvent(e)
            | Event::InstanceReadyToShutdownEvent(e) => Some(&e.member),
            Event::MemberHealthStatsEvent(e) => Some(&e.member),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> MemberRef {
        MemberRef {
            service_name: "php".into(),
            cluster_id: "myphp.php.domain".into(),
            cluster_instance_id: None,
            network_partition_id: "np1".into(),
            partition_id: "p1".into(),
            member_id: "myphp.php.domain4f1c".into(),
        }
    }

    #[test]
    fn routing_keys_use_stratos_names() {
        let e = Event::InstanceStartedEvent(InstanceStatusEvent { member: member() });
        assert_eq!(e.routing_key(), "instance.status.InstanceStartedEvent");
        let e = Event::MemberActivatedEvent(MemberActivatedEvent {
            member: member(),
            port_map: BTreeMap::new(),
            addresses: MemberAddresses::default(),
        });
        assert_eq!(e.routing_key(), "topology.MemberActivatedEvent");
        assert!(Event::ROUTING_KEYS.contains(&"instance.notifier.InstanceCleanupMemberEvent"));
    }

    #[test]
    fn bodies_are_camel_case_with_stratos_field_names() {
        let e = Event::MemberInitializedEvent(MemberInitializedEvent {
            member: member(),
            instance_id: "i-1".into(),
            addresses: MemberAddresses::new(vec!["10.0.0.1".into()], vec!["20.0.0.1".into()]),
            properties: BTreeMap::new(),
        });
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["serviceName"], "php");
        assert_eq!(v["clusterId"], "myphp.php.domain");
        assert_eq!(v["networkPartitionId"], "np1");
        assert_eq!(v["memberPrivateIPs"][0], "10.0.0.1");
        assert_eq!(v["defaultPublicIP"], "20.0.0.1");
        assert_eq!(v["instanceId"], "i-1");
    }

    /// What the Stratos 4.1 Python agent's `CompleteTopologyEvent.create_from_json` reads
    /// without a default (a missing one raises KeyError and the agent never initialises), and
    /// what its member event parsers index directly.
    #[test]
    fn complete_topology_has_what_the_stratos_parser_reads() {
        let port = Port {
            protocol: "http".into(),
            value: 8080,
            proxy: Some(8280),
        };
        let ports: BTreeMap<String, Port> = [("8280".to_string(), port)].into();
        let topology_member = TopologyMember {
            member: member(),
            status: MemberState::Initialized,
            instance_id: Some("i-1".into()),
            addresses: MemberAddresses::default(),
            init_time: 1,
            member_state_manager: MemberStateManager::current(MemberState::Initialized),
            port_map: ports.clone(),
            properties: BTreeMap::new(),
        };
        let cluster = TopologyCluster {
            cluster: ClusterInfo {
                service_name: "php".into(),
                cluster_id: "myphp.php.domain".into(),
                autoscale_policy_name: "economy".into(),
                deployment_policy_name: "dep".into(),
                host_names: vec!["myphp.example.org".into()],
                tenant_range: "1".into(),
                is_lb_cluster: false,
                is_kubernetes_cluster: false,
                app_id: "myphp".into(),
                kubernetes_services: Vec::new(),
                properties: BTreeMap::new(),
            },
            member_map: [("myphp.php.domain4f1c".to_string(), topology_member)].into(),
        };
        let event = Event::CompleteTopologyEvent(CompleteTopologyEvent {
            topology: Topology {
                service_map: [(
                    "php".to_string(),
                    TopologyService {
                        service_name: "php".into(),
                        service_type: "SingleTenant".into(),
                        port_map: ports,
                        cluster_id_cluster_map: [("myphp.php.domain".to_string(), cluster)].into(),
                    },
                )]
                .into(),
                initialized: true,
            },
        });
        let v: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        let topology = &v["topology"];
        assert_eq!(topology["initialized"], true);
        let service = &topology["serviceMap"]["php"];
        assert_eq!(service["serviceType"], "SingleTenant");
        assert_eq!(service["portMap"]["8280"]["protocol"], "http");
        assert_eq!(service["portMap"]["8280"]["value"], 8080);
        let cluster = &service["clusterIdClusterMap"]["myphp.php.domain"];
        for key in [
            "serviceName",
            "autoscalePolicyName",
            "deploymentPolicyName",
            "hostNames",
            "tenantRange",
            "isLbCluster",
            "isKubernetesCluster",
            "properties",
            "memberMap",
            "appId",
            "kubernetesServices",
        ] {
            assert!(!cluster[key].is_null(), "cluster lacks {key}: {cluster}");
        }
        assert_eq!(cluster["appId"], "myphp");
        let entry = &cluster["memberMap"]["myphp.php.domain4f1c"];
        assert_eq!(entry["serviceName"], "php");
        assert_eq!(entry["clusterId"], "myphp.php.domain");
        let stack = entry["memberStateManager"]["stateStack"]
            .as_array()
            .unwrap();
        assert_eq!(stack.last().unwrap(), "Initialized");
        assert_eq!(entry["portMap"]["8280"]["value"], 8080);
        assert!(entry["properties"].is_object());

        // MemberCreatedEvent: `properties` is indexed without a default.
        let created = Event::MemberCreatedEvent(MemberCreatedEvent {
            member: member(),
            init_time: 1,
            properties: BTreeMap::new(),
        });
        let v: serde_json::Value = serde_json::from_slice(&created.to_json()).unwrap();
        assert!(v["properties"].is_object());
        // MemberActivatedEvent: `portMap` is iterated without a default.
        let activated = Event::MemberActivatedEvent(MemberActivatedEvent {
            member: member(),
            port_map: BTreeMap::new(),
            addresses: MemberAddresses::default(),
        });
        let v: serde_json::Value = serde_json::from_slice(&activated.to_json()).unwrap();
        assert!(v["portMap"].is_object());
    }

    #[test]
    fn decodes_a_python_agent_body() {
        // Shape sent by Stratos 4.1's Python agent: extra fields and null instanceId.
        let body =
            br#"{"applicationId":"app1","serviceName":"php","clusterId":"app1.my-php.php.domain",
            "clusterInstanceId":"app1-1","memberId":"m1","instanceId":null,
            "networkPartitionId":"np1","partitionId":"p1"}"#;
        let e = Event::decode("instance.status.InstanceStartedEvent", body).unwrap();
        let m = e.member().unwrap();
        assert_eq!(m.member_id, "m1");
        assert_eq!(m.cluster_instance_id.as_deref(), Some("app1-1"));
    }

    #[test]
    fn every_event_round_trips() {
        let samples = vec![
            Event::MemberStartedEvent(MemberStatusEvent {
                member: member(),
                status: MemberState::Starting,
                properties: BTreeMap::new(),
            }),
            Event::InstanceCleanupMemberEvent(InstanceCleanupMemberEvent {
                member_id: "m".into(),
            }),
            Event::CompleteTopologyRequestEvent(CompleteTopologyRequestEvent {}),
            Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
                member: member(),
                timestamp: 5,
                load_average: Some(12.5),
                memory_consumption: None,
                requests_in_flight: Some(3.0),
            }),
            Event::ClusterRequestsInFlightEvent(ClusterRequestsInFlightEvent {
                cluster_id: "myphp.php.domain".into(),
                cluster_instance_id: None,
                network_partition_id: Some("np1".into()),
                requests_in_flight: 42.0,
                timestamp: 5,
            }),
        ];
        for e in samples {
            let back = Event::decode(e.routing_key(), &e.to_json()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn cluster_requests_in_flight_has_its_documented_key_and_body() {
        let body =
            br#"{"clusterId":"web.php.domain","requestsInFlight":12.5,"timestamp":1795000000000}"#;
        let e = Event::decode("health.stats.ClusterRequestsInFlightEvent", body).unwrap();
        assert_eq!(e.routing_key(), "health.stats.ClusterRequestsInFlightEvent");
        let Event::ClusterRequestsInFlightEvent(e) = e else {
            panic!("decoded as another event: {e:?}");
        };
        assert_eq!(e.network_partition_id, None, "optional: the whole cluster");
        assert_eq!(e.requests_in_flight, 12.5);
        assert!(Event::decode(
            "health.stats.ClusterRequestsInFlightEvent",
            br#"{"clusterId":"c","timestamp":1}"#
        )
        .is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            Event::decode("topology.NoSuchEvent", b"{}"),
            Err(EventDecodeError::UnknownRoutingKey(_))
        ));
        for body in [
            &b""[..],
            b"null",
            b"[1,2]",
            b"{\"memberId\":5}",
            b"\xff\xfe",
        ] {
            assert!(matches!(
                Event::decode("instance.status.InstanceStartedEvent", body),
                Err(EventDecodeError::MalformedBody { .. })
            ));
        }
    }
}
