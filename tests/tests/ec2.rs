//! `alto` on EC2 (a real moto server, see scripts/moto.sh): subscribe → instances exist in
//! moto with our tags, the member's payload as user data and the cartridge's volume attached →
//! a restart of alto starts no duplicates → unsubscribe → instances terminated, volumes deleted.

mod common;

// The moto harness of the iaas crate's EC2 tests, shared rather than copied.
#[path = "../../iaas/tests/ec2_support/mod.rs"]
mod ec2_support;

use common::*;
use iaas::{Iaas, InstanceFilter, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn conf(dir: &Path, endpoint: &str) -> std::path::PathBuf {
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
        r#"<deploymentPolicy id="ec2-deployment"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="use1"><provider>ec2</provider><property name="zone" value="us-east-1a"/><min>2</min><max>3</max></partition>
</partitionGroup></deploymentPolicy>"#
            .into(),
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
            conf: Some(conf(&dir, &moto.endpoint)),
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

    // A restart finds the same members and instances and starts nothing new.
    let alto = alto.restart();
    let admin = alto.admin();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(in_moto(&rt), members, "a restart started duplicates");

    // Unsubscribe: members that never reported are terminated at once, in moto too.
    let (status, body) = admin.delete("/api/subscriptions/cloudy");
    assert_eq!(status, 202, "{body}");
    admin.wait_for(
        "/api/subscriptions",
        Duration::from_secs(60),
        "subscription removed",
        |s, b| s == 200 && b.as_array().is_some_and(Vec::is_empty),
    );
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
