//! The controller on a three-node RabbitMQ cluster (`scripts/services.sh`
//! `ensure_rabbitmq_cluster`): `--amqp-url` lists the nodes, lifecycle rides on quorum queues,
//! health stats are sharded over the nodes. One node stops while members are starting: stats
//! keep flowing through the others, every member reaches and stays Active (not one lifecycle
//! event lost), and the node rejoins.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MEMBERS: usize = 24;

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(str::to_string)
        .collect()
}

/// What `ensure_rabbitmq_cluster` exports (its defaults when run without it).
struct Cluster {
    urls: String,
    nodes: Vec<String>,
    management: Vec<String>,
}

impl Cluster {
    fn from_env() -> Cluster {
        let cluster = Cluster {
            urls: env_list(
                "ALTO_TEST_AMQP_CLUSTER_URLS",
                "amqp://guest:guest@127.0.0.1:5681/%2f,amqp://guest:guest@127.0.0.1:5682/%2f,amqp://guest:guest@127.0.0.1:5683/%2f",
            )
            .join(","),
            nodes: env_list(
                "ALTO_TEST_AMQP_CLUSTER_NODES",
                "alto-c1@localhost,alto-c2@localhost,alto-c3@localhost",
            ),
            management: env_list(
                "ALTO_TEST_AMQP_CLUSTER_MANAGEMENT_URLS",
                "http://127.0.0.1:15681,http://127.0.0.1:15682,http://127.0.0.1:15683",
            ),
        };
        let running = cluster.running_nodes(1);
        assert_eq!(
            running,
            cluster.nodes.len(),
            "the three-node RabbitMQ cluster is required ({} of {} nodes running); scripts/test.sh starts it (ensure_rabbitmq_cluster)",
            running,
            cluster.nodes.len()
        );
        cluster
    }

