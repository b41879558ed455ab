//! Shared by the `ec2_*` integration tests: a moto server per test, drivers and specs.
#![allow(dead_code)]

use iaas::ec2::Ec2Iaas;
use iaas::{
    InstanceSpec, Properties, ProviderSpec, Secret, MANAGED_BY_VALUE, TAG_CLUSTER_ID,
    TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "AKIDALTOSTRATUSTEST";
pub const SECRET_KEY: &str = "alto/secret+KEY-never-printed";
pub const REGION: &str = "us-east-1";
pub const IMAGE: &str = "us-east-1/ami-12c6146b";

/// Where moto_server is: `ALTO_MOTO_SERVER`, else the venv scripts/moto.sh creates.
pub fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ALTO_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("ALTO_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/altostratus/moto-venv")
        });
    venv.join("bin/moto_server")
}

/// A moto server on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
}

impl Moto {
    pub fn start() -> Moto {
        let server = moto_server_path();
        assert!(
            server.is_file(),
            "moto_server not found at {}: run scripts/moto.sh (it installs moto in a virtualenv \
             and prints the path), or set ALTO_MOTO_SERVER to the moto_server binary",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!("alto-moto-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("moto log file");
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "moto_server exited ({status}) before answering:\n{}",
                    moto.log_text()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 60s:\n{}",
                moto.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub fn provider(endpoint: &str, props: &[(&str, &str)]) -> ProviderSpec {
    let mut properties: Properties = [("jclouds.endpoint", endpoint), ("region", REGION)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    properties.insert("ec2.poll.interval.ms".into(), "100".into());
    properties.insert("ec2.retry.min.delay.ms".into(), "50".into());
    for (k, v) in props {
        properties.insert(k.to_string(), v.to_string());
    }
    ProviderSpec {
        provider_type: "ec2-test".into(),
        provider: "aws-ec2".into(),
        class_name: None,
        identity: Secret::new(ACCESS_KEY),
        credential: Secret::new(SECRET_KEY),
        image_id: Some(IMAGE.into()),
        properties,
    }
}

pub fn driver(endpoint: &str, props: &[(&str, &str)]) -> Ec2Iaas {
    Ec2Iaas::new(&provider(endpoint, props)).expect("driver")
}

pub fn spec(member: &str, cluster: &str, props: &[(&str, &str)]) -> InstanceSpec {
    let tags: BTreeMap<String, String> = [
        (TAG_MEMBER_ID, member),
        (TAG_CLUSTER_ID, cluster),
        (TAG_MANAGED_BY, MANAGED_BY_VALUE),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    InstanceSpec {
        member_id: member.into(),
        cluster_id: cluster.into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        image_id: None,
        payload: format!(
            "SERVICE_NAME=php,MEMBER_ID={member},CLUSTER_ID={cluster},CARTRIDGE_KEY=k3y+/=,LB_CLUSTER_ID=null"
        ),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tags,
        volumes: Vec::new(),
    }
}

/// The user data an instance was started with, as EC2 reports it (base64-decoded).
pub async fn user_data(driver: &Ec2Iaas, instance_id: &str) -> Vec<u8> {
    use base64::Engine;
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
            iaas::ec2::api::Idempotency::Safe,
        )
        .await
        .expect("DescribeInstanceAttribute");
    let encoded = iaas::ec2::parse::attribute_value(&root, "userData").expect("userData value");
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .expect("user data is base64")
}

/// The EBS volumes tagged with `member`'s id.
pub async fn member_volumes(driver: &Ec2Iaas, member: &str) -> Vec<iaas::ec2::parse::Volume> {
    let params = vec![
        ("Filter.1.Name".to_string(), format!("tag:{TAG_MEMBER_ID}")),
        ("Filter.1.Value.1".to_string(), member.to_string()),
    ];
    let root = driver
        .client()
        .call(
            REGION,
            "DescribeVolumes",
            &params,
            iaas::ec2::api::Idempotency::Safe,
        )
        .await
        .expect("DescribeVolumes");
    iaas::ec2::parse::volumes(&root)
}
