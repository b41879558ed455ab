//! Real agents on a real RabbitMQ: the `local` cloud starts `cartridge-agent` processes, which
//! run their hooks and report over AMQP. Faults (kill -9), a broker restart, garbage on every
//! routing key, and MQTT clients. Needs RabbitMQ (`scripts/test.sh` starts it, with its MQTT
//! plugin on `ALTO_TEST_MQTT_PORT`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The broker restart must not overlap the other test of this binary.
static BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write conf");
}

/// A conf directory: one `local` cloud, a cartridge with the fixture hooks, min 2 members.
fn local_conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    write(
        &conf,
        "cloud-controller.xml",
        r#"<cloudController>
  <iaasProviders>
    <iaasProvider type="local" name="agents on this host">
      <className>local</className>
      <provider>local</provider>
      <identity>none</identity>
      <credential>none</credential>
      <property name="local.health.interval.secs" value="1"/>
      <property name="local.port.check.timeout.secs" value="60"/>
      <property name="local.terminate.grace.secs" value="5"/>
    </iaasProvider>
  </iaasProviders>
</cloudController>"#,
    );
    let extensions = repo_root().join("tests/fixtures/local-extensions");
    write(
        &conf,
        "cartridge-local.xml",
        &format!(
            r#"<cartridge type="localphp" host="local.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>Local PHP</displayName>
  <description>Real agents on this host</description>
  <iaasProvider type="local">
    <imageId>none</imageId>
    <property name="local.extensions.dir" value="{}"/>
  </iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
            extensions.display()
        ),
    );
    write(
        &conf,
        "autoscale.xml",
        r#"<autoscalePolicy id="local-autoscale"><loadThresholds>
  <requestsInFlight><threshold value="50"/></requestsInFlight>
</loadThresholds></autoscalePolicy>"#,
    );
    write(
        &conf,
        "deployment.xml",
        r#"<deploymentPolicy id="local-deployment"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="here"><provider>local</provider><min>2</min><max>4</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

fn subscribe(api: &Api, alias: &str) -> String {
    api.subscribe("localphp", alias, "local-autoscale", "local-deployment")
}

fn active(cluster: &Value) -> Vec<Value> {
    cluster["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["state"] == "Active")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn wait_active(api: &Api, cluster_id: &str, n: usize, timeout: Duration) -> Value {
    api.wait_for(
        &format!("/api/clusters/{cluster_id}"),
        timeout,
        &format!("{n} Active members of {cluster_id}"),
        |s, body| s == 200 && active(body).len() == n,
    )
}

/// `instance.json` of a member's local instance.
fn instance_record(data: &Path, instance_id: &str) -> Value {
    let path = data
        .join("local-local")
        .join(instance_id)
        .join("instance.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("instance.json")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
                found.push(pid);
            }
        }
    }
    found
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("run rabbitmqctl (scripts/test.sh installs RabbitMQ)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Publish `body` under every routing key we use (and two we do not) on `exchange`.
fn publish_garbage(url: &str, exchange: &str) -> Vec<String> {
    let mut keys: Vec<String> = messaging::Event::ROUTING_KEYS
        .iter()
        .map(|k| k.to_string())
        .collect();
    keys.push("instance.status.NoSuchEvent".into());
    keys.push("health.stats.Garbage".into());
    runtime().block_on(async {
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = conn.create_channel().await.expect("channel");
        for key in &keys {
            let body: &[u8] = b"{not json \xff\xfe";
            channel
                .basic_publish(
                    exchange.into(),
                    key.as_str().into(),
                    Default::default(),
                    body,
                    Default::default(),
                )
                .await
                .expect("publish")
                .await
                .expect("confirm");
        }
        let _ = conn.close(200, "bye".into()).await;
    });
    keys
}

fn dead_lettered(url: &str, queue: &str) -> u32 {
    runtime().block_on(async {
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = conn.create_channel().await.expect("channel");
        let q = channel
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .expect("dead-letter queue exists");
        q.message_count()
    })
}

/// The one tenant virtual host of the installation using `prefix`.
fn tenant_vhost_of(prefix: &str) -> String {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_vhosts", "name"])
        .output()
        .expect("rabbitmqctl list_vhosts");
    let vhosts: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|v| v.starts_with(prefix))
        .map(str::to_string)
        .collect();
    assert_eq!(
        vhosts.len(),
        1,
        "tenant virtual hosts of {prefix}: {vhosts:?}"
    );
    vhosts[0].clone()
}

/// Delete the queues a test's controller and agents declared (every name starts with the
/// test's queue prefix), so runs leave nothing behind on the shared broker.
fn delete_queues(prefix: &str) {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name"])
        .output()
        .expect("rabbitmqctl list_queues");
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect();
    runtime().block_on(async {
        let conn = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = conn.create_channel().await.expect("channel");
        for name in &names {
            let _ = channel
                .queue_delete(name.as_str().into(), Default::default())
                .await;
        }
        let _ = conn.close(200, "bye".into()).await;
    });
}

#[test]
fn real_agents_lifecycle_faults_broker_restart_and_garbage() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("agents");
    let conf = local_conf(&dir);
    let marks = dir.join("marks");
    std::fs::create_dir_all(&marks).expect("marks dir");
    let data = dir.join("data");
    let prefix = queue_prefix("agents");
    let exchange = format!("{prefix}events");
    let alto = Alto::start_with(
        &data,
        None,
        StartOptions {
            conf: Some(conf),
            args: vec![
                "--amqp-url".into(),
                amqp_url(),
                "--amqp-exchange".into(),
                exchange.clone(),
                "--amqp-queue-prefix".into(),
                prefix.clone(),
                "--fault-timeout".into(),
                "10".into(),
                "--termination-timeout".into(),
                "30".into(),
            ],
            env: vec![("ALTO_TEST_MARKS".into(), marks.display().to_string())],
            ..StartOptions::default()
        },
    );
    let (status, tenant) = alto.admin().post_json(
        "/api/tenants",
        &json!({"tenantDomain": "agents.example", "admin": "ops", "adminPassword": "ops-pass-1", "email": "ops@agents.example"}),
    );
    assert_eq!(status, 201, "{tenant}");
    let api = alto.api("ops@agents.example", "ops-pass-1");

    // 1. Subscribe: two real agent processes, hooks run, ports open, Active.
    let web = subscribe(&api, "web");
    let cluster = wait_active(&api, &web, 2, Duration::from_secs(90));
    let members = active(&cluster);
    let started = lines(&marks.join("started"));
    let servers = lines(&marks.join("servers"));
    for m in &members {
        let id = m["memberId"].as_str().expect("memberId");
        assert!(
            started.contains(&format!("{id} InstanceStartedEvent")),
            "InstanceStartedEvent hook of {id}: {started:?}"
        );
        let served = servers
            .iter()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("StartServers hook of {id}: {servers:?}"));
        let port: u16 = served
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let record = instance_record(&data, m["instanceId"].as_str().expect("instanceId"));
        assert_eq!(
            record["ports"]["80"].as_u64(),
            Some(u64::from(port)),
            "{record}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "the member's server answers"
        );
        assert_eq!(m["privateIps"][0], "127.0.0.1");
    }

    // 2. kill -9 one agent: faulty after the fault timeout, terminated, replaced.
    let victim = members[0]["memberId"]
        .as_str()
        .expect("memberId")
        .to_string();
    let record = instance_record(&data, members[0]["instanceId"].as_str().expect("id"));
    let pid = record["pid"].as_u64().expect("pid").to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill")
        .success());
    let killed_at = Instant::now();
    let cluster = api.wait_for(
        &format!("/api/clusters/{web}"),
        Duration::from_secs(60),
        "the killed member faulty and replaced",
        |s, body| {
            s == 200
                && active(body).len() == 2
                && body["members"].as_array().is_some_and(|ms| {
                    ms.iter().any(|m| {
                        m["memberId"] == victim.as_str()
                            && m["state"] == "Terminated"
                            && m["terminationReason"]
                                .as_str()
                                .is_some_and(|r| r.starts_with("faulty"))
                    })
                })
        },
    );
    assert!(
        killed_at.elapsed() >= Duration::from_secs(9),
        "faulty before the fault timeout"
    );
    assert!(!active(&cluster)
        .iter()
        .any(|m| m["memberId"] == victim.as_str()));

    // 3. Broker restart mid-run: a subscription made while the broker is down still comes up
    //    (the agents buffer their lifecycle events), and the API keeps serving meanwhile.
    rabbitmqctl(&["stop_app"]);
    let outage = Instant::now();
    let blog = subscribe(&api, "blog");
    let (status, _) = api.get(&format!("/api/clusters/{web}"));
    assert_eq!(status, 200, "the API serves while the broker is away");
    std::thread::sleep(Duration::from_secs(4));
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
    println!("broker was down {:?}", outage.elapsed());
    let blog_cluster = wait_active(&api, &blog, 2, Duration::from_secs(90));
    let cluster = wait_active(&api, &web, 2, Duration::from_secs(30));
    // Nobody was declared faulty because of the outage.
    let faulty_after_outage = cluster["members"]
        .as_array()
        .expect("members")
        .iter()
        .chain(blog_cluster["members"].as_array().expect("members"))
        .filter(|m| {
            m["terminationReason"]
                .as_str()
                .is_some_and(|r| r.starts_with("faulty"))
        })
        .count();
    assert_eq!(faulty_after_outage, 1, "only the killed member is faulty");

    // 4. Garbage on every routing key: dead-lettered, nothing crashes, everything goes on.
    // On the platform's virtual host and on the tenant's (where the agents are), with the
    // platform's credentials.
    let tenant_vhost = tenant_vhost_of(&prefix);
    let tenant_url =
        messaging::broker_admin::vhost_url(&amqp_url(), &tenant_vhost).expect("tenant vhost URL");
    let keys = publish_garbage(&amqp_url(), &exchange);
    publish_garbage(&tenant_url, &exchange);
    let dead_letter = format!("{prefix}alto.dead-letter");
    // The controller consumes instance.status.* (5 keys incl. the unknown one), health.# (2),
    // initializer.* (1) on both virtual hosts; each of the 4 agents consumes
    // instance.notifier.* (2) on the tenant's.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let platform = dead_lettered(&amqp_url(), &dead_letter);
        let tenant = dead_lettered(&tenant_url, &dead_letter);
        if platform >= 8 && tenant >= 8 + 4 * 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {platform} + {tenant} of the garbage messages ({keys:?}) were dead-lettered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_active(&api, &web, 2, Duration::from_secs(10));
    wait_active(&api, &blog, 2, Duration::from_secs(10));

    // 5. Unsubscribe: clean hooks run, every member Terminated, no agent process left.
    let leaving: Vec<String> = active(&api.get(&format!("/api/clusters/{web}")).1)
        .iter()
        .chain(active(&api.get(&format!("/api/clusters/{blog}")).1).iter())
        .map(|m| m["memberId"].as_str().unwrap_or_default().to_string())
        .collect();
    for alias in ["web", "blog"] {
        let (status, body) = api.delete(&format!("/api/subscriptions/{alias}"));
        assert_eq!(status, 202, "{body}");
    }
    api.wait_for(
        "/api/subscriptions",
        Duration::from_secs(90),
        "both subscriptions removed",
        |s, body| s == 200 && body.as_array().is_some_and(Vec::is_empty),
    );
    let cleaned = lines(&marks.join("cleaned"));
    for id in &leaving {
        assert!(cleaned.contains(id), "clean hook of {id}: {cleaned:?}");
    }
    for cluster_id in [&web, &blog] {
        let (_, cluster) = api.get(&format!("/api/clusters/{cluster_id}"));
        for m in cluster["members"].as_array().into_iter().flatten() {
            assert_eq!(m["state"], "Terminated", "{m}");
            if leaving.iter().any(|id| m["memberId"] == id.as_str()) {
                assert_eq!(m["terminationReason"], "unsubscribed", "{m}");
            }
        }
    }
    let data_marker = data.join("local-local").display().to_string();
    let left = processes_mentioning(&data_marker);
    assert!(left.is_empty(), "agent processes left: {left:?}");
    for line in lines(&marks.join("servers")) {
        let port: u16 = line
            .rsplit(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "a hook's server on {port} outlived its member"
        );
    }
    alto.stop();
    delete_queues(&prefix);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A conf directory with a mock cloud whose simulated agent never reports: the test plays
