use super::volumes::device_name;
use super::*;
use crate::types::Secret;

fn provider(props: &[(&str, &str)], image: Option<&str>) -> ProviderSpec {
    ProviderSpec {
        provider_type: "ec2".into(),
        provider: "aws-ec2".into(),
        class_name: None,
        identity: Secret::new("AKIDTEST"),
        credential: Secret::new("secret-key"),
        image_id: image.map(str::to_string),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn client_token_is_deterministic_and_short() {
    let a = client_token("member-1");
    assert_eq!(a, client_token("member-1"));
    assert_ne!(a, client_token("member-2"));
    assert!(a.len() <= 64 && a.is_ascii(), "{a}");
}

#[test]
fn image_ids_split_into_region_and_ami() {
    assert_eq!(
        split_image_id("us-east-1/ami-12345"),
        (Some("us-east-1"), "ami-12345")
    );
    assert_eq!(split_image_id("ami-12345"), (None, "ami-12345"));
    assert_eq!(split_image_id("/ami-1"), (None, "ami-1"));
}

#[test]
fn endpoint_comes_from_properties_or_region() {
    let d = Ec2Iaas::new(&provider(&[("region", "eu-west-1")], None)).unwrap();
    assert_eq!(
        d.client().endpoint("eu-west-1"),
        "https://ec2.eu-west-1.amazonaws.com/"
    );
    let d = Ec2Iaas::new(&provider(
        &[("jclouds.endpoint", "http://127.0.0.1:5000")],
        None,
    ))
    .unwrap();
    assert_eq!(d.client().endpoint("eu-west-1"), "http://127.0.0.1:5000/");
    let d = Ec2Iaas::new(&provider(&[("endpoint", "http://h:1/")], None)).unwrap();
    assert_eq!(d.client().endpoint("x"), "http://h:1/");
    let e = Ec2Iaas::new(&provider(&[("endpoint", "ftp://h")], None))
        .err()
        .unwrap();
    assert_eq!(e.class, ErrorClass::InvalidRequest);
    let e = Ec2Iaas::new(&provider(&[("ec2.retry.max", "many")], None))
        .err()
        .unwrap();
    assert!(e.message.contains("ec2.retry.max"), "{e}");
}

#[test]
fn region_comes_from_property_or_image_and_must_agree() {
    let spec = |image: Option<&str>, props: &[(&str, &str)]| InstanceSpec {
        member_id: "m".into(),
        cluster_id: "c".into(),
        service_name: "s".into(),
        network_partition_id: "np".into(),
        partition_id: "p".into(),
        image_id: image.map(str::to_string),
        payload: String::new(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tags: BTreeMap::new(),
        volumes: Vec::new(),
    };
    let d = Ec2Iaas::new(&provider(&[], Some("ap-southeast-1/ami-2e0d5a7c"))).unwrap();
    let s = spec(None, &[]);
    assert_eq!(
        d.region_and_image(&s, &d.merged(&s.properties)).unwrap(),
        ("ap-southeast-1".to_string(), "ami-2e0d5a7c".to_string())
    );
    let s = spec(Some("ami-9"), &[("region", "us-west-2")]);
    assert_eq!(
        d.region_and_image(&s, &d.merged(&s.properties)).unwrap(),
        ("us-west-2".to_string(), "ami-9".to_string())
    );
    let s = spec(Some("us-east-1/ami-9"), &[("region", "us-west-2")]);
    let e = d
        .region_and_image(&s, &d.merged(&s.properties))
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::InvalidRequest);
    let d = Ec2Iaas::new(&provider(&[], None)).unwrap();
    let s = spec(Some("ami-9"), &[]);
    let e = d
        .region_and_image(&s, &d.merged(&s.properties))
        .unwrap_err();
    assert!(e.message.contains("no region"), "{e}");
    // The provider's image region is remembered for describe/terminate.
    let d = Ec2Iaas::new(&provider(&[], Some("ap-southeast-1/ami-2e0d5a7c"))).unwrap();
    assert_eq!(d.known_regions("x").unwrap(), vec!["ap-southeast-1"]);
}

#[test]
fn missing_credentials_are_an_auth_error() {
    let mut p = provider(&[], None);
    p.credential = Secret::new("");
    assert_eq!(Ec2Iaas::new(&p).err().unwrap().class, ErrorClass::Auth);
}

#[test]
fn devices_default_to_sdh_onwards() {
    let v = |device: &str| VolumeSpec {
        device: device.into(),
        ..VolumeSpec::default()
    };
    assert_eq!(device_name(&v(""), 0), "/dev/sdh");
    assert_eq!(device_name(&v(""), 1), "/dev/sdi");
    assert_eq!(device_name(&v("/dev/sdf"), 3), "/dev/sdf");
}

#[test]
fn capabilities_state_the_user_data_limit() {
    let d = Ec2Iaas::new(&provider(&[("region", "us-east-1")], None)).unwrap();
    let c = d.capabilities();
    assert!(c.floating_ips && c.key_pairs && c.volumes && c.security_groups);
    assert_eq!(c.max_payload_bytes, Some(16384));
}
