//! Plain values for the parts' unit tests.

use alto_registry::Member;
use messaging::MemberState;
use std::collections::BTreeMap;

/// A member of cluster `c` on provider `mock`.
pub(crate) fn member(id: &str, state: MemberState, instance: Option<&str>) -> Member {
    Member {
        member_id: id.into(),
        cluster_id: "c".into(),
        tenant_id: 1,
        service_name: "php".into(),
        network_partition_id: "np".into(),
        partition_id: "p".into(),
        provider_type: "mock".into(),
        instance_id: instance.map(str::to_string),
        state,
        private_ips: vec![],
        public_ips: vec![],
        tags: BTreeMap::new(),
        last_error: None,
        termination_reason: None,
        created_at: 0,
        updated_at: 0,
        initialized_at: None,
        started_at: None,
        activated_at: None,
        terminate_requested_at: None,
        terminated_at: None,
        cleanup_requested_at: None,
    }
}
