//! Tenants apart on a real RabbitMQ (`alto dev --amqp-url`, `--bus-separation vhost` by
//! default): each tenant's members get a payload naming only their tenant's virtual host and
//! broker user; the broker refuses those credentials anywhere else; what a tenant's agent
//! sends about another tenant's member changes nothing and is counted as refused; a tenant's
//! topology never shows another tenant's members; the virtual host goes with the tenant's last
//! cluster. Needs RabbitMQ with its management plugin (`scripts/test.sh` starts it).

mod common;

use common::*;
use futures_lite::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MANAGEMENT: &str = "http://127.0.0.1:15672";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write conf");
}

/// A mock cloud without simulated agents (the test plays them), a policy that scales up on a
/// load above 50.
fn conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    write(
        &conf,
        "cloud-controller.xml",
        &mock_cloud_xml(&[("mock.agent", "false"), ("mock.start.latency.ms", "20")]),
    );
    write(&conf, "cartridge.xml", &web_cartridge(&["mock"]));
    write(
        &conf,
        "autoscale.xml",
        r#"<autoscalePolicy id="spiky"><loadThresholds>
  <loadAverage><threshold value="50"/></loadAverage>
</loadThresholds></autoscalePolicy>"#,
    );
    write(
        &conf,
        "deployment.xml",
        r#"<deploymentPolicy id="spread"><partitionGroup id="np">
  <partitionAlgo>one-after-another</partitionAlgo>
  <partition id="p1"><provider>mock</provider><min>1</min><max>3</max></partition>
</partitionGroup></deploymentPolicy>"#,
    );
    conf
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One tenant: its login, cluster, only member, and what that member's payload says.
struct Tenant {
    login: String,
    cluster_id: String,
    member: Value,
    payload: std::collections::BTreeMap<String, String>,
}

impl Tenant {
    fn amqp_url(&self) -> &str {
        self.payload.get("AMQP_URL").expect("payload has AMQP_URL")
    }
    fn vhost(&self) -> &str {
        self.payload.get("MB_VHOST").expect("payload has MB_VHOST")
    }
    fn member_id(&self) -> &str {
        self.member["memberId"].as_str().unwrap_or_default()
    }
    fn body(&self, member: &Value, cluster_id: &str) -> Value {
        json!({
            "serviceName": "web", "clusterId": cluster_id,
            "networkPartitionId": member["networkPartitionId"],
            "partitionId": member["partitionId"], "memberId": member["memberId"],
        })
    }
}

fn onboard(alto: &Alto, domain: &str, alias: &str) -> Tenant {
    let password = "tenant-pw-1";
    let (status, body) = alto.admin().post_json(
        "/api/tenants",
        &json!({"tenantDomain": domain, "admin": "boss", "adminPassword": password, "email": format!("boss@{domain}")}),
    );
    assert_eq!(status, 201, "{body}");
    let login = format!("boss@{domain}");
    let api = alto.api(&login, password);
    let (status, sub) = api.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "web", "alias": alias, "autoscalePolicy": "spiky", "deploymentPolicy": "spread"}),
    );
    assert_eq!(status, 201, "{sub}");
    let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
    let cluster = api.wait_for(
        &format!("/api/clusters/{cluster_id}"),
        Duration::from_secs(30),
        "an Initialized member",
        |s, b| s == 200 && member_states(b) == ["Initialized"],
    );
    let member = cluster["members"][0].clone();
    let payload = member_payload(&alto.data, member["memberId"].as_str().unwrap_or_default());
    Tenant {
        login,
        cluster_id,
        member,
        payload,
    }
}

