//! Per-partition backoff after failed member starts.
//!
//! When a cloud refuses to start a member, retrying on the next evaluation (250 ms later) only
//! burns API quota and, in Stratos, produced endless spawn loops. Each failure backs its
//! partition off for a delay that depends on what went wrong and doubles with every consecutive
//! failure; while a partition is backed off the evaluation skips it (the next partition, then
//! the next network partition, takes over) and its failures count against the maximum. A
//! successful start clears the partition's record.

use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

/// Why a start failed, as far as backing off is concerned (mirrors the `iaas` crate's error
/// classes; the controller maps one to the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureClass {
    /// Account quota exhausted: will not fix itself soon.
    Quota,
    /// The provider has no capacity for this instance type/zone right now.
    Capacity,
    /// The API throttled us; honour its retry-after when given.
    RateLimited,
    /// Credentials rejected: needs an operator.
    Auth,
    /// A passing fault (a 5xx, a timeout, a dropped connection): worth another try soon.
    Transient,
    Other,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Quota => "quota",
            FailureClass::Capacity => "capacity",
            FailureClass::RateLimited => "rate-limited",
            FailureClass::Auth => "auth",
            FailureClass::Transient => "transient",
            FailureClass::Other => "other",
        }
    }

    /// (first delay, cap) in seconds.
    pub fn delays(self) -> (f64, f64) {
        match self {
            FailureClass::Quota => (300.0, 3600.0),
            FailureClass::Capacity => (60.0, 1800.0),
            FailureClass::RateLimited => (10.0, 300.0),
            FailureClass::Auth => (600.0, 3600.0),
            FailureClass::Transient => (2.0, 120.0),
            FailureClass::Other => (30.0, 900.0),
        }
    }

    /// The backoff after the `consecutive`-th failure in a row (1-based):
    /// `min(cap, first · 2^(consecutive − 1))`.
    pub fn delay_seconds(self, consecutive: u32) -> f64 {
        let (first, cap) = self.delays();
        let exponent = consecutive.saturating_sub(1).min(30) as i32;
        (first * 2f64.powi(exponent)).min(cap)
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One partition's failure record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionFailures {
    pub consecutive: u32,
    pub last_class: FailureClass,
    pub backed_off_until: f64,
}

/// Backoff state of every partition of one cluster. Pure: every method takes `now` (seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionBackoff {
    partitions: HashMap<String, PartitionFailures>,
}

impl PartitionBackoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a failed start. `retry_after` (seconds, from a rate-limit answer) replaces the
    /// computed delay for [`FailureClass::RateLimited`] when it is finite and not negative (and
    /// is capped at one hour so a bogus header cannot park a partition for ever).
    pub fn record_failure(
        &mut self,
        partition_id: &str,
        class: FailureClass,
        now: f64,
        retry_after: Option<f64>,
    ) {
        let consecutive = self
            .partitions
            .get(partition_id)
            .map_or(0, |f| f.consecutive)
            .saturating_add(1);
        let mut delay = class.delay_seconds(consecutive);
        if class == FailureClass::RateLimited {
            if let Some(after) = retry_after.filter(|a| a.is_finite() && *a >= 0.0) {
                delay = after.min(3600.0);
            }
        }
        let now = if now.is_finite() { now } else { 0.0 };
        self.partitions.insert(
            partition_id.to_string(),
            PartitionFailures {
                consecutive,
                last_class: class,
                backed_off_until: now + delay,
            },
        );
    }

    /// A start succeeded: the partition is healthy again.
    pub fn record_success(&mut self, partition_id: &str) {
        self.partitions.remove(partition_id);
    }

    pub fn is_backed_off(&self, partition_id: &str, now: f64) -> bool {
        self.backed_off(partition_id, now).is_some()
    }

    /// The failure record while the partition is backed off.
    pub fn backed_off(&self, partition_id: &str, now: f64) -> Option<&PartitionFailures> {
        self.partitions
            .get(partition_id)
            // NaN `now` compares false: treat as backed off (the conservative side).
            .filter(|f| {
                !matches!(
                    now.partial_cmp(&f.backed_off_until),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            })
    }

    /// Failed starts that still count against the maximum: the consecutive failures of a
    /// partition while it is backed off.
    pub fn failures_in_flight(&self, partition_id: &str, now: f64) -> u32 {
        self.backed_off(partition_id, now)
            .map_or(0, |f| f.consecutive)
    }

    pub fn get(&self, partition_id: &str) -> Option<&PartitionFailures> {
        self.partitions.get(partition_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        assert_eq!(FailureClass::Other.delay_seconds(1), 30.0);
        assert_eq!(FailureClass::Other.delay_seconds(2), 60.0);
        assert_eq!(FailureClass::Other.delay_seconds(3), 120.0);
        assert_eq!(FailureClass::Other.delay_seconds(10), 900.0);
        assert_eq!(FailureClass::Transient.delay_seconds(1), 2.0);
        assert_eq!(FailureClass::Transient.delay_seconds(3), 8.0);
        assert_eq!(FailureClass::Transient.delay_seconds(20), 120.0);
        assert_eq!(FailureClass::Quota.delay_seconds(1), 300.0);
        assert_eq!(FailureClass::Quota.delay_seconds(u32::MAX), 3600.0);
    }

    #[test]
    fn failure_backs_off_then_expires_and_success_resets() {
        let mut b = PartitionBackoff::new();
        assert!(!b.is_backed_off("p1", 0.0));
        b.record_failure("p1", FailureClass::Capacity, 100.0, None);
        assert!(b.is_backed_off("p1", 100.0));
        assert!(b.is_backed_off("p1", 159.9));
        assert!(!b.is_backed_off("p1", 160.0));
        assert!(!b.is_backed_off("p2", 100.0));
        assert_eq!(b.failures_in_flight("p1", 120.0), 1);
        assert_eq!(b.failures_in_flight("p1", 200.0), 0);
        b.record_failure("p1", FailureClass::Capacity, 200.0, None);
        assert_eq!(b.get("p1").unwrap().backed_off_until, 320.0, "doubled");
        assert_eq!(b.failures_in_flight("p1", 300.0), 2);
        b.record_success("p1");
        assert!(!b.is_backed_off("p1", 200.0));
        assert!(b.get("p1").is_none());
    }

    #[test]
    fn rate_limit_honours_retry_after() {
        let mut b = PartitionBackoff::new();
        b.record_failure("p1", FailureClass::RateLimited, 0.0, Some(7.5));
        assert_eq!(b.get("p1").unwrap().backed_off_until, 7.5);
        b.record_failure("p1", FailureClass::RateLimited, 10.0, Some(f64::NAN));
        assert_eq!(b.get("p1").unwrap().backed_off_until, 30.0, "2nd: 10·2");
        // retry-after only applies to rate limits
        b.record_failure("p2", FailureClass::Auth, 0.0, Some(1.0));
        assert_eq!(b.get("p2").unwrap().backed_off_until, 600.0);
    }

    #[test]
    fn nan_now_is_conservative() {
        let mut b = PartitionBackoff::new();
        b.record_failure("p1", FailureClass::Other, f64::NAN, None);
        assert!(b.is_backed_off("p1", f64::NAN));
        assert!(!b.is_backed_off("p1", 31.0));
    }
}
