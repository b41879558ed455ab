//! Crash safety of the real `alto` binary on the mock cloud (SQLite, in-process bus):
//!
//! - `kill -9` at random moments of 200-member scale-ups and of unsubscribes: after each
//!   restart the cluster converges within 30 s with no orphan, no duplicate and no lost member,
//!   and an unsubscribe ends with no instance;
//! - reconciliation with the cloud: an orphan planted in the mock cloud's state is reported by
//!   `--reconcile=report` and left alone, then terminated by an acting pass; an instance that
//!   vanished is noticed and its member replaced;
//! - a cloud that takes its time to terminate does not delay another cluster's activation.
//!
//! Figures printed here (`crash:` lines) are the ones in docs/RELIABILITY.md.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MEMBERS: usize = 200;

/// A conf with two mock clouds: `mock` (start latency, generous limits) and `slowterm`
/// (terminations take `slow_terminate_ms`).
fn conf(dir: &Path, min: usize, slow_terminate_ms: u64) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: String| std::fs::write(conf.join(name), text).expect("write");
    let provider = |t: &str, extra: &str| {
        format!(
            r#"<iaasProvider type="{t}" name="{t}">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.start.latency.ms" value="300"/>
    <property name="mock.agent.delay.ms" value="20"/>
    <property name="mock.stats.interval.secs" value="2"/>
    <property name="max.iaas.workers" value="64"/>
    <property name="max.starts.per.second" value="50"/>
    {extra}
  </iaasProvider>"#
        )
    };
    write(
        "cloud-controller.xml",
        format!(
            "<cloudController><iaasProviders>{}{}</iaasProviders></cloudController>",
            provider("mock", ""),
            provider(
                "slowterm",
                &format!(
                    r#"<property name="mock.terminate.latency.ms" value="{slow_terminate_ms}"/>"#
                )
            )
        ),
    );
    write("cartridge.xml", web_cartridge(&["mock", "slowterm"]));
    write("autoscale.xml", STEADY_POLICY.into());
    for (id, provider, min) in [
        ("big", "mock", min),
        ("one", "mock", 1),
        ("slow", "slowterm", 1),
    ] {
        write(
            &format!("deployment-{id}.xml"),
            format!(
                r#"<deploymentPolicy id="{id}"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p-{id}"><provider>{provider}</provider><min>{min}</min><max>{min}</max></partition>
</partitionGroup></deploymentPolicy>"#
            ),
        );
    }
    conf
}

fn random_below(limit: u64) -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    RandomState::new().build_hasher().finish() % limit.max(1)
}

fn subscribe(api: &Api, alias: &str, policy: &str) -> String {
    api.subscribe("web", alias, "steady", policy)
}

/// What the registry says of a cluster: (member id, state, instance id, termination reason).
fn members(api: &Api, cluster_id: &str) -> Vec<(String, String, String, String)> {
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
                s("state"),
                s("instanceId"),
                s("terminationReason"),
            )
        })
        .collect()
}

fn converge(api: &Api, cluster_id: &str, n: usize, within: Duration) -> f64 {
    api.wait_converged(cluster_id, n, within)
}

/// Registry and cloud agree: every live member has exactly one instance, which is its
/// recorded one; no instance belongs to nobody; no member was lost (terminated) on the way.
fn assert_consistent(api: &Api, data: &Path, cluster_id: &str, expected: usize) {
    let members = members(api, cluster_id);
    let lost: Vec<_> = members.iter().filter(|m| m.1 == "Terminated").collect();
    assert!(
        lost.is_empty(),
        "members lost (terminated) across crashes: {lost:#?}"
    );
    assert_eq!(members.len(), expected, "{members:#?}");
    // The state file is rewritten from the cloud's change log about a second behind.
    let instances = cloud_instances_settled(data, "mock", Duration::from_secs(5), |instances| {
        cloud_disagreement(&members, cluster_id, instances).is_none()
    });
    if let Some(problem) = cloud_disagreement(&members, cluster_id, &instances) {
        panic!("{problem}");
    }
}

