//! Group commit: batched inserts and writes, each caller with its own outcome, on both
//! backends.

use super::*;

on_both_backends! {
    batched_insert_reports_each_row => sqlite_batched_insert_reports_each_row, postgres_batched_insert_reports_each_row;
    batched_insert_is_fenced => sqlite_batched_insert_is_fenced, postgres_batched_insert_is_fenced;
    batched_insert_spans_statements => sqlite_batched_insert_spans_statements, postgres_batched_insert_spans_statements;
    batched_writes_report_each_write => sqlite_batched_writes_report_each_write, postgres_batched_writes_report_each_write;
    batched_cloud_actions_are_fenced => sqlite_batched_cloud_actions_are_fenced, postgres_batched_cloud_actions_are_fenced;
    concurrent_batches_move_each_member_once => sqlite_concurrent_batches_move_each_member_once, postgres_concurrent_batches_move_each_member_once;
}

fn lead(r: &Registry, holder: &str) -> Fence {
    let lease = r.claim_lease(holder, "p1", 60_000, true).unwrap();
    Fence {
        holder: lease.holder,
        token: lease.fencing_token,
    }
}

fn transition(id: &str, to: MemberState) -> MemberWrite {
    MemberWrite::Transition {
        member_id: id.into(),
        to,
    }
}

fn batched_insert_reports_each_row(f: &mut Fixture) {
    let r = f.registry();
    let fence = lead(r, "a");
    r.insert_member(None, new_member("m1", "c1")).unwrap();
    let outcomes = r
        .insert_members(
            Some(&fence),
            vec![
                new_member("m0", "c1"),
                new_member("m1", "c1"),
                new_member("m2", "c1"),
                new_member("m2", "c1"),
            ],
        )
        .unwrap();
    assert_eq!(outcomes.len(), 4);
    let m0 = outcomes[0].as_ref().unwrap();
    assert_eq!((m0.member_id.as_str(), m0.state), ("m0", Created));
    assert!(matches!(&outcomes[1], Err(RegistryError::Conflict(m)) if m.contains("m1")));
    assert!(outcomes[2].is_ok());
    assert!(matches!(&outcomes[3], Err(RegistryError::Conflict(m)) if m.contains("m2")));
    let live = r.list_members("c1", false).unwrap();
    assert_eq!(live.len(), 3);
    // The intent carries the term's token, as a single insert's does.
    assert_eq!(r.member_action_token("m0").unwrap(), Some(fence.token));
    assert_eq!(r.member_action_token("m1").unwrap(), None);
}

fn batched_insert_is_fenced(f: &mut Fixture) {
    let r = f.registry();
    let old = lead(r, "a");
    let _new = lead(r, "b");
    // More rows than one statement carries: the fence is checked once for all of them.
    let refused = r.insert_members(
        Some(&old),
        (0..1_500)
            .map(|i| new_member(&format!("m{i:04}"), "c1"))
            .collect(),
    );
    assert!(
        matches!(refused, Err(RegistryError::Fenced { .. })),
        "{refused:?}"
    );
    assert!(
        r.list_members("c1", true).unwrap().is_empty(),
        "nothing of a fenced batch is written"
    );
}

fn batched_insert_spans_statements(f: &mut Fixture) {
    let r = f.registry();
    let members: Vec<NewMember> = (0..2_345)
        .map(|i| new_member(&format!("m{i:05}"), "c1"))
        .collect();
    let outcomes = r.insert_members(None, members).unwrap();
    assert!(outcomes.iter().all(|o| o.is_ok()));
    assert_eq!(r.list_members("c1", false).unwrap().len(), 2_345);
    let ids: Vec<String> = (0..2_345).map(|i| format!("m{i:05}")).collect();
    let writes: Vec<MemberWrite> = ids.iter().map(|id| transition(id, Initialized)).collect();
    let moved = r.apply_member_writes(&writes).unwrap();
    assert!(moved
        .iter()
        .all(|o| matches!(o, Ok(Transition::Moved { from: Created, .. }))));
    assert_eq!(r.list_members_in_state(Initialized).unwrap().len(), 2_345);
    assert_eq!(r.get_members(&ids).unwrap().len(), 2_345);
}

