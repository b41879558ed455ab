//! The leader lease and fenced writes, on both backends.

use super::*;
use std::time::{Duration, Instant};

on_both_backends! {
    lease_claim_renew_and_refuse => sqlite_lease_claim_renew_and_refuse, postgres_lease_claim_renew_and_refuse;
    expired_lease_moves_on_and_fences_the_old_term => sqlite_expired_lease_moves_on_and_fences_the_old_term, postgres_expired_lease_moves_on_and_fences_the_old_term;
    released_lease_is_free_at_once => sqlite_released_lease_is_free_at_once, postgres_released_lease_is_free_at_once;
    concurrent_claims_elect_one => sqlite_concurrent_claims_elect_one, postgres_concurrent_claims_elect_one;
    reports_are_replaced => sqlite_reports_are_replaced, postgres_reports_are_replaced;
    report_if_absent_keeps_the_first => sqlite_report_if_absent_keeps_the_first, postgres_report_if_absent_keeps_the_first;
}

const LONG: i64 = 60_000;

fn fence(lease: &Lease) -> Fence {
    Fence {
        holder: lease.holder.clone(),
        token: lease.fencing_token,
    }
}

fn lease_claim_renew_and_refuse(f: &mut Fixture) {
    let r = f.registry();
    assert!(
        !r.read_lease().unwrap().is_held(),
        "a new registry has no leader"
    );
    let a = r.claim_lease("a", "p1", LONG, false).unwrap();
    assert!(a.is_held_by("a"));
    assert_eq!(a.fencing_token, 1);
    assert!(a.expires_at_ms >= a.now_ms + LONG);
    // Someone else's claim loses while the lease holds.
    let b = r.claim_lease("b", "p1", LONG, false).unwrap();
    assert_eq!(b.holder, "a");
    assert_eq!(b.fencing_token, 1);
    // Renewing keeps the term and its token, and moves the expiry on.
    let renewed = r.claim_lease("a", "p1", LONG, false).unwrap();
    assert_eq!((renewed.holder.as_str(), renewed.fencing_token), ("a", 1));
    assert_eq!(renewed.since_ms, a.since_ms);
    assert!(renewed.expires_at_ms >= a.expires_at_ms);
    assert!(r.claim_lease("", "p1", LONG, false).is_err());
    // The same replica id in another process (a restart, or a copied configuration) is not
    // the holder: it waits for the lease like anyone else.
    let twin = r.claim_lease("a", "p2", LONG, false).unwrap();
    assert_eq!((twin.incarnation.as_str(), twin.fencing_token), ("p1", 1));
    // A takeover (SQLite's restart of the one process) starts a new term at once.
    let taken = r.claim_lease("a2", "p1", LONG, true).unwrap();
    assert_eq!((taken.holder.as_str(), taken.fencing_token), ("a2", 2));
    assert!(matches!(
        r.check_fence(&fence(&a)),
        Err(RegistryError::Fenced { token: 1, .. })
    ));
}

/// Claim for `holder` until it wins (the current lease has to run out).
fn claim_when_free(r: &Registry, holder: &str) -> Lease {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lease = r.claim_lease(holder, "p1", LONG, false).unwrap();
        if lease.holder == holder {
            return lease;
        }
        assert!(
            Instant::now() < deadline,
            "{holder} never got the lease: {lease:?}"
        );
        std::thread::yield_now();
    }
}

