//! Where the mock cloud keeps its instances: a snapshot `mock-<type>.json` (the shape tools
//! read, see the module docs of [`super`]) and an append-only change log `mock-<type>.log`
//! beside it, so that the cost of a change does not grow with the number of instances.
//!
//! Each change is one JSON line appended to the log before the call that made it returns (the
//! same durability as the snapshot's write-then-rename before: the operating system has it, a
//! crash of the process does not lose it). Lines carry a sequence number, the counters after
//! the change and the instance put or the id removed. The snapshot records the sequence of the
//! last change it holds (`log_seq`).
//!
//! Compaction writes the whole state as a new snapshot (write, then rename) and drops the log
//! it holds: under the state lock only a cheap copy of the instance list is taken and the log
//! is renamed to `mock-<type>.log.1` (a fresh log takes the next changes); the serialization
//! and the write happen outside the lock, then `.log.1` is removed. It runs in the background
//! while there are changes (at most [`MAX_COMPACTION_DELAY`] apart, so the snapshot is about a
//! second behind at most), at start (after the replay), and on a clean shutdown, so the
//! snapshot is exact whenever no process holds it after a clean stop.
//!
//! At start the snapshot is read, then `.log.1` and the log, and every change with a sequence
//! above the snapshot's `log_seq` is applied in sequence order: a log left by a crash is
//! replayed onto the snapshot, and what a tool planted in (or removed from) the snapshot
//! while no process held it stays, since the log only holds changes made after the snapshot it
//! continues. Counters take the larger of the snapshot's and the log's values. A snapshot
//! written without `log_seq` replays the whole log. A torn last line (the process died in the
//! middle of the write, before the call returned) is ignored; any other unreadable line is an
//! error, not a silent loss.

use super::{MockInstance, MockState};
use crate::error::{ErrorClass, IaasError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shortest wait between two background compactions.
pub const MIN_COMPACTION_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between two background compactions while there are changes: with the time a
/// compaction takes, the snapshot stays about a second behind at most.
pub const MAX_COMPACTION_DELAY: Duration = Duration::from_millis(800);

/// The counters of the state file, after a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Counters {
    pub next_address: u32,
    pub injected_failures: u64,
    /// Starts that reached the failure decision (what `mock.fail.start.ratio` spreads over);
    /// absent from state files written before it existed.
    #[serde(default)]
    pub starts: u64,
}

impl Counters {
    /// Counters only grow: the larger of each.
    fn max(self, other: Counters) -> Counters {
        Counters {
            next_address: self.next_address.max(other.next_address),
            injected_failures: self.injected_failures.max(other.injected_failures),
            starts: self.starts.max(other.starts),
        }
    }
}

/// The snapshot as read.
#[derive(Deserialize)]
struct StoredState {
    #[serde(flatten)]
    counters: Counters,
    /// The sequence of the last logged change the snapshot holds (0: none, or a snapshot from
    /// before the log).
    #[serde(default)]
    log_seq: u64,
    instances: BTreeMap<String, MockInstance>,
}

/// The snapshot as written: the instance list is a copy of the state's shared instances.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    #[serde(flatten)]
    counters: Counters,
    log_seq: u64,
    instances: InstancesRef<'a>,
}

struct InstancesRef<'a>(&'a [(Arc<str>, Arc<MockInstance>)]);

impl Serialize for InstancesRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(id, i)| (&**id, &**i)))
    }
}

/// One line of the log, as read.
#[derive(Deserialize)]
struct Entry {
    seq: u64,
    counters: Counters,
    #[serde(default)]
    put: Option<MockInstance>,
    #[serde(default)]
    remove: Option<String>,
}

/// One line of the log, as written.
#[derive(Serialize)]
pub(super) struct EntryRef<'a> {
    pub seq: u64,
    pub counters: Counters,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put: Option<&'a MockInstance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<&'a str>,
}

/// The files of one provider type's state, and the writer of its log.
pub(super) struct Journal {
    provider_type: String,
    snapshot: PathBuf,
    log: PathBuf,
    /// The log being compacted: it holds changes the new snapshot holds too.
    rotated: PathBuf,
    writer: Mutex<File>,
    /// One compaction at a time (background, shutdown).
    compaction: Mutex<()>,
    /// Set by the final compaction: nothing is written after it.
    closed: AtomicBool,
}

