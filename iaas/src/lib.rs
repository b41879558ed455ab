//! The `Iaas` trait, provider-neutral values, error classes, capability flags, the driver
//! registry and the providers: `mock`, `local`, `aws-ec2`, `openstack-nova`, `cloudstack`,
//! each a module of the same shape.
//!
//! This crate knows nothing about tenants, policies or the database: the controller hands a
//! driver a fully resolved [`InstanceSpec`] (payload, merged properties, tags) and gets back
//! provider-neutral [`Instance`] values or an [`IaasError`] whose [`ErrorClass`] drives backoff.

pub mod cloudstack;
pub mod ec2;
pub mod error;
pub mod local;
pub mod mock;
pub mod nova;
pub mod private_file;
mod props;
pub mod registry;
mod retry;
pub mod types;

pub use error::{ErrorClass, IaasError};
pub use registry::{AgentAmqp, Caller, DriverContext, DriverFactory, DriverRegistry};
pub use types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, InstanceState, Properties,
    ProviderSpec, Secret, VolumeSpec, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY,
    TAG_MEMBER_ID,
};
