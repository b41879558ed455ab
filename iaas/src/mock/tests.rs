use super::*;
use crate::registry::Caller;
use crate::types::{Secret, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID};
use messaging::events::{
    InstanceCleanupMemberEvent, MemberAddresses, MemberInitializedEvent, MemberStatusEvent,
};
use messaging::{InProcessBus, MemberState};
use std::path::PathBuf;

fn provider(props: &[(&str, &str)]) -> ProviderSpec {
    ProviderSpec {
        provider_type: "mock".into(),
        provider: "mock".into(),
        class_name: None,
        identity: Secret::new("i"),
        credential: Secret::new("c"),
        image_id: None,
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn instance_spec(member: &str) -> InstanceSpec {
    let tags = [
        (TAG_MEMBER_ID, member),
        (TAG_CLUSTER_ID, "c1"),
        (TAG_MANAGED_BY, MANAGED_BY_VALUE),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    InstanceSpec {
        member_id: member.into(),
        cluster_id: "c1".into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        image_id: None,
        payload: format!("MEMBER_ID={member},CARTRIDGE_KEY=k"),
        properties: Properties::new(),
        tags,
        volumes: Vec::new(),
    }
}

fn ctx(bus: Arc<dyn Bus>, dir: Option<PathBuf>) -> DriverContext {
    DriverContext {
        bus,
        health_patterns: HealthPatterns::default(),
        state_dir: dir,
        agent_amqp: None,
        caller: Caller::default(),
    }
}

#[tokio::test]
async fn start_describe_terminate() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus, None)).unwrap();
    let a = mock.start_instance(&instance_spec("m1")).await.unwrap();
    let b = mock.start_instance(&instance_spec("m2")).await.unwrap();
    assert_ne!(a.instance_id, b.instance_id);
    assert_ne!(a.private_ips, b.private_ips);
    assert!(a.private_ips[0].starts_with("10.") && a.public_ips[0].starts_with("20."));
    assert_eq!(
        mock.user_data(&a.instance_id).unwrap(),
        "MEMBER_ID=m1,CARTRIDGE_KEY=k"
    );
    let found = mock
        .describe_instances(&InstanceFilter {
            cluster_id: None,
            member_id: Some("m2".into()),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].member_id(), Some("m2"));
    mock.terminate_instance(&a.instance_id).await.unwrap();
    let err = mock.terminate_instance(&a.instance_id).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        mock.describe_instances(&InstanceFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn injected_failures_carry_their_class_and_stop_after_n() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(
        &provider(&[("mock.fail.start", "quota"), ("mock.fail.start.times", "2")]),
        &ctx(bus, None),
    )
    .unwrap();
    for _ in 0..2 {
        let err = mock.start_instance(&instance_spec("m")).await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Quota);
        assert_eq!(err.code.as_deref(), Some("MockInjectedFailure"));
    }
    assert!(mock.start_instance(&instance_spec("m")).await.is_ok());
    let bad = MockIaas::new(
        &provider(&[("mock.start.latency.ms", "soon")]),
        &ctx(Arc::new(InProcessBus::new()), None),
    )
    .unwrap();
    let err = bad.start_instance(&instance_spec("m")).await.unwrap_err();
    assert!(err.message.contains("mock.start.latency.ms"), "{err}");
}

