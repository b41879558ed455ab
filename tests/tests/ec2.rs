//! `alto` on EC2 (a real moto server, see scripts/moto.sh): subscribe → instances exist in
//! moto with our tags, the member's payload as user data and the cartridge's volume attached →
//! a restart of alto starts no duplicates → unsubscribe → instances terminated, volumes deleted.
//!
//! Crash safety on EC2: `alto` aborted (`ALTO_CRASH_AT`) right after committing a member and
//! before calling the cloud, or right after the cloud answered a start and before recording
//! it; restarted, it converges to exactly one instance for that same member. The `moto crash`
//! lines printed here are the figures in docs/RELIABILITY.md.

mod common;

// The moto harness of the iaas crate's EC2 tests, shared rather than copied.
#[path = "../../iaas/tests/ec2_support/mod.rs"]
mod ec2_support;

use common::*;
use iaas::{Iaas, Instance, InstanceFilter, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A conf for moto: one EC2 provider, the `ec2php` cartridge (with a 2 GB volume), and a
/// deployment policy whose one partition holds `min`..=`max` members.
fn conf(dir: &Path, endpoint: &str, min: u32, max: u32) -> std::path::PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: String| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        format!(
            r#"<cloudController><iaasProviders>
  <iaasProvider type="ec2" name="moto">
    <className>org.apache.stratos.cloud.controller.iaases.AWSEC2Iaas</className>
    <provider>aws-ec2</provider>
    <identity>{}</identity>
    <credential>{}</credential>
    <property name="jclouds.endpoint" value="{endpoint}"/>
    <property name="region" value="us-east-1"/>
    <property name="ec2.poll.interval.ms" value="100"/>
  </iaasProvider>
</iaasProviders></cloudController>"#,
            ec2_support::ACCESS_KEY,
            ec2_support::SECRET_KEY
        ),
    );
    write(
        "cartridge.xml",
        format!(
            r#"<cartridge type="ec2php" host="ec2.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>PHP on EC2</displayName><description>moto</description>
  <iaasProvider type="ec2"><imageId>{}</imageId>
    <property name="instanceType" value="t3.micro"/></iaasProvider>
  <persistence required="true"><volume id="data" size="2" removeOnTermination="true" mappingPath="/data"/></persistence>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
            ec2_support::IMAGE
        ),
    );
    write(
        "autoscale.xml",
        r#"<autoscalePolicy id="ec2-autoscale"><loadThresholds>
  <requestsInFlight><threshold value="50"/></requestsInFlight>
</loadThresholds></autoscalePolicy>"#
            .into(),
    );
    write(
        "deployment.xml",
        format!(
            r#"<deploymentPolicy id="ec2-deployment"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="use1"><provider>ec2</provider><property name="zone" value="us-east-1a"/><min>{min}</min><max>{max}</max></partition>
</partitionGroup></deploymentPolicy>"#
        ),
    );
    conf
}

