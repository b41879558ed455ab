//! When each member was last heard from. Every health stat and status event is a heartbeat;
//! the autoscaler calls an Active member faulty after the fault timeout of silence.
//!
//! Deliberately in memory: a member first seen by this process (after a restart) gets a full
//! timeout from now, and when the bus comes back after an outage every member's silence starts
//! again — nothing could be heard while it was down. So neither a controller restart nor a
//! broker restart makes members faulty.

use messaging::Bus;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub(crate) struct Heartbeats {
    last_heard: Mutex<HashMap<String, Instant>>,
    bus_was_up: AtomicBool,
}

impl Heartbeats {
    pub(crate) fn new() -> Heartbeats {
        Heartbeats {
            last_heard: Mutex::new(HashMap::new()),
            bus_was_up: AtomicBool::new(true),
        }
    }

    /// A heartbeat. Only members the scaling loop tracks are kept (it enters each live member
    /// on first sight), so ids from the network never grow the map.
    pub(crate) fn heard(&self, member_id: &str) {
        if let Ok(mut heard) = self.last_heard.lock() {
            if let Some(at) = heard.get_mut(member_id) {
                *at = Instant::now();
            }
        }
    }

    /// When (in seconds of `now`'s clock) the member was last heard from; a member not seen
    /// before is heard now.
    pub(crate) fn last_heard_at(&self, member_id: &str, now: f64) -> Option<f64> {
        let mut heard = self.last_heard.lock().ok()?;
        let at = *heard
            .entry(member_id.to_string())
            .or_insert_with(Instant::now);
        Some(now - at.elapsed().as_secs_f64())
    }

    pub(crate) fn forget(&self, member_id: &str) {
        if let Ok(mut heard) = self.last_heard.lock() {
            heard.remove(member_id);
        }
    }

    /// Keep only the members still alive (everything else was terminated or never ours).
    pub(crate) fn retain(&self, live: &HashSet<&str>) {
        if let Ok(mut heard) = self.last_heard.lock() {
            heard.retain(|id, _| live.contains(id.as_str()));
        }
    }

    /// Is the bus up? On the way back up every member's silence starts again.
    pub(crate) async fn bus_is_up(&self, bus: &dyn Bus) -> bool {
        let up = bus.is_connected().await;
        let was_up = self.bus_was_up.swap(up, Ordering::SeqCst);
        if up && !was_up {
            tracing::info!("bus back: restarting member fault timers");
            if let Ok(mut heard) = self.last_heard.lock() {
                heard.clear();
            }
        }
        up
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last_heard.lock().map(|h| h.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_that_go_are_forgotten() {
        let beats = Heartbeats::new();
        beats.heard("stranger");
        assert_eq!(beats.len(), 0, "an unknown id is not entered");
        for id in ["a", "b", "c"] {
            assert!(beats.last_heard_at(id, 100.0).is_some_and(|t| t <= 100.0));
        }
        beats.heard("a");
        assert_eq!(beats.len(), 3);
        beats.forget("a");
        beats.retain(&["b"].into_iter().collect());
        assert_eq!(beats.len(), 1);
    }
}
