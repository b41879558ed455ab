//! The Altostratus cloud controller: subscriptions, payloads, member lifecycle, the REST API
//! and the `alto` CLI. Configuration parsing lives in `alto-config` and persistence in
//! `alto-registry` (separate crates so they compile and test on their own); scaling logic lives
//! in the `autoscaler` crate and clouds behind the `iaas` crate's `Iaas` trait.

pub mod agent_endpoints;
pub mod api;
pub mod auth;
pub mod cli;
pub mod console;
pub mod controller;
pub mod convert;
pub mod error;
pub mod metrics;
pub mod mock_cloud;
pub mod model;
pub mod naming;
pub mod paging;
pub mod payload;
pub mod simulate;
pub mod thrift_receiver;
pub mod tls;

pub use error::{ControllerError, Result};
