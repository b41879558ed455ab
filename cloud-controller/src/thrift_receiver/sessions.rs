//! Sessions (a random id per successful `connect`) and the stream definitions each principal
//! has made. Both bounded: past [`MAX_SESSIONS`] the least recently used session goes (its
//! agent gets `ThriftSessionExpiredException` and logs in again, as the data bridge's
//! clients do); past [`MAX_STREAMS`] definitions a new one is refused.

use super::auth::Principal;
use super::stream::StreamDefinition;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_SESSIONS: usize = 1024;
pub const MAX_STREAMS: usize = 64;
/// A session unused this long is gone.
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);

struct Session {
    principal: Principal,
    last_used: Instant,
}

#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    streams: Mutex<HashMap<(Principal, String), StreamDefinition>>,
}

/// Why a stream definition was not taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DefineError {
    #[error("stream {0} is already defined differently")]
    Different(String),
    #[error("too many stream definitions (at most {MAX_STREAMS})")]
    TooMany,
}

impl Sessions {
    pub fn open(&self, principal: Principal) -> String {
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let Ok(mut sessions) = self.sessions.lock() else {
            return id;
        };
        sessions.retain(|_, s| s.last_used.elapsed() < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                principal,
                last_used: Instant::now(),
            },
        );
        id
    }

    /// The principal of a live session, which counts as a use.
    pub fn principal(&self, session_id: &str) -> Option<Principal> {
        let mut sessions = self.sessions.lock().ok()?;
        let session = sessions.get_mut(session_id)?;
        if session.last_used.elapsed() >= SESSION_IDLE {
            sessions.remove(session_id);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.principal.clone())
    }

    pub fn close(&self, session_id: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(session_id);
        }
    }

    /// Define (or find again, unchanged) a stream; its id is `name:version`.
    pub fn define(
        &self,
        principal: &Principal,
        definition: StreamDefinition,
    ) -> Result<String, DefineError> {
        let id = definition.id();
        let mut streams = self.streams.lock().map_err(|_| DefineError::TooMany)?;
        let key = (principal.clone(), id.clone());
        match streams.get(&key) {
            Some(existing) if *existing == definition => Ok(id),
            Some(_) => Err(DefineError::Different(id)),
            None if streams.len() >= MAX_STREAMS => Err(DefineError::TooMany),
            None => {
                streams.insert(key, definition);
                Ok(id)
            }
        }
    }

    pub fn stream(&self, principal: &Principal, stream_id: &str) -> Option<StreamDefinition> {
        let streams = self.streams.lock().ok()?;
        streams
            .get(&(principal.clone(), stream_id.to_string()))
            .cloned()
    }

    pub fn delete(&self, principal: &Principal, stream_id: &str) -> bool {
        self.streams
            .lock()
            .map(|mut s| {
                s.remove(&(principal.clone(), stream_id.to_string()))
                    .is_some()
            })
            .unwrap_or(false)
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_bounded() {
        let sessions = Sessions::default();
        let first = sessions.open(Principal::Platform);
        assert_eq!(first.len(), 32);
        assert_ne!(first, sessions.open(Principal::Platform));
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.open(Principal::Platform);
        }
        assert_eq!(sessions.count(), MAX_SESSIONS);
        assert_eq!(sessions.principal(&first), None, "the oldest went first");
        let id = sessions.open(Principal::Platform);
        assert_eq!(sessions.principal(&id), Some(Principal::Platform));
        sessions.close(&id);
        assert_eq!(sessions.principal(&id), None);
    }
}
