//! Scaling decisions as pure functions over plain data.
//!
//! The controller gathers a [`ClusterView`] (members and their states) and the cluster's
//! policies, calls a decision function and actuates the [`Action`]s it returns. Nothing here
//! performs I/O, so every decision can be unit-tested, replayed and dry-run.
//!
//! Today: policies, the partition algorithms, the minimum-members rule, incremental health
//! windows, Stratos' formulas (`rules`) and the scale decision with cooldowns and
//! stabilization (`scaling`). The controller does not act on `scaling` yet.

pub mod decision;
pub mod partition;
pub mod policy;
pub mod rules;
pub mod scaling;
pub mod window;

pub use decision::{minimum_members, Action, ClusterView, Decision, MemberView};
pub use partition::{partition_for_scale_down, partition_for_scale_up};
pub use policy::{
    AutoscalePolicy, DeploymentPolicy, LoadThresholds, NetworkPartition, PartitionAlgorithm,
    PartitionPolicy,
};
pub use scaling::{
    decide, ScalingAction, ScalingDecision, ScalingInput, ScalingMemory, ScalingSettings,
    Thresholds,
};
pub use window::{aggregate, HealthWindow, MemberWindows, Metric, WindowValues};
