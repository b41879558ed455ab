use super::*;
use crate::controller::test_support::member;
use iaas::{InstanceState, MANAGED_BY_VALUE, TAG_MANAGED_BY, TAG_MEMBER_ID};

fn instance(id: &str, member: Option<&str>) -> Instance {
    let mut tags = BTreeMap::new();
    tags.insert(TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
    if let Some(m) = member {
        tags.insert(TAG_MEMBER_ID.to_string(), m.to_string());
    }
    Instance {
        instance_id: id.into(),
        state: InstanceState::Running,
        private_ips: vec![],
        public_ips: vec![],
        tags,
        extra: BTreeMap::new(),
    }
}

fn kinds(actions: &[ReconcileAction]) -> Vec<(ActionKind, Option<&str>, Option<&str>)> {
    actions
        .iter()
        .map(|a| (a.action, a.instance_id.as_deref(), a.member_id.as_deref()))
        .collect()
}

fn run(
    instances: &[Instance],
    live: &[Member],
    terminated: &[(&str, bool)],
) -> Vec<ReconcileAction> {
    let terminated: HashMap<String, bool> = terminated
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    plan(
        "mock",
        instances,
        &RegistryView {
            live,
            terminated: &terminated,
        },
        &|_| false,
    )
}

#[test]
fn a_consistent_world_needs_nothing() {
    let live = [
        member("m1", MemberState::Active, Some("i1")),
        member("m2", MemberState::Initialized, Some("i2")),
    ];
    let found = [instance("i1", Some("m1")), instance("i2", Some("m2"))];
    assert!(run(&found, &live, &[]).is_empty());
}

#[test]
fn orphans_are_instances_nobody_owns() {
    let found = [
        instance("i1", Some("gone")),
        instance("i2", Some("dead")),
        instance("i3", None),
    ];
    let actions = run(&found, &[], &[("gone", false), ("dead", true)]);
    assert_eq!(
        kinds(&actions),
        vec![
            (ActionKind::TerminateOrphan, Some("i3"), None),
            (ActionKind::TerminateOrphan, Some("i2"), None),
            (ActionKind::TerminateOrphan, Some("i1"), None),
        ]
    );
    assert!(actions[1].reason.contains("Terminated"), "{:?}", actions[1]);
    assert!(actions[2].reason.contains("unknown"), "{:?}", actions[2]);
}

#[test]
fn a_created_member_without_instance_is_started_and_with_one_adopted() {
    let live = [
        member("m1", MemberState::Created, None),
        member("m2", MemberState::Created, None),
        member("m3", MemberState::Starting, None),
    ];
    let found = [instance("i2", Some("m2")), instance("i3", Some("m3"))];
    assert_eq!(
        kinds(&run(&found, &live, &[])),
        vec![
            (ActionKind::Adopt, Some("i2"), Some("m2")),
            (ActionKind::Adopt, Some("i3"), Some("m3")),
            (ActionKind::StartMissing, None, Some("m1")),
        ]
    );
}

#[test]
fn a_created_member_whose_instance_id_was_recorded_is_still_adopted() {
    // A crash between recording the instance id and the move to Initialized.
    let live = [member("m1", MemberState::Created, Some("i1"))];
    assert_eq!(
        kinds(&run(&[instance("i1", Some("m1"))], &live, &[])),
        vec![(ActionKind::Adopt, Some("i1"), Some("m1"))]
    );
}

#[test]
fn a_live_member_whose_instance_is_gone_vanished() {
    let live = [
        member("m1", MemberState::Active, Some("i1")),
        member("m2", MemberState::ReadyToShutDown, Some("i2")),
    ];
    let actions = run(&[], &live, &[]);
    assert_eq!(
        kinds(&actions),
        vec![(ActionKind::MarkVanished, Some("i1"), Some("m1"))],
        "a member already leaving is the actuator's"
    );
    assert_eq!(actions[0].reason, "instance vanished");
}

#[test]
fn a_second_instance_of_a_member_is_an_orphan() {
    let live = [member("m1", MemberState::Active, Some("i2"))];
    let found = [instance("i1", Some("m1")), instance("i2", Some("m1"))];
    assert_eq!(
        kinds(&run(&found, &live, &[])),
        vec![(ActionKind::TerminateOrphan, Some("i1"), None)],
        "the recorded instance is kept"
    );
}

#[test]
fn members_in_flight_are_left_alone() {
    let live = [
        member("m1", MemberState::Created, None),
        member("m2", MemberState::Active, Some("i2")),
    ];
    let terminated = HashMap::new();
    let actions = plan(
        "mock",
        &[],
        &RegistryView {
            live: &live,
            terminated: &terminated,
        },
        &|m| m.member_id == "m1" || m.member_id == "m2",
    );
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn the_report_speaks_the_documented_names() {
    let a = ReconcileAction {
        action: ActionKind::StartMissing,
        provider_type: "mock".into(),
        instance_id: None,
        member_id: Some("m".into()),
        reason: "r".into(),
    };
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["action"], "startMissing");
    assert_eq!(json["providerType"], "mock");
    assert!(json["instanceId"].is_null());
    assert_eq!(
        serde_json::to_value(ReconcileMode::Report).unwrap(),
        "report"
    );
    assert_eq!(kind_name(ActionKind::TerminateOrphan), "terminateOrphan");
    assert_eq!(kind_name(ActionKind::MarkVanished), "markVanished");
}