fn batched_writes_report_each_write(f: &mut Fixture) {
    let r = f.registry();
    for id in ["m1", "m2", "m3", "m4"] {
        r.insert_member(None, new_member(id, "c1")).unwrap();
    }
    walk(r, "m4", &[Initialized, Starting, Active]);
    let writes = vec![
        MemberWrite::Instance(MemberInstance {
            member_id: "m1".into(),
            instance_id: "i-1".into(),
            private_ips: vec!["10.0.0.1".into()],
            public_ips: vec![],
        }),
        // The same member's next write sees the first.
        transition("m1", Starting),
        // Created cannot become Active directly.
        transition("m2", Active),
        transition("nobody", Active),
        // A duplicate.
        transition("m4", Active),
        transition("m3", Terminated),
        // An instance for a member already past Initialized is recorded, the state kept.
        MemberWrite::Instance(MemberInstance {
            member_id: "m4".into(),
            instance_id: "i-4".into(),
            private_ips: vec![],
            public_ips: vec!["20.0.0.4".into()],
        }),
    ];
    let outcomes = r.apply_member_writes(&writes).unwrap();
    assert_eq!(outcomes.len(), writes.len());
    match &outcomes[0] {
        Ok(Transition::Moved {
            from: Created,
            member,
        }) => {
            assert_eq!(member.state, Initialized);
            assert_eq!(member.instance_id.as_deref(), Some("i-1"));
            assert!(member.initialized_at.is_some());
        }
        other => panic!("m1's instance: {other:?}"),
    }
    match &outcomes[1] {
        Ok(Transition::Moved {
            from: Initialized,
            member,
        }) => {
            assert_eq!(member.state, Starting);
            assert!(member.started_at.is_some());
        }
        other => panic!("m1 to Starting: {other:?}"),
    }
    assert!(
        matches!(&outcomes[2], Err(RegistryError::IllegalTransition { member_id, .. }) if member_id == "m2"),
        "{:?}",
        outcomes[2]
    );
    assert!(matches!(&outcomes[3], Err(RegistryError::NotFound(_))));
    assert!(matches!(&outcomes[4], Ok(Transition::Unchanged(m)) if m.state == Active));
    assert!(
        matches!(&outcomes[5], Ok(Transition::Moved { from: Created, member }) if member.terminated_at.is_some())
    );
    assert!(
        matches!(&outcomes[6], Err(RegistryError::IllegalTransition { .. })),
        "{:?}",
        outcomes[6]
    );
    // What each outcome says is what is stored.
    let m1 = r.get_member("m1").unwrap().unwrap();
    assert_eq!(
        (m1.state, m1.instance_id.as_deref()),
        (Starting, Some("i-1"))
    );
    assert_eq!(m1.private_ips, vec!["10.0.0.1".to_string()]);
    assert_eq!(r.get_member("m2").unwrap().unwrap().state, Created);
    let m4 = r.get_member("m4").unwrap().unwrap();
    assert_eq!((m4.state, m4.instance_id.as_deref()), (Active, Some("i-4")));
}

fn batched_cloud_actions_are_fenced(f: &mut Fixture) {
    let r = f.registry();
    let old = lead(r, "a");
    r.insert_members(None, vec![new_member("m1", "c1"), new_member("m2", "c1")])
        .unwrap();
    let ids = vec!["m1".to_string(), "nobody".to_string(), "m2".to_string()];
    let outcomes = r.record_cloud_actions(&old, &ids).unwrap();
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
    assert!(matches!(&outcomes[1], Err(RegistryError::NotFound(_))));
    assert_eq!(r.member_action_token("m2").unwrap(), Some(old.token));
    let new = lead(r, "b");
    assert!(matches!(
        r.record_cloud_actions(&old, &ids),
        Err(RegistryError::Fenced { .. })
    ));
    // Refused as a whole: no member of the stale batch carries anything of it.
    assert_eq!(r.member_action_token("m1").unwrap(), Some(old.token));
    assert_eq!(r.member_action_token("m2").unwrap(), Some(old.token));
    r.record_cloud_actions(&new, &ids[..1]).unwrap();
    assert_eq!(r.member_action_token("m2").unwrap(), Some(old.token));
    assert_eq!(r.member_action_token("m1").unwrap(), Some(new.token));
}

/// Two writers batching the same moves: each member moves once, the other writer sees it
/// unchanged (compare-and-set holds across batches, and across connections on PostgreSQL).
fn concurrent_batches_move_each_member_once(f: &mut Fixture) {
    let r = f.registry().clone();
    let ids: Vec<String> = (0..300).map(|i| format!("m{i:03}")).collect();
    r.insert_members(None, ids.iter().map(|id| new_member(id, "c1")).collect())
        .unwrap();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (r, ids) = (r.clone(), ids.clone());
            std::thread::spawn(move || {
                let mut moved = 0;
                // Opposite orders, in batches of 50, so the writers overlap.
                let mut order = ids.clone();
                if w == 1 {
                    order.reverse();
                }
                for chunk in order.chunks(50) {
                    let writes: Vec<MemberWrite> =
                        chunk.iter().map(|id| transition(id, Initialized)).collect();
                    for outcome in r.apply_member_writes(&writes).unwrap() {
                        match outcome.unwrap() {
                            Transition::Moved { .. } => moved += 1,
                            Transition::Unchanged(m) => assert_eq!(m.state, Initialized),
                        }
                    }
                }
                moved
            })
        })
        .collect();
    let moved: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(moved, 300, "every member moved exactly once");
    assert_eq!(r.list_members_in_state(Initialized).unwrap().len(), 300);
}
