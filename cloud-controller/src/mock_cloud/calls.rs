//! Who called the mock cloud, and fencing at the resource.
//!
//! Every start and terminate is counted under its caller whatever its outcome (it is a call
//! made), so a test can prove a fenced leader made none. As a fencing-token-aware store does,
//! the ledger remembers the highest fencing token seen and refuses a start or terminate with a
//! lower non-zero one (token 0: a controller without leadership terms, never refused). The
//! highest token is kept in `DIR/mock-cloud-fencing.json`, so a restarted mock cloud does not
//! let an old leader back in.

use iaas::mock::wire::{CallCount, CallCounts};
use std::path::{Path, PathBuf};

/// Most distinct callers tracked; calls of further ones are counted under [`OTHER_CALLERS`].
pub const MAX_CALLERS: usize = 1024;
/// The key of the calls of callers beyond [`MAX_CALLERS`] (not a valid replica id of ours, but
/// not refused either: the cloud serves them).
pub const OTHER_CALLERS: &str = "~other";

/// Which counted call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Start,
    Terminate,
}

/// A call refused for its fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub token: u64,
    pub highest: u64,
}

pub struct Ledger {
    counts: CallCounts,
    highest_token: u64,
    /// Where the highest token is kept (`None`: not kept, tests).
    file: Option<PathBuf>,
}

impl Ledger {
    /// The ledger of `data_dir`, with the highest token it kept.
    pub fn load(data_dir: Option<&Path>) -> std::io::Result<Ledger> {
        let file = data_dir.map(|d| d.join("mock-cloud-fencing.json"));
        let highest_token = match &file {
            Some(path) if path.exists() => {
                let bytes = std::fs::read(path)?;
                let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                value["highest_token"].as_u64().unwrap_or(0)
            }
            _ => 0,
        };
        Ok(Ledger {
            counts: CallCounts::new(),
            highest_token,
            file,
        })
    }

    /// Count a call of `caller` with `token`, then admit or refuse it.
    pub fn admit(&mut self, caller: &str, kind: CallKind, token: u64) -> Result<(), Stale> {
        let key = if self.counts.contains_key(caller) || self.counts.len() < MAX_CALLERS {
            caller
        } else {
            OTHER_CALLERS
        };
        let count = self.counts.entry(key.to_string()).or_default();
        match kind {
            CallKind::Start => count.start += 1,
            CallKind::Terminate => count.terminate += 1,
        }
        if token != 0 && token < self.highest_token {
            count.stale += 1;
            return Err(Stale {
                token,
                highest: self.highest_token,
            });
        }
        if token > self.highest_token {
            self.highest_token = token;
            self.save();
        }
        Ok(())
    }

    pub fn counts(&self) -> &CallCounts {
        &self.counts
    }

    pub fn count(&self, caller: &str) -> CallCount {
        self.counts.get(caller).copied().unwrap_or_default()
    }

    /// Keep the highest token (write, then rename). A failure is logged, not fatal: the token
    /// is still enforced while the process runs. Terms are rare, so is this write.
    fn save(&self) {
        let Some(path) = &self.file else { return };
        let body = serde_json::json!({ "highest_token": self.highest_token }).to_string();
        let tmp = path.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!(file = %path.display(), error = %e, "cannot keep the highest fencing token");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_counted_and_a_lower_token_refused() {
        let mut ledger = Ledger::load(None).unwrap();
        assert!(ledger.admit("a", CallKind::Start, 0).is_ok());
        assert!(ledger.admit("a", CallKind::Start, 2).is_ok());
        assert_eq!(
            ledger.admit("b", CallKind::Terminate, 1),
            Err(Stale {
                token: 1,
                highest: 2
            })
        );
        assert!(
            ledger.admit("b", CallKind::Start, 0).is_ok(),
            "0 is never stale"
        );
        assert!(ledger.admit("b", CallKind::Start, 3).is_ok());
        assert!(ledger.admit("a", CallKind::Start, 2).is_err());
        assert_eq!(
            ledger.count("a"),
            CallCount {
                start: 3,
                terminate: 0,
                stale: 1
            }
        );
        assert_eq!(
            ledger.count("b"),
            CallCount {
                start: 2,
                terminate: 1,
                stale: 1
            }
        );
    }

    #[test]
    fn callers_beyond_the_cap_share_one_entry() {
        let mut ledger = Ledger::load(None).unwrap();
        for i in 0..MAX_CALLERS + 5 {
            ledger.admit(&format!("r{i}"), CallKind::Start, 0).unwrap();
        }
        assert_eq!(ledger.counts().len(), MAX_CALLERS + 1);
        assert_eq!(ledger.count(OTHER_CALLERS).start, 5);
        // A tracked caller stays tracked.
        ledger.admit("r0", CallKind::Start, 0).unwrap();
        assert_eq!(ledger.count("r0").start, 2);
    }

    #[test]
    fn the_highest_token_outlives_a_restart() {
        let dir = std::env::temp_dir().join(format!("alto-fencing-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Ledger::load(Some(&dir))
            .unwrap()
            .admit("a", CallKind::Start, 7)
            .unwrap();
        let mut again = Ledger::load(Some(&dir)).unwrap();
        assert!(again.admit("b", CallKind::Start, 6).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
