use super::memory::{NetworkPartitionMemory, RecommendationHistory};
use super::*;
use crate::backoff::FailureClass;
use crate::policy::LoadThresholds;
use crate::policy::{PartitionAlgorithm, PartitionPolicy};

const NOW: f64 = 10_000.0;

fn policy(partitions: &[(u32, u32)]) -> DeploymentPolicy {
    DeploymentPolicy {
        id: "dp".into(),
        network_partitions: vec![NetworkPartition {
            id: "np1".into(),
            algorithm: PartitionAlgorithm::OneAfterAnother,
            partitions: partitions
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

fn rif_settings(threshold: f64) -> ScalingSettings {
    ScalingSettings::new(LoadThresholds {
        requests_in_flight: Some(threshold),
        ..LoadThresholds::default()
    })
}

fn stats(value: f64, at: f64) -> WindowStats {
    WindowStats {
        average: value,
        gradient: 0.0,
        second_derivative: 0.0,
        samples: 10,
        last_sample_at: at,
    }
}

fn member(id: &str, partition: &str, state: MemberState, rif: Option<f64>) -> MemberStatus {
    let mut health = MetricStats::default();
    health.set(Metric::RequestsInFlight, rif.map(|v| stats(v, NOW - 1.0)));
    MemberStatus {
        member_id: id.into(),
        network_partition_id: "np1".into(),
        partition_id: partition.into(),
        state,
        started_at: NOW - 100.0,
        state_since: NOW - 50.0,
        health,
        last_heard_at: None,
    }
}

fn active(id: &str, partition: &str, rif: f64) -> MemberStatus {
    member(id, partition, MemberState::Active, Some(rif))
}

fn run(
    policy: &DeploymentPolicy,
    settings: &ScalingSettings,
    members: &[MemberStatus],
    memory: &ScalingMemory,
) -> DecisionRecord {
    let input = EvaluationInput {
        cluster_id: "c1",
        deployment_policy: policy,
        settings,
        members,
        network_partition_health: &[],
    };
    evaluate(&input, memory, NOW)
}

/// Memory of a partition observed for a long time with a given recommendation history.
fn seasoned(history: &[(f64, u32)]) -> ScalingMemory {
    let mut memory = ScalingMemory::new();
    let mut np = NetworkPartitionMemory {
        observing_since: Some(NOW - 10_000.0),
        ..Default::default()
    };
    for (t, r) in history {
        np.history.push(*t, *r, 300.0);
    }
    memory.network_partitions.insert("np1".into(), np);
    memory
}

fn starts(record: &DecisionRecord) -> Vec<(String, StartCause)> {
    record
        .planned_actions
        .iter()
        .filter_map(|a| match a {
            ScalingAction::StartMember {
                partition_id,
                cause,
                ..
            } => Some((partition_id.clone(), *cause)),
            _ => None,
        })
        .collect()
}

#[test]
fn within_thresholds_does_nothing() {
    let p = policy(&[(1, 10)]);
    // Members each carry 15 requests, threshold 20: 30/20 → 2 required, have 2.
    let members = [active("a", "p1", 15.0), active("b", "p1", 15.0)];
    let r = run(&p, &rif_settings(20.0), &members, &seasoned(&[]));
    assert!(r.planned_actions.is_empty(), "{r:?}");
    assert_eq!(r.reason, "within thresholds (required 2, have 2)");
    let m = &r.network_partitions[0].metrics[0];
    assert_eq!(m.metric, Metric::RequestsInFlight);
    assert_eq!(
        (m.average, m.prediction, m.required),
        (Some(30.0), Some(30.0), Some(2))
    );
    assert_eq!(r.members.active, 2);
}

#[test]
fn scale_up_adds_several_members_bounded_by_the_step() {
    let p = policy(&[(1, 10)]);
    // 2 × 50 = 100 in flight / 20 → 5 required, have 2 → start 3.
    let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
    let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
    assert_eq!(starts(&r).len(), 3);
    assert!(starts(&r).iter().all(|(_, c)| *c == StartCause::ScaleUp));
    assert_eq!(r.reason, "scale-up: starting 3 (required 5, have 2)");
    assert!(r.network_partitions[0].scaled_up);
    assert_eq!(r.members_after(), 5);
    // 2 × 200 / 20 → 20 required, clamped to max 10: still only 4 per step.
    let members = [active("a", "p1", 200.0), active("b", "p1", 200.0)];
    let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
    assert_eq!(starts(&r).len(), 4);
    assert_eq!(r.required, 10);
    assert!(r.reason.ends_with("at most 4 per step"), "{}", r.reason);
}

#[test]
fn starting_members_count_toward_capacity() {
    let p = policy(&[(1, 10)]);
    let members = [
        active("a", "p1", 50.0),
        active("b", "p1", 50.0),
        member("c", "p1", MemberState::Starting, None),
        member("d", "p1", MemberState::Created, None),
        member("e", "p1", MemberState::Initialized, None),
    ];
    let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
    assert!(starts(&r).is_empty(), "{r:?}");
    assert_eq!(r.members.pending, 3);
    assert_eq!(r.reason, "within thresholds (required 5, have 5)");
}

#[test]
fn scale_up_waits_for_its_cooldown() {
    let p = policy(&[(1, 10)]);
    let mut memory = seasoned(&[]);
    memory
        .network_partitions
        .get_mut("np1")
        .unwrap()
        .last_scale_up_at = Some(NOW - 4.0);
    let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
    let r = run(&p, &rif_settings(20.0), &members, &memory);
    assert!(r.planned_actions.is_empty());
    assert_eq!(r.reason, "cooldown (scale-up 6s left, required 5, have 2)");
}

#[test]
fn at_max_says_so() {
    let p = policy(&[(1, 3)]);
    let members = [
        active("a", "p1", 100.0),
        active("b", "p1", 100.0),
        active("c", "p1", 100.0),
    ];
    let r = run(&p, &rif_settings(20.0), &members, &seasoned(&[]));
    assert!(r.planned_actions.is_empty());
    assert_eq!(r.reason, "at max 3");
}

#[test]
fn backed_off_partition_falls_over_to_the_next_and_failures_count() {
    let p = policy(&[(0, 2), (0, 5)]);
    let members = [active("a", "p1", 30.0)];
    let mut memory = ScalingMemory::new();
    memory
        .backoff
        .record_failure("p1", FailureClass::Quota, NOW - 10.0, None);
    // 30/10 → 3 required, have 1; p1 (room for 1) is backed off → both go to p2.
    let r = run(&p, &rif_settings(10.0), &members, &memory);
    assert_eq!(
        starts(&r),
        [
            ("p2".to_string(), StartCause::ScaleUp),
            ("p2".to_string(), StartCause::ScaleUp)
        ]
    );
    assert_eq!(r.network_partitions[0].failed_starts, 1);
    // Both backed off: nothing starts, and the record says why.
    memory
        .backoff
        .record_failure("p2", FailureClass::Capacity, NOW - 10.0, None);
    let r = run(&p, &rif_settings(10.0), &members, &memory);
    assert!(r.planned_actions.is_empty());
    assert_eq!(
        r.reason,
        "partition p1 backed off: quota (290s left), partition p2 backed off: capacity (50s left)"
    );
}

#[test]
fn failed_starts_count_against_the_maximum() {
    let p = policy(&[(0, 3)]);
    let members = [active("a", "p1", 100.0)];
    let mut memory = ScalingMemory::new();
    memory
        .backoff
        .record_failure("p1", FailureClass::Other, NOW - 100.0, None);
    memory
        .backoff
        .record_failure("p1", FailureClass::Other, NOW - 100.0, None);
    // Backoff (60 s for the 2nd failure) expired: the failures no longer count, retry.
    let r = run(&p, &rif_settings(10.0), &members, &memory);
    assert_eq!(starts(&r).len(), 2);
    memory
        .backoff
        .record_failure("p1", FailureClass::Other, NOW - 1.0, None);
    let r = run(&p, &rif_settings(10.0), &members, &memory);
    assert!(starts(&r).is_empty());
    assert_eq!(r.network_partitions[0].failed_starts, 3);
}

#[test]
fn scale_down_respects_stabilization_then_removes_the_least_loaded() {
    let p = policy(&[(1, 10)]);
    let settings = rif_settings(20.0);
    // 4 members, 10 requests each: 40/20 → 2 required.
    let members = [
        active("a", "p1", 12.0),
        active("b", "p1", 8.0),
        active("c", "p1", 10.0),
        active("d", "p1", 10.0),
    ];
    // A recommendation of 4 a minute ago holds the count.
    let r = run(&p, &settings, &members, &seasoned(&[(NOW - 60.0, 4)]));
    assert!(r.planned_actions.is_empty());
    assert_eq!(
        r.reason,
        "stabilizing scale-down (highest recommendation 4 in last 300s)"
    );
    // It was 3: one member goes, the least loaded ("b").
    let r = run(&p, &settings, &members, &seasoned(&[(NOW - 60.0, 3)]));
    assert_eq!(
        r.planned_actions,
        [ScalingAction::TerminateMember {
            member_id: "b".into(),
            network_partition_id: "np1".into(),
            partition_id: "p1".into()
        }]
    );
    assert_eq!(r.reason, "scale-down: terminating b (required 3, have 4)");
    // Recommendations older than the window no longer count.
    let r = run(&p, &settings, &members, &seasoned(&[(NOW - 400.0, 4)]));
    assert_eq!(r.planned_actions.len(), 1);
    // Fresh memory (controller restart): observe a full window first.
    let r = run(&p, &settings, &members, &ScalingMemory::new());
    assert!(r.planned_actions.is_empty());
    assert_eq!(r.reason, "stabilizing scale-down (observed 0s of 300s)");
}

#[test]
fn scale_down_waits_for_its_cooldown_and_never_goes_below_min() {
    let p = policy(&[(3, 10)]);
    let settings = rif_settings(20.0);
    let members = [
        active("a", "p1", 1.0),
        active("b", "p1", 1.0),
        active("c", "p1", 1.0),
        active("d", "p1", 1.0),
    ];
    let mut memory = seasoned(&[]);
    memory
        .network_partitions
        .get_mut("np1")
        .unwrap()
        .last_scale_down_at = Some(NOW - 100.0);
    let r = run(&p, &settings, &members, &memory);
    assert_eq!(r.reason, "cooldown (scale-down 20s left)");
    let r = run(&p, &settings, &members, &seasoned(&[]));
    assert_eq!(r.planned_actions.len(), 1);
    let r = run(&p, &settings, &members[..3], &seasoned(&[]));
    assert!(r.planned_actions.is_empty(), "at min 3");
}

#[test]
fn stale_or_missing_metrics_never_scale_down() {
    let p = policy(&[(1, 10)]);
    let settings = rif_settings(20.0);
    let mut stale = active("b", "p1", 0.0);
    stale
        .health
        .set(Metric::RequestsInFlight, Some(stats(0.0, NOW - 61.0)));
    // The member still sends other metrics, so it is not faulty.
    stale
        .health
        .set(Metric::LoadAverage, Some(stats(1.0, NOW - 1.0)));
    let members = [active("a", "p1", 0.0), stale];
    let r = run(&p, &settings, &members, &seasoned(&[]));
    assert!(r.planned_actions.is_empty(), "{r:?}");
    assert_eq!(
        r.reason,
        "requests_in_flight stale or missing: no scale-down"
    );
    assert_eq!(
        r.network_partitions[0].metrics[0].freshness,
        Freshness::Partial
    );
    // No metric configured at all: the count stays.
    let members = [active("a", "p1", 0.0), active("b", "p1", 0.0)];
    let r = run(&p, &ScalingSettings::default(), &members, &seasoned(&[]));
    assert!(r.planned_actions.is_empty());
}

#[test]
fn silent_members_are_faulty_and_replaced_even_in_cooldown() {
    let p = policy(&[(2, 10)]);
    let mut silent = active("b", "p1", 5.0);
    silent.state_since = NOW - 500.0;
    silent
        .health
        .set(Metric::RequestsInFlight, Some(stats(5.0, NOW - 75.0)));
    let members = [active("a", "p1", 5.0), silent];
    let mut memory = seasoned(&[]);
    memory
        .network_partitions
        .get_mut("np1")
        .unwrap()
        .last_scale_up_at = Some(NOW - 1.0);
    let r = run(&p, &rif_settings(20.0), &members, &memory);
    assert_eq!(r.members.faulty, 1);
    assert!(matches!(
        &r.planned_actions[0],
        ScalingAction::MarkFaulty { member_id, silent_seconds, .. }
            if member_id == "b" && *silent_seconds == 75.0
    ));
    // Replaced through the minimum rule (p1 min 2).
    assert_eq!(starts(&r), [("p1".to_string(), StartCause::Minimum)]);
    assert!(
        r.reason.starts_with("member b faulty: silent 75s"),
        "{}",
        r.reason
    );
}

#[test]
fn replacements_bypass_the_scale_up_cooldown() {
    let p = policy(&[(1, 10)]);
    let mut silent = active("c", "p1", 50.0);
    silent.state_since = NOW - 500.0;
    silent
        .health
        .set(Metric::RequestsInFlight, Some(stats(50.0, NOW - 90.0)));
    // a + b carry 60 (fresh): 60/20 = 3 required; c is faulty → have 2.
    let members = [active("a", "p1", 30.0), active("b", "p1", 30.0), silent];
    let mut memory = seasoned(&[]);
    memory
        .network_partitions
        .get_mut("np1")
        .unwrap()
        .last_scale_up_at = Some(NOW - 1.0);
    let r = run(&p, &rif_settings(20.0), &members, &memory);
    assert_eq!(starts(&r), [("p1".to_string(), StartCause::Replacement)]);
}

#[test]
fn members_that_never_activate_expire() {
    let p = policy(&[(1, 10)]);
    let mut stuck = member("s", "p1", MemberState::Starting, None);
    stuck.started_at = NOW - 901.0;
    let r = run(&p, &rif_settings(20.0), &[stuck], &ScalingMemory::new());
    assert!(matches!(
        &r.planned_actions[0],
        ScalingAction::ExpirePending { member_id, .. } if member_id == "s"
    ));
    assert_eq!(starts(&r), [("p1".to_string(), StartCause::Minimum)]);
    assert_eq!(r.members.expired, 1);
}

#[test]
fn minimum_rule_fills_every_partition() {
    let p = policy(&[(2, 3), (1, 3)]);
    let r = run(&p, &rif_settings(20.0), &[], &ScalingMemory::new());
    let got: Vec<String> = starts(&r).into_iter().map(|(p, _)| p).collect();
    assert_eq!(got, ["p1", "p1", "p2"]);
    assert_eq!(r.reason, "below minimum: starting 3");
}

#[test]
fn dry_run_plans_but_actuates_nothing() {
    let p = policy(&[(1, 10)]);
    let mut settings = rif_settings(20.0);
    settings.dry_run = true;
    let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
    let r = run(&p, &settings, &members, &ScalingMemory::new());
    assert!(r.actions().is_empty());
    assert_eq!(r.planned_actions().len(), 3);
    assert!(r.is_dry_run());
    assert_eq!(
        r.reason,
        "dry-run: would start 3; scale-up: starting 3 (required 5, have 2)"
    );
    // Committing a dry run does not start a cooldown.
    let mut memory = ScalingMemory::new();
    memory.commit(&r, &settings);
    let again = run(&p, &settings, &members, &memory);
    assert_eq!(again.planned_actions().len(), 3);
}

#[test]
fn commit_starts_cooldowns_and_history() {
    let p = policy(&[(1, 10)]);
    let settings = rif_settings(20.0);
    let members = [active("a", "p1", 50.0), active("b", "p1", 50.0)];
    let mut memory = ScalingMemory::new();
    let r = run(&p, &settings, &members, &memory);
    memory.commit(&r, &settings);
    let np = &memory.network_partitions["np1"];
    assert_eq!(np.last_scale_up_at, Some(NOW));
    assert_eq!(np.history.highest_since(NOW - 300.0), Some(5));
    let r = run(&p, &settings, &members, &memory);
    assert!(
        r.reason.starts_with("cooldown (scale-up 10s left"),
        "{}",
        r.reason
    );
}

#[test]
fn multiple_network_partitions_fall_over_and_hold_scale_down() {
    let mut p = policy(&[(1, 2)]);
    let mut np2 = p.network_partitions[0].clone();
    np2.id = "np2".into();
    np2.partitions[0].id = "q1".into();
    p.network_partitions.push(np2);
    let in_np2 = |id: &str| {
        let mut m = active(id, "q1", 0.0);
        m.network_partition_id = "np2".into();
        m
    };
    let mut memory = seasoned(&[]);
    let np_memory = memory.network_partitions["np1"].clone();
    memory.network_partitions.insert("np2".into(), np_memory);
    memory
        .backoff
        .record_failure("p1", FailureClass::Capacity, NOW, None);
    // np1 needs 2 (30/20), has 1, p1 is backed off: the start falls over to np2's q1.
    let members = [active("a", "p1", 30.0), in_np2("x")];
    let r = run(&p, &rif_settings(20.0), &members, &memory);
    assert_eq!(
        starts(&r),
        [("q1".to_string(), StartCause::ScaleUp)],
        "{}",
        r.reason
    );
    assert!(
        r.reason.starts_with("np1: scale-up: starting 1"),
        "{}",
        r.reason
    );
    // Next time np2 holds the extra member: no more spawning, and np2 keeps it while np1
    // is short instead of scaling it down.
    let members = [active("a", "p1", 30.0), in_np2("x"), in_np2("y")];
    let r = run(&p, &rif_settings(20.0), &members, &memory);
    assert!(r.planned_actions.is_empty(), "{r:?}");
    assert_eq!(
        r.reason,
        "np1: partition p1 backed off: capacity (60s left); \
         np2: scale-down held: another network partition is short of members"
    );
}

#[test]
fn garbage_inputs_do_not_panic() {
    let p = policy(&[(5, 2)]);
    let mut weird = active("a", "p1", f64::NAN);
    weird.started_at = f64::NAN;
    weird.state_since = f64::INFINITY;
    let members = [
        weird,
        member("x", "nowhere", MemberState::Active, Some(1.0)),
    ];
    let mut settings = rif_settings(f64::NAN);
    settings.window_seconds = -1.0;
    settings.prediction_horizon_seconds = f64::INFINITY;
    let r = run(&p, &settings, &members, &ScalingMemory::new());
    assert!(r.members_after() <= 2, "max wins over min: {r:?}");
    assert_eq!(r.members.outside_policy, 1);
    let input = EvaluationInput {
        cluster_id: "c",
        deployment_policy: &p,
        settings: &settings,
        members: &members,
        network_partition_health: &[],
    };
    let r = evaluate(&input, &ScalingMemory::new(), f64::NAN);
    assert!(r.planned_actions.is_empty());
    let empty = DeploymentPolicy {
        id: "e".into(),
        network_partitions: vec![],
    };
    let input = EvaluationInput {
        deployment_policy: &empty,
        ..input
    };
    assert!(evaluate(&input, &ScalingMemory::new(), NOW)
        .planned_actions
        .is_empty());
}

#[test]
fn absurd_policy_sizes_do_not_overflow() {
    let p = policy(&[(0, u32::MAX), (0, u32::MAX)]);
    let members = [active("a", "p1", 1e300)];
    let r = run(&p, &rif_settings(1e-300), &members, &ScalingMemory::new());
    assert_eq!(r.network_partitions[0].max, u32::MAX);
    assert_eq!(starts(&r).len(), 4, "bounded by the step");
    assert_eq!(cluster_bounds(&p), (0, u32::MAX));
}

#[test]
fn cluster_level_values_take_precedence() {
    let p = policy(&[(1, 10)]);
    let members = [active("a", "p1", 0.0)];
    let mut health = MetricStats::default();
    health.set(Metric::RequestsInFlight, Some(stats(60.0, NOW - 2.0)));
    let np_health = [NetworkPartitionHealth {
        network_partition_id: "np1".into(),
        health,
    }];
    let settings = rif_settings(20.0);
    let input = EvaluationInput {
        cluster_id: "c1",
        deployment_policy: &p,
        settings: &settings,
        members: &members,
        network_partition_health: &np_health,
    };
    let r = evaluate(&input, &ScalingMemory::new(), NOW);
    assert_eq!(r.required, 3);
    assert_eq!(starts(&r).len(), 2);
}

#[test]
fn record_serialises_in_camel_case() {
    let p = policy(&[(1, 10)]);
    let members = [active("a", "p1", 50.0)];
    let r = run(&p, &rif_settings(20.0), &members, &ScalingMemory::new());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["clusterId"], "c1");
    assert_eq!(json["dryRun"], false);
    assert_eq!(json["actions"][0]["action"], "startMember");
    assert_eq!(json["actions"][0]["partitionId"], "p1");
    assert_eq!(json["actions"][0]["cause"], "scaleUp");
    let metric = &json["networkPartitions"][0]["metrics"][0];
    assert_eq!(metric["metric"], "requestsInFlight");
    assert_eq!(metric["secondDerivative"], 0.0);
    assert_eq!(metric["prediction"], 50.0);
    assert_eq!(json["members"]["active"], 1);
    assert!(matches!(
        &r.planned_actions[0],
        ScalingAction::StartMember { partition_id, .. } if partition_id == "p1"
    ));
}

#[test]
fn stabilization_history_is_a_sliding_maximum() {
    let mut h = RecommendationHistory::default();
    h.push(0.0, 5, 300.0);
    h.push(10.0, 3, 300.0);
    h.push(20.0, 4, 300.0);
    assert_eq!(h.highest_since(-1.0), Some(5));
    assert_eq!(h.highest_since(5.0), Some(4));
    assert_eq!(h.entries.len(), 2, "3 was dominated by the later 4");
    h.push(400.0, 1, 300.0);
    assert_eq!(h.highest_since(100.0), Some(1));
    assert_eq!(h.entries.len(), 1);
}

mod unreported;