/// The payload the mock cloud was given for `member_id` (its state file keeps it).
fn member_payload(data: &Path, member_id: &str) -> std::collections::BTreeMap<String, String> {
    let path = data.join("mock-mock.json");
    // The state file follows the cloud's change log about a second behind.
    let state = cloud_state_settled(data, "mock", Duration::from_secs(5), |state| {
        state["instances"].as_object().is_some_and(|m| {
            m.values()
                .any(|i| i["tags"]["altostratus:member-id"] == member_id)
        })
    });
    let instance = state["instances"]
        .as_object()
        .and_then(|m| {
            m.values()
                .find(|i| i["tags"]["altostratus:member-id"] == member_id)
        })
        .unwrap_or_else(|| panic!("no instance of {member_id} in {}", path.display()));
    instance["payload"]
        .as_str()
        .expect("payload")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Publish `events` (routing key, body) with `url`'s credentials; `Err` when the broker
/// refused the connection or any publish.
async fn publish(url: &str, events: &[(String, Value)]) -> Result<(), String> {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .map_err(|e| e.to_string())?;
    let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
    channel
        .confirm_select(Default::default())
        .await
        .map_err(|e| e.to_string())?;
    for (key, body) in events {
        let confirm = channel
            .basic_publish(
                "amq.topic".into(),
                key.as_str().into(),
                Default::default(),
                body.to_string().as_bytes(),
                Default::default(),
            )
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        if !confirm.is_ack() {
            return Err(format!("{key}: not acknowledged"));
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}

fn status_events(
    t: &Tenant,
    member: &Value,
    cluster_id: &str,
    names: &[&str],
) -> Vec<(String, Value)> {
    names
        .iter()
        .map(|n| (format!("instance.status.{n}"), t.body(member, cluster_id)))
        .collect()
}

fn spike(t: &Tenant, member: &Value, cluster_id: &str, n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|_| {
            let mut body = t.body(member, cluster_id);
            body["timestamp"] = json!(0);
            body["loadAverage"] = json!(1000.0);
            body["memoryConsumption"] = json!(10.0);
            ("health.stats.MemberHealthStatsEvent".to_string(), body)
        })
        .collect()
}

/// The value of a counter line `name{labels}` in the exposition (0 when absent).
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn scrape(alto: &Alto) -> String {
    reqwest::blocking::get(format!("{}/metrics", alto.url))
        .and_then(|r| r.text())
        .expect("GET /metrics")
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn vhost_exists(name: &str) -> bool {
    let status = reqwest::blocking::Client::new()
        .get(format!(
            "{MANAGEMENT}/api/vhosts/{}",
            name.replace('/', "%2F")
        ))
        .basic_auth("guest", Some("guest"))
        .send()
        .expect("management API (scripts/test.sh enables rabbitmq_management)")
        .status();
    status.is_success()
}

#[test]
fn tenants_cannot_touch_or_see_each_other_on_the_bus() {
    let dir = temp_dir("tenant-bus");
    let prefix = queue_prefix("tenantbus");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir)),
            args: vec![
                "--amqp-url".into(),
                amqp_url(),
                "--amqp-queue-prefix".into(),
                prefix.clone(),
                "--scale-up-cooldown".into(),
                "0".into(),
                "--termination-timeout".into(),
                "2".into(),
            ],
            ..StartOptions::default()
        },
    );
    let a = onboard(&alto, "acme.example", "shop");
    let b = onboard(&alto, "evil.example", "lair");
    for t in [&a, &b] {
        assert!(t.vhost().starts_with(&prefix), "{}", t.vhost());
        assert!(
            !t.amqp_url().contains("guest"),
            "a tenant got the platform's credentials"
        );
        assert!(t.payload.get("MB_PASSWORD").is_some_and(|p| p.len() >= 20));
    }
    // The leader sets each tenant's virtual host up within a sync pass: poll until the
    // tenant's own credentials let it in.
    let rt = runtime();
    for t in [&a, &b] {
        wait_until("the tenant's virtual host", Duration::from_secs(20), || {
            vhost_exists(t.vhost()) && rt.block_on(publish(t.amqp_url(), &[])).is_ok()
        });
    }
    assert_ne!(a.vhost(), b.vhost());
    let api_a = alto.api(&a.login, "tenant-pw-1");
    let api_b = alto.api(&b.login, "tenant-pw-1");

    // B watches its own topology from the start (an agent's queue name, which B may declare).
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<(String, String)>();
    let watch_url = b.amqp_url().to_string();
    let watch_queue = format!("{prefix}cartridge-agent.evil-watch");
    let watcher = std::thread::spawn(move || {
        runtime().block_on(async move {
            let conn = lapin::Connection::connect(&watch_url, Default::default())
                .await
                .expect("B connects to its own virtual host");
            let channel = conn.create_channel().await.expect("channel");
            channel
                .queue_declare(
                    watch_queue.as_str().into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    Default::default(),
                )
                .await
                .expect("B declares an agent queue");
            channel
                .queue_bind(
                    watch_queue.as_str().into(),
                    "amq.topic".into(),
                    "topology.#".into(),
                    QueueBindOptions::default(),
                    Default::default(),
                )
                .await
                .expect("B binds to topology");
            let mut consumer = channel
                .basic_consume(
                    watch_queue.as_str().into(),
                    "watch".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    Default::default(),
                )
                .await
                .expect("consume");
            let _ = seen_tx.send(("ready".into(), String::new()));
            while let Some(Ok(d)) = consumer.next().await {
                let body = String::from_utf8_lossy(&d.data).into_owned();
                if seen_tx
                    .send((d.routing_key.as_str().to_string(), body))
                    .is_err()
                {
                    break;
                }
            }
        })
    });
    assert_eq!(
        seen_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("watcher ready")
            .0,
        "ready"
    );

    // Each tenant's agent reports over its own virtual host: both members become Active.
    for t in [&a, &b] {
        rt.block_on(publish(
            t.amqp_url(),
            &status_events(
                t,
                &t.member,
                &t.cluster_id,
                &["InstanceStartedEvent", "InstanceActivatedEvent"],
            ),
        ))
        .expect("a tenant publishes its own member's events");
        alto.api(&t.login, "tenant-pw-1").wait_for(
            &format!("/api/clusters/{}", t.cluster_id),
            Duration::from_secs(20),
            "Active over the tenant's virtual host",
            |s, body| s == 200 && member_states(body) == ["Active"],
        );
    }

    // The broker refuses B's credentials in A's virtual host and in the platform's.
    let a_vhost_with_b_creds = b
        .amqp_url()
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/{}", a.vhost()))
        .expect("url");
    let platform_with_b_creds = b
        .amqp_url()
        .rsplit_once('/')
        .map(|(base, _)| format!("{base}/%2f"))
        .expect("url");
    for url in [&a_vhost_with_b_creds, &platform_with_b_creds] {
        let refused = rt.block_on(publish(url, &[]));
        assert!(
            refused.is_err(),
            "B's credentials opened another virtual host"
        );
    }
    // Nor may B publish topology or cleanup events, even in its own virtual host.
    let forged_topology = rt.block_on(publish(
        b.amqp_url(),
        &[(
            "topology.MemberTerminatedEvent".into(),
            b.body(&b.member, &b.cluster_id),
        )],
    ));
    assert!(forged_topology.is_err(), "B published a topology event");

    // B, in its own virtual host, sends a ReadyToShutdown and a load spike for A's member.
    let before = scrape(&alto);
    let refused_before = |kind: &str| {
        counter(
            &before,
            "alto_bus_messages_refused_total",
            &[kind, "wrong-tenant"],
        )
    };
    let (shutdown0, health0) = (
        refused_before("InstanceReadyToShutdownEvent"),
        refused_before("MemberHealthStatsEvent"),
    );
    let mut forged = status_events(
        &b,
        &a.member,
        &a.cluster_id,
        &["InstanceReadyToShutdownEvent"],
    );
    forged.extend(spike(&b, &a.member, &a.cluster_id, 20));
    // And a load balancer's figure for A's cluster.
    forged.push((
        "health.stats.ClusterRequestsInFlightEvent".into(),
        json!({"clusterId": a.cluster_id, "requestsInFlight": 100000, "timestamp": 0}),
    ));
    let cluster_stat0 = refused_before("ClusterRequestsInFlightEvent");
    rt.block_on(publish(b.amqp_url(), &forged))
        .expect("B may publish agent events");
    wait_until(
        "the forged events refused and counted",
        Duration::from_secs(20),
        || {
            let m = scrape(&alto);
            counter(
                &m,
                "alto_bus_messages_refused_total",
                &["InstanceReadyToShutdownEvent", "wrong-tenant"],
            ) >= shutdown0 + 1.0
                && counter(
                    &m,
                    "alto_bus_messages_refused_total",
                    &["MemberHealthStatsEvent", "wrong-tenant"],
                ) >= health0 + 20.0
                && counter(
                    &m,
                    "alto_bus_messages_refused_total",
                    &["ClusterRequestsInFlightEvent", "wrong-tenant"],
                ) >= cluster_stat0 + 1.0
        },
    );
    // Nothing changed for A: its one member is still Active and no decision scaled it.
    let (status, cluster) = api_a.get(&format!("/api/clusters/{}", a.cluster_id));
    assert_eq!(status, 200);
    assert_eq!(member_states(&cluster), ["Active"], "{cluster}");
    assert_eq!(cluster["members"][0]["memberId"], a.member["memberId"]);

    // The same spike from A's own agent does scale A: the refusal above is the only reason
    // nothing happened.
    rt.block_on(publish(
        a.amqp_url(),
        &spike(&a, &a.member, &a.cluster_id, 10),
    ))
    .expect("A publishes its own stats");
    api_a.wait_for(
        &format!("/api/clusters/{}", a.cluster_id),
        Duration::from_secs(30),
        "A scaled up by its own load",
        |s, body| s == 200 && member_states(body).len() > 1,
    );

    // B asks for the complete topology on its own virtual host: it sees its cluster, never A's.
    rt.block_on(publish(
        b.amqp_url(),
        &[("initializer.CompleteTopologyRequestEvent".into(), json!({}))],
    ))
    .expect("B asks for the topology");
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = seen_rx
            .recv_timeout(left)
            .expect("B gets a CompleteTopologyEvent");
        let complete = got.0 == "topology.CompleteTopologyEvent" && got.1.contains(&b.cluster_id);
        seen.push(got);
        if complete {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|(key, body)| key == "topology.MemberActivatedEvent"
                && body.contains(b.member_id())),
        "B's topology lacks its own member's activation: {seen:?}"
    );
    for (key, body) in &seen {
        assert!(
            !body.contains(&a.cluster_id) && !body.contains(a.member_id()),
            "B saw A's cluster in {key}: {body}"
        );
    }

    // Unsubscribed, a tenant's virtual host goes with its last cluster.
    for (t, api, alias) in [(&a, &api_a, "shop"), (&b, &api_b, "lair")] {
        let (status, body) = api.delete(&format!("/api/subscriptions/{alias}"));
        assert!(status == 200 || status == 202, "{status} {body}");
        let _ = t;
    }
    // The mock cloud's instances have no agent to answer the cleanup: they are terminated
    // after the termination timeout; the vhost goes once the clusters are removed.
    for t in [&a, &b] {
        wait_until(
            "the tenant's virtual host removed",
            Duration::from_secs(120),
            || !vhost_exists(t.vhost()),
        );
    }
    drop(seen_rx);
    alto.stop();
    let _ = watcher.join();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Poll an MQTT event loop for up to 30 s.
