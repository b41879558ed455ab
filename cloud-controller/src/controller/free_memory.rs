//! Giving a pass's memory back to the operating system once the pass is over.
//!
//! A scaling pass, a reconciliation and a complete topology each hold every live member (a
//! reconciliation also every instance) for a moment: hundreds of MB at 100,000 members, all
//! freed when the pass ends. glibc's allocator keeps freed memory in its arenas for reuse
//! rather than returning it, so the controller's RSS stayed at the peak of its largest pass
//! (at 100,000 members one `malloc_trim` took a running controller from 1.74 GB to 1.11 GB).
//! `malloc_trim(0)` hands the free pages of every arena back (the allocations in use stay
//! where they are). It runs on a blocking thread: it walks the arenas under their locks.
//! Elsewhere than glibc (musl) this does nothing.

/// Return the free memory of the allocator's arenas, in the background.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn release_after_pass() {
    tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim has no precondition: it takes the allocator's own locks and
        // only returns pages that no allocation uses.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}

/// Other allocators return memory on their own terms: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_after_pass() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Resident anonymous memory of this process, in bytes.
    fn rss_anon() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kb * 1024
    }

    #[tokio::test]
    async fn freed_memory_goes_back_after_a_pass() {
        // 256 MB in small blocks (a pass's member records), then one block above them, so the
        // allocator cannot give the freed ones back by shrinking its heap on its own.
        let blocks: Vec<Vec<u8>> = (0..65_536).map(|i| vec![(i % 251) as u8; 4096]).collect();
        let pin = vec![1u8; 4096];
        let full = rss_anon();
        drop(blocks);
        let freed = rss_anon();
        super::release_after_pass();
        // The trim runs on a blocking thread: poll for its effect, with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut trimmed = rss_anon();
        while trimmed + (128 << 20) > freed {
            assert!(
                std::time::Instant::now() < deadline,
                "RSS did not drop by 128 MB: {full} with the blocks, {freed} once freed, {trimmed} after the trim"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            trimmed = rss_anon();
        }
        assert_eq!(pin[0], 1);
    }
}
