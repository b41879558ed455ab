//! The partition algorithms: which partition grows next, which one shrinks next.

use crate::policy::{NetworkPartition, PartitionAlgorithm, PartitionPolicy};

/// The partition a new member should go to, given the live member count of each partition
/// (same order as `np.partitions`); `None` when every partition is at its max.
pub fn partition_for_scale_up<'a>(
    np: &'a NetworkPartition,
    live: &[u32],
) -> Option<&'a PartitionPolicy> {
    let candidates = np
        .partitions
        .iter()
        .zip(live.iter().copied().chain(std::iter::repeat(0)))
        .filter(|(p, count)| *count < p.max);
    match np.algorithm {
        PartitionAlgorithm::OneAfterAnother => candidates.map(|(p, _)| p).next(),
        // Fewest live members wins; ties go to the earlier partition (stable).
        PartitionAlgorithm::RoundRobin => {
            candidates.min_by_key(|(_, count)| *count).map(|(p, _)| p)
        }
    }
}

/// The partition a member should be removed from; `None` when no partition is above its min.
pub fn partition_for_scale_down<'a>(
    np: &'a NetworkPartition,
    live: &[u32],
) -> Option<&'a PartitionPolicy> {
    let candidates: Vec<(&PartitionPolicy, u32)> = np
        .partitions
        .iter()
        .zip(live.iter().copied().chain(std::iter::repeat(0)))
        .filter(|(p, count)| *count > p.min)
        .collect();
    match np.algorithm {
        PartitionAlgorithm::OneAfterAnother => candidates.last().map(|(p, _)| *p),
        // Most live members wins; ties go to the later partition (mirror of scale-up):
        // `max_by_key` keeps the last of equal maxima.
        PartitionAlgorithm::RoundRobin => candidates
            .iter()
            .max_by_key(|(_, count)| *count)
            .map(|(p, _)| *p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np(algorithm: PartitionAlgorithm) -> NetworkPartition {
        let p = |id: &str, min, max| PartitionPolicy {
            id: id.into(),
            provider_type: "mock".into(),
            min,
            max,
        };
        NetworkPartition {
            id: "np".into(),
            algorithm,
            partitions: vec![p("p1", 0, 2), p("p2", 0, 3)],
        }
    }

    #[test]
    fn one_after_another_fills_in_order_and_drains_from_the_last() {
        let np = np(PartitionAlgorithm::OneAfterAnother);
        assert_eq!(partition_for_scale_up(&np, &[0, 0]).unwrap().id, "p1");
        assert_eq!(partition_for_scale_up(&np, &[1, 0]).unwrap().id, "p1");
        assert_eq!(partition_for_scale_up(&np, &[2, 0]).unwrap().id, "p2");
        assert!(partition_for_scale_up(&np, &[2, 3]).is_none());
        assert_eq!(partition_for_scale_down(&np, &[2, 1]).unwrap().id, "p2");
        assert_eq!(partition_for_scale_down(&np, &[2, 0]).unwrap().id, "p1");
        assert!(partition_for_scale_down(&np, &[0, 0]).is_none());
    }

    #[test]
    fn round_robin_balances() {
        let np = np(PartitionAlgorithm::RoundRobin);
        assert_eq!(partition_for_scale_up(&np, &[0, 0]).unwrap().id, "p1");
        assert_eq!(partition_for_scale_up(&np, &[1, 0]).unwrap().id, "p2");
        assert_eq!(
            partition_for_scale_up(&np, &[2, 1]).unwrap().id,
            "p2",
            "p1 is at max"
        );
        assert_eq!(partition_for_scale_down(&np, &[1, 2]).unwrap().id, "p2");
        assert_eq!(partition_for_scale_down(&np, &[2, 2]).unwrap().id, "p2");
        assert_eq!(partition_for_scale_down(&np, &[2, 1]).unwrap().id, "p1");
    }
}
