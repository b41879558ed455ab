//! Scaling decisions as pure functions over plain data.
//!
//! The controller gathers a [`ClusterView`] (members and their states) and the cluster's
//! policies, calls a decision function and actuates the [`Action`]s it returns. Nothing here
//! performs I/O, so every decision can be unit-tested, replayed and dry-run.
//!
//! - [`window`]: health windows (average, gradient, second derivative per metric), updated in
//!   O(1) per sample;
//! - [`rules`]: the Stratos 4.1 formulas (prediction, required instances per metric);
//! - [`backoff`]: per-partition backoff after failed starts, by error class;
//! - [`evaluate`]: one pure evaluation of a cluster, returning a [`DecisionRecord`];
//! - [`gate`]: per-cluster rate limiting of event-driven evaluations;
//! - [`simulate`]: replays a load trace through [`evaluate()`] with a simulated clock;
//! - [`decision`]: the minimum-members rule over a [`ClusterView`] (the controller's first
//!   integration, kept as it was).

pub mod backoff;
pub mod decision;
pub mod evaluate;
pub mod gate;
pub mod partition;
pub mod policy;
pub mod rules;
pub mod simulate;
pub mod window;

pub use backoff::{FailureClass, PartitionBackoff};
pub use decision::{minimum_members, Action, ClusterView, Decision, MemberView};
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
