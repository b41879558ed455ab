//! Controller memory per tracked member: the real `alto dev` (SQLite, the in-process mock cloud,
//! RabbitMQ for the bus) on a registry bulk-loaded with N Active members (clusters of
//! `ALTO_BENCH_CLUSTER_SIZE`), their instances planted in the mock cloud's state file, one
//! round of health stats fed through the broker (one `MemberHealthStatsEvent` per member, as
//! agents publish every 15 s). Reports the growth of VmRSS against the same controller on an
//! empty registry, per member; and, measured in a fresh process on the same state file, what
//! the simulated cloud's instances alone take (a real cloud keeps them elsewhere).
//!
//! `cargo bench -p cloud-controller --bench member_memory` (needs RabbitMQ:
//! `scripts/services.sh`). Sizes: `ALTO_BENCH_MEMBERS` (1,000,000), `ALTO_BENCH_CLUSTER_SIZE`
//! (1,000), `ALTO_BENCH_STAT_RATE` (stats published per second, 8,000: below what the
//! controller consumes, so its capped health queue drops none), `ALTO_AMQP_URL`.

use alto_registry::{BulkMember, BulkSubscription, NewCluster, NewMember, NewSubscription};
use iaas::mock::{HealthPatterns, MockIaas};
use iaas::{DriverContext, ProviderSpec, Secret};
use messaging::events::{MemberHealthStatsEvent, MemberRef};
use messaging::{AmqpBus, AmqpConfig, Bus, Event, InProcessBus};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_PASSWORD: &str = "bench-admin-password";
const PROVIDER: &str = "mock";
const SERVICE: &str = "php";
const REPLICA: &str = "bench";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn conf(dir: &Path, cluster_size: usize) {
    std::fs::create_dir_all(dir).expect("conf dir");
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).expect("write");
    // No simulated agents: the bench is the agents, and publishes the stats itself.
    write(
        "cloud-controller.xml",
        format!(
            r#"<cloudController><iaasProviders>
  <iaasProvider type="{PROVIDER}" name="mock">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.agent" value="false"/>
  </iaasProvider>
</iaasProviders></cloudController>"#
        ),
    );
    write(
        "cartridge.xml",
        format!(
            r#"<cartridge type="{SERVICE}" host="php.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>php</displayName><description>bench</description>
  <iaasProvider type="{PROVIDER}"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#
        ),
    );
    write(
        "autoscale.xml",
        r#"<autoscalePolicy id="steady"><loadThresholds>
  <requestsInFlight><threshold value="1000000"/></requestsInFlight>
  <memoryConsumption><threshold value="1000000"/></memoryConsumption>
  <loadAverage><threshold value="1000000"/></loadAverage>
</loadThresholds>
<!-- Loading a million members and one round of stats takes minutes: no member may be
     called faulty for its silence before its first stat arrives. -->
<scaling><faultTimeoutSeconds>86400</faultTimeoutSeconds></scaling></autoscalePolicy>"#
            .to_string(),
    );
    write(
        "deployment.xml",
        format!(
            r#"<deploymentPolicy id="fixed"><partitionGroup id="np1">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>{PROVIDER}</provider><min>{cluster_size}</min><max>{cluster_size}</max></partition>
</partitionGroup></deploymentPolicy>"#
        ),
    );
}

fn cluster_id(c: usize) -> String {
    format!("bench{c:05}.{SERVICE}.domain")
}

fn member_id(c: usize, m: usize) -> String {
    format!("{}-{m:06}", cluster_id(c))
}

