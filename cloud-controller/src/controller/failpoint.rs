//! Crash points for the fault-injection tests: `ALTO_CRASH_AT=<point>` makes the process abort
//! (as abruptly as `kill -9`: no destructor, no flush) the first time it reaches `<point>`.
//! Unset — always, outside the tests — it costs one string comparison.
//!
//! Points: `after-member-commit` (a member row is committed, its cloud start not yet asked),
//! `after-start-call` (the cloud answered a start, the answer not yet recorded).

use std::sync::OnceLock;

fn configured() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT
        .get_or_init(|| {
            std::env::var("ALTO_CRASH_AT")
                .ok()
                .filter(|p| !p.is_empty())
        })
        .as_deref()
}

/// Abort here when `ALTO_CRASH_AT` names this point.
pub(crate) fn crash_point(point: &str) {
    if configured() == Some(point) {
        eprintln!("ALTO_CRASH_AT={point}: aborting");
        std::process::abort();
    }
}
