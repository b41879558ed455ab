//! The Altostratus cartridge agent: runs on every member, reads its payload, reports the
//! member's lifecycle and health over AMQP and runs the cartridge's extension hooks.
//! docs/PROTOCOL.md is the contract it implements; it never depends on the `cloud-controller`
//! crate (only on `messaging`, the shared event types and bus).

pub mod agent;
pub mod config;
pub mod health;
pub mod hooks;
