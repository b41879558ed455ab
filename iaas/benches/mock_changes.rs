//! The mock cloud's cost per change as its instance count grows: a start (and a termination)
//! against a state of 1,000 and of 100,000 instances, on a state directory (so each change is
//! durable before the call returns, in the change log), and the ratio of the two. As a
//! reference, measured in the same run: one pretty-JSON write of the whole state, which is what
//! every change cost before the log (and what a background compaction costs now, at most about
//! once a second).
//!
//! `cargo bench -p iaas --bench mock_changes`; sizes: `ALTO_BENCH_SMALL` (1,000),
//! `ALTO_BENCH_LARGE` (100,000), `ALTO_BENCH_CHANGES` (2,000 starts, then as many terminations).

use iaas::mock::{HealthPatterns, MockIaas};
use iaas::{
    Caller, DriverContext, Iaas, InstanceSpec, Properties, ProviderSpec, Secret, TAG_CLUSTER_ID,
    TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use messaging::{Bus, InProcessBus};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn member_id(n: usize) -> String {
    format!("web.php.domain-{n:08}")
}

fn tags(member: &str) -> Value {
    json!({
        TAG_MEMBER_ID: member,
        TAG_CLUSTER_ID: "web.php.domain",
        TAG_MANAGED_BY: iaas::MANAGED_BY_VALUE,
    })
}

/// A payload of the size the controller sends (Stratos' keys, ~600 bytes).
fn payload(member: &str) -> String {
    format!(
        "SERVICE_NAME=php,HOST_NAME=web.php.example.org,MULTITENANT=false,TENANT_ID=1,\
         CARTRIDGE_ALIAS=web,CLUSTER_ID=web.php.domain,MEMBER_ID={member},\
         NETWORK_PARTITION_ID=np1,PARTITION_ID=p1,PORTS=80|443,\
         MB_URLS=amqp://127.0.0.1:5672,CARTRIDGE_KEY=0123456789abcdef0123456789abcdef,\
         APPLICATION_PATH=/var/www,DEPLOYMENT=default,REPO_URL=,LB_CLUSTER_ID=,\
         PERSISTENCE_MAPPING=,MIN_COUNT=1,LOG_LEVEL=INFO,MB_USERNAME=tenant-1,MB_VHOST=/t1"
    )
}

/// Plant `n` instances in `dir`'s state file, as a tool would while no process holds it.
fn plant(dir: &Path, n: usize) {
    let mut instances = Map::new();
    for i in 0..n {
        let id = format!("mock-mock-{:06}", i + 1);
        let member = member_id(i);
        instances.insert(
            id.clone(),
            json!({
                "instance_id": id,
                "member": {"serviceName": "php", "clusterId": "web.php.domain",
                           "networkPartitionId": "np1", "partitionId": "p1", "memberId": member},
                "tags": tags(&member),
                "private_ip": format!("10.0.{}.{}", i >> 8 & 0xff, i & 0xff),
                "public_ip": format!("20.0.{}.{}", i >> 8 & 0xff, i & 0xff),
                "payload": payload(&member),
                "agent": false,
                "agent_delay_ms": 100
            }),
        );
    }
    let state = json!({"next_address": n, "injected_failures": 0, "starts": n,
                       "instances": instances});
    std::fs::write(
        dir.join("mock-mock.json"),
        serde_json::to_vec_pretty(&state).expect("JSON"),
    )
    .expect("write the planted state");
}

fn spec(member: &str) -> InstanceSpec {
    let tags = tags(member)
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    InstanceSpec {
        member_id: member.into(),
        cluster_id: "web.php.domain".into(),
        service_name: "php".into(),
        network_partition_id: "np1".into(),
        partition_id: "p1".into(),
        image_id: None,
        payload: payload(member),
        properties: Properties::new(),
        tags,
        volumes: Vec::new(),
    }
}

struct Figures {
    instances: usize,
    open: Duration,
    per_start: Duration,
    per_terminate: Duration,
    full_write: Duration,
}

async fn measure(root: &Path, instances: usize, changes: usize) -> Figures {
    let dir = root.join(format!("n{instances}"));
    std::fs::create_dir_all(&dir).expect("bench dir");
    plant(&dir, instances);
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let ctx = DriverContext {
        bus,
        health_patterns: HealthPatterns::default(),
        state_dir: Some(dir.clone()),
        agent_amqp: None,
        caller: Caller::default(),
    };
    let provider = ProviderSpec {
        provider_type: "mock".into(),
        provider: "mock".into(),
        class_name: None,
        identity: Secret::new("i"),
        credential: Secret::new("c"),
        image_id: None,
        properties: Properties::new(),
    };
    let begun = Instant::now();
    let mock = MockIaas::new(&provider, &ctx).expect("open the mock cloud");
    let open = begun.elapsed();

    let begun = Instant::now();
    let mut started = Vec::with_capacity(changes);
    for i in 0..changes {
        let instance = mock
            .start_instance(&spec(&member_id(instances + i)))
            .await
            .expect("start");
        started.push(instance.instance_id);
    }
    let per_start = begun.elapsed() / changes as u32;
    let begun = Instant::now();
    for id in &started {
        mock.terminate_instance(id).await.expect("terminate");
    }
    let per_terminate = begun.elapsed() / changes as u32;

    // The reference: what one change cost when every change rewrote the whole file.
    let begun = Instant::now();
    mock.compact().await.expect("compact");
    let full_write = begun.elapsed();
    drop(mock);
    let _ = std::fs::remove_dir_all(&dir);
    Figures {
        instances,
        open,
        per_start,
        per_terminate,
        full_write,
    }
}

fn root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("alto-bench-mock-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("bench root");
    root
}

#[tokio::main]
async fn main() {
    let small = env_usize("ALTO_BENCH_SMALL", 1_000);
    let large = env_usize("ALTO_BENCH_LARGE", 100_000);
    let changes = env_usize("ALTO_BENCH_CHANGES", 2_000).max(1);
    let root = root();
    println!("mock cloud cost per change ({changes} starts, then {changes} terminations)");
    let mut figures = Vec::new();
    for n in [small, large] {
        let f = measure(&root, n, changes).await;
        println!(
            "{:>9} instances: open {:>8.1} ms, start {:>7.1} µs, terminate {:>7.1} µs, \
             reference full write {:>8.1} ms",
            f.instances,
            f.open.as_secs_f64() * 1e3,
            f.per_start.as_secs_f64() * 1e6,
            f.per_terminate.as_secs_f64() * 1e6,
            f.full_write.as_secs_f64() * 1e3,
        );
        figures.push(f);
    }
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64().max(1e-12);
    let (s, l) = (&figures[0], &figures[1]);
    println!(
        "ratio {}/{}: start {:.2}, terminate {:.2}; reference full write {:.1}; \
         full write / start at {}: {:.0}",
        l.instances,
        s.instances,
        ratio(s.per_start, l.per_start),
        ratio(s.per_terminate, l.per_terminate),
        ratio(s.full_write, l.full_write),
        l.instances,
        ratio(l.per_start, l.full_write),
    );
    let _ = std::fs::remove_dir_all(&root);
}
