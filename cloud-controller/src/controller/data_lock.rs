//! One controller per data directory. The directory holds the SQLite registry (one writer) and
//! the mock cloud's instance files (one owner); a second `alto` on it would be a second writer
//! of both. An exclusive lock on `DATA/alto.lock`, held for the life of the process, refuses
//! the second one with a clear error; the kernel releases it when the process ends, however it
//! ends (no stale lock after `kill -9`).

use crate::error::{ControllerError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Held while the controller runs.
#[derive(Debug)]
pub(crate) struct DataLock {
    _file: File,
}

impl DataLock {
    pub(crate) fn acquire(data_dir: &Path) -> Result<DataLock> {
        let path = data_dir.join("alto.lock");
        let failed = |e: std::io::Error| {
            ControllerError::Internal(format!("cannot lock {}: {e}", path.display()))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(ControllerError::Conflict(format!(
                    "data directory {} is in use by another alto process{}; stop it or use another --data",
                    data_dir.display(),
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    }
                )));
            }
            Err(TryLockError::Error(e)) => return Err(failed(e)),
        }
        // Who holds it, for the next one's error message.
        file.set_len(0).map_err(failed)?;
        file.rewind().map_err(failed)?;
        write!(file, "{}", std::process::id()).map_err(failed)?;
        Ok(DataLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("alto-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DataLock::acquire(&dir).unwrap();
        let refused = DataLock::acquire(&dir).unwrap_err().to_string();
        assert!(
            refused.contains("in use by another alto process"),
            "{refused}"
        );
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        DataLock::acquire(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