fn tags(cluster: &str, member: &str) -> BTreeMap<String, String> {
    [
        (iaas::TAG_MEMBER_ID, member),
        (iaas::TAG_CLUSTER_ID, cluster),
        (iaas::TAG_MANAGED_BY, iaas::MANAGED_BY_VALUE),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn address(prefix: u8, n: usize) -> String {
    format!(
        "{prefix}.{}.{}.{}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    )
}

fn instance_id(n: usize) -> String {
    format!("mock-{PROVIDER}-{:07}", n + 1)
}

/// The registry rows and the mock cloud's instances of `members` members.
fn load(data: &Path, members: usize, cluster_size: usize) {
    std::fs::create_dir_all(data).expect("data dir");
    let registry = alto_registry::Registry::open(&data.join("registry.db").display().to_string())
        .expect("open the registry");
    let clusters = members.div_ceil(cluster_size);
    let mut instances = Map::new();
    let mut n = 0;
    let begun = Instant::now();
    for c in 0..clusters {
        let cluster = cluster_id(c);
        let mut bulk_members = Vec::new();
        for m in 0..cluster_size.min(members - n) {
            let member = member_id(c, m);
            let tags = tags(&cluster, &member);
            instances.insert(
                instance_id(n),
                json!({
                    "instance_id": instance_id(n),
                    "member": {"serviceName": SERVICE, "clusterId": cluster,
                               "networkPartitionId": "np1", "partitionId": "p1", "memberId": member},
                    "tags": tags,
                    "private_ip": address(10, n),
                    "public_ip": address(20, n),
                    "payload": "",
                    "agent": false,
                    "agent_delay_ms": 100
                }),
            );
            bulk_members.push(BulkMember {
                member: NewMember {
                    member_id: member,
                    cluster_id: cluster.clone(),
                    tenant_id: alto_registry::SUPER_TENANT_ID,
                    service_name: SERVICE.into(),
                    network_partition_id: "np1".into(),
                    partition_id: "p1".into(),
                    provider_type: PROVIDER.into(),
                    tags,
                },
                instance_id: instance_id(n),
                private_ip: address(10, n),
                public_ip: address(20, n),
            });
            n += 1;
        }
        let alias = format!("bench{c:05}");
        registry
            .bulk_load(&[BulkSubscription {
                subscription: NewSubscription {
                    tenant_id: alto_registry::SUPER_TENANT_ID,
                    alias: alias.clone(),
                    cartridge_type: SERVICE.into(),
                    autoscale_policy: "steady".into(),
                    deployment_policy: "fixed".into(),
                },
                cluster: NewCluster {
                    cluster_id: cluster,
                    service_name: SERVICE.into(),
                    host_name: format!("{alias}.php.example.org"),
                    tenant_id: alto_registry::SUPER_TENANT_ID,
                    autoscale_policy: "steady".into(),
                    deployment_policy: "fixed".into(),
                    cartridge_key: "0123456789abcdef".into(),
                    properties: BTreeMap::new(),
                },
                members: bulk_members,
            }])
            .expect("bulk load");
    }
    let state = json!({"next_address": n, "injected_failures": 0, "starts": n,
                       "instances": instances});
    let file = std::fs::File::create(data.join(format!("mock-{PROVIDER}.json")))
        .expect("plant the instances");
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, &state).expect("plant the instances");
    out.flush().expect("plant the instances");
    // At a million members this process would otherwise keep gigabytes it no longer uses,
    // beside the controller under test on the same machine.
    drop(state);
    trim();
    println!(
        "loaded {n} members in {clusters} clusters (registry and mock cloud) in {:.1} s",
        begun.elapsed().as_secs_f64()
    );
}

/// VmRSS of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS")
}

struct Alto {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Alto {
    fn start(data: &Path, conf: &Path, amqp_url: &str, prefix: &str) -> Alto {
        let mut child = Command::new(env!("CARGO_BIN_EXE_alto"))
            .arg("dev")
            .arg("--data")
            .arg(data)
            .arg("--conf")
            .arg(conf)
            .args(["--amqp-url", amqp_url, "--amqp-queue-prefix", prefix])
            .args(["--replica-id", REPLICA, "--listen", "127.0.0.1:0"])
            .args(["--max-members-per-cluster", "100000"])
            .args(["--max-members-per-tenant", "100000000"])
            .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("ALTO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn alto");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(600))
            .expect("alto did not print 'listening on URL' within 10 minutes");
        Alto {
            child,
            url,
            http: reqwest::Client::new(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        match self
            .http
            .get(format!("{}{path}", self.url))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
        {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Poll `path` until `done`, within `timeout`.
    async fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(path).await;
            if status == 200 && done(&body) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?} ({status} {body})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The first reconciliation and a scaling pass over the first and the last cluster.
    async fn wait_tracking(&self, clusters: usize) {
        let timeout = Duration::from_secs(600);
        self.wait_for("/api/reconcile", timeout, "a reconciliation pass", |b| {
            b["time"].is_i64()
        })
        .await;
        for c in [0, clusters.saturating_sub(1)] {
            let path = format!("/api/clusters/{}/decisions", cluster_id(c));
            self.wait_for(&path, timeout, "a scaling evaluation", |b| {
                b.as_array().is_some_and(|a| !a.is_empty())
                    || b["records"].as_array().is_some_and(|a| !a.is_empty())
            })
            .await;
        }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Alto {
    /// A bench that fails (a timeout) leaves no controller behind; after `stop` it is gone.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RSS once it stops moving (within 1 %) over three reads a second apart, at most 60 s.
async fn settled_rss(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reads = vec![rss(pid)];
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        reads.push(rss(pid));
        let last = &reads[reads.len().saturating_sub(3)..];
        let (lo, hi) = (
            *last.iter().min().unwrap_or(&0),
            *last.iter().max().unwrap_or(&0),
        );
        if (last.len() == 3 && hi - lo <= hi / 100) || Instant::now() > deadline {
            return hi;
        }
    }
}

/// One stat per member, paced at `rate` per second.
async fn feed_stats(amqp_url: &str, members: usize, cluster_size: usize, rate: usize) -> f64 {
    let bus = AmqpBus::connect(AmqpConfig::new(amqp_url), Duration::from_secs(10))
        .await
        .expect("connect the stats publisher");
    let begun = Instant::now();
    for n in 0..members {
        let (c, m) = (n / cluster_size, n % cluster_size);
        let event = Event::MemberHealthStatsEvent(MemberHealthStatsEvent {
            member: MemberRef {
                service_name: SERVICE.into(),
                cluster_id: cluster_id(c),
                cluster_instance_id: None,
                network_partition_id: "np1".into(),
                partition_id: "p1".into(),
                member_id: member_id(c, m),
            },
            timestamp: 0,
            load_average: Some(20.0 + (n % 7) as f64),
            memory_consumption: Some(40.0 + (n % 11) as f64),
            requests_in_flight: Some((n % 13) as f64),
        });
        bus.publish(&event).await.expect("publish a stat");
        if n % 1000 == 999 {
            let due = Duration::from_secs_f64((n + 1) as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(begun.elapsed()) {
                tokio::time::sleep(ahead).await;
            }
        }
    }
    bus.close().await;
    begun.elapsed().as_secs_f64()
}

/// Give the allocator's free pages back, so that RSS counts what is in use.
fn trim() {
    // SAFETY: malloc_trim has no precondition; it only returns pages no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What the simulated cloud's instances take in a process of their own, from the same state
/// file: this bench, run again with `ALTO_BENCH_MOCK_SHARE_OF=DIR` (a fresh process, so the
/// memory this one freed after loading cannot hide it).
fn mock_share(data: &Path) -> u64 {
    let out = Command::new(std::env::current_exe().expect("this bench's path"))
        .env("ALTO_BENCH_MOCK_SHARE_OF", data)
        .stderr(Stdio::inherit())
        .output()
        .expect("run the mock cloud's measurement");
    assert!(out.status.success(), "the mock cloud's measurement failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("the mock cloud's measurement printed its bytes")
}

/// The measurement itself: RSS with the mock cloud opened on a copy of the state file, less
/// before, each after a trim (what parsing the file freed is not the instances').
fn mock_share_here(data: &Path) -> u64 {
    let copy = data.with_extension("mock-copy");
    std::fs::create_dir_all(&copy).expect("copy dir");
    std::fs::copy(
        data.join(format!("mock-{PROVIDER}.json")),
        copy.join(format!("mock-{PROVIDER}.json")),
    )
    .expect("copy the state file");
    let me = std::process::id();
    let ctx = DriverContext {
        bus: Arc::new(InProcessBus::new()) as Arc<dyn Bus>,
        health_patterns: HealthPatterns::default(),
        state_dir: Some(copy.clone()),
        agent_amqp: None,
        caller: iaas::Caller::default(),
    };
    let spec = ProviderSpec {
        provider_type: PROVIDER.into(),
        provider: "mock".into(),
        class_name: None,
        identity: Secret::new("x"),
        credential: Secret::new("y"),
        image_id: None,
        properties: Default::default(),
    };
    trim();
    let before = rss(me);
    let mock = MockIaas::new(&spec, &ctx).expect("open the mock cloud");
    trim();
    let after = rss(me);
    drop(mock);
    let _ = std::fs::remove_dir_all(&copy);
    after.saturating_sub(before)
}

fn root() -> PathBuf {
    let root = std::env::temp_dir().join(format!("alto-bench-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("bench root");
    root
}

#[tokio::main]
async fn main() {
    if let Some(dir) = std::env::var_os("ALTO_BENCH_MOCK_SHARE_OF") {
        println!("{}", mock_share_here(Path::new(&dir)));
        return;
    }
    let members = env_usize("ALTO_BENCH_MEMBERS", 1_000_000).max(1);
    let cluster_size = env_usize("ALTO_BENCH_CLUSTER_SIZE", 1_000).max(1);
    let rate = env_usize("ALTO_BENCH_STAT_RATE", 8_000).max(1);
    let amqp_url = std::env::var("ALTO_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let clusters = members.div_ceil(cluster_size);
    let root = root();
    let conf_dir = root.join("conf");
    conf(&conf_dir, cluster_size);
    let prefix = format!("bench-memory-{}.", std::process::id());

    // The reference: the same controller without members.
    let empty = Alto::start(&root.join("empty"), &conf_dir, &amqp_url, &prefix);
    empty
        .wait_for(
            "/api/reconcile",
            Duration::from_secs(60),
            "a reconciliation pass",
            |b| b["time"].is_i64(),
        )
        .await;
    let baseline = settled_rss(empty.pid()).await;
    empty.stop();

    let data = root.join("full");
    load(&data, members, cluster_size);
    let begun = Instant::now();
    let alto = Alto::start(&data, &conf_dir, &amqp_url, &prefix);
    let listening = begun.elapsed().as_secs_f64();
    alto.wait_tracking(clusters).await;
    let tracking = begun.elapsed().as_secs_f64();
    let tracked = settled_rss(alto.pid()).await;
    let fed = feed_stats(&amqp_url, members, cluster_size, rate).await;
    let with_stats = settled_rss(alto.pid()).await;
    alto.stop();
    let mock = mock_share(&data);

    let per = |bytes: u64| bytes.saturating_sub(baseline) as f64 / members as f64;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{members} members in {clusters} clusters: listening after {listening:.1} s, tracking after {tracking:.1} s, one round of stats published in {fed:.1} s"
    );
    let _ = writeln!(
        out,
        "VmRSS: empty registry {:.1} MB; tracking {:.1} MB ({:.0} B/member); after one round of stats {:.1} MB ({:.0} B/member)",
        baseline as f64 / 1e6,
        tracked as f64 / 1e6,
        per(tracked),
        with_stats as f64 / 1e6,
        per(with_stats),
    );
    let _ = writeln!(
        out,
        "of which the in-process mock cloud's instances (same file, measured in a fresh process): {:.0} B/member; controller without them: {:.0} B/member (target <= 2048)",
        mock as f64 / members as f64,
        per(with_stats) - mock as f64 / members as f64,
    );
    let _ = std::fs::remove_dir_all(&root);
}