fn expired_lease_moves_on_and_fences_the_old_term(f: &mut Fixture) {
    let r = f.registry();
    let (sub, cluster) = new_sub(1, "shop");
    r.create_subscription(sub, cluster.clone()).unwrap();
    let a = r.claim_lease("a", "p1", 200, false).unwrap();
    let old = fence(&a);
    let m = r
        .insert_member(Some(&old), new_member("m1", &cluster.cluster_id))
        .unwrap();
    assert_eq!(m.state, Created);
    assert_eq!(r.member_action_token("m1").unwrap(), Some(1));

    let started = Instant::now();
    let b = claim_when_free(r, "b");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(b.fencing_token, 2, "a new term gets the next token");
    assert!(
        b.since_ms >= a.expires_at_ms,
        "{b:?} began before {a:?} ran out"
    );

    // The old term can record nothing any more.
    let fenced = |e: RegistryError| matches!(e, RegistryError::Fenced { ref holder, token: 1 } if holder == "a");
    assert!(fenced(r.check_fence(&old).unwrap_err()));
    assert!(fenced(r.record_cloud_action(&old, "m1").unwrap_err()));
    assert!(fenced(
        r.insert_member(Some(&old), new_member("m2", &cluster.cluster_id))
            .unwrap_err()
    ));
    assert!(
        r.get_member("m2").unwrap().is_none(),
        "a fenced insert left a row"
    );
    assert_eq!(r.member_action_token("m1").unwrap(), Some(1));
    // Nor may it renew into the new term.
    let again = r.claim_lease("a", "p1", LONG, false).unwrap();
    assert_eq!((again.holder.as_str(), again.fencing_token), ("b", 2));

    // The new term acts.
    r.record_cloud_action(&fence(&b), "m1").unwrap();
    assert_eq!(r.member_action_token("m1").unwrap(), Some(2));
    assert!(matches!(
        r.record_cloud_action(&fence(&b), "nobody"),
        Err(RegistryError::NotFound(_))
    ));
    // An agent's own request needs no fence; the first reason stays.
    let moved = r
        .request_termination(None, "m1", "agent ready to shut down")
        .unwrap();
    assert!(matches!(moved, Transition::Moved { from: Created, .. }));
    let again = r
        .request_termination(Some(&fence(&b)), "m1", "scaled down")
        .unwrap();
    assert!(
        matches!(again, Transition::Unchanged(ref m) if m.termination_reason.as_deref() == Some("agent ready to shut down"))
    );
    // A token is never reused: the next term after b's is 3, even for a returning holder.
    assert!(r.release_lease(&fence(&b)).unwrap());
    let a_again = claim_when_free(r, "a");
    assert_eq!(a_again.fencing_token, 3);
    // The lease outlives a reopen (a restarted replica sees the same term).
    let r = f.reopen();
    assert_eq!(r.read_lease().unwrap().fencing_token, 3);
}

fn released_lease_is_free_at_once(f: &mut Fixture) {
    let r = f.registry();
    let a = r.claim_lease("a", "p1", LONG, false).unwrap();
    assert!(!r
        .release_lease(&Fence {
            holder: "b".into(),
            token: 1
        })
        .unwrap());
    assert!(r.read_lease().unwrap().is_held_by("a"));
    assert!(r.release_lease(&fence(&a)).unwrap());
    assert!(!r.release_lease(&fence(&a)).unwrap(), "released twice");
    let b = r.claim_lease("b", "p1", LONG, false).unwrap();
    assert_eq!((b.holder.as_str(), b.fencing_token), ("b", 2));
}

fn concurrent_claims_elect_one(f: &mut Fixture) {
    let r = f.registry().clone();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let (r, barrier) = (r.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                r.claim_lease(&format!("replica-{i}"), "p1", LONG, false)
            })
        })
        .collect();
    let leases: Vec<Lease> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    let winner = &leases[0].holder;
    assert!(
        leases
            .iter()
            .all(|l| &l.holder == winner && l.fencing_token == 1),
        "every claimer must see the same single winner: {leases:?}"
    );
}

fn reports_are_replaced(f: &mut Fixture) {
    let r = f.registry();
    assert_eq!(r.get_report("reconcile").unwrap(), None);
    r.put_report("reconcile", "{\"a\":1}").unwrap();
    r.put_report("reconcile", "{\"a\":2}").unwrap();
    assert_eq!(
        r.get_report("reconcile").unwrap().as_deref(),
        Some("{\"a\":2}")
    );
}

fn report_if_absent_keeps_the_first(f: &mut Fixture) {
    let r = f.registry();
    assert_eq!(r.put_report_if_absent("key", "first").unwrap(), "first");
    assert_eq!(r.put_report_if_absent("key", "second").unwrap(), "first");
    assert_eq!(r.get_report("key").unwrap().as_deref(), Some("first"));
}
