//! Request and response bodies of the controller facade (JSON, camelCase, Stratos' names).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /api/tenants` body, in Stratos' shape.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRequest {
    /// Letters, digits, `.` and `-` (not first or last); compared in lower case.
    #[schema(
        pattern = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$",
        max_length = 253
    )]
    pub tenant_domain: String,
    /// The tenant admin's user name; the login becomes `admin@tenantDomain`.
    #[schema(pattern = r"^[^@:\s]+$")]
    pub admin: String,
    #[schema(min_length = 6)]
    pub admin_password: String,
    #[serde(default)]
    pub email: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantInfo {
    pub tenant_id: i64,
    pub tenant_domain: String,
    /// The login of the tenant admin (`USER@TENANTDOMAIN`).
    pub admin: String,
    pub email: String,
    pub created_at: i64,
}

/// `POST /api/subscriptions` body, in Stratos 4.0's shape.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    pub cartridge_type: String,
    /// Stratos' alias pattern: lower-case letters and digits, single `-` between them.
    #[schema(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub alias: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    pub alias: String,
    pub cartridge_type: String,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    pub cluster_id: String,
    pub host_name: String,
    pub tenant_id: i64,
    /// `Active` or `Unsubscribing`.
    pub status: String,
    pub min_members: u32,
    pub members_total: usize,
    pub members_active: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    pub member_id: String,
    /// Stratos 4.1 state name (`Created`, ..., `In_Maintenance`, `ReadyToShutDown`, `Terminated`).
    pub state: String,
    pub instance_id: Option<String>,
    pub provider_type: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub private_ips: Vec<String>,
    pub public_ips: Vec<String>,
    pub last_error: Option<String>,
    /// Why the member was (or is being) terminated: `unsubscribed`, `faulty: ...`, ...
    pub termination_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub cluster_id: String,
    pub alias: String,
    pub service_name: String,
    pub host_name: String,
    pub tenant_id: i64,
    pub autoscale_policy: String,
    pub deployment_policy: String,
    /// `Created`, `Active`, `Terminating` or `Removed`.
    pub status: String,
    /// How many members the cluster has in each state (Stratos 4.1 names; Terminated
    /// included), however many pages `members` takes.
    pub member_counts: BTreeMap<String, i64>,
    /// One page of the members, oldest first (`limit`, default 100; see `nextCursor`).
    pub members: Vec<MemberInfo>,
    /// The `cursor` of the next page of members (`GET /api/clusters/{clusterId}?cursor=`);
    /// null after the last.
    pub next_cursor: Option<String>,
}
