//! How many members a cluster and a tenant may have, whatever their policies say: a deployment
//! policy may ask for `<max>4294967295</max>`, and an installation should refuse it before it
//! starts a single member (`--max-members-per-cluster`, `--max-members-per-tenant`).

use crate::error::{ControllerError, Result};
use autoscaler::DeploymentPolicy;

/// A cluster's members at most without `--max-members-per-cluster`.
pub const DEFAULT_MAX_MEMBERS_PER_CLUSTER: u32 = 1_000;
/// A tenant's members at most, over all its clusters, without `--max-members-per-tenant`.
pub const DEFAULT_MAX_MEMBERS_PER_TENANT: u32 = 10_000;

#[derive(Debug, Clone, Copy)]
pub(crate) struct MemberLimits {
    pub per_cluster: u32,
    pub per_tenant: u32,
}

impl MemberLimits {
    /// A deployment policy whose partitions allow more members than a cluster may have: 400.
    pub(crate) fn check_policy(&self, policy: &DeploymentPolicy) -> Result<()> {
        let max = policy.max();
        if max > self.per_cluster {
            return Err(ControllerError::invalid(format!(
                "deployment policy {} allows up to {max} members per cluster; this installation allows {} (--max-members-per-cluster)",
                policy.id, self.per_cluster
            )));
        }
        Ok(())
    }

    /// A new cluster of up to `new_max` members for a tenant whose clusters already allow up to
    /// `existing_max`: 409 beyond the tenant's limit.
    pub(crate) fn check_tenant(
        &self,
        tenant_id: i64,
        existing_max: u64,
        new_max: u32,
    ) -> Result<()> {
        let total = existing_max.saturating_add(u64::from(new_max));
        if total > u64::from(self.per_tenant) {
            return Err(ControllerError::Conflict(format!(
                "tenant {tenant_id}'s clusters would allow up to {total} members; its limit is {} (--max-members-per-tenant)",
                self.per_tenant
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autoscaler::{NetworkPartition, PartitionAlgorithm, PartitionPolicy};

    fn policy(maxes: &[u32]) -> DeploymentPolicy {
        DeploymentPolicy {
            id: "dp".into(),
            network_partitions: vec![NetworkPartition {
                id: "np".into(),
                algorithm: PartitionAlgorithm::OneAfterAnother,
                partitions: maxes
                    .iter()
                    .enumerate()
                    .map(|(i, max)| PartitionPolicy {
                        id: format!("p{i}"),
                        provider_type: "mock".into(),
                        min: 1,
                        max: *max,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn a_policy_beyond_the_cluster_limit_is_refused_even_when_its_sum_overflows() {
        let limits = MemberLimits {
            per_cluster: 1_000,
            per_tenant: 10_000,
        };
        assert!(limits.check_policy(&policy(&[500, 500])).is_ok());
        let e = limits.check_policy(&policy(&[500, 501])).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("up to 1001"), "{e}");
        let e = limits
            .check_policy(&policy(&[u32::MAX, u32::MAX]))
            .unwrap_err();
        assert!(e.to_string().contains(&u32::MAX.to_string()), "{e}");
    }

    #[test]
    fn the_tenant_limit_counts_every_cluster() {
        let limits = MemberLimits {
            per_cluster: 1_000,
            per_tenant: 2_000,
        };
        assert!(limits.check_tenant(7, 1_000, 1_000).is_ok());
        let e = limits.check_tenant(7, 1_500, 1_000).unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(e.to_string().contains("tenant 7"), "{e}");
    }
}
