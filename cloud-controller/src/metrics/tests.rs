use super::*;
use crate::controller::test_support::member;
use autoscaler::{MemberCounts, StartCause};
use iaas::ErrorClass;

fn cluster(id: &str, status: ClusterStatus) -> Cluster {
    Cluster {
        cluster_id: id.into(),
        tenant_id: 1,
        alias: id.into(),
        service_name: "php".into(),
        host_name: format!("{id}.example"),
        autoscale_policy: "a".into(),
        deployment_policy: "d".into(),
        cartridge_key: "secret-key".into(),
        properties: Default::default(),
        status,
        created_at: 0,
        updated_at: 0,
    }
}

fn record(dry_run: bool, actions: Vec<ScalingAction>, reason: &str) -> DecisionRecord {
    DecisionRecord {
        cluster_id: "c".into(),
        time: 0.0,
        dry_run,
        members: MemberCounts::default(),
        network_partitions: vec![],
        required: 1,
        planned_actions: actions,
        reason: reason.into(),
    }
}

fn start() -> ScalingAction {
    ScalingAction::StartMember {
        network_partition_id: "np".into(),
        partition_id: "p".into(),
        provider_type: "mock".into(),
        cause: StartCause::ScaleUp,
    }
}

fn terminate() -> ScalingAction {
    ScalingAction::TerminateMember {
        member_id: "m".into(),
        network_partition_id: "np".into(),
        partition_id: "p".into(),
    }
}

#[test]
fn decisions_are_classified_by_outcome() {
    let r = |dry, actions, reason| decision_outcome(&record(dry, actions, reason));
    assert_eq!(r(false, vec![start()], "scale up"), "scale-up");
    assert_eq!(r(false, vec![terminate()], "scale down"), "scale-down");
    assert_eq!(r(true, vec![start()], "dry-run: would start"), "dry-run");
    assert_eq!(
        r(true, vec![], "within thresholds (required 1, have 1)"),
        "within"
    );
    assert_eq!(
        r(false, vec![], "cooldown (scale-down 20s left)"),
        "cooldown"
    );
    assert_eq!(
        r(false, vec![], "partition p1 backed off: quota (290s left)"),
        "backoff"
    );
    assert_eq!(
        r(false, vec![], "within thresholds (required 2, have 2)"),
        "within"
    );
}

#[test]
fn openmetrics_only_when_asked_for() {
    assert!(!wants_openmetrics(None));
    assert!(!wants_openmetrics(Some("*/*")));
    assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
    assert!(wants_openmetrics(Some(
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    )));
    assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
}

#[test]
fn classic_text_declares_counters_by_sample_name_and_has_no_openmetrics_lines() {
    let m = Metrics::new();
    m.login_failure();
    m.reconcile_pass(Duration::from_millis(30));
    let classic = m.render(&[], &[], false);
    assert!(
        classic.contains("# TYPE alto_login_failures_total counter\n"),
        "{classic}"
    );
    assert!(
        classic.contains("# HELP alto_login_failures_total "),
        "{classic}"
    );
    assert!(
        classic.contains("\nalto_login_failures_total 1\n"),
        "{classic}"
    );
    assert!(classic.contains("# TYPE alto_reconcile_pass_duration_seconds histogram\n"));
    assert!(classic.contains("alto_reconcile_pass_duration_seconds_count 1\n"));
    assert!(!classic.contains("# UNIT"), "{classic}");
    assert!(!classic.contains("# EOF"), "{classic}");
    let open = m.render(&[], &[], true);
    assert!(
        open.contains("# TYPE alto_login_failures counter\n"),
        "{open}"
    );
    assert!(open.contains("# UNIT alto_reconcile_pass_duration_seconds seconds\n"));
    assert!(open.ends_with("# EOF\n"), "{open}");
}

