//! Keyset pages and member counts, on both backends.

use super::*;

on_both_backends! {
    member_pages_walk_every_member_once => sqlite_member_pages_walk_every_member_once, postgres_member_pages_walk_every_member_once;
    member_pages_skip_terminated_when_asked => sqlite_member_pages_skip_terminated_when_asked, postgres_member_pages_skip_terminated_when_asked;
    member_counts_by_state => sqlite_member_counts_by_state, postgres_member_counts_by_state;
    cluster_and_subscription_pages => sqlite_cluster_and_subscription_pages, postgres_cluster_and_subscription_pages;
    decision_pages => sqlite_decision_pages, postgres_decision_pages;
}

/// Every page of a cluster's members, following `next` (bounded, so a loop fails the test).
fn all_member_pages(
    r: &Registry,
    cluster: &str,
    include_terminated: bool,
    limit: usize,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<MemberKey> = None;
    for _ in 0..100 {
        let page = r
            .members_page(cluster, include_terminated, after.as_ref(), limit)
            .unwrap();
        pages.push(page.items.iter().map(|m| m.member_id.clone()).collect());
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
    panic!("more than 100 pages of members in {cluster}");
}

fn member_pages_walk_every_member_once(f: &mut Fixture) {
    let r = f.registry();
    // Inserted within the same milliseconds mostly: ties on created_at are broken by id.
    let mut ids: Vec<String> = (0..23).map(|i| format!("m{i:02}")).collect();
    for id in &ids {
        r.insert_member(None, new_member(id, "c1")).unwrap();
    }
    r.insert_member(None, new_member("other", "c2")).unwrap();
    let listed: Vec<String> = r
        .list_members("c1", true)
        .unwrap()
        .into_iter()
        .map(|m| m.member_id)
        .collect();
    let pages = all_member_pages(r, "c1", true, 5);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [5, 5, 5, 5, 3]
    );
    assert_eq!(pages.concat(), listed, "pages follow the unpaged order");
    ids.sort();
    let mut seen = pages.concat();
    seen.sort();
    assert_eq!(seen, ids, "every member once, none of another cluster");
    // A page exactly as long as what is left says there is no next one.
    let exact = r.members_page("c1", true, None, 23).unwrap();
    assert_eq!((exact.items.len(), exact.next), (23, None));
    // A member added after the last key shows on the next page, not before it.
    let first = r.members_page("c1", true, None, 20).unwrap();
    let after = first.next.clone().expect("a next page");
    std::thread::sleep(std::time::Duration::from_millis(2));
    r.insert_member(None, new_member("m99", "c1")).unwrap();
    let rest = r.members_page("c1", true, Some(&after), 20).unwrap();
    assert_eq!(rest.items.last().map(|m| m.member_id.as_str()), Some("m99"));
    assert_eq!(rest.items.len(), 4);
}

fn member_pages_skip_terminated_when_asked(f: &mut Fixture) {
    let r = f.registry();
    for id in ["a", "b", "c", "d"] {
        r.insert_member(None, new_member(id, "c1")).unwrap();
    }
    walk(r, "b", &[Terminated]);
    assert_eq!(
        all_member_pages(r, "c1", false, 2).concat(),
        ["a", "c", "d"]
    );
    assert_eq!(all_member_pages(r, "c1", true, 2).len(), 2);
}

fn member_counts_by_state(f: &mut Fixture) {
    let r = f.registry();
    for id in ["a", "b", "c", "d"] {
        r.insert_member(None, new_member(id, "c1")).unwrap();
    }
    r.insert_member(None, new_member("e", "c2")).unwrap();
    walk(r, "a", &[Initialized, Starting, Active]);
    walk(r, "b", &[Initialized, Starting, Active]);
    walk(r, "c", &[Terminated]);
    let counts = r
        .member_counts(&["c1".to_string(), "c2".to_string(), "none".to_string()])
        .unwrap();
    assert_eq!(
        counts.get("c1"),
        Some(&BTreeMap::from([
            (Created, 1),
            (Active, 2),
            (Terminated, 1)
        ]))
    );
    assert_eq!(counts.get("c2"), Some(&BTreeMap::from([(Created, 1)])));
    assert_eq!(counts.get("none"), None);
    // More ids than one statement binds are counted in chunks.
    let many: Vec<String> = (0..1200)
        .map(|i| format!("x{i}"))
        .chain(["c1".to_string()])
        .collect();
    assert_eq!(r.member_counts(&many).unwrap().len(), 1);
}

fn cluster_and_subscription_pages(f: &mut Fixture) {
    let r = f.registry();
    for alias in ["a1", "a2", "a3", "a4", "a5"] {
        let (s, c) = new_sub(1, alias);
        r.create_subscription(s, c).unwrap();
    }
    let (s, c) = new_sub(2, "b1");
    r.create_subscription(s, c).unwrap();
    r.set_cluster_status("a3.php.domain", ClusterStatus::Removed)
        .unwrap();

    let first = r.clusters_page(Some(1), false, None, 2).unwrap();
    let ids: Vec<&str> = first.items.iter().map(|c| c.cluster_id.as_str()).collect();
    assert_eq!(ids, ["a1.php.domain", "a2.php.domain"]);
    let second = r
        .clusters_page(Some(1), false, first.next.as_deref(), 2)
        .unwrap();
    let ids: Vec<&str> = second.items.iter().map(|c| c.cluster_id.as_str()).collect();
    assert_eq!(
        ids,
        ["a4.php.domain", "a5.php.domain"],
        "the removed one is skipped"
    );
    assert_eq!(second.next, None);
    assert_eq!(
        r.clusters_page(None, true, None, 10).unwrap().items.len(),
        6
    );

    let first = r.subscriptions_page(Some(1), None, 3).unwrap();
    let aliases: Vec<&str> = first.items.iter().map(|s| s.alias.as_str()).collect();
    assert_eq!(aliases, ["a1", "a2", "a3"]);
    let second = r.subscriptions_page(Some(1), first.next, 3).unwrap();
    let aliases: Vec<&str> = second.items.iter().map(|s| s.alias.as_str()).collect();
    assert_eq!(aliases, ["a4", "a5"]);
    assert_eq!(second.next, None);
    let all = r.subscriptions_page(None, None, 100).unwrap();
    assert_eq!((all.items.len(), all.next), (6, None));
}

fn decision_pages(f: &mut Fixture) {
    let r = f.registry();
    for n in 1..=7 {
        r.append_decision("c1", &format!("{{\"n\":{n}}}"), 5)
            .unwrap();
    }
    let first = r.decisions_page("c1", None, 3).unwrap();
    let seqs: Vec<i64> = first.items.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, [3, 4, 5], "the kept records, oldest first");
    let second = r.decisions_page("c1", first.next, 3).unwrap();
    let seqs: Vec<i64> = second.items.iter().map(|d| d.seq).collect();
    assert_eq!((seqs, second.next), (vec![6, 7], None));
    assert!(r.decisions_page("c2", None, 3).unwrap().items.is_empty());
}
