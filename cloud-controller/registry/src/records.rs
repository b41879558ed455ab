//! Records the registry hands out, and the rows they are stored as.

use crate::schema::{
    clusters, decision_records, definitions, members, payload_grants, subscriptions, tenants, users,
};
use crate::RegistryError;
use diesel::prelude::*;
use messaging::MemberState;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The kinds of deployed definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DefinitionKind {
    Cartridge,
    AutoscalePolicy,
    DeploymentPolicy,
    Partition,
    /// Stratos 4.1's network partitions (a cloud and the partitions inside it).
    NetworkPartition,
}

impl DefinitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::Cartridge => "cartridge",
            DefinitionKind::AutoscalePolicy => "autoscalePolicy",
            DefinitionKind::DeploymentPolicy => "deploymentPolicy",
            DefinitionKind::Partition => "partition",
            DefinitionKind::NetworkPartition => "networkPartition",
        }
    }

    fn parse(s: &str) -> Result<Self, RegistryError> {
        Ok(match s {
            "cartridge" => DefinitionKind::Cartridge,
            "autoscalePolicy" => DefinitionKind::AutoscalePolicy,
            "deploymentPolicy" => DefinitionKind::DeploymentPolicy,
            "partition" => DefinitionKind::Partition,
            "networkPartition" => DefinitionKind::NetworkPartition,
            other => {
                return Err(RegistryError::Corrupt(format!(
                    "unknown definition kind {other:?}"
                )))
            }
        })
    }
}

/// A deployed document, stored as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDefinition {
    pub kind: DefinitionKind,
    pub id: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub domain: String,
    pub email: String,
    pub admin_username: String,
    pub admin_password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: i64,
    pub domain: String,
    pub email: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Admin,
    TenantAdmin,
    TenantUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TenantAdmin => "tenant-admin",
            Role::TenantUser => "tenant-user",
        }
    }
    fn parse(s: &str) -> Result<Self, RegistryError> {
        Ok(match s {
            "admin" => Role::Admin,
            "tenant-admin" => Role::TenantAdmin,
            "tenant-user" => Role::TenantUser,
            other => return Err(RegistryError::Corrupt(format!("unknown role {other:?}"))),
        })
    }
}

#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub login: String,
    pub tenant_id: i64,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("login", &self.login)
            .field("tenant_id", &self.tenant_id)
            .field("role", &self.role)
            .field("password_hash", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub tenant_id: i64,
    pub alias: String,
    pub cartridge_type: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SubscriptionStatus {
    Active,
    Unsubscribing,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "Active",
            SubscriptionStatus::Unsubscribing => "Unsubscribing",
        }
    }
    fn parse(s: &str) -> Result<Self, RegistryError> {
        Ok(match s {
            "Active" => SubscriptionStatus::Active,
            "Unsubscribing" => SubscriptionStatus::Unsubscribing,
            other => {
                return Err(RegistryError::Corrupt(format!(
                    "unknown subscription status {other:?}"
                )))
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: i64,
    pub tenant_id: i64,
    pub alias: String,
    pub cartridge_type: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    pub cluster_id: String,
    pub status: SubscriptionStatus,
    pub created_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct NewCluster {
    pub cluster_id: String,
    pub service_name: String,
    pub host_name: String,
    pub tenant_id: i64,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    pub cartridge_key: String,
    pub properties: BTreeMap<String, String>,
}

impl fmt::Debug for NewCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCluster")
            .field("cluster_id", &self.cluster_id)
            .field("tenant_id", &self.tenant_id)
            .field("cartridge_key", &"***")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClusterStatus {
    Created,
    Active,
    Terminating,
    Removed,
}

impl ClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Created => "Created",
            ClusterStatus::Active => "Active",
            ClusterStatus::Terminating => "Terminating",
            ClusterStatus::Removed => "Removed",
        }
    }
    fn parse(s: &str) -> Result<Self, RegistryError> {
        Ok(match s {
            "Created" => ClusterStatus::Created,
            "Active" => ClusterStatus::Active,
            "Terminating" => ClusterStatus::Terminating,
            "Removed" => ClusterStatus::Removed,
            other => {
                return Err(RegistryError::Corrupt(format!(
                    "unknown cluster status {other:?}"
                )))
            }
        })
    }
}

#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub cluster_id: String,
    pub tenant_id: i64,
    pub alias: String,
    pub service_name: String,
    pub host_name: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    #[serde(skip)]
    pub cartridge_key: String,
    pub properties: BTreeMap<String, String>,
    pub status: ClusterStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("cluster_id", &self.cluster_id)
            .field("tenant_id", &self.tenant_id)
            .field("alias", &self.alias)
            .field("service_name", &self.service_name)
            .field("host_name", &self.host_name)
            .field("status", &self.status)
            .field("cartridge_key", &"***")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub member_id: String,
    pub cluster_id: String,
    pub tenant_id: i64,
    pub service_name: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub provider_type: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub member_id: String,
    pub cluster_id: String,
    pub tenant_id: i64,
    pub service_name: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub provider_type: String,
    pub instance_id: Option<String>,
    pub state: MemberState,
    pub private_ips: Vec<String>,
    pub public_ips: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub last_error: Option<String>,
    pub termination_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub initialized_at: Option<i64>,
    pub started_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub terminate_requested_at: Option<i64>,
    pub terminated_at: Option<i64>,
    /// When the controller asked for this member to be cleaned up (ms since epoch); set once.
    pub cleanup_requested_at: Option<i64>,
}