    /// GET on the management API of node `via` (index).
    fn management(&self, via: usize, path: &str) -> Value {
        reqwest::blocking::Client::new()
            .get(format!("{}/api/{path}", self.management[via]))
            .basic_auth("guest", Some("guest"))
            .timeout(Duration::from_secs(10))
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null)
    }

    fn running_nodes(&self, via: usize) -> usize {
        self.management(via, "nodes?columns=name,running")
            .as_array()
            .map(|nodes| nodes.iter().filter(|n| n["running"] == true).count())
            .unwrap_or(0)
    }

    /// (name, node, type) of every queue whose name starts with `prefix`, in every vhost.
    fn queues(&self, via: usize, prefix: &str) -> Vec<(String, String, String)> {
        self.management(via, "queues?columns=name,node,type")
            .as_array()
            .map(|queues| {
                queues
                    .iter()
                    .filter_map(|q| {
                        let name = q["name"].as_str()?;
                        name.starts_with(prefix).then(|| {
                            let field = |k: &str| q[k].as_str().unwrap_or("").to_string();
                            (name.to_string(), field("node"), field("type"))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn rabbitmqctl(&self, node: usize, command: &str) {
        let status = Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.nodes[node], command])
            .status()
            .expect("run rabbitmqctl");
        assert!(
            status.success(),
            "rabbitmqctl -n {} {command}",
            self.nodes[node]
        );
    }
}

/// Starts a stopped node again even when the test fails half-way.
struct StoppedNode<'a> {
    cluster: &'a Cluster,
    node: usize,
}

impl Drop for StoppedNode<'_> {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.cluster.nodes[self.node], "start_app"])
            .status();
    }
}

fn conf(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf dir");
    let write = |name: &str, text: &str| std::fs::write(conf.join(name), text).expect("write");
    write(
        "cloud-controller.xml",
        &mock_cloud_xml(&[("mock.stats.interval.secs", "0.5")]),
    );
    write("cartridge.xml", &web_cartridge(&["mock"]));
    write("autoscale.xml", STEADY_POLICY);
    write(
        "deployment.xml",
        &format!(
            r#"<deploymentPolicy id="dp"><partitionGroup id="np">
  <partition id="p1"><provider>mock</provider><min>{MEMBERS}</min><max>{MEMBERS}</max></partition>
</partitionGroup></deploymentPolicy>"#
        ),
    );
    conf
}

fn scrape(alto: &Alto) -> String {
    reqwest::blocking::get(format!("{}/metrics", alto.url))
        .and_then(|r| r.text())
        .expect("GET /metrics")
}

/// `alto_bus_messages_consumed_total` of one event kind.
fn consumed(alto: &Alto, kind: &str) -> f64 {
    let label = format!("kind=\"{kind}\"");
    scrape(alto)
        .lines()
        .filter(|l| l.starts_with("alto_bus_messages_consumed_total") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Member id → state.
fn members(api: &Api, cluster_id: &str) -> Vec<(String, String)> {
    let (_, body) = api.get(&format!("/api/clusters/{cluster_id}"));
    body["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    let field = |k: &str| m[k].as_str().unwrap_or("?").to_string();
                    (field("memberId"), field("state"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn member_ids(api: &Api, cluster_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = members(api, cluster_id)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids
}

fn subscribe(api: &Api, alias: &str) -> String {
    let (status, body) = api.post_json(
        "/api/subscriptions",
        &json!({"cartridgeType": "web", "alias": alias, "autoscalePolicy": "steady", "deploymentPolicy": "dp"}),
    );
    assert_eq!(status, 201, "{body}");
    body["clusterId"].as_str().expect("clusterId").to_string()
}

fn active(members: &[(String, String)]) -> usize {
    members.iter().filter(|(_, s)| s == "Active").count()
}

#[test]
fn a_node_stops_mid_run_and_nothing_is_lost() {
    let cluster = Cluster::from_env();
    let started = Instant::now();
    let dir = temp_dir("broker-cluster");
    let prefix = queue_prefix("cluster");
    let alto = Alto::start_with(
        &dir.join("data"),
        None,
        StartOptions {
            conf: Some(conf(&dir)),
            args: vec![
                "--amqp-url".into(),
                cluster.urls.clone(),
                "--amqp-queue-prefix".into(),
                prefix.clone(),
                // Node 2's API: node 1 is the one that stops.
                "--amqp-management-url".into(),
                cluster.management[1].replace("http://", "http://guest:guest@"),
            ],
            ..StartOptions::default()
        },
    );
    let api = alto.admin();

    // One health shard per node, each led by a different node.
    let mut queues = Vec::new();
    wait_until("the controller's queues", Duration::from_secs(20), || {
        queues = cluster.queues(1, &prefix);
        queues
            .iter()
            .filter(|(n, _, _)| n.contains("health") && n.contains(".shard-"))
            .count()
            >= cluster.nodes.len()
    });
    let mut shard_nodes: Vec<&String> = queues
        .iter()
        .filter(|(n, _, _)| n.contains("health") && n.contains(".shard-"))
        .map(|(_, node, _)| node)
        .collect();
    shard_nodes.sort();
    shard_nodes.dedup();
    assert_eq!(
        shard_nodes.len(),
        cluster.nodes.len(),
        "health shards not on distinct nodes: {queues:?}"
    );

    // A first fleet Active, its stats flowing; a second one subscribed just before the node
    // stops, so that its starts and status events cross the outage.
    let first = subscribe(&api, "first");
    api.wait_converged(&first, MEMBERS, Duration::from_secs(60));
    let first_ids = member_ids(&api, &first);
    // The platform's and the admin tenant's virtual host each have one.
    let status_queue = format!("{prefix}cloud-controller.instance-status");
    let queues = cluster.queues(1, &prefix);
    let status_queues: Vec<&String> = queues
        .iter()
        .filter(|(n, _, _)| *n == status_queue)
        .map(|(_, _, kind)| kind)
        .collect();
    assert!(
        status_queues.len() >= 2 && status_queues.iter().all(|kind| *kind == "quorum"),
        "{status_queue}: not quorum queues in every virtual host: {queues:?}"
    );
    let second = subscribe(&api, "second");
    cluster.rabbitmqctl(0, "stop_app");
    let stopped = StoppedNode {
        cluster: &cluster,
        node: 0,
    };
    let stats_at_stop = consumed(&alto, "MemberHealthStatsEvent");

    // Every member of both reaches (or stays) Active with one node of three down, and stats
    // flow through the other nodes: a few rounds of every member's.
    api.wait_converged(&second, MEMBERS, Duration::from_secs(60));
    wait_until(
        "health stats through the remaining nodes",
        Duration::from_secs(20),
        || consumed(&alto, "MemberHealthStatsEvent") >= stats_at_stop + (6 * MEMBERS) as f64,
    );
    assert_eq!(cluster.running_nodes(1), cluster.nodes.len() - 1);
    assert_eq!(active(&members(&api, &first)), MEMBERS);
    assert_eq!(
        member_ids(&api, &first),
        first_ids,
        "members replaced during the outage"
    );
    for kind in ["InstanceStartedEvent", "InstanceActivatedEvent"] {
        let n = consumed(&alto, kind);
        assert!(
            n >= (2 * MEMBERS) as f64,
            "{kind}: {n} applied for {} members (one lost)",
            2 * MEMBERS
        );
    }
    let second_ids = member_ids(&api, &second);

    // The node rejoins; the members stay the same Active members, stats keep coming.
    drop(stopped);
    wait_until("the node to rejoin", Duration::from_secs(30), || {
        cluster.running_nodes(1) == cluster.nodes.len()
    });
    let stats_at_rejoin = consumed(&alto, "MemberHealthStatsEvent");
    wait_until(
        "health stats after the rejoin",
        Duration::from_secs(20),
        || consumed(&alto, "MemberHealthStatsEvent") >= stats_at_rejoin + (4 * MEMBERS) as f64,
    );
    for (cluster_id, ids) in [(&first, &first_ids), (&second, &second_ids)] {
        let now = members(&api, cluster_id);
        assert_eq!(active(&now), MEMBERS, "{now:?}");
        assert_eq!(&member_ids(&api, cluster_id), ids, "members replaced");
    }
    println!(
        "2 x {MEMBERS} members Active through a node stop; {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    alto.stop();
}
