//! Logins cheap to check and expensive to guess, on the real `alto dev`: a verified credential
//! is not verified again on every request, repeated failures earn a 429 with Retry-After, and
//! an unknown login costs what a wrong password costs.

mod common;

use common::*;
use reqwest::blocking::Client;
use std::time::{Duration, Instant};

fn get(client: &Client, url: &str, login: &str, password: &str) -> (u16, Option<String>, f64) {
    let started = Instant::now();
    let response = client
        .get(format!("{url}/api/clusters"))
        .basic_auth(login, Some(password))
        .timeout(Duration::from_secs(60))
        .send()
        .expect("GET /api/clusters");
    let took = started.elapsed().as_secs_f64();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.status().as_u16(), retry_after, took)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn logins_are_cached_throttled_and_unknown_ones_cost_the_same() {
    let dir = temp_dir("logins");
    let alto = Alto::start(&dir.join("data"), None);
    let client = Client::new();
    let url = alto.url.clone();

    // A wrong password and an unknown login take the same argon2 time (distinct logins, so
    // that no throttling applies yet). The two are interleaved and each side's fastest answer
    // compared, so that load from other processes on the machine weighs on both alike.
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..4 {
        wrong.push(get(&client, &url, "admin", "not-it").2);
        unknown.push(get(&client, &url, &format!("nobody{i}"), "not-it").2);
    }
    let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (wrong, unknown) = (fastest(&wrong), fastest(&unknown));
    assert!(
        unknown >= 0.5 * wrong,
        "an unknown login answers in {unknown:.4}s, a wrong password in {wrong:.4}s: logins can be enumerated"
    );

    // Verified once, a credential is then checked in microseconds, not an argon2 time.
    let (status, _, first) = get(&client, &url, "admin", ADMIN_PASSWORD);
    assert_eq!(status, 200);
    let cached: Vec<f64> = (0..20)
        .map(|_| {
            let (status, _, took) = get(&client, &url, "admin", ADMIN_PASSWORD);
            assert_eq!(status, 200);
            took
        })
        .collect();
    let cached = median(cached);
    assert!(
        cached < first / 5.0 && cached < wrong / 5.0,
        "a cached login took {cached:.4}s against {first:.4}s for the first and {wrong:.4}s for a wrong one"
    );

    // Failures of one login (its success above cleared the earlier three): past five, a 429
    // with Retry-After.
    let mut throttled = None;
    for _ in 0..8 {
        let (status, retry_after, _) = get(&client, &url, "admin", "still-not-it");
        match status {
            401 => {}
            429 => {
                throttled = retry_after;
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let retry_after = throttled.expect("repeated failures were never throttled");
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "{retry_after}"
    );
    // The owner's verified credential still passes (it is in the cache) ...
    assert_eq!(get(&client, &url, "admin", ADMIN_PASSWORD).0, 200);
    // ... and another login is not held up by this one's failures.
    let (status, _, _) = get(&client, &url, "someone-else", "x");
    assert_eq!(status, 401);
}
