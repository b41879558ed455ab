//! Extension hooks: `extensions/<Name>.sh`, run with `/bin/sh` (so they need not be
//! executable) in the agent's working directory, with every payload key exported as
//! `STRATOS_<KEY>` and `STRATOS_EVENT` naming what happened. A missing hook is skipped.
//! Output is appended to `<log dir>/hooks.log`, never to the agent's own log (it may print
//! secrets the hook received).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// Hooks the agent runs, by the name of their file (without `.sh`).
pub const INSTANCE_STARTED: &str = "InstanceStartedEvent";
pub const START_SERVERS: &str = "StartServers";
pub const CLEAN: &str = "clean";
/// Optional: prints the current requests in flight (one number) for health stats.
pub const REQUESTS_IN_FLIGHT: &str = "RequestsInFlight";

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook {name}: cannot run {path}: {source}")]
    Spawn {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("hook {name} exited with {status}")]
    Failed { name: String, status: String },
    #[error("hook {name} did not finish within {timeout:?}; killed")]
    TimedOut { name: String, timeout: Duration },
}

/// How a hook went.
#[derive(Debug, PartialEq, Eq)]
pub enum HookOutcome {
    Ran,
    /// No such file: nothing to do.
    Absent,
}

pub struct Hooks {
    dir: PathBuf,
    env: Vec<(String, String)>,
    log_dir: PathBuf,
    timeout: Duration,
}

impl Hooks {
    pub fn new(dir: &Path, env: Vec<(String, String)>, log_dir: &Path, timeout: Duration) -> Self {
        Hooks {
            dir: dir.to_path_buf(),
            env,
            log_dir: log_dir.to_path_buf(),
            timeout,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sh"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).is_file()
    }

    fn command(&self, name: &str, event: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg(self.path(name))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("STRATOS_EVENT", event)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    fn log_file(&self) -> Option<std::fs::File> {
        std::fs::create_dir_all(&self.log_dir).ok()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join("hooks.log"))
            .ok()
    }

    /// Run hook `name` for `event` and wait for it (bounded by the hook timeout). A hook may
    /// start background servers: they inherit the log file, not a pipe, so the wait ends when
    /// the script does.
    pub async fn run(&self, name: &str, event: &str) -> Result<HookOutcome, HookError> {
        if !self.exists(name) {
            tracing::debug!(hook = name, "no such hook; skipped");
            return Ok(HookOutcome::Absent);
        }
        let mut cmd = self.command(name, event);
        match self.log_file().and_then(|f| Some((f.try_clone().ok()?, f))) {
            Some((out, err)) => {
                cmd.stdout(out).stderr(err);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let spawn_error = |source| HookError::Spawn {
            name: name.to_string(),
            path: self.path(name),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_error)?;
        tracing::info!(hook = name, event, "running hook");
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(HookOutcome::Ran),
            Ok(Ok(status)) => Err(HookError::Failed {
                name: name.to_string(),
                status: status.to_string(),
            }),
            Ok(Err(e)) => Err(spawn_error(e)),
            Err(_) => {
                let _ = child.kill().await;
                Err(HookError::TimedOut {
                    name: name.to_string(),
                    timeout: self.timeout,
                })
            }
        }
    }

    /// Run a hook that prints one number (requests in flight); `None` if absent or unusable.
    pub async fn read_number(&self, name: &str, event: &str) -> Option<f64> {
        if !self.exists(name) {
            return None;
        }
        let mut cmd = self.command(name, event);
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
        let output = tokio::time::timeout(Duration::from_secs(5), cmd.output())
            .await
            .ok()?
            .ok()?;
        parse_number(&String::from_utf8_lossy(&output.stdout))
    }
}

/// A finite, non-negative number from a hook's output or a file.
pub fn parse_number(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(dir: &Path) -> Hooks {
        Hooks::new(
            &dir.join("extensions"),
            vec![("STRATOS_MEMBER_ID".into(), "m-1".into())],
            &dir.join("logs"),
            Duration::from_secs(5),
        )
    }

    fn script(dir: &Path, name: &str, body: &str) {
        std::fs::create_dir_all(dir.join("extensions")).unwrap();
        std::fs::write(dir.join("extensions").join(format!("{name}.sh")), body).unwrap();
    }

    #[tokio::test]
    async fn hooks_see_the_payload_and_the_event() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        script(
            dir.path(),
            CLEAN,
            &format!(
                "echo \"$STRATOS_MEMBER_ID $STRATOS_EVENT\" > {}\n",
                out.display()
            ),
        );
        let h = hooks(dir.path());
        assert_eq!(
            h.run(CLEAN, "InstanceCleanupMemberEvent").await.unwrap(),
            HookOutcome::Ran
        );
        assert_eq!(
            std::fs::read_to_string(out).unwrap(),
            "m-1 InstanceCleanupMemberEvent\n"
        );
        assert_eq!(
            h.run(START_SERVERS, "x").await.unwrap(),
            HookOutcome::Absent
        );
    }

    #[tokio::test]
    async fn failing_and_hanging_hooks_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "bad", "echo oops >&2; exit 3\n");
        script(dir.path(), "slow", "sleep 30\n");
        let mut h = hooks(dir.path());
        assert!(matches!(
            h.run("bad", "e").await,
            Err(HookError::Failed { .. })
        ));
        let log = std::fs::read_to_string(dir.path().join("logs/hooks.log")).unwrap();
        assert!(log.contains("oops"));
        h.timeout = Duration::from_millis(200);
        assert!(matches!(
            h.run("slow", "e").await,
            Err(HookError::TimedOut { .. })
        ));
    }

    #[tokio::test]
    async fn numbers_from_hooks() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), REQUESTS_IN_FLIGHT, "echo ' 42 '\n");
        let h = hooks(dir.path());
        assert_eq!(h.read_number(REQUESTS_IN_FLIGHT, "e").await, Some(42.0));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number("abc"), None);
    }
}
