//! Errors of the controller facade; each maps to one HTTP status.

use alto_config::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The request or document is invalid; one line per problem (`FILE:LINE:COL: message`).
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// Missing or wrong credentials.
    #[error("authentication required")]
    Unauthorized,
    /// Too many failed logins for this login or from this address: try again later.
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Authenticated, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The registry failed (database down, corrupt row, ...).
    #[error("registry: {0}")]
    Registry(#[from] alto_registry::RegistryError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ControllerError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ControllerError::Invalid(vec![message.into()])
    }

    pub fn from_problems(problems: &[Problem]) -> Self {
        ControllerError::Invalid(problems.iter().map(ToString::to_string).collect())
    }

    /// The HTTP status this error is reported with.
    pub fn status(&self) -> u16 {
        match self {
            ControllerError::Invalid(_) => 400,
            ControllerError::Unauthorized => 401,
            ControllerError::TooManyAttempts { .. } => 429,
            ControllerError::Forbidden(_) => 403,
            ControllerError::NotFound(_) => 404,
            ControllerError::Conflict(_) => 409,
            ControllerError::Registry(alto_registry::RegistryError::Conflict(_)) => 409,
            ControllerError::Registry(alto_registry::RegistryError::NotFound(_)) => 404,
            // The database is restarting or unreachable: retryable (with Retry-After).
            ControllerError::Registry(e) if e.is_unavailable() => 503,
            ControllerError::Registry(_) | ControllerError::Internal(_) => 500,
        }
    }
}

pub type Result<T, E = ControllerError> = std::result::Result<T, E>;
