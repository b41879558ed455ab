//! The service's methods: log in, define streams, take bundles, and hand the
//! `cartridge_agent_health_stats` events on as health stats.

use super::auth::{Authenticator, Principal};
use super::databridge::{
    ThriftAuthenticationException, ThriftDifferentStreamDefinitionAlreadyDefinedException,
    ThriftEventBundle, ThriftMalformedStreamDefinitionException,
    ThriftNoStreamDefinitionExistException, ThriftSecureEventTransmissionServiceSyncHandler,
    ThriftSessionExpiredException, ThriftStreamDefinitionException,
    ThriftUndefinedEventTypeException,
};
use super::sessions::{DefineError, Sessions};
use super::stream::{self, Event, StreamDefinition};
use super::{Counters, StatSink};
use messaging::events::{MemberHealthStatsEvent, MemberRef};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The stream the Stratos agent's health publisher defines.
pub const HEALTH_STREAM: &str = "cartridge_agent_health_stats";

pub(super) struct Handler {
    pub auth: Arc<dyn Authenticator>,
    pub sessions: Arc<Sessions>,
    pub sink: Arc<dyn StatSink>,
    pub counters: Arc<Counters>,
}

fn expired() -> thrift::Error {
    ThriftSessionExpiredException::new("unknown or expired session; connect again".to_string())
        .into()
}

impl Handler {
    fn principal(&self, session_id: &str) -> thrift::Result<Principal> {
        self.sessions.principal(session_id).ok_or_else(expired)
    }

    fn apply(&self, event: &Event) {
        let counters = &self.counters;
        let Some(stat) = health_stat(event) else {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.sink.apply(&stat) {
            counters.applied.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(member = %stat.member.member_id, cluster = %stat.member.cluster_id, "thrift health stat for no live member of that cluster: refused");
        }
    }
}

/// A `cartridge_agent_health_stats` event as a health stat: `health_description`
/// `memory_consumption` or `load_average` with its `value` (other descriptions, and other
/// streams, carry nothing the autoscaler uses).
pub fn health_stat(event: &Event) -> Option<MemberHealthStatsEvent> {
    if event.stream.name != HEALTH_STREAM {
        return None;
    }
    let value = event.number("value").filter(|v| v.is_finite())?;
    let (load_average, memory_consumption) = match event.string("health_description")? {
        "load_average" => (Some(value), None),
        "memory_consumption" => (None, Some(value)),
        _ => return None,
    };
    let text = |name| event.string(name).unwrap_or_default().to_string();
    Some(MemberHealthStatsEvent {
        member: MemberRef {
            // Not in the stream; nothing downstream looks at it.
            service_name: String::new(),
            cluster_id: event.string("cluster_id")?.to_string(),
            cluster_instance_id: event.string("cluster_instance_id").map(str::to_string),
            network_partition_id: text("network_partition_id"),
            partition_id: text("partition_id"),
            member_id: event.string("member_id")?.to_string(),
        },
        timestamp: event.timestamp,
        load_average,
        memory_consumption,
        requests_in_flight: None,
    })
}

impl ThriftSecureEventTransmissionServiceSyncHandler for Handler {
    fn handle_connect(&self, user_name: String, password: String) -> thrift::Result<String> {
        match self.auth.authenticate(&user_name, &password) {
            Some(principal) => Ok(self.sessions.open(principal)),
            None => {
                self.counters.logins_refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("thrift receiver: login refused");
                Err(
                    ThriftAuthenticationException::new("wrong user name or password".to_string())
                        .into(),
                )
            }
        }
    }

    fn handle_disconnect(&self, session_id: String) -> thrift::Result<()> {
        self.sessions.close(&session_id);
        Ok(())
    }

    fn handle_define_stream(
        &self,
        session_id: String,
        stream_definition: String,
    ) -> thrift::Result<String> {
        let principal = self.principal(&session_id)?;
        let definition = StreamDefinition::parse(&stream_definition)
            .map_err(|e| ThriftMalformedStreamDefinitionException::new(e.to_string()))?;
        self.sessions
            .define(&principal, definition)
            .map_err(|e| match e {
                DefineError::Different(_) => {
                    ThriftDifferentStreamDefinitionAlreadyDefinedException::new(e.to_string())
                        .into()
                }
                DefineError::TooMany => ThriftStreamDefinitionException::new(e.to_string()).into(),
            })
    }

    fn handle_find_stream_id(
        &self,
        session_id: String,
        stream_name: String,
        stream_version: String,
    ) -> thrift::Result<String> {
        let principal = self.principal(&session_id)?;
        let id = format!("{stream_name}:{stream_version}");
        match self.sessions.stream(&principal, &id) {
            Some(_) => Ok(id),
            None => {
                Err(ThriftNoStreamDefinitionExistException::new(format!("no stream {id}")).into())
            }
        }
    }

    fn handle_publish(&self, event_bundle: ThriftEventBundle) -> thrift::Result<()> {
        let session_id = event_bundle.session_id.clone().unwrap_or_default();
        let principal = self.principal(&session_id)?;
        let events = stream::decode(&event_bundle, |id| self.sessions.stream(&principal, id))
            .map_err(|e| {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                thrift::Error::from(ThriftUndefinedEventTypeException::new(e.to_string()))
            })?;
        for event in &events {
            self.apply(event);
        }
        Ok(())
    }

    fn handle_delete_stream_by_id(
        &self,
        session_id: String,
        stream_id: String,
    ) -> thrift::Result<bool> {
        let principal = self.principal(&session_id)?;
        Ok(self.sessions.delete(&principal, &stream_id))
    }

    fn handle_delete_stream_by_name_version(
        &self,
        session_id: String,
        stream_name: String,
        stream_version: String,
    ) -> thrift::Result<bool> {
        let principal = self.principal(&session_id)?;
        Ok(self
            .sessions
            .delete(&principal, &format!("{stream_name}:{stream_version}")))
    }
}