async fn mqtt_poll(eventloop: &mut rumqttc::EventLoop) -> rumqttc::Event {
    match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
        Err(_) => panic!("no MQTT traffic within 30 s"),
        Ok(Err(e)) => panic!(
            "MQTT connection failed: {e} (scripts/services.sh configures the anonymous listener)"
        ),
        Ok(Ok(event)) => event,
    }
}

#[test]
fn anonymous_mqtt_agents_are_heard_only_for_cartridges_that_opt_in() {
    let port: u16 = std::env::var("ALTO_TEST_MQTT_ANONYMOUS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1885);
    let vhost =
        std::env::var("ALTO_TEST_MQTT_ANONYMOUS_VHOST").unwrap_or_else(|_| "alto-anonymous".into());
    let dir = temp_dir("anonymous-mqtt");
    let conf = conf(&dir);
    // A second cartridge whose agents are Stratos 4.1.0's: they give no credentials.
    write(
        &conf,
        "stratos.xml",
        r#"<cartridge type="legacy" host="legacy.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>legacy</displayName><description>anonymous MQTT agents</description>
  <iaasProvider type="mock"><imageId>img</imageId></iaasProvider>
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
  <property name="bus.anonymous.mqtt" value="true"/>
</cartridge>"#,
    );
    let prefix = queue_prefix("anonmqtt");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf),
            args: vec![
                "--amqp-url".into(),
                amqp_url(),
                "--amqp-queue-prefix".into(),
                prefix,
                "--anonymous-mqtt-vhost".into(),
                vhost,
            ],
            ..StartOptions::default()
        },
    );
    let admin = alto.admin();
    let mut members = Vec::new();
    for (cartridge, alias) in [("legacy", "old"), ("web", "new")] {
        let (status, sub) = admin.post_json(
            "/api/subscriptions",
            &json!({"cartridgeType": cartridge, "alias": alias, "autoscalePolicy": "spiky", "deploymentPolicy": "spread"}),
        );
        assert_eq!(status, 201, "{sub}");
        let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
        let cluster = admin.wait_for(
            &format!("/api/clusters/{cluster_id}"),
            Duration::from_secs(30),
            "an Initialized member",
            |s, b| s == 200 && member_states(b) == ["Initialized"],
        );
        let m = &cluster["members"][0];
        let body = json!({
            "serviceName": cartridge, "clusterId": cluster_id,
            "networkPartitionId": m["networkPartitionId"], "partitionId": m["partitionId"],
            "memberId": m["memberId"],
        });
        members.push((cluster_id, body));
    }
    let (legacy_cluster, legacy) = members[0].clone();
    let (web_cluster, web) = members[1].clone();

    let seen = runtime().block_on(async {
        let mut options = rumqttc::MqttOptions::new(
            format!("alto-anon-{}", std::process::id()),
            "127.0.0.1",
            port,
        );
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
        client
            .subscribe("topology/#", rumqttc::QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) =
                mqtt_poll(&mut eventloop).await
            {
                break;
            }
        }
        // The web member's agent has credentials: the same events anonymously are refused.
        for body in [&web, &legacy] {
            for event in ["InstanceStartedEvent", "InstanceActivatedEvent"] {
                client
                    .publish(
                        format!("instance/status/{event}"),
                        rumqttc::QoS::AtLeastOnce,
                        false,
                        body.to_string(),
                    )
                    .await
                    .expect("publish");
            }
        }
        // Until the legacy member's activation comes back (the controller consumes the
        // anonymous virtual host within a sync pass; repeats are harmless duplicates).
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut republish = tokio::time::interval(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            tokio::select! {
                _ = republish.tick() => {
                    for event in ["InstanceStartedEvent", "InstanceActivatedEvent"] {
                        for body in [&web, &legacy] {
                            let _ = client
                                .publish(format!("instance/status/{event}"), rumqttc::QoS::AtLeastOnce, false, body.to_string())
                                .await;
                        }
                    }
                }
                event = mqtt_poll(&mut eventloop) => {
                    if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
                        let body = String::from_utf8_lossy(&p.payload).into_owned();
                        let done = p.topic == "topology/MemberActivatedEvent"
                            && body.contains(legacy["memberId"].as_str().unwrap_or("?"));
                        seen.push((p.topic.clone(), body));
                        if done {
                            break;
                        }
                    }
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the legacy member's activation never came back: {seen:?}");
        }
        let _ = client.disconnect().await;
        seen
    });
    let (_, cluster) = admin.get(&format!("/api/clusters/{legacy_cluster}"));
    assert_eq!(member_states(&cluster), ["Active"], "{cluster}");
    let (_, cluster) = admin.get(&format!("/api/clusters/{web_cluster}"));
    assert_eq!(
        member_states(&cluster),
        ["Initialized"],
        "anonymous events moved a member whose cartridge did not opt in: {cluster}"
    );
    let metrics = scrape(&alto);
    assert!(
        counter(
            &metrics,
            "alto_bus_messages_refused_total",
            &["InstanceStartedEvent", "wrong-tenant"]
        ) >= 1.0,
        "the anonymous events for the web member were not counted as refused"
    );
    for (topic, body) in &seen {
        assert!(
            !body.contains(&web_cluster),
            "anonymous agents saw {topic}: {body}"
        );
    }
    alto.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