#[test]
fn members_by_cluster_and_state_count_live_members_with_zeros() {
    let m = Metrics::new();
    let mut a = member("m1", MemberState::Active, Some("i-1"));
    a.cluster_id = "c1".into();
    let mut b = member("m2", MemberState::Created, None);
    b.cluster_id = "c1".into();
    let text = m.render(
        &[
            cluster("c1", ClusterStatus::Active),
            cluster("c2", ClusterStatus::Created),
        ],
        &[a, b],
        false,
    );
    assert!(
        text.contains("alto_members{cluster=\"c1\",state=\"Active\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("alto_members{cluster=\"c1\",state=\"Created\"} 1\n"));
    assert!(text.contains("alto_members{cluster=\"c2\",state=\"Active\"} 0\n"));
    assert!(text.contains("alto_clusters{status=\"Active\"} 1\n"));
    assert!(text.contains("alto_clusters{status=\"Created\"} 1\n"));
    assert!(text.contains("alto_clusters{status=\"Terminating\"} 0\n"));
    assert!(!text.contains("secret-key"));
    // The next scrape sees the registry as it is then: c1's members are gone.
    let text = m.render(&[cluster("c1", ClusterStatus::Terminating)], &[], false);
    assert!(
        text.contains("alto_members{cluster=\"c1\",state=\"Active\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("cluster=\"c2\""), "{text}");
}

#[test]
fn clusters_past_the_cap_are_summed_as_other() {
    let clusters: Vec<Cluster> = (0..MAX_EXPORTED_CLUSTERS + 5)
        .map(|i| cluster(&format!("c{i:04}"), ClusterStatus::Active))
        .collect();
    let members: Vec<Member> = clusters
        .iter()
        .map(|c| {
            let mut m = member(&format!("m-{}", c.cluster_id), MemberState::Active, None);
            m.cluster_id = c.cluster_id.clone();
            m
        })
        .collect();
    let counts = members_by_cluster_and_state(&clusters, &members);
    let exported: std::collections::BTreeSet<&str> =
        counts.keys().map(|(c, _)| c.as_str()).collect();
    assert_eq!(exported.len(), MAX_EXPORTED_CLUSTERS + 1);
    assert_eq!(counts[&(OTHER_CLUSTERS.to_string(), "Active")], 5);
    assert_eq!(counts[&("c0000".to_string(), "Active")], 1);
}

#[test]
fn cloud_calls_count_outcomes_error_classes_and_latency() {
    let m = Metrics::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let ok: Result<(), IaasError> = m
            .cloud_call("mock", "start_instance", async { Ok(()) })
            .await;
        assert!(ok.is_ok());
        let failed: Result<(), IaasError> = m
            .cloud_call("mock", "start_instance", async {
                Err(IaasError::new(
                    "mock",
                    "start_instance",
                    ErrorClass::Quota,
                    "full",
                ))
            })
            .await;
        assert!(failed.is_err());
    });
    let text = m.render(&[], &[], false);
    for line in [
        "alto_cloud_calls_total{provider_type=\"mock\",operation=\"start_instance\",outcome=\"ok\"} 1\n",
        "alto_cloud_calls_total{provider_type=\"mock\",operation=\"start_instance\",outcome=\"error\"} 1\n",
        "alto_cloud_errors_total{provider_type=\"mock\",class=\"quota\"} 1\n",
        "alto_cloud_call_duration_seconds_count{provider_type=\"mock\",operation=\"start_instance\"} 2\n",
    ] {
        assert!(text.contains(line), "{line} not in {text}");
    }
}

#[test]
fn requests_are_counted_by_route_pattern_and_status() {
    let m = Metrics::new();
    m.request(
        "GET",
        "/api/clusters/{clusterId}",
        404,
        Duration::from_millis(3),
    );
    m.bus_message("InstanceActivatedEvent", BusOutcome::RefusedUnknownMember);
    let text = m.render(&[], &[], false);
    assert!(text.contains(
        "alto_http_requests_total{method=\"GET\",route=\"/api/clusters/{clusterId}\",status=\"404\"} 1\n"
    ), "{text}");
    assert!(text.contains(
        "alto_bus_messages_refused_total{kind=\"InstanceActivatedEvent\",reason=\"unknown-member\"} 1\n"
    ));
}