/// One decision record as stored: `body` is the controller's JSON, opaque to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDecision {
    /// 1, 2, … per cluster, in the order the records were appended.
    pub seq: i64,
    pub recorded_at: i64,
    pub body: String,
}

/// The outcome of a state change request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Moved {
        from: MemberState,
        member: Member,
    },
    /// The member was already in the requested state (a duplicate event).
    Unchanged(Member),
}

// ---------------------------------------------------------------------------------------
// Rows

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, RegistryError> {
    serde_json::from_str(text).map_err(|e| RegistryError::Corrupt(format!("{what}: {e}")))
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = definitions)]
pub(crate) struct DefinitionRow {
    pub kind: String,
    pub id: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DefinitionRow {
    pub fn into_record(self) -> Result<StoredDefinition, RegistryError> {
        Ok(StoredDefinition {
            kind: DefinitionKind::parse(&self.kind)?,
            id: self.id,
            body: self.body,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
pub(crate) struct TenantRow {
    pub id: i64,
    pub domain: String,
    pub email: String,
    pub created_at: i64,
}

impl TenantRow {
    pub fn into_record(self) -> Tenant {
        Tenant {
            id: self.id,
            domain: self.domain,
            email: self.email,
            created_at: self.created_at,
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub login: String,
    pub tenant_id: i64,
    pub role: String,
    pub password_hash: String,
}

impl UserRow {
    pub fn into_record(self) -> Result<User, RegistryError> {
        Ok(User {
            role: Role::parse(&self.role)?,
            login: self.login,
            tenant_id: self.tenant_id,
            password_hash: self.password_hash,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub(crate) struct SubscriptionRow {
    pub id: i64,
    pub tenant_id: i64,
    pub alias: String,
    pub cartridge_type: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    pub cluster_id: String,
    pub status: String,
    pub created_at: i64,
}

impl SubscriptionRow {
    pub fn into_record(self) -> Result<Subscription, RegistryError> {
        Ok(Subscription {
            status: SubscriptionStatus::parse(&self.status)?,
            id: self.id,
            tenant_id: self.tenant_id,
            alias: self.alias,
            cartridge_type: self.cartridge_type,
            autoscale_policy: self.autoscale_policy,
            deployment_policy: self.deployment_policy,
            cluster_id: self.cluster_id,
            created_at: self.created_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clusters)]
pub(crate) struct ClusterRow {
    pub cluster_id: String,
    pub tenant_id: i64,
    pub alias: String,
    pub service_name: String,
    pub host_name: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    pub cartridge_key: String,
    pub properties: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ClusterRow {
    pub fn into_record(self) -> Result<Cluster, RegistryError> {
        Ok(Cluster {
            properties: from_json(
                &format!("cluster {} properties", self.cluster_id),
                &self.properties,
            )?,
            status: ClusterStatus::parse(&self.status)?,
            cluster_id: self.cluster_id,
            tenant_id: self.tenant_id,
            alias: self.alias,
            service_name: self.service_name,
            host_name: self.host_name,
            autoscale_policy: self.autoscale_policy,
            deployment_policy: self.deployment_policy,
            cartridge_key: self.cartridge_key,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = members)]
pub(crate) struct MemberRow {
    pub member_id: String,
    pub cluster_id: String,
    pub tenant_id: i64,
    pub service_name: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub provider_type: String,
    pub instance_id: Option<String>,
    pub state: String,
    pub private_ips: String,
    pub public_ips: String,
    pub tags: String,
    pub last_error: Option<String>,
    pub termination_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub initialized_at: Option<i64>,
    pub started_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub terminate_requested_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub cleanup_requested_at: Option<i64>,
    /// The fencing token of the term that last recorded a cloud action for it.
    pub action_token: Option<i64>,
}

impl MemberRow {
    /// A new member's row: `Created`, no instance yet.
    pub fn created(m: NewMember, now: i64) -> Result<MemberRow, RegistryError> {
        Ok(MemberRow {
            member_id: m.member_id,
            cluster_id: m.cluster_id,
            tenant_id: m.tenant_id,
            service_name: m.service_name,
            network_partition_id: m.network_partition_id,
            partition_id: m.partition_id,
            provider_type: m.provider_type,
            instance_id: None,
            state: MemberState::Created.as_str().into(),
            private_ips: "[]".into(),
            public_ips: "[]".into(),
            tags: crate::to_json(&m.tags)?,
            last_error: None,
            termination_reason: None,
            created_at: now,
            updated_at: now,
            initialized_at: None,
            started_at: None,
            activated_at: None,
            terminate_requested_at: None,
            terminated_at: None,
            cleanup_requested_at: None,
            action_token: None,
        })
    }

    pub fn into_record(self) -> Result<Member, RegistryError> {
        let id = self.member_id.clone();
        Ok(Member {
            state: self
                .state
                .parse()
                .map_err(|e| RegistryError::Corrupt(format!("member {id}: {e}")))?,
            private_ips: from_json(&format!("member {id} private_ips"), &self.private_ips)?,
            public_ips: from_json(&format!("member {id} public_ips"), &self.public_ips)?,
            tags: from_json(&format!("member {id} tags"), &self.tags)?,
            member_id: self.member_id,
            cluster_id: self.cluster_id,
            tenant_id: self.tenant_id,
            service_name: self.service_name,
            network_partition_id: self.network_partition_id,
            partition_id: self.partition_id,
            provider_type: self.provider_type,
            instance_id: self.instance_id,
            last_error: self.last_error,
            termination_reason: self.termination_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
            initialized_at: self.initialized_at,
            started_at: self.started_at,
            activated_at: self.activated_at,
            terminate_requested_at: self.terminate_requested_at,
            terminated_at: self.terminated_at,
            cleanup_requested_at: self.cleanup_requested_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = decision_records)]
pub(crate) struct DecisionRow {
    pub cluster_id: String,
    pub seq: i64,
    pub recorded_at: i64,
    pub body: String,
}

impl DecisionRow {
    pub fn into_record(self) -> StoredDecision {
        StoredDecision {
            seq: self.seq,
            recorded_at: self.recorded_at,
            body: self.body,
        }
    }
}

/// A payload grant. No `Debug`: the payload carries the cartridge key.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = payload_grants)]
pub(crate) struct PayloadGrantRow {
    pub token_hash: String,
    pub member_id: String,
    pub payload: String,
    pub expires_at: i64,
}
