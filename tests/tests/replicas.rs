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
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
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
    write(
        "cartridge.xml",
        r#"<cartridge type="web" host="web.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>replica tests</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#
            .into(),
    );
    write(
        "autoscale.xml",
        r#"<autoscalePolicy id="steady"><loadThresholds>
  <requestsInFlight><threshold value="1000000"/></requestsInFlight>
</loadThresholds></autoscalePolicy>"#
            .into(),
    );
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

fn subscribe(api: &Api, alias: &str) -> String {
    let (status, body) = api.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "web", "alias": alias, "autoscalePolicy": "steady", "deploymentPolicy": "dp"}),
    );
    assert_eq!(status, 201, "{body}");
    body["clusterId"].as_str().expect("clusterId").to_string()
}

/// The cluster's members as the registry has them: member id → (state, partition, instance).
fn members(api: &Api, cluster_id: &str) -> BTreeMap<String, (String, String, String)> {
    let (status, body) = api.get(&format!("/api/clusters/{cluster_id}"));
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

/// Wait until the cluster has `n` Active members and nothing else live.
fn converge(replicas: &Replicas, cluster_id: &str, n: usize, within: Duration) -> f64 {
    let started = Instant::now();
    replicas.admin().wait_for(
        &format!("/api/clusters/{cluster_id}"),
        within,
        &format!("{n} Active members"),
        |s, b| {
            let states = member_states(b);
            s == 200
                && states.iter().filter(|st| *st == "Active").count() == n
                && states.iter().all(|st| st == "Active" || st == "Terminated")
        },
    );
    started.elapsed().as_secs_f64()
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
    let conf = conf(
        &dir,
        &cloud.url,
        STEADY_CLOUD,
        &[("p1", MEMBERS, MEMBERS, &[])],
    );
    let database = fresh_postgres_database("replicas_kill");
    let mut replicas = Replicas::start(3, &dir, &conf, &database, &amqp_url(), &prefix, LEASE);
    let (_, mut token, _) = replicas.wait_leader(0, 4 * LEASE);
    let cluster_id = subscribe(&replicas.admin(), "big");

    let mut takeovers = Vec::new();
    for kill in 0..KILLS {
        // A random moment of the scale-up (200 starts at 40/s, 300 ms each, slowed by every
        // takeover).
        std::thread::sleep(Duration::from_millis(300 + random_below(1200)));
        let (leader, current, _) = replicas.wait_leader(token - 1, 4 * LEASE);
        let active = members(&replicas.admin(), &cluster_id)
            .values()
            .filter(|m| m.0 == "Active")
            .count();
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
        "replicas: {KILLS} leader kills survived; takeover median {:.2}s max {max:.2}s (lease {}s); converged {took:.1}s after the last; {MEMBERS} members, {} instances, 0 orphans, 0 duplicates; {starts} start calls",
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
    let slow: Vec<(&str, &str)> = STEADY_CLOUD
        .iter()
        .copied()
        .filter(|(k, _)| *k != "max.starts.per.second")
        .chain([("max.starts.per.second", "5")])
        .collect();
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
