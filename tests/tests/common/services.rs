//! A RabbitMQ node and a PostgreSQL cluster of one test's own, so that the test can stop and
//! restart them without disturbing the tests that share the machine's services. Loopback only;
//! both are removed when dropped.

use super::*;
use std::net::TcpListener;

/// A free TCP port on loopback (bound and released: good enough for a test's own service).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(cmd: &mut Command, what: &str) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"))
}

/// A RabbitMQ node of its own (own node name, ports and data directory; no plugins).
pub struct OwnBroker {
    dir: PathBuf,
    node: String,
    pub port: u16,
    dist_port: u16,
}

impl OwnBroker {
    pub fn start(tag: &str) -> OwnBroker {
        OwnBroker::start_with_conf(tag, "")
    }

    /// [`OwnBroker::start`] with more rabbitmq.conf lines (e.g. a TLS listener).
    pub fn start_with_conf(tag: &str, extra_conf: &str) -> OwnBroker {
        let dir = temp_dir(&format!("rabbit-{tag}"));
        let (port, dist_port) = (free_port(), free_port());
        let node = format!("alto-{tag}-{port}@localhost");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n{extra_conf}"
            ),
        )
        .expect("write rabbitmq.conf");
        std::fs::write(
            dir.join("rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS=127.0.0.1\n",
        )
        .expect("write rabbitmq-env.conf");
        // rabbitmq-server drops to the rabbitmq user: the node's files must be its own.
        let status = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} to rabbitmq", dir.display());
        let broker = OwnBroker {
            dir,
            node,
            port,
            dist_port,
        };
        broker.start_node();
        broker
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn start_node(&self) {
        let d = &self.dir;
        let out = run(
            Command::new("rabbitmq-server")
                .arg("-detached")
                .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
                .env("RABBITMQ_NODENAME", &self.node)
                .env("RABBITMQ_NODE_PORT", self.port.to_string())
                .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
                .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", d.join("log"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
                .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
                .env("RABBITMQ_PID_FILE", d.join("pid")),
            "rabbitmq-server (install rabbitmq-server; scripts/test.sh does)",
        );
        assert!(
            out.status.success(),
            "rabbitmq-server -detached failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // await_startup waits for a node that is booting; it fails at once while the node has
        // not registered yet, so it is asked again until the deadline.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = run(
                Command::new("rabbitmqctl").args([
                    "-n",
                    &self.node,
                    "-q",
                    "await_startup",
                    "--timeout",
                    "30",
                ]),
                "rabbitmqctl",
            );
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "RabbitMQ node {} did not start within 60 s (logs in {})",
                self.node,
                d.join("log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stop the node (its durable queues and persistent messages stay on disk).
    pub fn stop(&self) {
        let out = run(
            Command::new("rabbitmqctl").args(["-n", &self.node, "-q", "stop"]),
            "rabbitmqctl stop",
        );
        assert!(
            out.status.success(),
            "rabbitmqctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Stopped when its port is closed.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "RabbitMQ still listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start the node again on the same data.
    pub fn start_again(&self) {
        self.start_node();
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-n", &self.node, "-q", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of its own (initdb, another port, fsync off), run as `postgres`.
pub struct OwnPostgres {
    dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
}

impl OwnPostgres {
    pub fn start(tag: &str) -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL server binaries in /usr/lib/postgresql (scripts/test.sh installs them)",
            )
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").is_file())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = temp_dir(&format!("pg-{tag}"));
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} to postgres", dir.display());
        let pg = OwnPostgres {
            dir,
            port: free_port(),
            bin,
        };
        let out = pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.ctl("start");
        let out = Command::new("psql")
            .arg(pg.url("postgres"))
            .args(["-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE alto"])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "create database: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> std::process::Output {
        run(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(tool))
                .args(args),
            tool,
        )
    }

    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let data = self.data().display().to_string();
        let log = self.dir.join("postgres.log").display().to_string();
        let out = self.as_postgres(
            "pg_ctl",
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-m", "fast", action,
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stop (fast: connections are cut) and start again.
    pub fn stop(&self) {
        self.ctl("stop");
    }

    pub fn start_again(&self) {
        self.ctl("start");
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self.as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