impl Journal {
    /// Open the state of `provider_type` kept as `snapshot` (`DIR/mock-<type>.json`): read it,
    /// replay the logs beside it, write the result as the new snapshot and start a fresh log.
    pub(super) fn open(
        provider_type: &str,
        snapshot: PathBuf,
    ) -> Result<(Journal, MockState), IaasError> {
        let log = snapshot.with_extension("log");
        let rotated = snapshot.with_extension("log.1");
        let error = |path: &Path, class, e: &dyn std::fmt::Display| {
            IaasError::new(
                provider_type,
                "load state",
                class,
                format!("{}: {e}", path.display()),
            )
        };
        let stored = match std::fs::read(&snapshot) {
            Ok(bytes) => Some(
                serde_json::from_slice::<StoredState>(&bytes)
                    .map_err(|e| error(&snapshot, ErrorClass::InvalidRequest, &e))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(error(&snapshot, ErrorClass::Transient, &e)),
        };
        let mut entries = Vec::new();
        let mut logs_found = false;
        for path in [&rotated, &log] {
            match std::fs::read(path) {
                Ok(bytes) => {
                    logs_found = true;
                    read_entries(&bytes, &mut entries)
                        .map_err(|e| error(path, ErrorClass::InvalidRequest, &e))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(error(path, ErrorClass::Transient, &e)),
            }
        }
        let mut state = MockState::default();
        let mut seq = 0;
        if let Some(stored) = stored {
            state.counters = stored.counters;
            seq = stored.log_seq;
            for (id, instance) in stored.instances {
                state.put(Arc::from(id), Arc::new(instance));
            }
        }
        let from = seq;
        entries.sort_by_key(|e| e.seq);
        for entry in entries.into_iter().filter(|e| e.seq > from) {
            state.counters = state.counters.max(entry.counters);
            if let Some(instance) = entry.put {
                let id: Arc<str> = Arc::from(instance.instance_id.as_str());
                state.put(id, Arc::new(instance));
            }
            if let Some(id) = entry.remove {
                state.remove(&id);
            }
            seq = entry.seq;
        }
        state.seq = seq;
        let writer = open_log(&log).map_err(|e| error(&log, ErrorClass::Transient, &e))?;
        let journal = Journal {
            provider_type: provider_type.to_string(),
            snapshot,
            log,
            rotated,
            writer: Mutex::new(writer),
            compaction: Mutex::new(()),
            closed: AtomicBool::new(false),
        };
        if logs_found || !journal.snapshot.exists() {
            // Fold the replayed changes into the snapshot now (the logs start empty again), or
            // write the first one, so that tools find the file from the start.
            state.dirty = true;
            let state = Mutex::new(state);
            journal.compact(&state)?;
            let state = state.into_inner().map_err(|_| journal.poisoned())?;
            return Ok((journal, state));
        }
        Ok((journal, state))
    }

    /// Append one change; called under the state lock, so the log is in sequence order.
    pub(super) fn append(&self, entry: &EntryRef<'_>) -> Result<(), IaasError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| self.save_error(&self.log, &e))?;
        line.push(b'\n');
        let mut writer = self.writer.lock().map_err(|_| self.poisoned())?;
        // One write of the whole line: a crash leaves at most a torn last line.
        writer
            .write_all(&line)
            .map_err(|e| self.save_error(&self.log, &e))
    }

    /// Write the whole state as the snapshot and drop the log it holds. Nothing to do when
    /// nothing changed since the last compaction or after [`Self::close`].
    pub(super) fn compact(&self, state: &Mutex<MockState>) -> Result<(), IaasError> {
        let _one = self.compaction.lock().map_err(|_| self.poisoned())?;
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (counters, seq, instances) = {
            let mut state = state.lock().map_err(|_| self.poisoned())?;
            if !state.dirty {
                return Ok(());
            }
            // A log renamed by a compaction that failed is still needed: keep it, and the
            // current log with it, until a snapshot is written.
            if !self.rotated.exists() {
                self.rotate()?;
            }
            state.dirty = false;
            let instances: Vec<(Arc<str>, Arc<MockInstance>)> = state
                .instances
                .iter()
                .map(|(id, i)| (id.clone(), i.clone()))
                .collect();
            (state.counters, state.seq, instances)
        };
        let written = self.write_snapshot(&SnapshotRef {
            counters,
            log_seq: seq,
            instances: InstancesRef(&instances),
        });
        if let Err(e) = written {
            if let Ok(mut state) = state.lock() {
                state.dirty = true;
            }
            return Err(e);
        }
        match std::fs::remove_file(&self.rotated) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(self.save_error(&self.rotated, &e))
            }
            _ => Ok(()),
        }
    }