/// How the cloud's instances disagree with the registry's live `members`, if they do.
fn cloud_disagreement(
    members: &[(String, String, String, String)],
    cluster_id: &str,
    instances: &BTreeMap<String, String>,
) -> Option<String> {
    let mut per_member: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (instance, member) in instances {
        per_member
            .entry(member.as_str())
            .or_default()
            .push(instance.as_str());
    }
    let live: BTreeSet<&str> = members.iter().map(|m| m.0.as_str()).collect();
    let orphans: Vec<_> = per_member
        .iter()
        .filter(|(m, _)| m.starts_with(cluster_id) && !live.contains(*m))
        .collect();
    if !orphans.is_empty() {
        return Some(format!("orphan instances: {orphans:?}"));
    }
    let duplicates: Vec<_> = per_member.iter().filter(|(_, i)| i.len() > 1).collect();
    if !duplicates.is_empty() {
        return Some(format!("duplicate instances: {duplicates:?}"));
    }
    members.iter().find_map(|(member, _, instance, _)| {
        (per_member.get(member.as_str()).map(Vec::as_slice) != Some(&[instance.as_str()][..]))
            .then(|| {
                format!("member {member}'s recorded instance {instance} is not the one the cloud runs ({:?})", per_member.get(member.as_str()))
            })
    })
}

fn wait_unsubscribed(api: &Api, data: &Path, cluster_id: &str, within: Duration) -> f64 {
    let started = Instant::now();
    api.wait_no_subscriptions(within);
    let left: Vec<_> = cloud_instances_settled(data, "mock", Duration::from_secs(5), |i| {
        !i.values().any(|m| m.starts_with(cluster_id))
    })
    .into_iter()
    .filter(|(_, m)| m.starts_with(cluster_id))
    .collect();
    assert!(
        left.is_empty(),
        "instances left after unsubscribe: {left:?}"
    );
    started.elapsed().as_secs_f64()
}

#[test]
fn kill_9_during_scale_ups_and_unsubscribes_loses_nothing() {
    kill_loop("sqlite", None, 10);
}

#[test]
fn kill_9_on_postgresql_loses_nothing() {
    kill_loop("postgres", Some(fresh_postgres_database("crash")), 5);
}

/// `rounds` scale-ups of 200 members, each killed at a random moment; every fifth round's
/// unsubscribe killed too.
fn kill_loop(tag: &str, database_url: Option<String>, rounds: usize) {
    let dir = temp_dir(&format!("crash-{tag}"));
    let data = dir.join("data");
    let mut alto = Alto::start_with(
        &data,
        database_url.as_deref(),
        StartOptions {
            conf: Some(conf(&dir, MEMBERS, 0)),
            ..StartOptions::default()
        },
    );
    let mut worst = 0f64;
    let mut kills = 0;
    let mut at_members = Vec::new();
    // What the reconciliations of every restarted process did, summed.
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for round in 0..rounds {
        let api = alto.admin();
        let alias = format!("round{round}");
        let cluster_id = subscribe(&api, &alias, "big");
        // A random moment of the scale-up (200 starts at 50/s, a burst of 50, 300 ms each:
        // about 3.5 s): how far it got is read just before the kill.
        std::thread::sleep(Duration::from_millis(100 + random_below(2900)));
        let before = members(&api, &cluster_id);
        let active = before.iter().filter(|m| m.1 == "Active").count();
        at_members.push(active);
        alto = alto.kill9().start_again(|_| {});
        kills += 1;
        let api = alto.admin();
        let took = converge(&api, &cluster_id, MEMBERS, Duration::from_secs(30));
        worst = worst.max(took);
        add_totals(&mut totals, &api);
        eprintln!(
            "crash[{tag}]: round {round}: killed with {} members committed, {active} Active; {MEMBERS} Active {took:.1}s after restart",
            before.len()
        );
        assert_consistent(&api, &data, &cluster_id, MEMBERS);

        let (status, body) = api.delete(&format!("/api/subscriptions/{alias}"));
        assert_eq!(status, 202, "{body}");
        if round % 5 == 4 {
            // A random moment of the unsubscribe.
            std::thread::sleep(Duration::from_millis(100 + random_below(1500)));
            alto = alto.kill9().start_again(|_| {});
            kills += 1;
        }
        let api = alto.admin();
        let took = wait_unsubscribed(&api, &data, &cluster_id, Duration::from_secs(60));
        if round % 5 == 4 {
            add_totals(&mut totals, &api);
        }
        eprintln!("crash[{tag}]: round {round}: unsubscribed, 0 instances, {took:.1}s");
    }
    let mid_scale_up = at_members.iter().filter(|a| **a < MEMBERS).count();
    assert!(
        mid_scale_up * 2 >= rounds,
        "only {mid_scale_up} of {rounds} kills landed before the scale-up was done: {at_members:?}"
    );
    eprintln!(
        "crash[{tag}]: {kills} kills survived (Active members at each scale-up kill: {at_members:?}); worst convergence {worst:.1}s; reconciliation actions over all restarts {totals:?}"
    );
    assert!(
        cloud_instances_settled(&data, "mock", Duration::from_secs(5), |i| i.is_empty()).is_empty(),
        "instances left at the end"
    );
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Add what this process's reconciliations carried out (once its startup pass has run).
fn add_totals(totals: &mut BTreeMap<String, u64>, api: &Api) {
    let report = reconciled(api);
    for (kind, n) in report["totals"].as_object().expect("totals") {
        *totals.entry(kind.clone()).or_default() += n.as_u64().unwrap_or(0);
    }
}

/// Wait until the startup reconciliation has run (its report has a time).
fn reconciled(api: &Api) -> Value {
    api.wait_for(
        "/api/reconcile",
        Duration::from_secs(30),
        "a reconciliation pass",
        |s, b| s == 200 && b["time"].is_i64(),
    )
}

/// Change the mock cloud's state file while alto is stopped (a running mock cloud would
/// write over it).
fn edit_cloud_state(
    data: &Path,
    provider: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) {
    let path = data.join(format!("mock-{provider}.json"));
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("mock state"))
            .expect("mock state JSON");
    edit(state["instances"].as_object_mut().expect("instances"));
    std::fs::write(&path, serde_json::to_vec(&state).expect("JSON")).expect("write mock state");
}

