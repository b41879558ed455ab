//! Several `alto serve` replicas on one PostgreSQL and one RabbitMQ, and the `alto mock-cloud`
//! process they share, as an installation runs them.

use super::*;
use std::collections::BTreeMap;

/// The topic exchange of one test's installation: queue prefixes keep queues apart, but
/// every queue bound to a shared exchange would see every test's events.
pub fn exchange(prefix: &str) -> String {
    format!("{prefix}events")
}

/// A running `alto mock-cloud` process.
pub struct MockCloud {
    child: Child,
    pub url: String,
    pub data: PathBuf,
}

impl MockCloud {
    /// Start `alto mock-cloud` on a free port, its simulated agents on `amqp_url` under
    /// `prefix` (queues and exchange: see [`exchange`]), its state in `data`.
    pub fn start(data: &Path, amqp_url: &str, prefix: &str) -> MockCloud {
        std::fs::create_dir_all(data).expect("mock cloud data dir");
        let mut child = Command::new(alto_bin())
            .args(["mock-cloud", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--amqp-url", amqp_url, "--amqp-queue-prefix", prefix])
            .args(["--amqp-exchange", &exchange(prefix)])
            .env(
                "ALTO_LOG",
                std::env::var("ALTO_E2E_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn alto mock-cloud");
        let url = read_listening_url(&mut child, "alto mock-cloud");
        MockCloud {
            child,
            url,
            data: data.to_path_buf(),
        }
    }

    /// `GET /calls`: start and terminate calls per caller replica.
    pub fn calls(&self) -> BTreeMap<String, CallCounts> {
        let body: Value = Client::new()
            .get(format!("{}/calls", self.url))
            .timeout(Duration::from_secs(10))
            .send()
            .and_then(|r| r.json())
            .expect("GET /calls");
        body.as_object()
            .expect("/calls is an object")
            .iter()
            .map(|(caller, c)| {
                let n = |k: &str| c[k].as_u64().unwrap_or(0);
                (
                    caller.clone(),
                    CallCounts {
                        start: n("start"),
                        terminate: n("terminate"),
                        stale: n("stale"),
                    },
                )
            })
            .collect()
    }

    /// The cloud's instances of provider type `provider`: instance id → member id.
    pub fn instances(&self, provider: &str) -> BTreeMap<String, String> {
        cloud_instances(&self.data, provider)
    }
}

impl Drop for MockCloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `GET /calls` counts for one caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub start: u64,
    pub terminate: u64,
    pub stale: u64,
}

/// Wait for `listening on URL` on the child's stdout (echoed with `[name]`).
fn read_listening_url(child: &mut Child, name: &'static str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[{name}] {line}");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!("{name} did not print 'listening on URL' within 60 s");
        }
    }
}

/// `GET /api/leader` of one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderView {
    pub leader: Option<String>,
    pub self_id: String,
    pub is_leader: bool,
    pub fencing_token: i64,
}

/// The replicas of one installation: `alto serve` processes sharing a registry and a broker.
pub struct Replicas {
    /// Every replica's process handle (`None` only while it is being replaced).
    nodes: Vec<Option<Alto>>,
    /// Which replicas are running (killed ones are not, until started again).
    up: Vec<bool>,
    lease: Duration,
}

impl Replicas {
    /// Start `n` replicas `r0`..`r{n-1}` with `conf`, each with its own data directory under
    /// `dir`, the registry at `database_url`, the broker at `amqp_url` under `prefix`.
    pub fn start(
        n: usize,
        dir: &Path,
        conf: &Path,
        database_url: &str,
        amqp_url: &str,
        prefix: &str,
        lease: Duration,
    ) -> Replicas {
        let nodes = (0..n)
            .map(|i| {
                let options = StartOptions {
                    conf: Some(conf.to_path_buf()),
                    serve: true,
                    args: vec![
                        "--amqp-url".into(),
                        amqp_url.into(),
                        "--amqp-queue-prefix".into(),
                        prefix.into(),
                        "--amqp-exchange".into(),
                        exchange(prefix),
                        "--replica-id".into(),
                        format!("r{i}"),
                        "--leader-lease".into(),
                        format!("{}", lease.as_secs_f64()),
                    ],
                    ..StartOptions::default()
                };
                Some(Alto::start_with(
                    &dir.join(format!("r{i}")),
                    Some(database_url),
                    options,
                ))
            })
            .collect::<Vec<_>>();
        Replicas {
            up: vec![true; nodes.len()],
            nodes,
            lease,
        }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The replicas that are up.
    pub fn running(&self) -> impl Iterator<Item = (usize, &Alto)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| self.up[*i])
            .filter_map(|(i, n)| Some((i, n.as_ref()?)))
    }

    /// Replica `i` (up or not).
    pub fn node(&self, i: usize) -> &Alto {
        self.nodes[i].as_ref().expect("replica handle")
    }

    /// An admin API on the first replica that is up.
    pub fn admin(&self) -> Api {
        self.running().next().expect("a replica is up").1.admin()
    }

    /// Each live replica's view of the leadership (replicas that do not answer are left out).
    pub fn views(&self) -> Vec<(usize, LeaderView)> {
        self.running()
            .filter_map(|(i, node)| Some((i, leader_view(node)?)))
            .collect()
    }

    /// Wait until one live replica says it leads, with a token above `after`; returns its
    /// index, its token and when it was seen.
    pub fn wait_leader(&self, after: i64, within: Duration) -> (usize, i64, Instant) {
        let deadline = Instant::now() + within;
        loop {
            let views = self.views();
            if let Some((i, v)) = views
                .iter()
                .find(|(_, v)| v.is_leader && v.fencing_token > after)
            {
                return (*i, v.fencing_token, Instant::now());
            }
            assert!(
                Instant::now() < deadline,
                "no leader with a token above {after} within {within:?}: {views:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9` replica `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            self.nodes[i] = Some(node.kill9());
        }
        self.up[i] = false;
    }

    /// Start replica `i` again on its data and options (after [`Self::kill9`]).
    pub fn start_again(&mut self, i: usize) {
        if let Some(node) = self.nodes[i].take() {
            self.nodes[i] = Some(node.start_again(|_| {}));
        }
        self.up[i] = true;
    }
}

pub fn leader_view(alto: &Alto) -> Option<LeaderView> {
    let body: Value = Client::new()
        .get(format!("{}/api/leader", alto.url))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()?
        .json()
        .ok()?;
    Some(LeaderView {
        leader: body["leader"].as_str().map(str::to_string),
        self_id: body["self"].as_str()?.to_string(),
        is_leader: body["isLeader"].as_bool()?,
        fencing_token: body["fencingToken"].as_i64()?,
    })
}

/// The provider entry of a `mock` provider served by the shared mock cloud at `endpoint`.
pub fn remote_mock_provider(t: &str, endpoint: &str, properties: &[(&str, &str)]) -> String {
    let props: String = properties
        .iter()
        .map(|(k, v)| format!(r#"<property name="{k}" value="{v}"/>"#))
        .collect();
    format!(
        r#"<iaasProvider type="{t}" name="{t}">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    <property name="mock.endpoint" value="{endpoint}"/>
    {props}
  </iaasProvider>"#
    )
}
