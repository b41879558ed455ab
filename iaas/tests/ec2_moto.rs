//! The aws-ec2 driver against moto (a local EC2 look-alike; see scripts/moto.sh).
//! Each test starts its own moto_server, so tests neither share nor leak cloud state.

mod ec2_support;

use base64::Engine;
use ec2_support::*;
use iaas::ec2::api::Idempotency;
use iaas::ec2::parse;
use iaas::{
    ErrorClass, Iaas, InstanceFilter, InstanceState, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID,
};

async fn user_data(driver: &iaas::ec2::Ec2Iaas, instance_id: &str) -> Vec<u8> {
    let params = vec![
        ("InstanceId".to_string(), instance_id.to_string()),
        ("Attribute".to_string(), "userData".to_string()),
    ];
    let root = driver
        .client()
        .call(
            REGION,
            "DescribeInstanceAttribute",
            &params,
            Idempotency::Safe,
        )
        .await
        .expect("DescribeInstanceAttribute");
    let encoded = parse::attribute_value(&root, "userData").expect("userData value");
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .expect("user data is base64")
}

fn by_member(member: &str) -> InstanceFilter {
    InstanceFilter {
        cluster_id: None,
        member_id: Some(member.into()),
    }
}

fn by_cluster(cluster: &str) -> InstanceFilter {
    InstanceFilter {
        cluster_id: Some(cluster.into()),
        member_id: None,
    }
}

#[tokio::test]
async fn start_describe_retry_restart_terminate() {
    let moto = Moto::start();
    let driver = driver(&moto.endpoint, &[("instanceType", "t3.micro")]);
    let spec = spec("member-1", "php.cluster", &[]);

    let started = driver.start_instance(&spec).await.expect("start");
    assert!(started.instance_id.starts_with("i-"), "{started:?}");
    assert_eq!(started.member_id(), Some("member-1"));

    let found = driver
        .describe_instances(&by_member("member-1"))
        .await
        .expect("describe");
    assert_eq!(found.len(), 1, "{found:?}");
    let instance = &found[0];
    assert_eq!(instance.instance_id, started.instance_id);
    assert_eq!(instance.state, InstanceState::Running);
    assert_eq!(instance.tags[TAG_MEMBER_ID], "member-1");
    assert_eq!(instance.tags[TAG_CLUSTER_ID], "php.cluster");
    assert_eq!(instance.tags[TAG_MANAGED_BY], "altostratus");
    assert_eq!(instance.extra["instanceType"], "t3.micro");
    assert_eq!(instance.extra["imageId"], "ami-12c6146b");
    assert!(!instance.private_ips.is_empty(), "{instance:?}");
    assert_eq!(
        user_data(&driver, &instance.instance_id).await,
        spec.payload.as_bytes(),
        "the payload is the instance's user data, byte for byte"
    );

    // A retried start of the same member must not create a second instance.
    let again = driver.start_instance(&spec).await.expect("retried start");
    assert_eq!(again.instance_id, started.instance_id);
    let in_cluster = driver
        .describe_instances(&by_cluster("php.cluster"))
        .await
        .unwrap();
    assert_eq!(in_cluster.len(), 1, "{in_cluster:?}");

    // Another member of the cluster gets its own instance.
    let other = driver
        .start_instance(&ec2_support::spec("member-2", "php.cluster", &[]))
        .await
        .unwrap();
    assert_ne!(other.instance_id, started.instance_id);
    assert!(driver
        .describe_instances(&by_cluster("other.cluster"))
        .await
        .unwrap()
        .is_empty());

    // A fresh driver (a restarted controller) finds both by tag.
    let restarted = ec2_support::driver(&moto.endpoint, &[]);
    let mut ids: Vec<String> = restarted
        .describe_instances(&by_cluster("php.cluster"))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.instance_id)
        .collect();
    ids.sort();
    let mut expected = vec![started.instance_id.clone(), other.instance_id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    restarted
        .terminate_instance(&started.instance_id)
        .await
        .expect("terminate");
    let after = driver
        .describe_instances(&by_cluster("php.cluster"))
        .await
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|i| i.instance_id.as_str())
            .collect::<Vec<_>>(),
        vec![other.instance_id.as_str()]
    );
    let again = driver.terminate_instance(&started.instance_id).await;
    assert_eq!(again.unwrap_err().class, ErrorClass::NotFound);
    let unknown = driver.terminate_instance("i-0123456789abcdef0").await;
    assert_eq!(unknown.unwrap_err().class, ErrorClass::NotFound);
}

#[tokio::test]
async fn instances_without_our_marker_are_invisible_and_untouchable() {
    let moto = Moto::start();
    let driver = driver(&moto.endpoint, &[]);
    // An instance somebody else started, carrying our member tag but not our marker.
    let params: Vec<(String, String)> = [
        ("ImageId", "ami-12c6146b"),
        ("MinCount", "1"),
        ("MaxCount", "1"),
        ("TagSpecification.1.ResourceType", "instance"),
        ("TagSpecification.1.Tag.1.Key", TAG_MEMBER_ID),
        ("TagSpecification.1.Tag.1.Value", "foreign"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let root = driver
        .client()
        .call(REGION, "RunInstances", &params, Idempotency::Once)
        .await
        .unwrap();
    let foreign = parse::instances(&root).remove(0);
    assert!(driver
        .describe_instances(&by_member("foreign"))
        .await
        .unwrap()
        .is_empty());
    let err = driver
        .terminate_instance(&foreign.instance_id)
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest, "{err}");
}

#[tokio::test]
async fn payload_limit_is_16384_raw_bytes() {
    let moto = Moto::start();
    let driver = driver(&moto.endpoint, &[]);
    let mut spec = spec("member-big", "c", &[]);
    spec.payload = "x".repeat(16_385);
    let err = driver.start_instance(&spec).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest);
    assert!(
        err.message.contains("16385") && err.message.contains("16384"),
        "{err}"
    );
    assert!(driver
        .describe_instances(&InstanceFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(driver.client().attempts(), 1, "no RunInstances was sent");

    spec.payload = "y".repeat(16_384);
    let started = driver.start_instance(&spec).await.expect("16384 bytes fit");
    assert_eq!(
        user_data(&driver, &started.instance_id).await,
        spec.payload.as_bytes()
    );
}
