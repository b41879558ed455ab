//! The aws-ec2 driver against moto (a local EC2 look-alike; see scripts/moto.sh).
//! Each test starts its own moto_server, so tests neither share nor leak cloud state.

mod ec2_support;

use ec2_support::*;
use iaas::ec2::api::Idempotency;
use iaas::ec2::parse;
use iaas::{
    ErrorClass, Iaas, InstanceFilter, InstanceState, MANAGED_BY_VALUE, TAG_CLUSTER_ID,
    TAG_MANAGED_BY, TAG_MEMBER_ID,
};

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

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn addresses(driver: &iaas::ec2::Ec2Iaas) -> Vec<parse::Address> {
    let root = driver
        .client()
        .call(REGION, "DescribeAddresses", &[], Idempotency::Safe)
        .await
        .unwrap();
    parse::addresses(&root)
}

/// Allocate an address directly, with `tags` (none: someone else's address).
async fn allocate(driver: &iaas::ec2::Ec2Iaas, tags: &[(&str, &str)]) -> String {
    let mut params = vec![("Domain".to_string(), "vpc".to_string())];
    if !tags.is_empty() {
        params.push((
            "TagSpecification.1.ResourceType".into(),
            "elastic-ip".into(),
        ));
        for (i, (k, v)) in tags.iter().enumerate() {
            params.push((
                format!("TagSpecification.1.Tag.{}.Key", i + 1),
                k.to_string(),
            ));
            params.push((
                format!("TagSpecification.1.Tag.{}.Value", i + 1),
                v.to_string(),
            ));
        }
    }
    let root = driver
        .client()
        .call(REGION, "AllocateAddress", &params, Idempotency::Once)
        .await
        .unwrap();
    root.child_text("publicIp").unwrap().to_string()
}

#[tokio::test]
async fn elastic_ips_are_ours_only_reused_allocated_associated_and_released() {
    let moto = Moto::start();
    let driver = driver(&moto.endpoint, &[("autoAssignIp", "false")]);
    // An unassociated address of the account that is not ours: never taken, never released.
    let foreign = allocate(&driver, &[]).await;
    // One of ours a failed release left behind: reused.
    let leftover = allocate(&driver, &[(TAG_MANAGED_BY, MANAGED_BY_VALUE)]).await;

    let a = driver
        .start_instance(&spec("member-a", "c", &[]))
        .await
        .expect("start a");
    assert_eq!(a.public_ips, vec![leftover.clone()]);
    // No free address of ours left: b gets a new one, not the foreign one.
    let b = driver
        .start_instance(&spec("member-b", "c", &[]))
        .await
        .expect("start b");
    assert_eq!(b.public_ips.len(), 1);
    assert!(!b.public_ips.contains(&foreign) && !b.public_ips.contains(&leftover));
    let all = addresses(&driver).await;
    assert_eq!(all.len(), 3, "{all:?}");
    for (instance, ip) in [(&a, &leftover), (&b, &b.public_ips[0])] {
        let address = all.iter().find(|x| &x.public_ip == ip).unwrap();
        assert_eq!(
            address.instance_id.as_deref(),
            Some(instance.instance_id.as_str())
        );
    }
    let untouched = all.iter().find(|x| x.public_ip == foreign).unwrap();
    assert_eq!(
        (
            untouched.instance_id.as_deref(),
            untouched.association_id.as_deref()
        ),
        (None, None)
    );
    // Describe reports the elastic IP as the public address.
    let described = driver
        .describe_instances(&by_member("member-b"))
        .await
        .unwrap();
    assert_eq!(described[0].public_ips, b.public_ips);
    // A retried start keeps the association it has.
    let again = driver
        .start_instance(&spec("member-b", "c", &[]))
        .await
        .unwrap();
    assert_eq!(again.public_ips, b.public_ips);
    assert_eq!(addresses(&driver).await.len(), 3);

    // Terminations release what carries our tag; the foreign address stays as it was.
    driver.terminate_instance(&b.instance_id).await.unwrap();
    driver.terminate_instance(&a.instance_id).await.unwrap();
    let left = addresses(&driver).await;
    assert_eq!(
        left.iter()
            .map(|x| x.public_ip.as_str())
            .collect::<Vec<_>>(),
        vec![foreign.as_str()],
        "our addresses are released, the foreign one stays"
    );
}

const PUBLIC_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILML37+H/BhKT1m9goKaNNqwyfypKLm/bzKfM76+qZiY altostratus-test";

