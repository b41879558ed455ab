//! Metrics with no source (`Unreported`) against metrics that went stale (`Missing`).

use super::*;

/// Load, memory and requests in flight, as in every Stratos sample policy.
fn three_metric_settings() -> ScalingSettings {
    ScalingSettings::new(LoadThresholds {
        requests_in_flight: Some(20.0),
        memory_consumption: Some(80.0),
        load_average: Some(70.0),
    })
}

/// An Active member reporting load and memory only (no requests-in-flight source).
fn load_only(id: &str, load: f64) -> MemberStatus {
    let mut m = member(id, "p1", MemberState::Active, None);
    m.health
        .set(Metric::LoadAverage, Some(stats(load, NOW - 1.0)));
    m.health
        .set(Metric::MemoryConsumption, Some(stats(10.0, NOW - 1.0)));
    m
}

fn freshness(r: &DecisionRecord, metric: Metric) -> Freshness {
    r.network_partitions[0]
        .metrics
        .iter()
        .find(|m| m.metric == metric)
        .map(|m| m.freshness)
        .expect("metric in the record")
}

#[test]
fn a_metric_no_member_reports_is_ignored_and_scale_down_happens() {
    let p = policy(&[(1, 10)]);
    let members = [
        load_only("a", 5.0),
        load_only("b", 5.0),
        load_only("c", 5.0),
    ];
    let r = run(&p, &three_metric_settings(), &members, &seasoned(&[]));
    assert_eq!(
        freshness(&r, Metric::RequestsInFlight),
        Freshness::Unreported
    );
    assert_eq!(freshness(&r, Metric::LoadAverage), Freshness::Fresh);
    assert!(
        matches!(
            &r.planned_actions[..],
            [ScalingAction::TerminateMember { .. }]
        ),
        "{r:?}"
    );
    assert!(
        r.reason.starts_with("scale-down: terminating"),
        "{}",
        r.reason
    );
    assert!(
        r.reason.ends_with("requests_in_flight unreported: ignored"),
        "{}",
        r.reason
    );
}

#[test]
fn an_unreported_metric_does_not_stop_a_scale_up_by_the_others() {
    let p = policy(&[(1, 10)]);
    let members = [load_only("a", 140.0)];
    let r = run(&p, &three_metric_settings(), &members, &seasoned(&[]));
    // ceil(max(min, 1) · 140 / 70) = 2 required, 1 there.
    assert_eq!(
        starts(&r),
        [("p1".to_string(), StartCause::ScaleUp)],
        "{r:?}"
    );
    assert!(r.reason.contains("requests_in_flight unreported: ignored"));
}

#[test]
fn a_metric_reported_before_and_now_stale_still_blocks_scale_down() {
    let p = policy(&[(1, 10)]);
    let mut b = load_only("b", 5.0);
    // b sent requests in flight once; its samples have left the window since.
    b.health.set_reported(Metric::RequestsInFlight, true);
    let members = [load_only("a", 5.0), b];
    let r = run(&p, &three_metric_settings(), &members, &seasoned(&[]));
    assert_eq!(freshness(&r, Metric::RequestsInFlight), Freshness::Missing);
    assert!(r.planned_actions.is_empty(), "{r:?}");
    assert_eq!(
        r.reason,
        "requests_in_flight stale or missing: no scale-down"
    );
}

#[test]
fn a_newcomer_that_has_not_reported_yet_leaves_the_metric_partial() {
    let p = policy(&[(1, 10)]);
    let mut a = load_only("a", 5.0);
    a.health
        .set(Metric::RequestsInFlight, Some(stats(0.0, NOW - 1.0)));
    // b just became Active: nothing from it yet.
    let b = member("b", "p1", MemberState::Active, None);
    let r = run(&p, &three_metric_settings(), &[a, b], &seasoned(&[]));
    assert_eq!(freshness(&r, Metric::RequestsInFlight), Freshness::Partial);
    assert_eq!(freshness(&r, Metric::LoadAverage), Freshness::Partial);
    assert!(r.planned_actions.is_empty(), "{r:?}");
    assert!(!r.reason.contains("unreported"), "{}", r.reason);
}

#[test]
fn nothing_reported_at_all_never_scales_down() {
    let p = policy(&[(1, 10)]);
    let members = [
        member("a", "p1", MemberState::Active, None),
        member("b", "p1", MemberState::Active, None),
    ];
    let r = run(&p, &three_metric_settings(), &members, &seasoned(&[]));
    assert!(r.planned_actions.is_empty(), "{r:?}");
    assert!(
        r.reason
            .starts_with("no configured metric reported yet: no scale-down"),
        "{}",
        r.reason
    );
}

#[test]
fn a_cluster_level_source_that_went_stale_blocks_scale_down() {
    let p = policy(&[(1, 10)]);
    let members = [load_only("a", 5.0), load_only("b", 5.0)];
    let mut lb = MetricStats::default();
    lb.set_reported(Metric::RequestsInFlight, true);
    let np_health = [NetworkPartitionHealth {
        network_partition_id: "np1".into(),
        health: lb,
    }];
    let settings = three_metric_settings();
    let memory = seasoned(&[]);
    let input = EvaluationInput {
        cluster_id: "c1",
        deployment_policy: &p,
        settings: &settings,
        members: &members,
        network_partition_health: &np_health,
    };
    let r = evaluate(&input, &memory, NOW);
    assert_eq!(freshness(&r, Metric::RequestsInFlight), Freshness::Missing);
    assert!(r.planned_actions.is_empty(), "{r:?}");
}

#[test]
fn the_record_says_unreported_in_json() {
    let p = policy(&[(1, 10)]);
    let r = run(
        &p,
        &three_metric_settings(),
        &[load_only("a", 5.0)],
        &seasoned(&[]),
    );
    let json = serde_json::to_value(&r).expect("a record serialises");
    let rif = json["networkPartitions"][0]["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["metric"] == "requestsInFlight"))
        .cloned();
    assert_eq!(
        rif.map(|m| m["freshness"].clone()),
        Some("unreported".into())
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// A metric nobody reports decides exactly what a policy without it decides.
        #[test]
        fn an_unreported_metric_is_as_if_the_policy_did_not_name_it(
            loads in prop::collection::vec(0.0f64..300.0, 1..8),
            pending in 0usize..3,
            history in prop::collection::vec((NOW - 400.0..NOW, 1u32..10), 0..4),
        ) {
            let p = policy(&[(1, 10)]);
            let mut members: Vec<MemberStatus> = loads
                .iter()
                .enumerate()
                .map(|(i, load)| load_only(&format!("m{i}"), *load))
                .collect();
            for i in 0..pending {
                members.push(member(&format!("pending{i}"), "p1", MemberState::Starting, None));
            }
            let memory = seasoned(&history);
            let with_rif = run(&p, &three_metric_settings(), &members, &memory);
            let without = run(
                &p,
                &ScalingSettings::new(LoadThresholds {
                    requests_in_flight: None,
                    memory_consumption: Some(80.0),
                    load_average: Some(70.0),
                }),
                &members,
                &memory,
            );
            prop_assert_eq!(with_rif.planned_actions, without.planned_actions);
            prop_assert_eq!(with_rif.required, without.required);
        }
    }
}
