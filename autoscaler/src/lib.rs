//! Scaling decisions as pure functions over plain data.
//!
//! The controller gathers each cluster's members ([`MemberStatus`]), their health windows and
//! the cluster's policies, calls [`evaluate()`] and actuates the [`ScalingAction`]s of the
//! [`DecisionRecord`] it returns. Nothing here performs I/O, so every decision can be
//! unit-tested, replayed and dry-run.
//!
//! - [`window`]: health windows (average, gradient, second derivative per metric), updated in
//!   O(1) per sample;
//! - [`rules`]: the Stratos 4.1 formulas (prediction, required instances per metric);
//! - [`backoff`]: per-partition backoff after failed starts, by error class;
//! - [`evaluate`]: one pure evaluation of a cluster, returning a [`DecisionRecord`];
//! - [`gate`]: rate limiting of event-driven evaluations;
//! - [`simulate`]: replays a load trace through [`evaluate()`] with a simulated clock.

pub mod backoff;
pub mod evaluate;
pub mod gate;
pub mod partition;
pub mod policy;
pub mod rules;
pub mod simulate;
pub mod window;

pub use backoff::{FailureClass, PartitionBackoff};
pub use evaluate::{
    evaluate, DecisionRecord, EvaluationInput, Freshness, MemberCounts, MemberStatus,
    MetricDecision, NetworkPartitionDecision, NetworkPartitionHealth, ScalingAction, ScalingMemory,
    ScalingSettings, StartCause,
};
pub use gate::{EvaluationGate, GateDecision};
pub use partition::{partition_for_scale_down, partition_for_scale_up};
pub use policy::{
    AutoscalePolicy, DeploymentPolicy, LoadThresholds, NetworkPartition, PartitionAlgorithm,
    PartitionPolicy,
};
pub use simulate::{SimOptions, SimReport, Trace, TraceError};
pub use window::{
    ClusterHealth, HealthWindow, Metric, MetricStats, MetricWindows, SampleOutcome, SampleTarget,
    WindowConfig, WindowStats,
};
