//! A harness that runs the real `alto` binary and talks to it over HTTP.

#![allow(dead_code)]

use reqwest::blocking::Client;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod replicas;
pub mod services;
pub mod tls;

pub const ADMIN_PASSWORD: &str = "e2e-admin-pw";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `alto` binary: `ALTO_BIN`, else `target/debug/alto` next to this test executable.
pub fn alto_bin() -> PathBuf {
    if let Ok(path) = std::env::var("ALTO_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test executable");
    let debug_dir = exe.parent().and_then(Path::parent).expect("target/debug");
    let bin = debug_dir.join("alto");
    assert!(
        bin.exists(),
        "{} not found: build it first with `cargo build -p cloud-controller --bin alto` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "alto-e2e-{tag}-{}-{}",
        std::process::id(),
        rand_u64()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    RandomState::new().build_hasher().finish()
}

/// A running `alto dev` process.
pub struct Alto {
    child: Child,
    pub url: String,
    pub data: PathBuf,
    database_url: Option<String>,
    options: StartOptions,
}

/// What differs from the defaults of [`Alto::start`].
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Configuration directory (default: the repository's conf/).
    pub conf: Option<PathBuf>,
    /// Extra arguments of `alto dev`.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Run `alto serve` (a replica of a production installation) instead of `alto dev`.
    pub serve: bool,
}

impl Alto {
    /// Start `alto dev` on a free port with the repository's conf/ and `data` as data dir.
    pub fn start(data: &Path, database_url: Option<&str>) -> Alto {
        Alto::start_with(data, database_url, StartOptions::default())
    }

    pub fn start_with(data: &Path, database_url: Option<&str>, options: StartOptions) -> Alto {
        let mut cmd = Command::new(alto_bin());
        cmd.arg(if options.serve { "serve" } else { "dev" })
            // A replica restarted on PostgreSQL waits for its previous process's lease to run
            // out: a short lease keeps restarts quick (a test's own --leader-lease wins).
            .env("ALTO_LEADER_LEASE", "3")
            .arg("--data")
            .arg(data)
            .arg("--conf")
            .arg(
                options
                    .conf
                    .clone()
                    .unwrap_or_else(|| repo_root().join("conf")),
            )
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("ALTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // ALTO_E2E_LOG=info (or debug) shows what alto does while a test runs.
            .env(
                "ALTO_LOG",
                std::env::var("ALTO_E2E_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().expect("spawn alto");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[alto] {line}");
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("alto did not print 'listening on URL' within 60 s");
            }
        };
        Alto {
            child,
            url,
            data: data.to_path_buf(),
            database_url: database_url.map(str::to_string),
            options,
        }
    }

    /// Stop with SIGTERM (graceful) and wait.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("alto did not exit within 20 s of SIGTERM");
    }

    /// Send a signal (`STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// `kill -9`: no shutdown at all, as a crash or an OOM kill.
    pub fn kill9(mut self) -> Alto {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self
    }

    /// Wait for the process to exit on its own (an `ALTO_CRASH_AT` abort); panics after
    /// `timeout`. Returns whether it exited abnormally (by a signal or a non-zero status).
    pub fn wait_for_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return !status.success();
            }
            assert!(
                Instant::now() < deadline,
                "alto did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same data, database and options, with `options` changed by `tune`
    /// (after `kill9` or an exit).
    pub fn start_again(self, tune: impl FnOnce(&mut StartOptions)) -> Alto {
        let (data, db, mut options) = (
            self.data.clone(),
            self.database_url.clone(),
            self.options.clone(),
        );
        drop(self);
        tune(&mut options);
        Alto::start_with(&data, db.as_deref(), options)
    }

    pub fn restart(self) -> Alto {
        let (data, db, options) = (
            self.data.clone(),
            self.database_url.clone(),
            self.options.clone(),
        );
        self.stop();
        Alto::start_with(&data, db.as_deref(), options)
    }

    pub fn api(&self, user: &str, password: &str) -> Api {
        Api {
            base: self.url.clone(),
            user: user.to_string(),
            password: password.to_string(),
            client: Client::new(),
        }
    }

    pub fn admin(&self) -> Api {
        self.api("admin", ADMIN_PASSWORD)
    }

    /// Run the CLI against this server.
    pub fn cli(&self, user: &str, password: &str, args: &[&str]) -> std::process::Output {
        Command::new(alto_bin())
            .args(args)
            .env("ALTO_URL", &self.url)
            .env("ALTO_USER", user)
            .env("ALTO_PASSWORD", password)
            .output()
            .expect("run alto CLI")
    }

    /// [`Alto::cli`] as the platform admin: exit code, stdout and stderr.
    pub fn cli_admin(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cli("admin", ADMIN_PASSWORD, args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Alto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Api {
    base: String,
    user: String,
    password: String,
    client: Client,
}

impl Api {
    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .json(body)
            .send()
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post_xml(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "application/xml")
            .body(body.to_string())
            .send()
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// Subscribe to `cartridge_type` as `alias` with the two policies; the new cluster's id.
    /// Panics unless the API answers 201.
    pub fn subscribe(
        &self,
        cartridge_type: &str,
        alias: &str,
        autoscale_policy: &str,
        deployment_policy: &str,
    ) -> String {
        let (status, body) = self.post_json(
            "/api/subscriptions",
            &serde_json::json!({
                "cartridgeType": cartridge_type,
                "alias": alias,
                "autoscalePolicy": autoscale_policy,
                "deploymentPolicy": deployment_policy,
            }),
        );
        assert_eq!(status, 201, "subscribing {alias}: {body}");
        body["clusterId"].as_str().expect("clusterId").to_string()
    }

    pub fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .put(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .json(body)
            .send()
            .expect("PUT");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn put_xml(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .client
            .put(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .header("Content-Type", "application/xml")
            .body(body.to_string())
            .send()
            .expect("PUT");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .delete(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .expect("DELETE");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// Wait until the cluster has `n` Active members and nothing else live; returns the
    /// seconds it took.
    pub fn wait_converged(&self, cluster_id: &str, n: usize, within: Duration) -> f64 {
        let started = Instant::now();
        self.wait_for(
            &cluster_path(cluster_id),
            within,
            &format!("{n} Active members"),
            |s, b| {
                let states = member_states(b);
                s == 200
                    && states.iter().filter(|st| *st == "Active").count() == n
                    && states.iter().all(|st| st == "Active" || st == "Terminated")
            },
        );
        started.elapsed().as_secs_f64()
    }

    /// Wait until the caller has no subscription left (an unsubscribe finished).
    pub fn wait_no_subscriptions(&self, timeout: Duration) {
        self.wait_for(
            "/api/subscriptions",
            timeout,
            "subscription removed",
            |s, b| s == 200 && b.as_array().is_some_and(Vec::is_empty),
        );
    }

    /// Poll `GET path` until `done` holds, or panic after `timeout` showing the last body.
    pub fn wait_for(
        &self,
        path: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(u16, &Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(path);
            if done(status, &body) {
                return body;
            }
            if Instant::now() > deadline {
                panic!("timed out after {timeout:?} waiting for {what}; last response {status}: {body:#}");
            }
            // Often enough that the convergence times the crash tests print are honest.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `alto validate PATH`: (exit code, stdout, stderr).
pub fn alto_validate(path: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(alto_bin())
        .arg("validate")
        .arg(path)
        .output()
        .expect("run alto validate");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A mock cloud's instances as its state file `DIR/mock-<provider>.json` holds them: instance
/// id → the member id on its tag.
pub fn cloud_instances(dir: &Path, provider: &str) -> std::collections::BTreeMap<String, String> {
    let path = dir.join(format!("mock-{provider}.json"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Default::default();
    };
    let state: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    state["instances"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(id, i)| {
                    let member = i["tags"]["altostratus:member-id"].as_str().unwrap_or("");
                    (id.clone(), member.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The mock cloud's state file `DIR/mock-<provider>.json` once `settled` holds for it, or the
/// last read after `timeout` (for the caller's assertion to report): a running mock cloud
/// rewrites the file from its change log in the background, about a second behind.
pub fn cloud_state_settled(
    dir: &Path,
    provider: &str,
    timeout: Duration,
    settled: impl Fn(&Value) -> bool,
) -> Value {
    let path = dir.join(format!("mock-{provider}.json"));
    let deadline = Instant::now() + timeout;
    loop {
        // Written by rename: a read is never of a torn file.
        let state = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        if settled(&state) || Instant::now() >= deadline {
            return state;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`cloud_instances`] once `settled` holds for them, or the last read after `timeout`.
pub fn cloud_instances_settled(
    dir: &Path,
    provider: &str,
    timeout: Duration,
    settled: impl Fn(&std::collections::BTreeMap<String, String>) -> bool,
) -> std::collections::BTreeMap<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let instances = cloud_instances(dir, provider);
        if settled(&instances) || Instant::now() >= deadline {
            return instances;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A cloud-controller.xml with one in-process mock cloud, type `mock`, with `properties`.
pub fn mock_cloud_xml(properties: &[(&str, &str)]) -> String {
    let props: String = properties
        .iter()
        .map(|(k, v)| format!(r#"<property name="{k}" value="{v}"/>"#))
        .collect();
    format!(
        r#"<cloudController><iaasProviders><iaasProvider type="mock" name="mock">
    <className>org.apache.stratos.cloud.controller.iaases.mock.MockIaas</className>
    <provider>mock</provider><identity>x</identity><credential>y</credential>
    {props}
  </iaasProvider></iaasProviders></cloudController>"#
    )
}

/// A cartridge `web` on the given provider types (tests that write a conf of their own).
pub fn web_cartridge(providers: &[&str]) -> String {
    let providers: String = providers
        .iter()
        .map(|t| format!(r#"<iaasProvider type="{t}"><imageId>img</imageId></iaasProvider>"#))
        .collect();
    format!(
        r#"<cartridge type="web" host="web.example.org" provider="apache" version="1" multiTenant="false">
  <displayName>web</displayName><description>e2e tests</description>
  {providers}
  <portMapping><http port="80" proxyPort="8280"/></portMapping>
</cartridge>"#
    )
}

/// An autoscale policy `steady` that never scales on load: only the minimum counts.
pub const STEADY_POLICY: &str = r#"<autoscalePolicy id="steady"><loadThresholds>
  <requestsInFlight><threshold value="1000000"/></requestsInFlight>
</loadThresholds></autoscalePolicy>"#;

/// The broker the tests use (`scripts/test.sh` starts it).
pub fn amqp_url() -> String {
    std::env::var("ALTO_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// A queue prefix of its own for one test, so tests sharing the broker never share queues.
pub fn queue_prefix(tag: &str) -> String {
    format!("e2e-{tag}-{}.", rand_u64() % 1_000_000_000)
}

/// `GET` path of a cluster's view with up to 1,000 members on its page (the API's maximum; the
/// default page is 100), so a test's whole cluster is in one response.
pub fn cluster_path(cluster_id: &str) -> String {
    format!("/api/clusters/{cluster_id}?limit=1000")
}

pub fn member_states(cluster: &Value) -> Vec<String> {
    cluster["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["state"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh PostgreSQL database for one test, created through `psql`.
pub fn fresh_postgres_database(tag: &str) -> String {
    let base = std::env::var("ALTO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let name = format!("alto_e2e_{tag}_{}", rand_u64() % 1_000_000_000);
    let out = Command::new("psql")
        .arg(&base)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("run psql (install postgresql-client; scripts/test.sh does)");
    assert!(
        out.status.success(),
        "cannot create database {name} via {base}: {}\nIs PostgreSQL running? Start it with scripts/test.sh or `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
        String::from_utf8_lossy(&out.stderr)
    );
    match base.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => panic!("ALTO_TEST_POSTGRES_URL {base} has no database part"),
    }
}
