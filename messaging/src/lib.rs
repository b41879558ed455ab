//! Topology model, every event type and the `Bus` trait.
//!
//! This crate knows nothing about HTTP, SQL or any cloud: it is shared by the controller, the
//! IaaS drivers (the mock cloud publishes agent events) and the cartridge agent.

pub mod amqp;
mod amqp_shards;
pub mod broker_admin;
pub mod broker_urls;
pub mod bus;
pub mod events;
pub mod topology;

pub use amqp::{AmqpBus, AmqpConfig};
pub use bus::{
    Acknowledger, Bus, BusError, Delivery, InProcessBus, QueueKind, Subscription, SubscriptionSpec,
    TopicPattern,
};
pub use events::{Event, EventDecodeError};
pub use topology::{IllegalTransition, MemberState, UnknownMemberState};
