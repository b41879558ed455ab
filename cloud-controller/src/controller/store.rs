//! The registry as the controller's parts use it: every call on a blocking thread, every error
//! a [`ControllerError`].

use crate::error::{ControllerError, Result};
use alto_registry::{Registry, RegistryError};

/// A cheap handle on the registry (clones share its connection pool).
#[derive(Clone)]
pub(crate) struct Store {
    registry: Registry,
}

impl Store {
    pub(crate) fn new(registry: Registry) -> Store {
        Store { registry }
    }

    pub(crate) fn backend(&self) -> alto_registry::Backend {
        self.registry.backend()
    }

    /// Run registry code off the async threads (diesel is synchronous).
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
    {
        let registry = self.registry.clone();
        Ok(tokio::task::spawn_blocking(move || f(&registry))
            .await
            .map_err(internal)??)
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ControllerError {
    ControllerError::Internal(e.to_string())
}

/// Wall-clock seconds since the Unix epoch (the autoscaler's clock).
pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Wall-clock milliseconds since the Unix epoch (the registry's clock).
pub(crate) fn now_ms() -> i64 {
    (now_secs() * 1000.0) as i64
}
