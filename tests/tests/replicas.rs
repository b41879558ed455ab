//! The fault-injection suite: three `alto serve` replicas on one PostgreSQL and one RabbitMQ,
//! sharing one `alto mock-cloud` process, as an installation runs them.
//!
//! - `kill -9` of the leader five times during a 200-member scale-up: a new leader within two
//!   leases each time; at the end no orphan, no duplicate instance, the cluster at its size;
//! - the leader stopped (SIGSTOP) past its lease and woken up: it makes no cloud call and steps
//!   down;
//! - RabbitMQ stopped and started again mid-run (a broker node of the test's own): no lifecycle
//!   event lost;
//! - PostgreSQL restarted under load (a database cluster of the test's own): the replicas
//!   reconnect, clients see nothing worse than a 503, no member row corrupted or doubled;
//! - a cloud failing 20 % of starts and one partition out of quota: the cluster converges on
//!   the other partition, never above its maximum, and the failing partition is backed off.
//!
//! Figures printed here (`replicas:` lines) are the ones in docs/RELIABILITY.md.

mod common;

use common::replicas::*;
use common::services::{OwnBroker, OwnPostgres};
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The leader lease of these tests: short, so that five takeovers fit in a bounded test.
const LEASE: Duration = Duration::from_secs(2);

/// One partition of the test's deployment policy: id, min, max, partition properties.
type PartitionSpec<'a> = (&'a str, usize, usize, &'a [(&'a str, &'a str)]);

/// A conf whose `mock` provider is the shared mock cloud at `endpoint`, one cartridge `web`
/// and the deployment policy `dp` over `partitions`.
fn conf(
    dir: &Path,
    endpoint: &str,
    provider: &[(&str, &str)],
    partitions: &[PartitionSpec],
) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: String| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        format!(
            "<cloudController><iaasProviders>{}</iaasProviders></cloudController>",
            remote_mock_provider("mock", endpoint, provider)
        ),
    );
    write("cartridge.xml", web_cartridge(&["mock"]));
    write("autoscale.xml", STEADY_POLICY.into());
    let partitions: String = partitions
        .iter()
        .map(|(id, min, max, props)| {
            let props: String = props
                .iter()
                .map(|(k, v)| format!(r#"<property name="{k}" value="{v}"/>"#))
                .collect();
            format!(
                r#"<partition id="{id}"><provider>mock</provider>{props}<min>{min}</min><max>{max}</max></partition>"#
            )
        })
        .collect();
    write(
        "deployment.xml",
        format!(
            r#"<deploymentPolicy id="dp"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>{partitions}
</partitionGroup></deploymentPolicy>"#
        ),
    );
    conf
}

/// Provider properties of a cloud that takes its time: 300 ms per start, agents quick.
const STEADY_CLOUD: &[(&str, &str)] = &[
    ("mock.start.latency.ms", "300"),
    ("mock.agent.delay.ms", "20"),
    ("mock.stats.interval.secs", "2"),
    ("max.iaas.workers", "64"),
    ("max.starts.per.second", "40"),
];

/// `base` with the `changes` replacing (or adding to) its properties.
fn with<'a>(
    base: &[(&'a str, &'a str)],
    changes: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    base.iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .chain(changes)
        .copied()
        .collect()
}

fn subscribe(api: &Api, alias: &str) -> String {
    api.subscribe("web", alias, "steady", "dp")
}

/// The cluster's members as the registry has them: member id → (state, partition, instance).
fn members(api: &Api, cluster_id: &str) -> BTreeMap<String, (String, String, String)> {
    let (status, body) = api.get(&cluster_path(cluster_id));
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or("").to_string();
            (
                s("memberId"),
                (s("state"), s("partitionId"), s("instanceId")),
            )
        })
        .collect()
}

fn converge(replicas: &Replicas, cluster_id: &str, n: usize, within: Duration) -> f64 {
    replicas.admin().wait_converged(cluster_id, n, within)
}