    /// The last compaction (a clean shutdown): afterwards nothing is written.
    pub(super) fn close(&self, state: &Mutex<MockState>) -> Result<(), IaasError> {
        let compacted = self.compact(state);
        let _one = self.compaction.lock().map_err(|_| self.poisoned())?;
        self.closed.store(true, Ordering::SeqCst);
        compacted
    }

    /// Compact in the background while `state` changes, until the journal is dropped or
    /// closed; the wait between compactions is a few times the last one's duration.
    pub(super) fn spawn_compactor(journal: &Arc<Journal>, state: Arc<Mutex<MockState>>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let journal = Arc::downgrade(journal);
        runtime.spawn(async move {
            let mut delay = MIN_COMPACTION_DELAY;
            loop {
                tokio::time::sleep(delay).await;
                let Some(journal) = journal.upgrade() else {
                    return;
                };
                if journal.closed.load(Ordering::SeqCst) {
                    return;
                }
                let state = state.clone();
                let begun = Instant::now();
                let done = tokio::task::spawn_blocking(move || {
                    let result = journal.compact(&state);
                    (journal, result)
                })
                .await;
                match done {
                    Ok((journal, Err(e))) => {
                        tracing::warn!(provider = %journal.provider_type, error = %e, "mock cloud compaction failed; retrying");
                    }
                    Ok((_, Ok(()))) => {}
                    Err(_) => return,
                }
                delay = (begun.elapsed() * 4).clamp(MIN_COMPACTION_DELAY, MAX_COMPACTION_DELAY);
            }
        });
    }

    /// Move the log aside (to be removed once the snapshot holding it is written) and start a
    /// fresh one; under the state lock, so no change falls between the two.
    fn rotate(&self) -> Result<(), IaasError> {
        let mut writer = self.writer.lock().map_err(|_| self.poisoned())?;
        match std::fs::rename(&self.log, &self.rotated) {
            // Removed by hand: the fresh log below is all there is to keep.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other.map_err(|e| self.save_error(&self.log, &e))?,
        }
        *writer = open_log(&self.log).map_err(|e| self.save_error(&self.log, &e))?;
        Ok(())
    }

    fn write_snapshot(&self, snapshot: &SnapshotRef<'_>) -> Result<(), IaasError> {
        let bytes =
            serde_json::to_vec_pretty(snapshot).map_err(|e| self.save_error(&self.snapshot, &e))?;
        // Write-then-rename so a crash never leaves a torn file. Mode 0600: instances keep
        // their payloads (CARTRIDGE_KEY). A temporary file left by a crash is removed first,
        // so the new one is created with that mode.
        let tmp = self.snapshot.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        crate::private_file::write_private(&tmp, bytes).map_err(|e| self.save_error(&tmp, &e))?;
        std::fs::rename(&tmp, &self.snapshot).map_err(|e| self.save_error(&self.snapshot, &e))
    }

    fn save_error(&self, path: &Path, e: &dyn std::fmt::Display) -> IaasError {
        IaasError::new(
            &self.provider_type,
            "save state",
            ErrorClass::Transient,
            format!("{}: {e}", path.display()),
        )
    }

    fn poisoned(&self) -> IaasError {
        IaasError::new(
            &self.provider_type,
            "lock state",
            ErrorClass::Transient,
            "mock state lock poisoned",
        )
    }
}

/// The log, for appending; only its owner may read it (it holds payloads).
fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// The entries of one log file; a torn last line (no newline) is skipped.
fn read_entries(bytes: &[u8], into: &mut Vec<Entry>) -> Result<(), String> {
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &[][..],
    };
    for (number, line) in complete.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry =
            serde_json::from_slice(line).map_err(|e| format!("line {}: {e}", number + 1))?;
        into.push(entry);
    }
    Ok(())
}