/// Copy one of the cloud's instances under a new id and a member id nobody has.
fn plant_orphan(data: &Path, provider: &str, instance_id: &str) {
    edit_cloud_state(data, provider, |instances| {
        let mut orphan = instances
            .values()
            .next()
            .expect("an instance to copy")
            .clone();
        orphan["instance_id"] = json!(instance_id);
        orphan["tags"]["altostratus:member-id"] = json!("planted.web.domain-nobody");
        orphan["member"]["memberId"] = json!("planted.web.domain-nobody");
        instances.insert(instance_id.to_string(), orphan);
    });
}

fn remove_instance(data: &Path, provider: &str, instance_id: &str) {
    edit_cloud_state(data, provider, |instances| {
        assert!(
            instances.remove(instance_id).is_some(),
            "{instance_id} not in the cloud"
        );
    });
}

#[test]
fn reconciliation_reports_terminates_orphans_and_replaces_vanished_instances() {
    let dir = temp_dir("reconcile");
    let data = dir.join("data");
    let alto = Alto::start_with(
        &data,
        None,
        StartOptions {
            conf: Some(conf(&dir, 1, 0)),
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    let cluster_id = subscribe(&api, "solo", "one");
    converge(&api, &cluster_id, 1, Duration::from_secs(30));
    let (member_id, _, instance_id, _) = members(&api, &cluster_id).remove(0);
    alto.stop();
    let start_on_the_same_data = |args: &[&str]| {
        Alto::start_with(
            &data,
            None,
            StartOptions {
                conf: Some(dir.join("conf")),
                args: args.iter().map(|a| a.to_string()).collect(),
                ..StartOptions::default()
            },
        )
    };

    // Report mode: the orphan is found, reported, and left running.
    plant_orphan(&data, "mock", "mock-planted-1");
    let alto = start_on_the_same_data(&["--reconcile", "report"]);
    let api = alto.admin();
    let report = reconciled(&api);
    assert_eq!(report["mode"], "report", "{report}");
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{report:#}");
    assert_eq!(actions[0]["action"], "terminateOrphan");
    assert_eq!(actions[0]["instanceId"], "mock-planted-1");
    assert!(actions[0]["memberId"].is_null());
    assert!(actions[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        report["totals"]["terminateOrphan"], 0,
        "report mode acted: {report}"
    );
    assert!(cloud_instances(&data, "mock").contains_key("mock-planted-1"));
    // Non-admins may not read it.
    let (status, _) = api.post_json(
        "/api/tenants",
        &json!({"tenantDomain": "t.example", "admin": "boss", "adminPassword": "boss-pass-1", "email": "b@t.example"}),
    );
    assert_eq!(status, 201);
    let (status, _) = alto
        .api("boss@t.example", "boss-pass-1")
        .get("/api/reconcile");
    assert_eq!(status, 403);
    alto.stop();

    // Acting: the orphan is terminated, the member's instance is kept.
    let alto = start_on_the_same_data(&[]);
    let api = alto.admin();
    let report = reconciled(&api);
    assert_eq!(report["mode"], "act");
    assert_eq!(report["totals"]["terminateOrphan"], 1, "{report:#}");
    let instances = cloud_instances_settled(&data, "mock", Duration::from_secs(5), |i| {
        !i.contains_key("mock-planted-1")
    });
    assert!(
        !instances.contains_key("mock-planted-1"),
        "orphan still there: {instances:?}"
    );
    assert_eq!(instances.get(&instance_id), Some(&member_id));
    eprintln!(
        "crash: planted orphan found by report mode, left; terminated by the next acting pass"
    );
    alto.stop();

    // The member's instance vanishes while alto is down: the member is marked, terminated and
    // replaced.
    remove_instance(&data, "mock", &instance_id);
    let restarted = Instant::now();
    let alto = start_on_the_same_data(&[]);
    let api = alto.admin();
    let report = reconciled(&api);
    let vanished: Vec<&Value> = report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "markVanished")
        .collect();
    assert_eq!(vanished.len(), 1, "{report:#}");
    assert_eq!(vanished[0]["memberId"], json!(member_id));
    converge(&api, &cluster_id, 1, Duration::from_secs(30));
    let all = members(&api, &cluster_id);
    let old = all
        .iter()
        .find(|m| m.0 == member_id)
        .expect("old member listed");
    assert_eq!(old.1, "Terminated");
    assert_eq!(old.3, "instance vanished");
    assert!(
        all.iter().any(|m| m.0 != member_id && m.1 == "Active"),
        "{all:#?}"
    );
    eprintln!(
        "crash: vanished instance replaced {:.1}s after restart",
        restarted.elapsed().as_secs_f64()
    );
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_slow_termination_does_not_delay_another_clusters_activation() {
    const SLOW_TERMINATE_MS: u64 = 20_000;
    let dir = temp_dir("slowterm");
    let data = dir.join("data");
    let alto = Alto::start_with(
        &data,
        None,
        StartOptions {
            conf: Some(conf(&dir, 1, SLOW_TERMINATE_MS)),
            ..StartOptions::default()
        },
    );
    let api = alto.admin();
    let slow_cluster = subscribe(&api, "slowpoke", "slow");
    converge(&api, &slow_cluster, 1, Duration::from_secs(30));
    let (status, body) = api.delete("/api/subscriptions/slowpoke");
    assert_eq!(status, 202, "{body}");
    // The cleanup handshake ends in ReadyToShutDown; the cloud then takes 20 s to terminate.
    api.wait_for(
        &cluster_path(&slow_cluster),
        Duration::from_secs(15),
        "the slow member ReadyToShutDown",
        |s, b| s == 200 && member_states(b) == ["ReadyToShutDown"],
    );
    let asked = Instant::now();
    let fast_cluster = subscribe(&api, "quick", "one");
    let took = converge(&api, &fast_cluster, 1, Duration::from_secs(10));
    let (_, slow) = api.get(&cluster_path(&slow_cluster));
    assert_eq!(
        member_states(&slow),
        ["ReadyToShutDown"],
        "the slow termination must still be in flight for this test to mean anything"
    );
    assert!(
        asked.elapsed() < Duration::from_millis(SLOW_TERMINATE_MS / 2),
        "activation waited for the slow termination"
    );
    eprintln!("crash: another cluster Active {took:.1}s after subscribing while a 20 s termination was in flight");
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