/// Registry and cloud agree: every live member runs on exactly one instance, its recorded
/// one, and no instance of the cluster belongs to no live member. Returns the live count.
fn assert_no_orphan_or_duplicate(api: &Api, cloud: &MockCloud, cluster_id: &str) -> usize {
    let members = members(api, cluster_id);
    let live: BTreeMap<&String, &(String, String, String)> = members
        .iter()
        .filter(|(_, (state, _, _))| state != "Terminated")
        .collect();
    let mut per_member: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (instance, member) in cloud.instances("mock") {
        per_member.entry(member).or_default().push(instance);
    }
    let orphans: Vec<_> = per_member
        .iter()
        .filter(|(m, _)| m.starts_with(cluster_id) && !live.contains_key(m))
        .collect();
    assert!(orphans.is_empty(), "orphan instances: {orphans:?}");
    let duplicates: Vec<_> = per_member.iter().filter(|(_, i)| i.len() > 1).collect();
    assert!(duplicates.is_empty(), "duplicate instances: {duplicates:?}");
    for (member, (_, _, instance)) in &live {
        assert_eq!(
            per_member.get(member.as_str()),
            Some(&vec![instance.clone()]),
            "member {member}'s recorded instance {instance} is not the one the cloud runs"
        );
    }
    live.len()
}

fn random_below(limit: u64) -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    RandomState::new().build_hasher().finish() % limit.max(1)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[test]
fn killing_the_leader_five_times_during_a_scale_up_loses_and_doubles_nothing() {
    const MEMBERS: usize = 200;
    const KILLS: usize = 5;
    let dir = temp_dir("replicas-kill");
    let prefix = queue_prefix("replicas-kill");
    let cloud = MockCloud::start(&dir.join("cloud"), &amqp_url(), &prefix);
    // 15 starts a second: the scale-up lasts longer than the five kills.
    let conf = conf(
        &dir,
        &cloud.url,
        &with(STEADY_CLOUD, &[("max.starts.per.second", "15")]),
        &[("p1", MEMBERS, MEMBERS, &[])],
    );
    let database = fresh_postgres_database("replicas_kill");
    let mut replicas = Replicas::start(3, &dir, &conf, &database, &amqp_url(), &prefix, LEASE);
    let (_, mut token, _) = replicas.wait_leader(0, 4 * LEASE);
    let cluster_id = subscribe(&replicas.admin(), "big");

    let mut takeovers = Vec::new();
    let mut during = 0;
    for kill in 0..KILLS {
        // A random moment of the scale-up (200 starts at 15/s, 300 ms each, slowed by every
        // takeover).
        std::thread::sleep(Duration::from_millis(300 + random_below(1200)));
        let (leader, current, _) = replicas.wait_leader(token - 1, 4 * LEASE);
        let active = members(&replicas.admin(), &cluster_id)
            .values()
            .filter(|m| m.0 == "Active")
            .count();
        if active < MEMBERS {
            during += 1;
        }
        let killed_at = Instant::now();
        replicas.kill9(leader);
        let (next, next_token, seen) = replicas.wait_leader(current, 2 * LEASE + LEASE / 2);
        let took = seen.duration_since(killed_at).as_secs_f64();
        println!(
            "replicas: kill {} of r{leader} (term {current}, {active} Active): r{next} leads (term {next_token}) after {took:.2}s",
            kill + 1
        );
        assert!(
            took <= 2.0 * LEASE.as_secs_f64(),
            "takeover took {took:.2}s, more than two leases"
        );
        takeovers.push(took);
        token = next_token;
        replicas.start_again(leader);
    }
    assert!(
        during >= 3,
        "only {during} of the kills came before the scale-up was over"
    );
    let took = converge(&replicas, &cluster_id, MEMBERS, Duration::from_secs(120));
    let live = assert_no_orphan_or_duplicate(&replicas.admin(), &cloud, &cluster_id);
    assert_eq!(live, MEMBERS);
    let lost: Vec<_> = members(&replicas.admin(), &cluster_id)
        .into_iter()
        .filter(|(_, m)| m.0 == "Terminated")
        .collect();
    assert!(lost.is_empty(), "members lost on the way: {lost:?}");
    let starts: u64 = cloud.calls().values().map(|c| c.start).sum();
    let max = takeovers.iter().copied().fold(0.0, f64::max);
    println!(
        "replicas: {KILLS} leader kills survived ({during} during the scale-up); takeover median {:.2}s max {max:.2}s (lease {}s); converged {took:.1}s after the last; {MEMBERS} members, {} instances, 0 orphans, 0 duplicates; {starts} start calls",
        median(&mut takeovers),
        LEASE.as_secs(),
        cloud.instances("mock").len()
    );
}

