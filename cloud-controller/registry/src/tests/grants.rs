//! Payload grants, on both backends.

use super::*;

on_both_backends! {
    payload_grant_is_single_use => sqlite_payload_grant_is_single_use, postgres_payload_grant_is_single_use;
    payload_grant_refuses_expired => sqlite_payload_grant_refuses_expired, postgres_payload_grant_refuses_expired;
    payload_grant_deletes => sqlite_payload_grant_deletes, postgres_payload_grant_deletes;
}

fn payload_grant_is_single_use(f: &mut Fixture) {
    let r = f.registry().clone();
    r.put_payload_grant("h1", "m1", "CARTRIDGE_KEY=s3cret", 2_000)
        .unwrap();
    assert_eq!(r.take_payload_grant("unknown", 0).unwrap(), None);
    assert_eq!(
        r.take_payload_grant("h1", 1_999).unwrap().as_deref(),
        Some("CARTRIDGE_KEY=s3cret")
    );
    assert_eq!(r.take_payload_grant("h1", 1_999).unwrap(), None);
    // The same hash again is refused, and the error does not carry the payload.
    r.put_payload_grant("h2", "m1", "CARTRIDGE_KEY=s3cret", 2_000)
        .unwrap();
    match r.put_payload_grant("h2", "m2", "CARTRIDGE_KEY=other", 9_000) {
        Err(e @ RegistryError::Conflict(_)) => assert!(!e.to_string().contains("s3cret"), "{e}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        r.take_payload_grant("h2", 0).unwrap().as_deref(),
        Some("CARTRIDGE_KEY=s3cret"),
        "the first grant was not overwritten"
    );
    // A grant survives a restart until it is taken.
    r.put_payload_grant("h3", "m3", "P3", 2_000).unwrap();
    drop(r);
    let r = f.reopen();
    assert_eq!(
        r.take_payload_grant("h3", 0).unwrap().as_deref(),
        Some("P3")
    );
    assert_eq!(r.take_payload_grant("h3", 0).unwrap(), None);
    // Racing takes: exactly one gets the payload.
    r.put_payload_grant("h4", "m4", "P4", 2_000).unwrap();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || r.take_payload_grant("h4", 0).unwrap())
        })
        .collect();
    let got: Vec<String> = racers
        .into_iter()
        .filter_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(got, ["P4"]);
}

fn payload_grant_refuses_expired(f: &mut Fixture) {
    let r = f.registry();
    r.put_payload_grant("h1", "m1", "P1", 2_000).unwrap();
    // `expires_at > now` is required: at the instant of expiry it is already gone.
    assert_eq!(r.take_payload_grant("h1", 2_000).unwrap(), None);
    // The expired take deleted it: an earlier clock cannot bring it back.
    assert_eq!(r.take_payload_grant("h1", 0).unwrap(), None);
    r.put_payload_grant("h2", "m1", "P2", 2_000).unwrap();
    assert_eq!(r.take_payload_grant("h2", 5_000).unwrap(), None);
    assert_eq!(r.take_payload_grant("h2", 0).unwrap(), None);
}

fn payload_grant_deletes(f: &mut Fixture) {
    let r = f.registry();
    r.put_payload_grant("a1", "m-a", "A1", 100).unwrap();
    r.put_payload_grant("a2", "m-a", "A2", 300).unwrap();
    r.put_payload_grant("b1", "m-b", "B1", 200).unwrap();
    r.put_payload_grant("c1", "m-c", "C1", 300).unwrap();
    assert_eq!(r.delete_payload_grants("m-a").unwrap(), 2);
    assert_eq!(r.delete_payload_grants("m-a").unwrap(), 0);
    assert_eq!(r.take_payload_grant("a2", 0).unwrap(), None);
    r.put_payload_grant("d1", "m-d", "D1", 100).unwrap();
    // Expired means `expires_at <= now`, the same line take_payload_grant draws.
    assert_eq!(r.delete_expired_payload_grants(200).unwrap(), 2);
    assert_eq!(r.delete_expired_payload_grants(200).unwrap(), 0);
    assert_eq!(r.take_payload_grant("b1", 0).unwrap(), None);
    assert_eq!(r.take_payload_grant("d1", 0).unwrap(), None);
    assert_eq!(
        r.take_payload_grant("c1", 250).unwrap().as_deref(),
        Some("C1")
    );
}
