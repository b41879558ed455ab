//! Decision records, on both backends.

use super::*;

on_both_backends! {
    decisions_keep_newest_in_order => sqlite_decisions_keep_newest_in_order, postgres_decisions_keep_newest_in_order;
    decisions_survive_reopen => sqlite_decisions_survive_reopen, postgres_decisions_survive_reopen;
    concurrent_decision_appends => sqlite_concurrent_decision_appends, postgres_concurrent_decision_appends;
}

fn seqs_and_bodies(r: &Registry, cluster: &str) -> Vec<(i64, String)> {
    r.list_decisions(cluster)
        .unwrap()
        .into_iter()
        .map(|d| (d.seq, d.body))
        .collect()
}

fn expected(seqs: std::ops::RangeInclusive<i64>) -> Vec<(i64, String)> {
    seqs.map(|n| (n, format!("{{\"n\":{n}}}"))).collect()
}

fn decisions_keep_newest_in_order(f: &mut Fixture) {
    let r = f.registry();
    assert!(r.list_decisions("c1").unwrap().is_empty());
    for n in 1..=5 {
        r.append_decision("c1", &format!("{{\"n\":{n}}}"), 3)
            .unwrap();
    }
    assert_eq!(seqs_and_bodies(r, "c1"), expected(3..=5));
    let stored = r.list_decisions("c1").unwrap();
    assert!(stored
        .windows(2)
        .all(|w| w[0].recorded_at <= w[1].recorded_at));
    // Another cluster has its own sequence and is not trimmed by c1's appends.
    for n in 1..=2 {
        r.append_decision("c2", &format!("{{\"n\":{n}}}"), 3)
            .unwrap();
    }
    r.append_decision("c1", "{\"n\":6}", 3).unwrap();
    assert_eq!(seqs_and_bodies(r, "c2"), expected(1..=2));
    assert_eq!(seqs_and_bodies(r, "c1"), expected(4..=6));
    // A smaller keep trims to it; a larger one keeps everything appended since.
    r.append_decision("c1", "{\"n\":7}", 1).unwrap();
    assert_eq!(seqs_and_bodies(r, "c1"), expected(7..=7));
    for n in 8..=9 {
        r.append_decision("c1", &format!("{{\"n\":{n}}}"), 100)
            .unwrap();
    }
    assert_eq!(seqs_and_bodies(r, "c1"), expected(7..=9));
    assert_eq!(r.delete_decisions("c1").unwrap(), 3);
    assert_eq!(r.delete_decisions("c1").unwrap(), 0);
    assert!(r.list_decisions("c1").unwrap().is_empty());
    r.append_decision("c1", "{\"n\":1}", 3).unwrap();
    assert_eq!(
        seqs_and_bodies(r, "c1"),
        expected(1..=1),
        "seq restarts at 1"
    );
    assert_eq!(seqs_and_bodies(r, "c2"), expected(1..=2));
}

fn decisions_survive_reopen(f: &mut Fixture) {
    for n in 1..=4 {
        f.registry()
            .append_decision("c1", &format!("{{\"n\":{n}}}"), 3)
            .unwrap();
    }
    let r = f.reopen();
    assert_eq!(seqs_and_bodies(&r, "c1"), expected(2..=4));
    r.append_decision("c1", "{\"n\":5}", 3).unwrap();
    assert_eq!(seqs_and_bodies(&r, "c1"), expected(3..=5));
}

/// Parallel appends to one cluster get distinct consecutive seqs, none lost.
fn concurrent_decision_appends(f: &mut Fixture) {
    let r = f.registry().clone();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    r.append_decision("c1", &format!("{t}-{i}"), 100).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stored = r.list_decisions("c1").unwrap();
    let seqs: Vec<i64> = stored.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
    let mut bodies: Vec<String> = stored.into_iter().map(|d| d.body).collect();
    bodies.sort();
    let mut want: Vec<String> = (0..4)
        .flat_map(|t| (0..5).map(move |i| format!("{t}-{i}")))
        .collect();
    want.sort();
    assert_eq!(bodies, want);
}