#[test]
fn a_leader_stopped_past_its_lease_makes_no_cloud_call_when_it_wakes() {
    const MEMBERS: usize = 60;
    let dir = temp_dir("replicas-stop");
    let prefix = queue_prefix("replicas-stop");
    let cloud = MockCloud::start(&dir.join("cloud"), &amqp_url(), &prefix);
    // Slow starts (5/s): the leader has a backlog of starts waiting when it is stopped.
    let slow = with(STEADY_CLOUD, &[("max.starts.per.second", "5")]);
    let conf = conf(&dir, &cloud.url, &slow, &[("p1", MEMBERS, MEMBERS, &[])]);
    let database = fresh_postgres_database("replicas_stop");
    let replicas = Replicas::start(3, &dir, &conf, &database, &amqp_url(), &prefix, LEASE);
    let (leader, token, _) = replicas.wait_leader(0, 4 * LEASE);
    let old_id = format!("r{leader}");
    let cluster_id = subscribe(&replicas.admin(), "paused");
    // Mid-scale-up: some starts made, most still to come.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cloud.calls().get(&old_id).map_or(0, |c| c.start) < 5 {
        assert!(
            Instant::now() < deadline,
            "the leader never started 5 members"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    replicas.node(leader).signal("STOP");
    let stopped_at = Instant::now();
    let (next, next_token, seen) = {
        // Only the others answer while it is stopped.
        let deadline = Instant::now() + 3 * LEASE;
        loop {
            let found = replicas
                .running()
                .filter(|(i, _)| *i != leader)
                .filter_map(|(i, node)| Some((i, leader_view(node)?)))
                .find(|(_, v)| v.is_leader && v.fencing_token > token);
            if let Some((i, v)) = found {
                break (i, v.fencing_token, Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "no new leader while r{leader} is stopped"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Past its lease for sure, then woken up.
    while stopped_at.elapsed() < LEASE + LEASE / 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = cloud.calls().get(&old_id).copied().unwrap_or_default();
    replicas.node(leader).signal("CONT");
    let woke = Instant::now();
    // It steps down: its own view names the new leader.
    let deadline = Instant::now() + 2 * LEASE;
    let stepped_down = loop {
        if let Some(v) = leader_view(replicas.node(leader)) {
            if !v.is_leader && v.leader.as_deref() == Some(format!("r{next}").as_str()) {
                break woke.elapsed().as_secs_f64();
            }
        }
        assert!(Instant::now() < deadline, "r{leader} did not step down");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The new leader finishes the scale-up; the old one, awake all along, calls nothing.
    converge(&replicas, &cluster_id, MEMBERS, Duration::from_secs(90));
    let after = cloud.calls().get(&old_id).copied().unwrap_or_default();
    assert_eq!(
        (after.start, after.terminate),
        (before.start, before.terminate),
        "the stopped leader called the cloud after it woke up"
    );
    assert_eq!(
        after.stale, 0,
        "the stopped leader tried with its old token"
    );
    assert_no_orphan_or_duplicate(&replicas.admin(), &cloud, &cluster_id);
    println!(
        "replicas: r{leader} stopped {:.1}s past a {}s lease (term {token}); r{next} took over (term {next_token}) {:.2}s after the stop; woken, r{leader} stepped down in {stepped_down:.2}s and made 0 cloud calls ({} starts before the stop)",
        woke.duration_since(stopped_at).as_secs_f64() - LEASE.as_secs_f64(),
        LEASE.as_secs(),
        seen.duration_since(stopped_at).as_secs_f64(),
        before.start
    );
}

/// Two replicas and the mock cloud on a broker of the test's own, which is stopped and started
/// again in the middle of a scale-up: every member still goes all the way to Active (the agents'
/// status events and the controller's announcements wait out the outage), none is lost.
#[test]
fn rabbitmq_stopped_and_started_again_mid_run_loses_no_lifecycle_event() {
    const MEMBERS: usize = 40;
    let broker = OwnBroker::start("replicas");
    let dir = temp_dir("replicas-broker");
    let prefix = queue_prefix("replicas-broker");
    let cloud = MockCloud::start(&dir.join("cloud"), &broker.url(), &prefix);
    let conf = conf(
        &dir,
        &cloud.url,
        &with(STEADY_CLOUD, &[("max.starts.per.second", "10")]),
        &[("p1", MEMBERS, MEMBERS, &[])],
    );
    let database = fresh_postgres_database("replicas_broker");
    let replicas = Replicas::start(2, &dir, &conf, &database, &broker.url(), &prefix, LEASE);
    replicas.wait_leader(0, 4 * LEASE);
    let cluster_id = subscribe(&replicas.admin(), "outage");
    // Mid-way: some members Active, many still to start.
    replicas.admin().wait_for(
        &cluster_path(&cluster_id),
        Duration::from_secs(60),
        "5 Active members",
        |s, b| s == 200 && member_states(b).iter().filter(|st| *st == "Active").count() >= 5,
    );
    let before = members(&replicas.admin(), &cluster_id);
    broker.stop();
    let stopped_at = Instant::now();
    // The outage lasts at least 3 s, and while ten more starts go on at the cloud (which
    // needs no broker): their agents' reports and our announcements must wait it out.
    let at_stop = cloud.instances("mock").len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cloud.instances("mock").len() < (at_stop + 10).min(MEMBERS)
        || stopped_at.elapsed() < Duration::from_secs(3)
    {
        assert!(Instant::now() < deadline, "no starts during the outage");
        std::thread::sleep(Duration::from_millis(50));
    }
    let started_during = cloud.instances("mock").len() - at_stop;
    broker.start_again();
    let outage = stopped_at.elapsed().as_secs_f64();
    let took = converge(&replicas, &cluster_id, MEMBERS, Duration::from_secs(120));
    let after = members(&replicas.admin(), &cluster_id);
    let lost: Vec<_> = after.iter().filter(|(_, m)| m.0 == "Terminated").collect();
    assert!(lost.is_empty(), "members lost to the outage: {lost:?}");
    assert_eq!(after.len(), MEMBERS);
    assert_no_orphan_or_duplicate(&replicas.admin(), &cloud, &cluster_id);
    let active_before = before.values().filter(|m| m.0 == "Active").count();
    println!(
        "replicas: broker down {outage:.1}s with {active_before} of {MEMBERS} Active, {started_during} started meanwhile; all {MEMBERS} Active {took:.1}s after it came back; 0 lifecycle events lost"
    );
}

/// Two replicas on a PostgreSQL of the test's own, restarted while clients read and a scale-up
/// runs: every answer is a 200 or a retryable 503 (with Retry-After and the JSON error shape),
/// both replicas answer again, and the cluster converges with no member doubled or lost.
#[test]
fn postgresql_restarted_under_load_gives_clients_only_retryable_errors() {
    const MEMBERS: usize = 40;
    let pg = OwnPostgres::start("replicas");
    let dir = temp_dir("replicas-pg");
    let prefix = queue_prefix("replicas-pg");
    let cloud = MockCloud::start(&dir.join("cloud"), &amqp_url(), &prefix);
    let conf = conf(
        &dir,
        &cloud.url,
        &with(STEADY_CLOUD, &[("max.starts.per.second", "10")]),
        &[("p1", MEMBERS, MEMBERS, &[])],
    );
    let replicas = Replicas::start(2, &dir, &conf, &pg.url("alto"), &amqp_url(), &prefix, LEASE);
    replicas.wait_leader(0, 4 * LEASE);
    let cluster_id = subscribe(&replicas.admin(), "dbdown");

    // Readers on both replicas until told to stop: (status, Retry-After present, JSON body).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = replicas
        .running()
        .map(|(_, node)| {
            let (url, stop, path) = (node.url.clone(), stop.clone(), cluster_path(&cluster_id));
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
                let mut bad = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let response = client
                        .get(format!("{url}{path}"))
                        .basic_auth("admin", Some(ADMIN_PASSWORD))
                        .timeout(Duration::from_secs(30))
                        .send();
                    let Ok(response) = response else {
                        bad.push("no answer".to_string());
                        continue;
                    };
                    let status = response.status().as_u16();
                    let retry_after = response.headers().contains_key("retry-after");
                    let body: Value = response.json().unwrap_or(Value::Null);
                    *seen.entry(status).or_default() += 1;
                    match status {
                        200 => {}
                        503 if retry_after && body["status"] == 503 => {}
                        _ => bad.push(format!("{status} (Retry-After: {retry_after}) {body}")),
                    }
                }
                (seen, bad)
            })
        })
        .collect();
    replicas.admin().wait_for(
        &cluster_path(&cluster_id),
        Duration::from_secs(60),
        "5 Active members",
        |s, b| s == 200 && member_states(b).iter().filter(|st| *st == "Active").count() >= 5,
    );
    pg.stop();
    let stopped_at = Instant::now();
    // Down long enough for the leader's lease to run out unrenewed.
    while stopped_at.elapsed() < LEASE + LEASE / 2 {
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.start_again();
    let outage = stopped_at.elapsed().as_secs_f64();
    // Every replica reconnects: each answers 200 again.
    for (_, node) in replicas.running() {
        node.admin().wait_for(
            "/api/clusters",
            Duration::from_secs(30),
            "a 200 after the restart",
            |s, _| s == 200,
        );
    }
    let took = converge(&replicas, &cluster_id, MEMBERS, Duration::from_secs(120));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut totals: BTreeMap<u16, usize> = BTreeMap::new();
    for reader in readers {
        let (seen, bad) = reader.join().expect("reader thread");
        assert!(
            bad.is_empty(),
            "answers beyond 200 and a retryable 503: {bad:?}"
        );
        for (status, n) in seen {
            *totals.entry(status).or_default() += n;
        }
    }
    let after = members(&replicas.admin(), &cluster_id);
    assert_eq!(
        after.len(),
        MEMBERS,
        "a member row doubled or lost: {after:?}"
    );
    assert!(after.values().all(|m| m.0 == "Active"));
    assert_no_orphan_or_duplicate(&replicas.admin(), &cloud, &cluster_id);
    println!(
        "replicas: PostgreSQL down {outage:.1}s under load: answers {totals:?}; both replicas back; {MEMBERS} Active {took:.1}s after the restart, 0 rows doubled"
    );
}

/// A cloud failing one start in five (transient) and one partition out of quota: the cluster
/// fills the other partition, never goes above its maximum, and the quota partition is backed
/// off (its attempts stop).
#[test]
fn a_failing_cloud_and_a_partition_out_of_quota_converge_on_the_other_partition() {
    const MAX: usize = 10;
    let dir = temp_dir("replicas-faulty");
    let prefix = queue_prefix("replicas-faulty");
    let cloud = MockCloud::start(&dir.join("cloud"), &amqp_url(), &prefix);
    let conf = conf(
        &dir,
        &cloud.url,
        &with(STEADY_CLOUD, &[("mock.fail.start.ratio", "0.2")]),
        &[
            (
                "p-quota",
                5,
                MAX,
                &[("mock.fail.start", "quota"), ("mock.fail.start.ratio", "1")],
            ),
            ("p-ok", 5, MAX, &[]),
        ],
    );
    let database = fresh_postgres_database("replicas_faulty");
    let replicas = Replicas::start(2, &dir, &conf, &database, &amqp_url(), &prefix, LEASE);
    replicas.wait_leader(0, 4 * LEASE);
    let cluster_id = subscribe(&replicas.admin(), "faulty");
    let started = Instant::now();
    let mut highest_live = 0;
    let converged = loop {
        let now = members(&replicas.admin(), &cluster_id);
        let live: Vec<_> = now.values().filter(|m| m.0 != "Terminated").collect();
        highest_live = highest_live.max(live.iter().filter(|m| m.1 == "p-ok").count());
        assert!(
            live.iter().filter(|m| m.1 == "p-ok").count() <= MAX,
            "p-ok above its maximum: {now:?}"
        );
        let active_ok = live
            .iter()
            .filter(|m| m.0 == "Active" && m.1 == "p-ok")
            .count();
        if active_ok == MAX && live.len() == MAX {
            break started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no convergence on p-ok: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let attempts = |partition: &str| {
        members(&replicas.admin(), &cluster_id)
            .values()
            .filter(|m| m.1 == partition)
            .count()
    };
    let quota_attempts = attempts("p-quota");
    let failed_ok = members(&replicas.admin(), &cluster_id)
        .values()
        .filter(|m| m.1 == "p-ok" && m.0 == "Terminated")
        .count();
    assert!(quota_attempts >= 1, "p-quota was never tried");
    assert!(failed_ok >= 1, "the 20 % transient failures did not happen");
    // Backed off: over the next evaluations (the scaling period is 2 s) nothing more is tried
    // on the quota partition, and the cluster stays at its size.
    let watch = Instant::now();
    while watch.elapsed() < 3 * LEASE {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        attempts("p-quota"),
        quota_attempts,
        "p-quota was not backed off"
    );
    let live = assert_no_orphan_or_duplicate(&replicas.admin(), &cloud, &cluster_id);
    assert_eq!(live, MAX);
    println!(
        "replicas: 20 % transient failures and a partition out of quota: {MAX} Active on p-ok in {converged:.1}s (never above {MAX}, at most {highest_live} live there); {quota_attempts} attempts on p-quota, none in the {}s after; {failed_ok} transient failures on p-ok",
        (3 * LEASE).as_secs()
    );
}
