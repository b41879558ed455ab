//! Event-driven evaluation, rate-limited per cluster.
//!
//! Stratos evaluated every 90 s; we evaluate when stats or member events arrive, so a burst of
//! health samples must not trigger thousands of evaluations. An [`EvaluationGate`] (the
//! controller keeps one for its scaling loop) lets the first request through, then at most one evaluation per `min_interval_seconds`; a
//! request that arrives too early is remembered, and [`EvaluationGate::due`] tells the
//! controller's tick when to run it (trailing edge), so the last sample of a burst is never
//! ignored.

/// Default spacing between two evaluations of one cluster.
pub const DEFAULT_MIN_INTERVAL_SECONDS: f64 = 0.25;

/// What to do with a request to evaluate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GateDecision {
    /// Evaluate now (the gate has recorded it).
    Now,
    /// Too soon: evaluate at this time (poll [`EvaluationGate::due`]).
    At(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationGate {
    min_interval_seconds: f64,
    last_evaluation_at: Option<f64>,
    deferred: bool,
}

impl Default for EvaluationGate {
    fn default() -> Self {
        EvaluationGate::new(DEFAULT_MIN_INTERVAL_SECONDS)
    }
}

impl EvaluationGate {
    /// A gate with the given spacing (non-finite or negative → the default).
    pub fn new(min_interval_seconds: f64) -> Self {
        let min_interval_seconds =
            if min_interval_seconds.is_finite() && min_interval_seconds >= 0.0 {
                min_interval_seconds
            } else {
                DEFAULT_MIN_INTERVAL_SECONDS
            };
        EvaluationGate {
            min_interval_seconds,
            last_evaluation_at: None,
            deferred: false,
        }
    }

    fn next_allowed_at(&self) -> Option<f64> {
        self.last_evaluation_at
            .map(|last| last + self.min_interval_seconds)
    }

    /// Something changed for this cluster at `now`.
    pub fn request(&mut self, now: f64) -> GateDecision {
        match self.next_allowed_at() {
            // A clock that went backwards (now < last) waits out the interval from `last`.
            Some(next) if now < next || now.is_nan() => {
                self.deferred = true;
                GateDecision::At(next)
            }
            _ => {
                self.last_evaluation_at = Some(now);
                self.deferred = false;
                GateDecision::Now
            }
        }
    }

    /// For the periodic tick: `true` (and recorded as an evaluation) when a deferred request is
    /// now allowed to run.
    pub fn due(&mut self, now: f64) -> bool {
        if !self.deferred {
            return false;
        }
        matches!(self.request(now), GateDecision::Now)
    }

    pub fn has_deferred(&self) -> bool {
        self.deferred
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_passes_then_rate_limited_with_trailing_evaluation() {
        let mut gate = EvaluationGate::default();
        assert_eq!(gate.request(10.0), GateDecision::Now);
        assert_eq!(gate.request(10.1), GateDecision::At(10.25));
        assert_eq!(gate.request(10.2), GateDecision::At(10.25));
        assert!(gate.has_deferred());
        assert!(!gate.due(10.2));
        assert!(gate.due(10.25));
        assert!(!gate.due(10.3), "deferred request ran once");
        assert_eq!(gate.request(10.6), GateDecision::Now);
    }

    #[test]
    fn nan_and_backwards_clocks_do_not_open_the_gate() {
        let mut gate = EvaluationGate::new(f64::NAN);
        assert_eq!(gate.request(5.0), GateDecision::Now);
        assert_eq!(gate.request(f64::NAN), GateDecision::At(5.25));
        assert_eq!(gate.request(1.0), GateDecision::At(5.25));
        let mut never = EvaluationGate::new(0.0);
        assert_eq!(never.request(1.0), GateDecision::Now);
        assert_eq!(never.request(1.0), GateDecision::Now);
    }
}