#[tokio::test]
async fn simulated_agent_answers_lifecycle_events() {
    let bus = Arc::new(InProcessBus::new());
    let mut status = bus
        .subscribe(SubscriptionSpec::new("cc", &["instance.status.*"], QueueKind::Durable).unwrap())
        .await
        .unwrap();
    let mock = MockIaas::new(
        &provider(&[("mock.agent.delay.ms", "1")]),
        &ctx(bus.clone(), None),
    )
    .unwrap();
    mock.initialize().await.unwrap();
    mock.start_instance(&instance_spec("m1")).await.unwrap();
    let member = MemberRef {
        member_id: "m1".into(),
        cluster_id: "c1".into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        cluster_instance_id: None,
    };
    let status_event = |s| MemberStatusEvent {
        member: member.clone(),
        status: s,
        properties: BTreeMap::new(),
    };
    let steps = [
        (
            Event::MemberInitializedEvent(MemberInitializedEvent {
                member: member.clone(),
                instance_id: "x".into(),
                addresses: MemberAddresses::default(),
                properties: BTreeMap::new(),
            }),
            "InstanceStartedEvent",
        ),
        (
            Event::MemberStartedEvent(status_event(MemberState::Starting)),
            "InstanceActivatedEvent",
        ),
        (
            Event::InstanceCleanupMemberEvent(InstanceCleanupMemberEvent {
                member_id: "m1".into(),
            }),
            "InstanceMaintenanceModeEvent",
        ),
        (
            Event::MemberMaintenanceModeEvent(status_event(MemberState::InMaintenance)),
            "InstanceReadyToShutdownEvent",
        ),
    ];
    for (trigger, expected) in steps {
        bus.publish(&trigger).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), status.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.event.name(), expected);
        assert_eq!(got.event.member().unwrap().member_id, "m1");
    }
    // Events about members that are not ours get no answer.
    bus.publish(&Event::InstanceCleanupMemberEvent(
        InstanceCleanupMemberEvent {
            member_id: "other".into(),
        },
    ))
    .await
    .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), status.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn instances_outlive_a_restart_when_a_state_dir_is_given() {
    let dir = std::env::temp_dir().join(format!("alto-mock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let first = MockIaas::new(&provider(&[]), &ctx(bus.clone(), Some(dir.clone()))).unwrap();
    let started = first.start_instance(&instance_spec("m1")).await.unwrap();
    drop(first);
    let second = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    let found = second
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap();
    assert_eq!(found, vec![started.clone()]);
    let next = second.start_instance(&instance_spec("m2")).await.unwrap();
    assert_ne!(
        next.instance_id, started.instance_id,
        "ids must not be reused after restart"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn by_member(member: &str) -> InstanceFilter {
    InstanceFilter {
        cluster_id: None,
        member_id: Some(member.into()),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alto-mock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_second_start_of_a_member_returns_its_instance() {
    let dir = temp_dir("idempotent");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus.clone(), Some(dir.clone()))).unwrap();
    let first = mock.start_instance(&instance_spec("m1")).await.unwrap();
    let again = mock.start_instance(&instance_spec("m1")).await.unwrap();
    assert_eq!(again, first, "same instance, same addresses");
    assert_eq!(
        mock.describe_instances(&InstanceFilter::default())
            .await
            .unwrap(),
        vec![first.clone()]
    );
    // After a restart of the controller too, and the next member gets the next address.
    drop(mock);
    let restarted = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    assert_eq!(
        restarted
            .start_instance(&instance_spec("m1"))
            .await
            .unwrap(),
        first
    );
    let other = restarted
        .start_instance(&instance_spec("m2"))
        .await
        .unwrap();
    assert_ne!(other.instance_id, first.instance_id);
    assert_ne!(other.private_ips, first.private_ips);
    // A clean shutdown leaves the file exact.
    restarted.shutdown().await.unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("mock-mock.json")).unwrap()).unwrap();
    assert_eq!(saved["instances"].as_object().unwrap().len(), 2);
    assert_eq!(saved["next_address"], 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_instance_is_listed_and_saved_while_its_start_still_waits() {
    let dir = temp_dir("latency");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = Arc::new(
        MockIaas::new(
            &provider(&[("mock.start.latency.ms", "600000")]),
            &ctx(bus.clone(), Some(dir.clone())),
        )
        .unwrap(),
    );
    let starting = tokio::spawn({
        let mock = mock.clone();
        async move { mock.start_instance(&instance_spec("m1")).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let found = mock.describe_instances(&by_member("m1")).await.unwrap();
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "the starting instance is never listed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(!starting.is_finished(), "the start is still waiting");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].member_id(), Some("m1"));
    // Other calls are not held up by the waiting start; a retry returns the same instance.
    let retry = MockIaas::start_instance(&mock, &instance_spec("m1"))
        .await
        .unwrap();
    assert_eq!(retry, listed[0]);
    // The controller dies during the wait: the instance is already on disk.
    starting.abort();
    let _ = starting.await;
    drop(mock);
    let restarted = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    assert_eq!(
        restarted
            .describe_instances(&by_member("m1"))
            .await
            .unwrap(),
        listed
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_refused_start_records_no_instance() {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(
        &provider(&[
            ("mock.fail.start", "capacity"),
            ("mock.fail.start.times", "1"),
            ("mock.start.latency.ms", "1"),
        ]),
        &ctx(bus, None),
    )
    .unwrap();
    let err = mock.start_instance(&instance_spec("m1")).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Capacity);
    assert!(mock
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap()
        .is_empty());
    let started = mock.start_instance(&instance_spec("m1")).await.unwrap();
    assert_eq!(
        mock.describe_instances(&by_member("m1")).await.unwrap(),
        vec![started]
    );
}

#[tokio::test]
async fn termination_waits_its_latency_without_holding_up_other_calls() {
    let dir = temp_dir("terminate");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let latency = Duration::from_millis(1500);
    let mock = Arc::new(
        MockIaas::new(
            &provider(&[("mock.terminate.latency.ms", "1500")]),
            &ctx(bus, Some(dir.clone())),
        )
        .unwrap(),
    );
    let doomed = mock.start_instance(&instance_spec("m1")).await.unwrap();
    let begun = Instant::now();
    let terminating = tokio::spawn({
        let mock = mock.clone();
        let id = doomed.instance_id.clone();
        async move { mock.terminate_instance(&id).await }
    });
    // While it terminates: still listed, and describe and start proceed.
    assert_eq!(
        mock.describe_instances(&by_member("m1")).await.unwrap(),
        vec![doomed.clone()]
    );
    let other = mock.start_instance(&instance_spec("m2")).await.unwrap();
    assert_eq!(
        mock.describe_instances(&by_member("m2")).await.unwrap(),
        vec![other.clone()]
    );
    assert!(
        !terminating.is_finished(),
        "the other calls did not wait for the termination"
    );
    terminating.await.unwrap().unwrap();
    assert!(begun.elapsed() >= latency);
    assert_eq!(
        mock.describe_instances(&InstanceFilter::default())
            .await
            .unwrap(),
        vec![other]
    );
    let err = mock
        .terminate_instance(&doomed.instance_id)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    mock.compact().await.unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("mock-mock.json")).unwrap()).unwrap();
    assert_eq!(saved["instances"].as_object().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn concurrent_changes_leave_the_newest_state_on_disk() {
    let dir = temp_dir("concurrent");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock =
        Arc::new(MockIaas::new(&provider(&[]), &ctx(bus.clone(), Some(dir.clone()))).unwrap());
    let starts: Vec<_> = (0..20)
        .map(|i| {
            let mock = mock.clone();
            tokio::spawn(async move { mock.start_instance(&instance_spec(&format!("m{i}"))).await })
        })
        .collect();
    for s in starts {
        s.await.unwrap().unwrap();
    }
    let restarted = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    assert_eq!(
        restarted
            .describe_instances(&InstanceFilter::default())
            .await
            .unwrap()
            .len(),
        20
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_planted_state_file_is_read() {
    // The shape tools read and tests write while the controller is stopped.
    let dir = temp_dir("planted");
    let planted = serde_json::json!({
        "next_address": 7,
        "injected_failures": 0,
        "instances": {"mock-mock-000007": {
            "instance_id": "mock-mock-000007",
            "member": {"serviceName": "php", "clusterId": "c1", "networkPartitionId": "np1",
                       "partitionId": "p1", "memberId": "m1"},
            "tags": {TAG_MEMBER_ID: "m1", TAG_CLUSTER_ID: "c1", TAG_MANAGED_BY: MANAGED_BY_VALUE},
            "private_ip": "10.0.0.7",
            "public_ip": "20.0.0.7",
            "payload": "MEMBER_ID=m1",
            "agent": false,
            "agent_delay_ms": 100
        }}
    });
    std::fs::write(
        dir.join("mock-mock.json"),
        serde_json::to_vec(&planted).unwrap(),
    )
    .unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    let adopted = mock.start_instance(&instance_spec("m1")).await.unwrap();
    assert_eq!(adopted.instance_id, "mock-mock-000007");
    assert_eq!(adopted.private_ips, vec!["10.0.0.7"]);
    let next = mock.start_instance(&instance_spec("m2")).await.unwrap();
    assert_eq!(next.instance_id, "mock-mock-000008");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("mock-mock.json")).unwrap()).unwrap();
    assert_eq!(
        saved["instances"]["mock-mock-000007"], planted["instances"]["mock-mock-000007"],
        "the format is unchanged"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn patterns_follow_their_mode() {
    let p = |mode| HealthPattern {
        factor: HealthFactor::LoadAverage,
        mode,
        sample_values: vec![10.0, 20.0, 30.0],
        sample_duration: Duration::from_secs(60),
    };
    let at = |s| Duration::from_secs(s);
    assert_eq!(p(PatternMode::Loop).value_at(at(0)), Some(10.0));
    assert_eq!(p(PatternMode::Loop).value_at(at(61)), Some(20.0));
    assert_eq!(p(PatternMode::Loop).value_at(at(185)), Some(10.0));
    assert_eq!(p(PatternMode::Continue).value_at(at(1000)), Some(30.0));
    assert_eq!(p(PatternMode::Stop).value_at(at(179)), Some(30.0));
    assert_eq!(p(PatternMode::Stop).value_at(at(180)), None);
}

#[test]
fn a_ratio_picks_its_fraction_evenly() {
    let picked: Vec<u64> = (0..20).filter(|&n| ratio_picks(n, 0.2)).collect();
    assert_eq!(picked, [4, 9, 14, 19]);
    assert_eq!((0..1000).filter(|&n| ratio_picks(n, 0.37)).count(), 370);
    assert!(!(0..100).any(|n| ratio_picks(n, 0.0)));
    assert!((0..100).all(|n| ratio_picks(n, 1.0)));
}

#[tokio::test]
async fn a_fail_ratio_fails_that_share_of_starts_and_is_counted() {
    let dir = temp_dir("ratio");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(
        &provider(&[("mock.fail.start.ratio", "0.25")]),
        &ctx(bus.clone(), Some(dir.clone())),
    )
    .unwrap();
    let mut failed = Vec::new();
    for i in 0..8 {
        if let Err(e) = mock.start_instance(&instance_spec(&format!("m{i}"))).await {
            // Only the ratio: the class a retry gets past.
            assert_eq!(e.class, ErrorClass::Transient, "{e}");
            failed.push(i);
        }
    }
    assert_eq!(failed, [3, 7]);
    // A repeated start of a member with an instance is no new start: it cannot fail.
    for _ in 0..4 {
        mock.start_instance(&instance_spec("m0")).await.unwrap();
    }
    mock.compact().await.unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("mock-mock.json")).unwrap()).unwrap();
    assert_eq!(state["injected_failures"], 2);
    assert_eq!(state["starts"], 8);
    assert_eq!(state["instances"].as_object().unwrap().len(), 6);

    // With a class, the ratio's failures carry it; `times` still bounds them.
    let mock = MockIaas::new(
        &provider(&[
            ("mock.fail.start.ratio", "0.5"),
            ("mock.fail.start", "quota"),
            ("mock.fail.start.times", "1"),
        ]),
        &ctx(bus.clone(), None),
    )
    .unwrap();
    let outcomes: Vec<Option<ErrorClass>> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                mock.start_instance(&instance_spec(&format!("q{i}")))
                    .await
                    .err()
                    .map(|e| e.class),
            );
        }
        v
    };
    assert_eq!(outcomes, [None, Some(ErrorClass::Quota), None, None]);

    let bad = MockIaas::new(
        &provider(&[("mock.fail.start.ratio", "1.5")]),
        &ctx(bus, None),
    )
    .unwrap();
    let err = bad.start_instance(&instance_spec("m")).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest);
    assert!(err.message.contains("mock.fail.start.ratio"), "{err}");
}

/// A bus whose first `refusals` status publishes fail, as while a broker restarts.
struct FlakyBus {
    inner: InProcessBus,
    refusals: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl Bus for FlakyBus {
    async fn publish(&self, event: &Event) -> Result<(), messaging::BusError> {
        let refuse = event.name().starts_with("Instance")
            && self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refuse {
            return Err(messaging::BusError::Unavailable("broker away".into()));
        }
        self.inner.publish(event).await
    }
    async fn subscribe(
        &self,
        spec: SubscriptionSpec,
    ) -> Result<messaging::Subscription, messaging::BusError> {
        self.inner.subscribe(spec).await
    }
}

#[tokio::test]
async fn a_status_event_refused_by_the_bus_is_published_later() {
    let inner = InProcessBus::new();
    let mut status = inner
        .subscribe(SubscriptionSpec::new("cc", &["instance.status.*"], QueueKind::Durable).unwrap())
        .await
        .unwrap();
    let flaky = Arc::new(FlakyBus {
        inner: inner.clone(),
        refusals: std::sync::atomic::AtomicUsize::new(3),
    });
    let mock = MockIaas::new(
        &provider(&[("mock.agent.delay.ms", "1")]),
        &ctx(flaky.clone(), None),
    )
    .unwrap();
    mock.initialize().await.unwrap();
    mock.start_instance(&instance_spec("m1")).await.unwrap();
    inner
        .publish(&Event::InstanceCleanupMemberEvent(
            InstanceCleanupMemberEvent {
                member_id: "m1".into(),
            },
        ))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), status.next())
        .await
        .expect("the status event arrives after the refusals")
        .unwrap();
    assert_eq!(got.event.name(), "InstanceMaintenanceModeEvent");
    assert_eq!(
        flaky.refusals.load(Ordering::SeqCst),
        0,
        "all 3 refusals were retried"
    );
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A driver built outside a runtime has no background compaction, and one forgotten is never
/// dropped: together, a process that crashed right after its calls returned.
fn crashed_after(
    dir: &std::path::Path,
    calls: impl FnOnce(&MockIaas) -> Vec<Instance>,
) -> Vec<Instance> {
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.to_path_buf()))).unwrap();
    let made = calls(&mock);
    std::mem::forget(mock);
    made
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_change_is_in_the_log_before_the_call_returns_and_a_crash_keeps_it() {
    let dir = temp_dir("crash-log");
    let made = crashed_after(&dir, |mock| {
        block_on(async {
            let a = mock.start_instance(&instance_spec("m1")).await.unwrap();
            let b = mock.start_instance(&instance_spec("m2")).await.unwrap();
            mock.terminate_instance(&a.instance_id).await.unwrap();
            vec![b]
        })
    });
    // The snapshot is the one written at open (empty); the log has the three changes.
    let snapshot = read_json(&dir.join("mock-mock.json"));
    assert_eq!(snapshot["instances"].as_object().unwrap().len(), 0);
    let log = std::fs::read_to_string(dir.join("mock-mock.log")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(log.contains("\"remove\""), "{log}");

    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let restarted = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    let found = block_on(restarted.describe_instances(&InstanceFilter::default())).unwrap();
    assert_eq!(found, made, "the crash lost or resurrected nothing");
    // Replayed into the snapshot at start: the file is exact again, the log empty.
    let snapshot = read_json(&dir.join("mock-mock.json"));
    assert_eq!(snapshot["instances"].as_object().unwrap().len(), 1);
    assert_eq!(snapshot["next_address"], 2);
    assert_eq!(snapshot["log_seq"], 3);
    assert_eq!(std::fs::read(dir.join("mock-mock.log")).unwrap().len(), 0);
    drop(restarted);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_snapshot_edited_after_a_crash_merges_with_the_log() {
    let dir = temp_dir("crash-edit");
    // Compacted once with m1 (as the background does), then m2 only in the log, then a crash.
    let made = crashed_after(&dir, |mock| {
        block_on(async {
            let a = mock.start_instance(&instance_spec("m1")).await.unwrap();
            mock.compact().await.unwrap();
            let b = mock.start_instance(&instance_spec("m2")).await.unwrap();
            vec![a, b]
        })
    });
    // While no process holds it, a tool plants an orphan in the snapshot, keeping the rest.
    let path = dir.join("mock-mock.json");
    let mut state = read_json(&path);
    assert_eq!(state["instances"].as_object().unwrap().len(), 1);
    let mut orphan = state["instances"][&made[0].instance_id].clone();
    orphan["instance_id"] = serde_json::json!("planted-1");
    orphan["tags"][TAG_MEMBER_ID] = serde_json::json!("nobody");
    state["instances"]["planted-1"] = orphan;
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    // And the crash tore the log's last line.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("mock-mock.log"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"seq\":9,\"coun").unwrap();

    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let restarted = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    let mut ids: Vec<String> = block_on(restarted.describe_instances(&InstanceFilter::default()))
        .unwrap()
        .into_iter()
        .map(|i| i.instance_id)
        .collect();
    ids.sort();
    let mut expected = vec![
        made[0].instance_id.clone(),
        made[1].instance_id.clone(),
        "planted-1".to_string(),
    ];
    expected.sort();
    assert_eq!(
        ids, expected,
        "the planted instance and the logged one are both kept"
    );
    // The logged change was replayed once: the next start gets a fresh address.
    let next = block_on(restarted.start_instance(&instance_spec("m3"))).unwrap();
    assert_eq!(next.instance_id, "mock-mock-000003");
    drop(restarted);
    let snapshot = read_json(&path);
    assert_eq!(snapshot["instances"].as_object().unwrap().len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreadable_line_inside_the_log_is_an_error_not_a_loss() {
    let dir = temp_dir("corrupt-log");
    std::fs::write(dir.join("mock-mock.log"), b"not json\n{}\n").unwrap();
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let err = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone())))
        .err()
        .expect("a corrupt log is refused");
    assert!(err.to_string().contains("mock-mock.log"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_snapshot_catches_up_in_the_background() {
    let dir = temp_dir("background");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    let started = mock.start_instance(&instance_spec("m1")).await.unwrap();
    let path = dir.join("mock-mock.json");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = read_json(&path);
        if state["instances"].get(&started.instance_id).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot never caught up: {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The compaction emptied the log it folded in.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read(dir.join("mock-mock.log")).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the log is never emptied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!dir.join("mock-mock.log.1").exists());
    drop(mock);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_log_is_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("log-mode");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    mock.start_instance(&instance_spec("m1")).await.unwrap();
    for name in ["mock-mock.log", "mock-mock.json"] {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    drop(mock);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The ids of the instances in the snapshot at `path`.
fn snapshot_ids(path: &std::path::Path) -> Vec<String> {
    let mut ids: Vec<String> = read_json(path)["instances"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_clean_shutdown_leaves_the_snapshot_exact_and_what_a_tool_plants_is_seen_at_next_start() {
    let dir = temp_dir("clean-stop");
    let path = dir.join("mock-mock.json");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = MockIaas::new(&provider(&[]), &ctx(bus.clone(), Some(dir.clone()))).unwrap();
    let gone = mock.start_instance(&instance_spec("m1")).await.unwrap();
    let kept = mock.start_instance(&instance_spec("m2")).await.unwrap();
    let last = mock.start_instance(&instance_spec("m3")).await.unwrap();
    mock.terminate_instance(&gone.instance_id).await.unwrap();
    let live = mock
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap();
    mock.shutdown().await.unwrap();
    // Exact: the instances the driver had, their addresses and the counters, nothing left
    // in a log for a reader to miss.
    let mut expected = vec![kept.instance_id.clone(), last.instance_id.clone()];
    expected.sort();
    assert_eq!(snapshot_ids(&path), expected);
    let state = read_json(&path);
    for instance in &live {
        let saved = &state["instances"][&instance.instance_id];
        assert_eq!(saved["private_ip"], instance.private_ips[0], "{saved}");
        assert_eq!(saved["public_ip"], instance.public_ips[0], "{saved}");
    }
    assert_eq!(state["next_address"], 3);
    assert_eq!(state["starts"], 3);
    assert_eq!(std::fs::read(dir.join("mock-mock.log")).unwrap().len(), 0);
    assert!(!dir.join("mock-mock.log.1").exists());
    // A change after the final compaction would be lost from the file: there is none (the
    // shutdown is the last word, the drop adds nothing).
    drop(mock);
    assert_eq!(snapshot_ids(&path), expected);

    // While no process holds it, a tool adds an instance (in the file's own shape).
    let mut state = read_json(&path);
    let mut planted = state["instances"][&kept.instance_id].clone();
    planted["instance_id"] = serde_json::json!("planted-by-a-tool");
    planted["tags"][TAG_MEMBER_ID] = serde_json::json!("m9");
    planted["private_ip"] = serde_json::json!("10.9.9.9");
    state["instances"]["planted-by-a-tool"] = planted;
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();

    let restarted = MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap();
    let found = restarted
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap();
    let planted = found
        .iter()
        .find(|i| i.instance_id == "planted-by-a-tool")
        .expect("the planted instance is seen at the next start");
    assert_eq!(planted.private_ips, vec!["10.9.9.9".to_string()]);
    assert_eq!(found.len(), 3, "{found:?}");
    // It is the member's instance: a start of m9 returns it instead of making another.
    let again = restarted
        .start_instance(&instance_spec("m9"))
        .await
        .unwrap();
    assert_eq!(again.instance_id, "planted-by-a-tool");
    restarted.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How far the snapshot may lag a change while the driver runs: the design's bound is about a
/// second (at most MAX_COMPACTION_DELAY between compactions, plus one compaction, a few
/// milliseconds at this size); the rest is room for a machine loaded by parallel builds. A
/// compactor starved by the stream of changes, or stopped, misses it.
const SNAPSHOT_LAG_BOUND: Duration = Duration::from_millis(2_000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_changes_keep_coming_the_snapshot_stays_about_a_second_behind() {
    let dir = temp_dir("lag");
    let path = dir.join("mock-mock.json");
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let mock = Arc::new(MockIaas::new(&provider(&[]), &ctx(bus, Some(dir.clone()))).unwrap());
    // Changes every 5 ms for the whole test, so there is always something to compact.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (mock, stop) = (mock.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let started = mock
                    .start_instance(&instance_spec(&format!("churn{n}")))
                    .await
                    .unwrap();
                if n % 2 == 1 {
                    mock.terminate_instance(&started.instance_id).await.unwrap();
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n
        })
    };
    let mut worst = Duration::ZERO;
    for round in 0..8 {
        let probe = mock
            .start_instance(&instance_spec(&format!("probe{round}")))
            .await
            .unwrap();
        let made = Instant::now();
        loop {
            let lag = made.elapsed();
            // The file is replaced by a rename, so every read is a whole snapshot.
            if read_json(&path)["instances"]
                .get(&probe.instance_id)
                .is_some()
            {
                worst = worst.max(lag);
                break;
            }
            assert!(
                lag < SNAPSHOT_LAG_BOUND,
                "round {round}: {} not in the snapshot after {lag:?}",
                probe.instance_id
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let churned = churn.await.unwrap();
    assert!(churned > 8, "the churn made changes throughout ({churned})");
    eprintln!("worst snapshot lag under churn: {worst:?}");
    mock.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