#[test]
fn alto_runs_a_cluster_on_ec2() {
    let moto = ec2_support::Moto::start();
    let dir = temp_dir("ec2");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir, &moto.endpoint, 2, 3)),
            ..StartOptions::default()
        },
    );
    let admin = alto.admin();
    let (status, sub) = admin.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "ec2php", "alias": "cloudy", "autoscalePolicy": "ec2-autoscale", "deploymentPolicy": "ec2-deployment"}),
    );
    assert_eq!(status, 201, "{sub}");
    let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
    let path = format!("/api/clusters/{cluster_id}");
    // No agent runs on moto's instances: members stop at Initialized (the cloud answered).
    let cluster = admin.wait_for(
        &path,
        Duration::from_secs(60),
        "2 Initialized members",
        |s, b| s == 200 && member_states(b) == ["Initialized", "Initialized"],
    );
    let mut members: Vec<(String, String)> = cluster["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["memberId"].as_str().unwrap_or_default().to_string(),
                m["instanceId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    members.sort();

    let driver = ec2_support::driver(&moto.endpoint, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let in_moto = |rt: &tokio::runtime::Runtime| {
        let mut found: Vec<(String, String)> = rt
            .block_on(driver.describe_instances(&InstanceFilter {
                cluster_id: Some(cluster_id.clone()),
                member_id: None,
            }))
            .expect("describe")
            .into_iter()
            .filter(|i| i.state != iaas::InstanceState::Terminated)
            .map(|i| {
                assert_eq!(i.tags.get(TAG_CLUSTER_ID), Some(&cluster_id), "{i:?}");
                assert_eq!(
                    i.tags.get(TAG_MANAGED_BY).map(String::as_str),
                    Some("altostratus")
                );
                (
                    i.tags.get(TAG_MEMBER_ID).cloned().unwrap_or_default(),
                    i.instance_id,
                )
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(in_moto(&rt), members, "moto's instances are the members'");
    for (member_id, instance_id) in &members {
        let data = String::from_utf8(rt.block_on(ec2_support::user_data(&driver, instance_id)))
            .expect("UTF-8 user data");
        assert!(data.starts_with("SERVICE_NAME=ec2php,"), "{data}");
        assert!(data.contains(&format!(",MEMBER_ID={member_id},")), "{data}");
        assert!(
            data.contains(&format!(",CLUSTER_ID={cluster_id},")),
            "{data}"
        );
        assert!(data.contains(",PARTITION_ID=use1"), "{data}");
        // The cartridge's persistence: one 2 GB volume, attached to the member's instance.
        let volumes = rt.block_on(ec2_support::member_volumes(&driver, member_id));
        assert_eq!(volumes.len(), 1, "{volumes:?}");
        assert_eq!(
            volumes[0].attached_to,
            vec![instance_id.clone()],
            "{volumes:?}"
        );
    }

    // A restart finds the same members and instances and starts nothing new: the startup
    // reconciliation (which runs before the first scaling pass) finds nothing to do, and the
    // first scaling pass after it starts nothing either.
    let restarted_at = epoch_secs();
    let alto = alto.restart();
    let admin = alto.admin();
    let report = startup_reconciliation(&admin);
    assert_eq!(report["errors"], json!([]), "{report:#}");
    assert_eq!(
        report["actions"],
        json!([]),
        "the startup pass after a clean restart planned actions: {report:#}"
    );
    assert_eq!(in_moto(&rt), members, "a restart started duplicates");
    let decision = scaling_pass_since(&admin, &cluster_id, restarted_at);
    assert_eq!(decision["actions"], json!([]), "{decision:#}");
    assert_eq!(
        in_moto(&rt),
        members,
        "the first scaling pass after a restart started duplicates"
    );

    // Unsubscribe: members that never reported are terminated at once, in moto too.
    let (status, body) = admin.delete("/api/subscriptions/cloudy");
    assert_eq!(status, 202, "{body}");
    admin.wait_no_subscriptions(Duration::from_secs(60));
    assert!(in_moto(&rt).is_empty(), "instances left running in moto");
    for (member_id, _) in &members {
        let left = rt.block_on(ec2_support::member_volumes(&driver, member_id));
        assert!(
            left.is_empty(),
            "volumes of {member_id} left behind: {left:?}"
        );
    }
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// The report of this process's startup reconciliation: `GET /api/reconcile` once its `time`
/// is set (before the first pass it is null).
fn startup_reconciliation(admin: &Api) -> Value {
    admin.wait_for(
        "/api/reconcile",
        Duration::from_secs(60),
        "the startup reconciliation",
        |s, b| s == 200 && b["time"].is_i64(),
    )
}

/// The first decision record of `cluster_id` made at or after `since` (seconds since the
/// epoch): proof that a scaling pass evaluated the cluster since then. (The first evaluation
/// after a start is always recorded: the repeat filter is in memory.)
fn scaling_pass_since(admin: &Api, cluster_id: &str, since: f64) -> Value {
    let body = admin.wait_for(
        &format!("/api/clusters/{cluster_id}/decisions"),
        Duration::from_secs(60),
        "a scaling pass after the restart",
        |s, b| {
            s == 200
                && b.as_array()
                    .is_some_and(|ds| ds.iter().any(|d| d["time"].as_f64() >= Some(since)))
        },
    );
    body.as_array()
        .and_then(|ds| ds.iter().find(|d| d["time"].as_f64() >= Some(since)))
        .cloned()
        .expect("a decision record after the restart")
}

/// Our (managed-by tagged) instances in moto that are not terminated.
fn live_in_moto(
    rt: &tokio::runtime::Runtime,
    driver: &iaas::ec2::Ec2Iaas,
    filter: InstanceFilter,
) -> Vec<Instance> {
    rt.block_on(driver.describe_instances(&filter))
        .expect("describe")
        .into_iter()
        .filter(|i| i.state != iaas::InstanceState::Terminated)
        .collect()
}

/// `POST /api/subscriptions` to a process that may abort before it answers (the crash point
/// can be reached while the response is still being written): the cluster id when the answer
/// arrived, `None` when the connection died with the process. The subscription is committed
/// before the scaling loop can reach a crash point either way.
fn subscribe_racing_a_crash(alto: &Alto, alias: &str) -> Option<String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let sent = client
        .post(format!("{}/api/subscriptions", alto.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&json!({"cartridgeType": "ec2php", "alias": alias, "autoscalePolicy": "ec2-autoscale", "deploymentPolicy": "ec2-deployment"}))
        .send();
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            // The body may be cut short by the abort: then only the status is known.
            let body: Value = response.json().unwrap_or(Value::Null);
            assert_eq!(status, 201, "{body}");
            body["clusterId"].as_str().map(str::to_string)
        }
        Err(e) => {
            eprintln!("subscribe: no answer, alto went down first ({e})");
            None
        }
    }
}

/// One crash point: subscribe with min 1, let alto abort at `point`, restart it without the
/// crash point, and check that the member committed before the crash ends up with exactly one
/// instance, recorded as its own, and that an unsubscribe leaves nothing in moto.
fn converges_after_crash_at(point: &str) {
    let moto = ec2_support::Moto::start();
    let dir = temp_dir(&format!("ec2-crash-{point}"));
    let mut alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir, &moto.endpoint, 1, 1)),
            // No periodic pass during the test: what GET /api/reconcile shows after the
            // restart is the startup pass.
            args: vec!["--reconcile-interval".into(), "3600".into()],
            env: vec![("ALTO_CRASH_AT".into(), point.into())],
            ..StartOptions::default()
        },
    );
    let posted_cluster = subscribe_racing_a_crash(&alto, "crashy");
    assert!(
        alto.wait_for_exit(Duration::from_secs(60)),
        "alto exited normally instead of aborting at {point}"
    );

    // What the crash left in moto: nothing before the cloud call, the member's one instance
    // after it (the member id on its tag is the one committed before the crash).
    let driver = ec2_support::driver(&moto.endpoint, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let left = live_in_moto(&rt, &driver, InstanceFilter::default());
    let started_before_crash = match point {
        "after-member-commit" => {
            assert!(
                left.is_empty(),
                "the cloud was called before {point}: {left:?}"
            );
            None
        }
        "after-start-call" => {
            assert_eq!(left.len(), 1, "one start before {point}: {left:?}");
            let member = left[0].member_id().expect("member tag").to_string();
            Some((member, left[0].instance_id.clone()))
        }
        other => panic!("unknown crash point {other}"),
    };

    let restarted = Instant::now();
    let restarted_at = epoch_secs();
    let alto = alto.start_again(|o| o.env.retain(|(k, _)| k != "ALTO_CRASH_AT"));
    let admin = alto.admin();
    let (status, subs) = admin.get("/api/subscriptions");
    assert_eq!(status, 200, "{subs}");
    let cluster_id = subs
        .as_array()
        .and_then(|s| s.iter().find(|s| s["alias"] == "crashy"))
        .and_then(|s| s["clusterId"].as_str())
        .unwrap_or_else(|| panic!("the subscription did not survive the crash: {subs:#}"))
        .to_string();
    if let Some(posted) = &posted_cluster {
        assert_eq!(posted, &cluster_id);
    }
    let path = format!("/api/clusters/{cluster_id}");
    let cluster = admin.wait_for(
        &path,
        Duration::from_secs(60),
        "the member Initialized after the restart",
        |s, b| {
            s == 200
                && b["members"].as_array().is_some_and(|ms| {
                    ms.iter()
                        .any(|m| m["state"] == "Initialized" && m["instanceId"].as_str().is_some())
                })
        },
    );
    let took = restarted.elapsed().as_secs_f64();
    assert_eq!(
        member_states(&cluster),
        ["Initialized"],
        "one member, no replacement: {cluster:#}"
    );
    let member = &cluster["members"][0];
    let member_id = member["memberId"].as_str().expect("memberId").to_string();
    let instance_id = member["instanceId"]
        .as_str()
        .expect("instanceId")
        .to_string();
    assert!(
        member["createdAt"].as_i64() < Some((restarted_at * 1000.0) as i64),
        "the member was created after the restart: {member:#}"
    );

    // The startup pass (before any scaling pass of this process) saw the member the crashed
    // process had committed, and did what the crash point calls for.
    let report = startup_reconciliation(&admin);
    assert_eq!(report["errors"], json!([]), "{report:#}");
    let actions = report["actions"].as_array().expect("actions");
    assert_eq!(
        actions.len(),
        1,
        "one action for the one member: {report:#}"
    );
    let action = &actions[0];
    assert_eq!(action["memberId"], member_id, "{report:#}");
    let totals = &report["totals"];
    assert_eq!(totals["terminateOrphan"], 0, "{report:#}");
    assert_eq!(totals["markVanished"], 0, "{report:#}");
    match &started_before_crash {
        None => {
            assert_eq!(action["action"], "startMissing", "{report:#}");
            assert_eq!(totals["startMissing"], 1, "{report:#}");
            assert_eq!(totals["adopt"], 0, "{report:#}");
        }
        Some((crashed_member, crashed_instance)) => {
            assert_eq!(&member_id, crashed_member, "{report:#}");
            assert_eq!(
                &instance_id, crashed_instance,
                "the member's instance is not the one started before the crash"
            );
            match action["action"].as_str() {
                Some("adopt") => {
                    assert_eq!(action["instanceId"], *crashed_instance, "{report:#}");
                    assert_eq!(totals["adopt"], 1, "{report:#}");
                    assert_eq!(totals["startMissing"], 0, "{report:#}");
                }
                // The startup pass describes the cloud first and reads the registry second;
                // had it not seen the instance (a describe that raced the start), it would
                // plan startMissing, and the actuator's look-up by tag (then the driver's own,
                // and RunInstances' ClientToken) finds the existing instance instead of
                // starting a second one: the recorded id above is the pre-crash instance.
                Some("startMissing") => {
                    assert_eq!(totals["startMissing"], 1, "{report:#}");
                    assert_eq!(totals["adopt"], 0, "{report:#}");
                }
                _ => panic!("unexpected action after {point}: {report:#}"),
            }
        }
    }
    if let Some(posted) = &posted_cluster {
        assert!(member_id.starts_with(posted.as_str()), "{member_id}");
    }

    // moto: exactly one live instance carries the member's tag, and it is the recorded one;
    // nothing else of ours runs there; one volume, attached to it.
    let check_moto = |when: &str| {
        let tagged = live_in_moto(
            &rt,
            &driver,
            InstanceFilter {
                cluster_id: None,
                member_id: Some(member_id.clone()),
            },
        );
        let ids: Vec<&str> = tagged.iter().map(|i| i.instance_id.as_str()).collect();
        assert_eq!(ids, [instance_id.as_str()], "{when}: {tagged:?}");
        assert_eq!(tagged[0].tags.get(TAG_CLUSTER_ID), Some(&cluster_id));
        let all = live_in_moto(&rt, &driver, InstanceFilter::default());
        assert_eq!(
            all.len(),
            1,
            "{when}: instances besides the member's: {all:?}"
        );
        let volumes = rt.block_on(ec2_support::member_volumes(&driver, &member_id));
        assert_eq!(volumes.len(), 1, "{when}: {volumes:?}");
        assert_eq!(volumes[0].attached_to, vec![instance_id.clone()], "{when}");
    };
    check_moto("at convergence");
    // A scaling pass after the restart saw the member and started nothing more.
    let decision = scaling_pass_since(&admin, &cluster_id, restarted_at);
    assert_eq!(decision["actions"], json!([]), "{decision:#}");
    check_moto("after a scaling pass");
    let (status, cluster) = admin.get(&path);
    assert_eq!(status, 200, "{cluster}");
    assert_eq!(member_states(&cluster), ["Initialized"], "{cluster:#}");
    assert_eq!(cluster["members"][0]["memberId"], member_id);

    eprintln!("moto crash {point}: converged in {took:.1}s after restart");
    eprintln!(
        "moto crash {point}: the startup reconciliation did {}",
        action["action"]
    );

    let (status, body) = admin.delete("/api/subscriptions/crashy");
    assert_eq!(status, 202, "{body}");
    admin.wait_no_subscriptions(Duration::from_secs(60));
    let left = live_in_moto(&rt, &driver, InstanceFilter::default());
    assert!(left.is_empty(), "instances left running in moto: {left:?}");
    let volumes = rt.block_on(ec2_support::member_volumes(&driver, &member_id));
    assert!(volumes.is_empty(), "volumes left behind: {volumes:?}");
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_crash_after_the_member_commit_starts_it_once_after_restart() {
    converges_after_crash_at("after-member-commit");
}

#[test]
fn a_crash_after_the_start_call_adopts_its_instance_after_restart() {
    converges_after_crash_at("after-start-call");
}

/// `kill -9` after RunInstances but before the member's volume is attached: the restarted
/// controller's recovered start goes through the driver's idempotent start, which finds the
/// instance and completes it (its volume attached), instead of only recording it.
#[test]
fn a_kill_while_the_instance_is_half_set_up_completes_it_after_restart() {
    let moto = ec2_support::Moto::start();
    let driver = ec2_support::driver(&moto.endpoint, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The window is between RunInstances and the volume attachment; a few attempts hit it.
    for round in 0..20 {
        let dir = temp_dir("ec2-halfway");
        let alto = Alto::start_with(
            &dir.join("data"),
            None,
            StartOptions {
                conf: Some(conf(&dir, &moto.endpoint, 1, 1)),
                ..StartOptions::default()
            },
        );
        let alias = format!("half{round}");
        let (status, sub) = alto.admin().post_json(
            "/api/subscriptions",
            &json!({"cartridgeType": "ec2php", "alias": alias, "autoscalePolicy": "ec2-autoscale", "deploymentPolicy": "ec2-deployment"}),
        );
        assert_eq!(status, 201, "{sub}");
        let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
        let filter = InstanceFilter {
            cluster_id: Some(cluster_id.clone()),
            member_id: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let instance = loop {
            if let Some(i) = live_in_moto(&rt, &driver, filter.clone())
                .into_iter()
                .next()
            {
                break i;
            }
            assert!(Instant::now() < deadline, "no instance in moto within 30 s");
        };
        let alto = alto.kill9();
        let member = instance.member_id().expect("member tag").to_string();
        let attached = |rt: &tokio::runtime::Runtime| {
            rt.block_on(ec2_support::member_volumes(&driver, &member))
                .iter()
                .any(|v| v.attached_to == vec![instance.instance_id.clone()])
        };
        if attached(&rt) {
            continue; // killed too late: the start had finished
        }
        let alto = alto.start_again(|_| {});
        let admin = alto.admin();
        admin.wait_for(
            &format!("/api/clusters/{cluster_id}"),
            Duration::from_secs(60),
            "the member Initialized after the restart",
            |s, b| s == 200 && member_states(b) == ["Initialized"],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !attached(&rt) {
            assert!(
                Instant::now() < deadline,
                "round {round}: the half-set-up instance never got its volume: {:?}; reconciliation {:#}",
                rt.block_on(ec2_support::member_volumes(&driver, &member)),
                admin.get("/api/reconcile").1
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            live_in_moto(&rt, &driver, filter.clone()).len(),
            1,
            "a second instance was started"
        );
        eprintln!("moto crash mid-start: round {round}: completed after restart");
        alto.stop();
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    panic!("20 kills never landed between RunInstances and the volume attachment");
}
