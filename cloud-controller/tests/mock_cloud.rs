//! One mock cloud for several replicas: `alto mock-cloud` (in this process, and as the built
//! binary) driven through the `mock` provider with `mock.endpoint`, as the controller builds
//! it (`DriverRegistry::with_builtin()`).

use cloud_controller::mock_cloud::{self, MockCloud};
use iaas::mock::wire::{CallCount, CallCounts};
use iaas::mock::HealthPatterns;
use iaas::{
    Caller, DriverContext, DriverRegistry, ErrorClass, Iaas, InstanceFilter, InstanceSpec,
    Properties, ProviderSpec, Secret, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY,
    TAG_MEMBER_ID,
};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alto-mock-cloud-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The mock cloud in this process on 127.0.0.1:0.
fn serve(dir: &Path) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let cloud = MockCloud::new(
        dir,
        Arc::new(messaging::InProcessBus::new()),
        HealthPatterns::default(),
    )
    .expect("mock cloud");
    let (server, addr) = mock_cloud::bind(cloud, "127.0.0.1:0".parse().unwrap()).expect("bind");
    let handle = server.handle();
    tokio::spawn(server);
    (addr, handle)
}

/// A replica's driver for `provider_type` on the mock cloud at `addr`.
fn driver(addr: SocketAddr, provider_type: &str, caller: &Caller) -> Arc<dyn Iaas> {
    let spec = ProviderSpec {
        provider_type: provider_type.into(),
        provider: "mock".into(),
        class_name: None,
        identity: Secret::new("i"),
        credential: Secret::new("c"),
        image_id: None,
        properties: [
            ("mock.endpoint", format!("http://{addr}")),
            ("mock.agent.delay.ms", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    };
    let ctx = DriverContext {
        bus: Arc::new(messaging::InProcessBus::new()),
        health_patterns: HealthPatterns::default(),
        state_dir: None,
        agent_amqp: None,
        caller: caller.clone(),
    };
    DriverRegistry::with_builtin()
        .build(&spec, &ctx)
        .unwrap_or_else(|e| panic!("driver: {e}"))
}

fn instance_spec(member: &str) -> InstanceSpec {
    InstanceSpec {
        member_id: member.into(),
        cluster_id: "c1".into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        image_id: None,
        payload: format!("MEMBER_ID={member},CARTRIDGE_KEY=s3cr3t"),
        properties: Properties::new(),
        tags: [
            (TAG_MEMBER_ID, member),
            (TAG_CLUSTER_ID, "c1"),
            (TAG_MANAGED_BY, MANAGED_BY_VALUE),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        volumes: Vec::new(),
    }
}

fn by_member(member: &str) -> InstanceFilter {
    InstanceFilter {
        cluster_id: None,
        member_id: Some(member.into()),
    }
}

async fn calls(addr: SocketAddr) -> CallCounts {
    reqwest::get(format!("http://{addr}/calls"))
        .await
        .expect("GET /calls")
        .json()
        .await
        .expect("calls JSON")
}

fn count(start: u64, terminate: u64, stale: u64) -> CallCount {
    CallCount {
        start,
        terminate,
        stale,
    }
}

#[actix_web::test]
async fn two_replicas_share_one_cloud_and_each_call_is_counted() {
    let dir = temp_dir("shared");
    let (addr, handle) = serve(&dir);
    let a = driver(addr, "shared", &Caller::new("replica-a"));
    let b = driver(addr, "shared", &Caller::new("replica-b"));
    a.initialize().await.expect("a registers");
    b.initialize().await.expect("b registers (kept)");

    let first = a.start_instance(&instance_spec("m1")).await.expect("start");
    let again = a
        .start_instance(&instance_spec("m1"))
        .await
        .expect("restart");
    assert_eq!(first.instance_id, again.instance_id, "start is idempotent");
    assert!(dir.join("mock-shared.json").is_file(), "state file written");
    let seen_by_b = b
        .describe_instances(&by_member("m1"))
        .await
        .expect("describe");
    assert_eq!(seen_by_b.len(), 1, "the other replica sees the same cloud");
    assert_eq!(seen_by_b[0].instance_id, first.instance_id);
    assert_eq!(
        b.describe_instances(&InstanceFilter {
            cluster_id: Some("other".into()),
            member_id: None
        })
        .await
        .expect("describe")
        .len(),
        0
    );
    // The payload never comes back in a described instance.
    assert!(!serde_json::to_string(&seen_by_b)
        .unwrap()
        .contains("s3cr3t"));

    b.terminate_instance(&first.instance_id)
        .await
        .expect("terminate");
    let gone = a.terminate_instance(&first.instance_id).await.unwrap_err();
    assert_eq!(gone.class, ErrorClass::NotFound, "{gone}");
    let unknown = a.terminate_instance("mock-nope-000009").await.unwrap_err();
    assert_eq!(unknown.class, ErrorClass::NotFound, "{unknown}");
    assert!(a
        .describe_instances(&by_member("m1"))
        .await
        .unwrap()
        .is_empty());

    let counted = calls(addr).await;
    assert_eq!(
        counted.get("replica-a"),
        Some(&count(2, 2, 0)),
        "{counted:?}"
    );
    assert_eq!(
        counted.get("replica-b"),
        Some(&count(0, 1, 0)),
        "{counted:?}"
    );
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn an_injected_error_keeps_its_class_and_code_across_the_wire() {
    let dir = temp_dir("quota");
    let (addr, handle) = serve(&dir);
    let a = driver(addr, "quota", &Caller::new("replica-a"));
    a.initialize().await.expect("register");
    let mut spec = instance_spec("m1");
    spec.properties
        .insert("mock.fail.start".into(), "quota".into());
    let err = a.start_instance(&spec).await.unwrap_err();
    assert_eq!(err.class, ErrorClass::Quota, "{err}");
    assert_eq!(err.code.as_deref(), Some("MockInjectedFailure"));
    assert_eq!(err.provider_type, "quota");
    assert!(!err.to_string().contains("s3cr3t"));
    assert_eq!(calls(addr).await.get("replica-a"), Some(&count(1, 0, 0)));

    // A ratio (transient by default) over the wire: the 2nd of every 2 starts fails.
    spec.properties.clear();
    spec.properties
        .insert("mock.fail.start.ratio".into(), "0.5".into());
    let mut classes = Vec::new();
    for member in ["r1", "r2", "r3", "r4"] {
        spec.member_id = member.into();
        spec.tags.insert(TAG_MEMBER_ID.into(), member.into());
        classes.push(a.start_instance(&spec).await.err().map(|e| e.class));
    }
    // Start #1 was the quota failure above, so the ratio's count is at 1 here.
    assert_eq!(
        classes,
        [
            Some(ErrorClass::Transient),
            None,
            Some(ErrorClass::Transient),
            None
        ]
    );
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn a_fenced_leader_is_refused_and_counted_as_stale() {
    let dir = temp_dir("fencing");
    let (addr, handle) = serve(&dir);
    let old = Caller::new("replica-old");
    let new = Caller::new("replica-new");
    let old_driver = driver(addr, "fenced", &old);
    let new_driver = driver(addr, "fenced", &new);
    old_driver.initialize().await.expect("register");

    old.fencing_token.store(5, Ordering::SeqCst);
    old_driver
        .start_instance(&instance_spec("m1"))
        .await
        .expect("leader of term 5 starts");
    new.fencing_token.store(6, Ordering::SeqCst);
    let m2 = new_driver
        .start_instance(&instance_spec("m2"))
        .await
        .expect("leader of term 6 starts");

    // The old leader does not know it lost: its token is still 5.
    let refused = old_driver
        .start_instance(&instance_spec("m3"))
        .await
        .unwrap_err();
    assert_eq!(refused.class, ErrorClass::InvalidRequest, "{refused}");
    assert_eq!(refused.code.as_deref(), Some("StaleFencingToken"));
    let refused = old_driver
        .terminate_instance(&m2.instance_id)
        .await
        .unwrap_err();
    assert_eq!(refused.code.as_deref(), Some("StaleFencingToken"));
    assert!(
        old_driver
            .describe_instances(&by_member("m3"))
            .await
            .unwrap()
            .is_empty(),
        "a refused start leaves no instance"
    );
    assert_eq!(
        new_driver
            .describe_instances(&by_member("m2"))
            .await
            .unwrap()
            .len(),
        1,
        "a refused terminate leaves the instance"
    );
    let counted = calls(addr).await;
    assert_eq!(
        counted.get("replica-old"),
        Some(&count(2, 1, 2)),
        "{counted:?}"
    );
    assert_eq!(
        counted.get("replica-new"),
        Some(&count(1, 0, 0)),
        "{counted:?}"
    );

    // The stale token is refused at the wire too (409), with the JSON error body.
    let response = reqwest::Client::new()
        .delete(format!(
            "http://{addr}/providers/fenced/instances/{}",
            m2.instance_id
        ))
        .header("X-Alto-Replica", "curl")
        .header("X-Alto-Fencing-Token", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["class"], "invalid-request");
    assert_eq!(body["code"], "StaleFencingToken");
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn bad_requests_get_a_json_error_body() {
    let dir = temp_dir("bounds");
    let (addr, handle) = serve(&dir);
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let huge = serde_json::json!({ "properties": { "x": "y".repeat(600 * 1024) } });
    let cases = [
        (client.post(format!("{base}/providers/t")).json(&huge), 413),
        (
            client.post(format!("{base}/providers/t")).body("{not json"),
            400,
        ),
        (
            client
                .post(format!("{base}/providers/a.b"))
                .json(&serde_json::json!({"properties": {}})),
            400,
        ),
        (
            client
                .post(format!("{base}/providers/t"))
                .header("X-Alto-Replica", "r".repeat(200))
                .json(&serde_json::json!({"properties": {}})),
            400,
        ),
        (
            client
                .delete(format!("{base}/providers/t/instances/i"))
                .header("X-Alto-Fencing-Token", "minus-one"),
            400,
        ),
        (client.get(format!("{base}/nowhere")), 404),
        // Nobody registered `t`: transient, the client registers and repeats.
        (client.get(format!("{base}/providers/t/instances")), 503),
    ];
    for (request, status) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.status().as_u16(), status);
        let body: serde_json::Value = response.json().await.expect("JSON error body");
        assert!(
            body["class"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `alto mock-cloud` as a process; its address read from its first stdout line.
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    fn start(dir: &Path) -> Process {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_alto"))
            .args(["mock-cloud", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir)
            .env("ALTO_LOG", "warn")
            .env_remove("ALTO_AMQP_URL")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn alto mock-cloud");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("alto mock-cloud prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Process { child, addr }
    }

    /// SIGTERM, then wait (with a deadline) for a clean exit.
    fn stop(mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                assert!(exit.success(), "graceful exit on SIGTERM: {exit}");
                return;
            }
            assert!(Instant::now() < deadline, "alto mock-cloud ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn the_binary_keeps_its_instances_across_a_restart() {
    let dir = temp_dir("binary");
    let first = Process::start(&dir);
    let caller = Caller::new("replica-a");
    let a = driver(first.addr, "restarted", &caller);
    a.initialize().await.expect("register");
    let started = a.start_instance(&instance_spec("m1")).await.expect("start");
    assert!(dir.join("mock-restarted.json").is_file());
    first.stop();

    let second = Process::start(&dir);
    // Not initialized against this process: the restarted cloud does not know the type, so
    // the driver registers it again and repeats the call.
    let a_again = driver(second.addr, "restarted", &caller);
    let found = a_again
        .describe_instances(&by_member("m1"))
        .await
        .expect("describe");
    assert_eq!(found.len(), 1, "the restarted cloud still has the instance");
    assert_eq!(found[0].instance_id, started.instance_id);
    a_again
        .terminate_instance(&started.instance_id)
        .await
        .expect("terminate after the restart");
    let counted = calls(second.addr).await;
    assert_eq!(
        counted.get("replica-a"),
        Some(&count(0, 1, 0)),
        "{counted:?}"
    );
    second.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
