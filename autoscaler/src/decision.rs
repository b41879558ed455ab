//! Decisions over a cluster view.

use crate::partition::partition_for_scale_up;
use crate::policy::{DeploymentPolicy, PartitionAlgorithm};
use messaging::MemberState;
use serde::Serialize;

/// A member as the decision functions see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub member_id: String,
    pub network_partition_id: String,
    pub partition_id: String,
    pub state: MemberState,
}

impl MemberView {
    /// Counts toward capacity: alive and not on its way out. Members still starting count,
    /// so that a slow boot never causes a redundant spawn.
    pub fn counts(&self) -> bool {
        !self.state.is_leaving()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub cluster_id: String,
    pub members: Vec<MemberView>,
}

impl ClusterView {
    /// Live members per partition of a network partition, in the policy's order.
    pub fn live_counts(&self, np: &crate::policy::NetworkPartition) -> Vec<u32> {
        np.partitions
            .iter()
            .map(|p| {
                self.members
                    .iter()
                    .filter(|m| {
                        m.counts() && m.network_partition_id == np.id && m.partition_id == p.id
                    })
                    .count() as u32
            })
            .collect()
    }
}

/// Something the controller must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    StartMember {
        network_partition_id: String,
        partition_id: String,
        provider_type: String,
    },
}

/// The outcome of one evaluation, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub actions: Vec<Action>,
    pub reason: String,
}

/// The minimum rule: every partition keeps at least its `min` live members. Missing members
/// are started in the order the network partition's algorithm gives (one-after-another fills
/// the first partition's deficit first; round-robin always tops up the partition furthest
/// below its minimum), never beyond a partition's max.
pub fn minimum_members(view: &ClusterView, policy: &DeploymentPolicy) -> Decision {
    let mut actions = Vec::new();
    let mut reasons = Vec::new();
    for np in &policy.network_partitions {
        let mut live = view.live_counts(np);
        loop {
            let below_min: Vec<usize> = np
                .partitions
                .iter()
                .enumerate()
                .filter(|(i, p)| live.get(*i).copied().unwrap_or(0) < p.min)
                .map(|(i, _)| i)
                .collect();
            let pick = match np.algorithm {
                PartitionAlgorithm::OneAfterAnother => below_min.first().copied(),
                PartitionAlgorithm::RoundRobin => below_min.iter().copied().max_by_key(|i| {
                    let p = &np.partitions[*i];
                    // Largest deficit first; ties to the earlier partition.
                    (p.min - live[*i], std::cmp::Reverse(*i))
                }),
            };
            let Some(index) = pick else { break };
            let partition = &np.partitions[index];
            // Defensive: never exceed max even if a policy slipped through with min > max.
            if partition_for_scale_up(np, &live).is_none() || live[index] >= partition.max {
                reasons.push(format!(
                    "partition {} at max {}",
                    partition.id, partition.max
                ));
                break;
            }
            live[index] += 1;
            actions.push(Action::StartMember {
                network_partition_id: np.id.clone(),
                partition_id: partition.id.clone(),
                provider_type: partition.provider_type.clone(),
            });
        }
    }
    let reason = if actions.is_empty() {
        if reasons.is_empty() {
            "minimum satisfied".to_string()
        } else {
            reasons.join("; ")
        }
    } else {
        format!("below minimum: starting {} member(s)", actions.len())
    };
    Decision { actions, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{NetworkPartition, PartitionPolicy};

    fn policy(algorithm: PartitionAlgorithm, mins: &[(u32, u32)]) -> DeploymentPolicy {
        DeploymentPolicy {
            id: "dp".into(),
            network_partitions: vec![NetworkPartition {
                id: "np1".into(),
                algorithm,
                partitions: mins
                    .iter()
                    .enumerate()
                    .map(|(i, (min, max))| PartitionPolicy {
                        id: format!("p{}", i + 1),
                        provider_type: "mock".into(),
                        min: *min,
                        max: *max,
                    })
                    .collect(),
            }],
        }
    }

    fn member(id: &str, partition: &str, state: MemberState) -> MemberView {
        MemberView {
            member_id: id.into(),
            network_partition_id: "np1".into(),
            partition_id: partition.into(),
            state,
        }
    }

    fn partitions_started(d: &Decision) -> Vec<String> {
        d.actions
            .iter()
            .map(|Action::StartMember { partition_id, .. }| partition_id.clone())
            .collect()
    }

    #[test]
    fn empty_cluster_gets_its_minimum_in_algorithm_order() {
        let view = ClusterView {
            cluster_id: "c".into(),
            members: vec![],
        };
        let d = minimum_members(
            &view,
            &policy(PartitionAlgorithm::OneAfterAnother, &[(2, 3), (1, 3)]),
        );
        assert_eq!(partitions_started(&d), ["p1", "p1", "p2"]);
        let d = minimum_members(
            &view,
            &policy(PartitionAlgorithm::RoundRobin, &[(2, 3), (2, 3)]),
        );
        assert_eq!(partitions_started(&d), ["p1", "p2", "p1", "p2"]);
    }

    #[test]
    fn starting_members_count_and_leaving_members_do_not() {
        let p = policy(PartitionAlgorithm::OneAfterAnother, &[(2, 3)]);
        let view = ClusterView {
            cluster_id: "c".into(),
            members: vec![
                member("a", "p1", MemberState::Created),
                member("b", "p1", MemberState::Starting),
            ],
        };
        let d = minimum_members(&view, &p);
        assert!(d.actions.is_empty(), "{d:?}");
        assert_eq!(d.reason, "minimum satisfied");
        let view = ClusterView {
            cluster_id: "c".into(),
            members: vec![
                member("a", "p1", MemberState::Active),
                member("b", "p1", MemberState::ReadyToShutDown),
                member("c", "p1", MemberState::Terminated),
            ],
        };
        assert_eq!(partitions_started(&minimum_members(&view, &p)), ["p1"]);
    }

    #[test]
    fn never_exceeds_max() {
        let view = ClusterView {
            cluster_id: "c".into(),
            members: vec![],
        };
        let d = minimum_members(
            &view,
            &policy(PartitionAlgorithm::OneAfterAnother, &[(5, 2)]),
        );
        assert_eq!(d.actions.len(), 2);
    }
}
