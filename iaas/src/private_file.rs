//! Files only their owner may read: a mock cloud's state and a local agent's configuration
//! carry payloads (CARTRIDGE_KEY) and broker credentials.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Create `path` with mode 0600 before anything is written into it (an existing file keeps
/// its mode: callers write a fresh temporary file and rename it, or own the file from the start).
pub fn write_private(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes.as_ref())
}

/// [`write_private`] off the async threads.
pub async fn write_private_async(path: &Path, bytes: Vec<u8>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || write_private(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_written_file_is_the_owners_only() {
        let dir = std::env::temp_dir().join(format!("alto-private-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let fresh = dir.join("fresh.json");
        write_private(&fresh, b"{}").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&fresh).unwrap(), b"{}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