#[tokio::test]
async fn key_pairs_are_imported_once_and_used() {
    let moto = Moto::start();
    let driver = driver(
        &moto.endpoint,
        &[("keyPair", "alto-key"), ("publicKey", PUBLIC_KEY)],
    );
    let a = driver
        .start_instance(&spec("member-a", "c", &[]))
        .await
        .expect("start with key import");
    assert_eq!(a.extra["keyName"], "alto-key");
    // The pair exists now; importing it again for the next member is not an error.
    let b = driver
        .start_instance(&spec("member-b", "c", &[]))
        .await
        .expect("second start, key already there");
    assert_eq!(b.extra["keyName"], "alto-key");
    let root = driver
        .client()
        .call(
            REGION,
            "DescribeKeyPairs",
            &pairs(&[("KeyName.1", "alto-key")]),
            Idempotency::Safe,
        )
        .await
        .unwrap();
    let mut keys = Vec::new();
    root.descendants("keyName", &mut keys);
    assert_eq!(keys.len(), 1, "{root:?}");

    // A public key without a name to import it as is a configuration error.
    let bad = ec2_support::driver(&moto.endpoint, &[("publicKey", PUBLIC_KEY)]);
    let err = bad
        .start_instance(&spec("member-c", "c", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest);
    assert!(err.message.contains("keyPair"), "{err}");
}

#[tokio::test]
async fn volumes_are_created_attached_and_removed_on_termination() {
    let moto = Moto::start();
    let driver = driver(&moto.endpoint, &[("availabilityZone", "us-east-1b")]);
    let mut spec = spec("member-v", "c", &[]);
    spec.volumes = vec![
        iaas::VolumeSpec {
            id: "data".into(),
            size_gb: 2,
            device: String::new(),
            snapshot_id: None,
            remove_on_termination: true,
        },
        iaas::VolumeSpec {
            id: "keep".into(),
            size_gb: 1,
            device: "/dev/sdk".into(),
            snapshot_id: None,
            remove_on_termination: false,
        },
    ];
    let instance = driver.start_instance(&spec).await.expect("start");
    assert_eq!(instance.extra["availabilityZone"], "us-east-1b");
    let volumes = member_volumes(&driver, "member-v").await;
    assert_eq!(volumes.len(), 2, "{volumes:?}");
    for v in &volumes {
        assert_eq!(v.attached_to, vec![instance.instance_id.clone()], "{v:?}");
        assert_eq!(v.availability_zone.as_deref(), Some("us-east-1b"));
        assert_eq!(v.tags[TAG_MANAGED_BY], "altostratus");
    }
    let data = volumes
        .iter()
        .find(|v| v.tags["altostratus:volume-id"] == "data")
        .unwrap()
        .clone();
    let keep = volumes
        .iter()
        .find(|v| v.tags["altostratus:volume-id"] == "keep")
        .unwrap()
        .clone();

    // A retried start neither creates nor re-attaches volumes.
    driver.start_instance(&spec).await.expect("retried start");
    assert_eq!(member_volumes(&driver, "member-v").await.len(), 2);

    driver
        .terminate_instance(&instance.instance_id)
        .await
        .unwrap();
    let left = member_volumes(&driver, "member-v").await;
    assert!(
        left.iter().all(|v| v.volume_id != data.volume_id),
        "removeOnTermination volume deleted: {left:?}"
    );
    assert!(
        left.iter().any(|v| v.volume_id == keep.volume_id),
        "the other volume is kept: {left:?}"
    );
}

#[tokio::test]
async fn partitions_are_validated_against_regions_and_zones() {
    let moto = Moto::start();
    let driver = driver(&moto.endpoint, &[]);
    let props = |items: &[(&str, &str)]| -> iaas::Properties {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    driver
        .validate_partition(
            "p1",
            &props(&[("region", "us-east-1"), ("zone", "us-east-1a")]),
        )
        .await
        .expect("good region and zone");
    driver
        .validate_partition("p2", &props(&[("region", "eu-west-1")]))
        .await
        .expect("good region, any zone");
    let err = driver
        .validate_partition(
            "p3",
            &props(&[("region", "us-east-1"), ("zone", "us-east-1z")]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest);
    assert!(
        err.message.contains("us-east-1z") && err.message.contains("p3"),
        "{err}"
    );
    let err = driver
        .validate_partition(
            "p4",
            &props(&[("region", "mars-north-1"), ("zone", "mars-north-1a")]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.class, ErrorClass::InvalidRequest, "{err}");
    assert!(err.message.contains("mars-north-1"), "{err}");
}
