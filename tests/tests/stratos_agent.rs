//! The unmodified Apache Stratos 4.1.0 Python cartridge agent (`../shared/stratos-agent-4.1.0/`)
//! against `alto dev` on the mock cloud with `mock.agent=false`: one agent per member, each
//! in a copy of the agent's directory with the `agent.conf`, payload and `logging.ini` a
//! Stratos image's configurator would write (the broker and health receiver addresses taken
//! from the member's payload), run by Python 2.7 from the virtualenv `scripts/stratos-agent.sh`
//! makes. The agents speak MQTT to RabbitMQ's plugin and send health over Thrift; the test
//! checks two members Active, still Active after three fault timeouts, a scale-up on the load
//! they report, an unsubscribe through their cleanup handshake, and no traceback in any log.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Short, so that "three fault timeouts" is a short wait; agents report every 2 s.
const FAULT_TIMEOUT_SECS: u64 = 8;
const STATS_INTERVAL_SECS: u64 = 2;
const THRIFT_PASSWORD: &str = "e2e-thrift-pw";

fn agent_source() -> PathBuf {
    repo_root()
        .join("../shared/stratos-agent-4.1.0/src/main/python/cartridge.agent/cartridge.agent")
}

fn python() -> PathBuf {
    let python = std::env::var("ALTO_STRATOS_PYTHON").unwrap_or_else(|_| {
        panic!("ALTO_STRATOS_PYTHON is not set: export ALTO_STRATOS_PYTHON=$(scripts/stratos-agent.sh)")
    });
    let python = PathBuf::from(python);
    assert!(
        python.exists(),
        "{} does not exist: run scripts/stratos-agent.sh",
        python.display()
    );
    python
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn conf(dir: &Path, app_port: u16) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    write(
        &conf.join("cloud-controller.xml"),
        &mock_cloud_xml(&[("mock.agent", "false"), ("mock.start.latency.ms", "20")]),
    );
    write(
        &conf.join("cartridge.xml"),
        &format!(
            r#"<cartridge type="stratosweb" host="stratos.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>run by the Stratos 4.1 agent</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="{app_port}" proxyPort="{app_port}"/></portMapping>
  <property name="bus.anonymous.mqtt" value="true"/>
</cartridge>"#
        ),
    );
    write(&conf.join("autoscale.xml"), &load_policy(1_000_000));
    write(
        &conf.join("deployment.xml"),
        r#"<deploymentPolicy id="stratos-deployment"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>mock</provider><min>2</min><max>3</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

/// Scale on the load average the agents report, above `threshold` (per core, percent).
fn load_policy(threshold: u32) -> String {
    format!(
        r#"<autoscalePolicy id="stratos-load"><loadThresholds>
  <loadAverage><average value="{threshold}"/></loadAverage>
</loadThresholds></autoscalePolicy>"#
    )
}

/// A payload line as the agent reads it (split on `,`, then `=`).
fn payload_map(line: &str) -> BTreeMap<String, String> {
    line.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One agent: its directory and process.
struct Agent {
    dir: PathBuf,
    child: Child,
}

/// Runs an agent for each instance of the mock cloud and stops it when its instance goes, as
/// a cloud boots and destroys machines.
struct Fleet {
    stop: Arc<AtomicBool>,
    agents: Arc<Mutex<BTreeMap<String, Agent>>>,
    dirs: Arc<Mutex<Vec<PathBuf>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fleet {
    fn start(data: PathBuf, root: PathBuf, openssl_conf: PathBuf) -> Fleet {
        let stop = Arc::new(AtomicBool::new(false));
        let agents: Arc<Mutex<BTreeMap<String, Agent>>> = Arc::default();
        let dirs: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let python = python();
        std::fs::create_dir_all(&root).expect("agents dir");
        let thread = {
            let (stop, agents, dirs) = (stop.clone(), agents.clone(), dirs.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let instances = instance_payloads(&data);
                    let mut running = agents.lock().expect("agents");
                    for (instance, payload) in &instances {
                        if !running.contains_key(instance) {
                            let dir = root.join(instance);
                            let agent = launch(&python, &dir, payload, &openssl_conf);
                            dirs.lock().expect("dirs").push(dir);
                            running.insert(instance.clone(), agent);
                        }
                    }
                    let gone: Vec<String> = running
                        .keys()
                        .filter(|i| !instances.contains_key(*i))
                        .cloned()
                        .collect();
                    for instance in gone {
                        if let Some(agent) = running.remove(&instance) {
                            terminate(agent);
                        }
                    }
                    drop(running);
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        };
        Fleet {
            stop,
            agents,
            dirs,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) -> Vec<PathBuf> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // A panic there has been printed; the agents still need stopping.
            let _ = thread.join();
        }
        let agents = match self.agents.lock() {
            Ok(mut agents) => std::mem::take(&mut *agents),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for (_, agent) in agents {
            terminate(agent);
        }
        match self.dirs.lock() {
            Ok(dirs) => dirs.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// instance id → payload, from the mock cloud's state file.
fn instance_payloads(data: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(data.join("mock-mock.json")) else {
        return BTreeMap::new();
    };
    let Ok(state) = serde_json::from_str::<Value>(&text) else {
        // Written by rename, so never half; but be patient with a reader race anyway.
        return BTreeMap::new();
    };
    state["instances"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(id, i)| (id.clone(), i["payload"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// What a Stratos image's configurator does at boot, then `python agent.py`.
fn launch(python: &Path, dir: &Path, payload: &str, openssl_conf: &Path) -> Agent {
    let copied = Command::new("cp")
        .arg("-r")
        .arg(agent_source())
        .arg(dir)
        .status()
        .expect("cp");
    assert!(copied.success(), "copying the agent to {}", dir.display());
    let writable = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(dir)
        .status()
        .expect("chmod");
    assert!(writable.success());
    let keys = payload_map(payload);
    let key = |k: &str| {
        keys.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("the payload has no {k}: the agent cannot be configured"))
    };
    std::fs::create_dir_all(dir.join("payload")).expect("payload dir");
    write(&dir.join("payload/launch-params"), payload);
    write(
        &dir.join("agent.conf"),
        &format!(
            "[agent]
mb.ip = {mb_ip}
mb.port = {mb_port}
listen.address = 127.0.0.1
thrift.receiver.ip = {cep_ip}
thrift.receiver.port = {cep_port}
thrift.server.admin.username = admin
thrift.server.admin.password = {THRIFT_PASSWORD}
cep.stats.publisher.enabled = true
stats.notifier.interval = {STATS_INTERVAL_SECS}
enable.artifact.update = false
auto.commit = false
auto.checkout = false
artifact.update.interval = 15
port.check.timeout = 60000
enable.data.publisher = false
super.tenant.repository.path = /repository/deployment/server/
tenant.repository.path = /repository/tenants/
",
            mb_ip = key("MB_IP"),
            mb_port = key("MB_PORT"),
            cep_ip = key("CEP_IP"),
            cep_port = key("CEP_PORT"),
        ),
    );
    // INFO and up in agent.log, which must hold no traceback; everything in debug.log (where
    // yapsy, the agent's plugin loader, logs the expected failures of its class probing with
    // their tracebacks at DEBUG).
    write(
        &dir.join("logging.ini"),
        &format!(
            "[formatters]
keys=default
[formatter_default]
format=[%(asctime)s] %(levelname)s {{%(filename)s:%(funcName)s}} - %(message)s
class=logging.Formatter
[handlers]
keys=log_file,debug_file
[handler_log_file]
class=logging.FileHandler
level=INFO
formatter=default
args=('{}', 'a')
[handler_debug_file]
class=logging.FileHandler
level=DEBUG
formatter=default
args=('{}', 'a')
[loggers]
keys=root
[logger_root]
level=DEBUG
handlers=log_file,debug_file
",
            dir.join("agent.log").display(),
            dir.join("debug.log").display()
        ),
    );
    // The image's own extension for an event the stock set has no script for (the agent
    // runs one for every member initialised in its topology).
    let hook = dir.join("extensions/bash/MemberInitializedEvent.sh");
    write(&hook, "#!/bin/sh\nexit 0\n");
    let chmod = Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()
        .expect("chmod");
    assert!(chmod.success());
    let console = std::fs::File::create(dir.join("console.log")).expect("console log");
    let child = Command::new(python)
        .arg("agent.py")
        .current_dir(dir)
        // The image's OpenSSL must allow TLS 1.0: the agent's Thrift pins it.
        .env("OPENSSL_CONF", openssl_conf)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(console.try_clone().expect("console log"))
        .stderr(console)
        .spawn()
        .expect("start the Stratos agent");
    Agent {
        dir: dir.to_path_buf(),
        child,
    }
}

/// SIGTERM, as a machine shutting down; SIGKILL if it does not go within 5 s (its threads
/// are not daemons, so it may not).
fn terminate(mut agent: Agent) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(agent.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = agent.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    let _ = &agent.dir;
}

fn members(cluster: &Value) -> Vec<(String, String)> {
    cluster["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["memberId"].as_str().unwrap_or("").to_string(),
                        m["state"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Bounded CPU burners, so that the host's load average the agents report is well above
/// zero even on an idle machine.
fn burn_cpu(stop: Arc<AtomicBool>, for_at_most: Duration) -> Vec<std::thread::JoinHandle<()>> {
    (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let until = Instant::now() + for_at_most;
                let mut x: u64 = 1;
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    for _ in 0..100_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                }
            })
        })
        .collect()
}

#[test]
fn the_unmodified_stratos_agent_is_a_first_class_agent() {
    // The agent's sources are not ours to commit: they come from ../shared, and without it
    // there is nothing to run (the only skip the house allows, said out loud).
    if !agent_source().is_dir() {
        println!(
            "SKIP: {} is absent; the unmodified Stratos agent cannot be run",
            agent_source().display()
        );
        return;
    }
    let started = Instant::now();
    let _ = python();
    // The broker's anonymous MQTT listener, mapped to a virtual host of its own (the agent
    // gives no credentials; scripts/services.sh, docs/SECURITY.md); the cartridge opts in.
    let mqtt_port: u16 = std::env::var("ALTO_TEST_MQTT_ANONYMOUS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1885);
    let anonymous_vhost =
        std::env::var("ALTO_TEST_MQTT_ANONYMOUS_VHOST").unwrap_or_else(|_| "alto-anonymous".into());
    let dir = temp_dir("stratos-agent");
    // The cartridge's port, open as a server on the member would have it: the agent
    // activates only once every port accepts connections.
    let app = TcpListener::bind("127.0.0.1:0").expect("app port");
    let app_port = app.local_addr().expect("app addr").port();
    std::thread::spawn(move || for _ in app.incoming() {});
    let thrift_port = free_port();
    let openssl_conf = dir.join("openssl-tls1.cnf");
    write(
        &openssl_conf,
        "openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n[tls]\nMinProtocol = TLSv1\nCipherString = DEFAULT@SECLEVEL=0\n",
    );
    // Where a Stratos image keeps its extensions' log (the stock scripts append to it).
    std::fs::create_dir_all("/var/log/apache-stratos").expect("/var/log/apache-stratos");

    let data = dir.join("data");
    let alto = Alto::start_with(
        &data,
        None,
        StartOptions {
            conf: Some(conf(&dir, app_port)),
            args: [
                "--amqp-url",
                &amqp_url(),
                "--amqp-queue-prefix",
                &queue_prefix("stratos"),
                "--mqtt-public",
                &format!("127.0.0.1:{mqtt_port}"),
                "--anonymous-mqtt-vhost",
                &anonymous_vhost,
                "--thrift-listen",
                &format!("127.0.0.1:{thrift_port}"),
                "--thrift-password",
                THRIFT_PASSWORD,
                "--fault-timeout",
                &FAULT_TIMEOUT_SECS.to_string(),
                "--topology-interval",
                "2",
                "--scale-up-cooldown",
                "2",
            ]
            .map(str::to_string)
            .to_vec(),
            env: Vec::new(),
            ..StartOptions::default()
        },
    );
    let mut fleet = Fleet::start(data.clone(), dir.join("agents"), openssl_conf);
    let admin = alto.admin();
    // An alias (so a cluster id) of this run's own: every controller on this broker publishes
    // to the anonymous virtual host, which reaches every anonymous MQTT agent, and the stock
    // agent takes the first CompleteTopologyEvent it sees as the topology (docs/PROTOCOL.md).
    let alias = format!("pca{}", std::process::id());
    let (status, sub) = admin.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "stratosweb", "alias": alias, "autoscalePolicy": "stratos-load", "deploymentPolicy": "stratos-deployment"}),
    );
    assert_eq!(status, 201, "{sub}");
    let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
    let path = format!("/api/clusters/{cluster_id}");

    // Two members Active, by their agents' own InstanceActivatedEvents over MQTT.
    let cluster = admin.wait_for(
        &path,
        Duration::from_secs(120),
        "two Active members",
        |s, b| s == 200 && member_states(b) == ["Active", "Active"],
    );
    let first: Vec<String> = members(&cluster).into_iter().map(|(id, _)| id).collect();
    println!("two Active after {:.0?}", started.elapsed());

    // Still the same two, Active, after three fault timeouts: their Thrift stats are heard.
    let watch_until = Instant::now() + Duration::from_secs(3 * FAULT_TIMEOUT_SECS + 2);
    while Instant::now() < watch_until {
        let (status, cluster) = admin.get(&path);
        assert_eq!(status, 200, "{cluster}");
        let now: Vec<(String, String)> = members(&cluster);
        assert_eq!(
            now,
            first
                .iter()
                .map(|id| (id.clone(), "Active".to_string()))
                .collect::<Vec<_>>(),
            "the Stratos agents' members must stay Active, never faulty"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let metrics = reqwest::blocking::get(format!("{}/metrics", alto.url))
        .and_then(|r| r.text())
        .expect("metrics");
    let consumed = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                r#"alto_bus_messages_consumed_total{kind="thrift.cartridge_agent_health_stats"}"#,
            )
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(consumed >= 4.0, "Thrift health stats applied: {consumed}");
    println!(
        "still Active after three fault timeouts, {consumed} Thrift stats, at {:.0?}",
        started.elapsed()
    );

    // Load: the policy's threshold comes down below the load the agents report (the host's
    // 1-minute load average per core, kept above zero by bounded CPU burners) → scale up.
    let burning = Arc::new(AtomicBool::new(false));
    let burners = burn_cpu(burning.clone(), Duration::from_secs(90));
    let (status, body) = admin.put_xml("/api/autoscalingPolicies/stratos-load", &load_policy(5));
    assert_eq!(status, 200, "{body}");
    admin.wait_for(
        &path,
        Duration::from_secs(60),
        "a third member from the load, Active by its own agent",
        |s, b| {
            let states = member_states(b);
            s == 200 && states.len() == 3 && states.iter().all(|st| st == "Active")
        },
    );
    burning.store(true, Ordering::Relaxed);
    for burner in burners {
        let _ = burner.join();
    }
    println!("scaled up to 3 at {:.0?}", started.elapsed());

    // Unsubscribe: the Active members go through the agents' cleanup handshake.
    let (status, body) = admin.delete(&format!("/api/subscriptions/{alias}"));
    assert!(
        status == 200 || status == 202 || status == 204,
        "{status} {body}"
    );
    admin.wait_no_subscriptions(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !instance_payloads(&data).is_empty() {
        assert!(
            Instant::now() < deadline,
            "instances left after the unsubscribe"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dirs = fleet.stop();
    println!("unsubscribed at {:.0?}", started.elapsed());

    let mut handshakes = 0;
    for dir in &dirs {
        let log = read(&dir.join("agent.log"));
        let console = read(&dir.join("console.log"));
        assert!(!log.is_empty(), "no log in {}", dir.display());
        assert!(
            !log.contains("Traceback") && !console.contains("Traceback"),
            "a traceback in {}:\n{log}\n{console}",
            dir.display()
        );
        let payload = read(&dir.join("payload/launch-params"));
        let member = payload_map(&payload)
            .get("MEMBER_ID")
            .cloned()
            .unwrap_or_default();
        if first.contains(&member) {
            assert!(log.contains("Instance activated event published"), "{log}");
            assert!(
                log.contains("Instance Maintenance mode event published")
                    && log.contains("Instance ReadyToShutDown event published"),
                "member {member} did not clean up:\n{log}"
            );
            handshakes += 1;
        }
    }
    assert_eq!(
        handshakes, 2,
        "both first members' agents went through the handshake"
    );
    alto.stop();
    println!("total {:.0?}", started.elapsed());
}