/// the agent over MQTT.
async fn poll(eventloop: &mut rumqttc::EventLoop, port: u16) -> rumqttc::Event {
    match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
        Err(_) => panic!("no MQTT traffic within 30 s (is the MQTT plugin on port {port}?)"),
        Ok(Err(e)) => panic!(
            "MQTT connection to 127.0.0.1:{port} failed: {e}; scripts/test.sh enables RabbitMQ's MQTT plugin"
        ),
        Ok(Ok(event)) => event,
    }
}

fn silent_mock_conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    write(
        &conf,
        "cloud-controller.xml",
        r#"<cloudController><iaasProviders>
  <iaasProvider type="mock" name="mock">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.agent" value="false"/>
    <property name="mock.start.latency.ms" value="50"/>
  </iaasProvider>
</iaasProviders></cloudController>"#,
    );
    write(
        &conf,
        "cartridge.xml",
        r#"<cartridge type="mqttphp" host="mqtt.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>MQTT PHP</displayName><description>agent played over MQTT</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#,
    );
    write(
        &conf,
        "autoscale.xml",
        r#"<autoscalePolicy id="mqtt-autoscale"><loadThresholds>
  <requestsInFlight><threshold value="50"/></requestsInFlight>
</loadThresholds></autoscalePolicy>"#,
    );
    write(
        &conf,
        "deployment.xml",
        r#"<deploymentPolicy id="mqtt-deployment"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>mock</provider><min>1</min><max>1</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

/// The payload the mock cloud was given for `member_id`, as `KEY → VALUE`.
fn payload_of(data: &Path, member_id: &str) -> std::collections::BTreeMap<String, String> {
    let path = data.join("mock-mock.json");
    // The state file follows the cloud's change log about a second behind.
    let state = cloud_state_settled(data, "mock", Duration::from_secs(5), |state| {
        state["instances"].as_object().is_some_and(|m| {
            m.values()
                .any(|i| i["tags"]["altostratus:member-id"] == member_id)
        })
    });
    let instances = state["instances"].as_object().cloned().unwrap_or_default();
    let instance = instances
        .values()
        .find(|i| i["tags"]["altostratus:member-id"] == member_id)
        .unwrap_or_else(|| panic!("no instance of {member_id} in {}", path.display()));
    instance["payload"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn mqtt_clients_speak_the_same_protocol() {
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let mqtt_port: u16 = std::env::var("ALTO_TEST_MQTT_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1884);
    let dir = temp_dir("mqtt");
    let prefix = queue_prefix("mqtt");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(silent_mock_conf(&dir)),
            // The default exchange, amq.topic, is where RabbitMQ's MQTT plugin publishes.
            args: vec![
                "--amqp-url".into(),
                amqp_url(),
                "--amqp-queue-prefix".into(),
                prefix.clone(),
            ],
            env: Vec::new(),
            ..StartOptions::default()
        },
    );
    let admin = alto.admin();
    let (status, sub) = admin.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "mqttphp", "alias": "viamqtt", "autoscalePolicy": "mqtt-autoscale", "deploymentPolicy": "mqtt-deployment"}),
    );
    assert_eq!(status, 201, "{sub}");
    let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
    let path = format!("/api/clusters/{cluster_id}");
    let cluster = admin.wait_for(
        &path,
        Duration::from_secs(30),
        "an Initialized member",
        |s, b| s == 200 && member_states(b) == ["Initialized"],
    );
    let member = cluster["members"][0].clone();
    // The member's payload names its tenant's virtual host and broker user; RabbitMQ's MQTT
    // plugin takes the virtual host in the user name (`VHOST:USER`).
    let payload = payload_of(&alto.data, member["memberId"].as_str().unwrap_or_default());
    let mqtt_user = format!("{}:{}", payload["MB_VHOST"], payload["MB_USERNAME"]);
    let mqtt_password = payload["MB_PASSWORD"].clone();
    // The leader sets the virtual host up within a pass: wait until its credentials let us in.
    let deadline = Instant::now() + Duration::from_secs(20);
    while runtime()
        .block_on(lapin::Connection::connect(
            &payload["AMQP_URL"],
            lapin::ConnectionProperties::default(),
        ))
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the tenant's virtual host never let its agent in"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = json!({
        "serviceName": "mqttphp",
        "clusterId": cluster_id,
        "networkPartitionId": member["networkPartitionId"],
        "partitionId": member["partitionId"],
        "memberId": member["memberId"],
    })
    .to_string();

    runtime().block_on(async {
        let mut options = rumqttc::MqttOptions::new(
            format!("alto-e2e-{}", std::process::id()),
            "127.0.0.1",
            mqtt_port,
        );
        options.set_credentials(mqtt_user.clone(), mqtt_password.clone());
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        client
            .subscribe("topology/#", rumqttc::QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        // Wait for the subscription to be acknowledged before publishing.
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) =
                poll(&mut eventloop, mqtt_port).await
            {
                break;
            }
        }
        for event in ["InstanceStartedEvent", "InstanceActivatedEvent"] {
            client
                .publish(
                    format!("instance/status/{event}"),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    body.clone(),
                )
                .await
                .expect("publish");
        }
        // The controller's topology event reaches the MQTT subscriber.
        let member_id = member["memberId"].as_str().unwrap_or_default().to_string();
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) =
                poll(&mut eventloop, mqtt_port).await
            {
                if p.topic == "topology/MemberActivatedEvent" {
                    let v: Value = serde_json::from_slice(&p.payload).expect("JSON body");
                    assert_eq!(v["memberId"], member_id.as_str(), "{v}");
                    break;
                }
            }
        }
        let _ = client.disconnect().await;
    });
    let cluster = admin.wait_for(&path, Duration::from_secs(10), "Active via MQTT", |s, b| {
        s == 200 && member_states(b) == ["Active"]
    });
    assert_eq!(cluster["members"][0]["memberId"], member["memberId"]);
    alto.stop();
    delete_queues(&prefix);
    let _ = std::fs::remove_dir_all(&dir);
}
