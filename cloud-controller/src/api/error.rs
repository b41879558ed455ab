//! The one error shape of the REST API:
//! `{"status": 400, "message": "...", "problems": ["FILE:LINE:COL: ...", ...]}`.

use crate::error::ControllerError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a 503 (the registry restarting or unreachable) tells clients to wait.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The realm announced with every 401.
pub const REALM: &str = "altostratus";

/// The JSON body of every error response (also what the CLI decodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub status: u16,
    pub message: String,
    /// One line per validation problem; present on 400s that come from validation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    problems: Vec<String>,
    /// Seconds for `Retry-After` on a 429.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            problems: Vec::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> Self {
        ControllerError::Unauthorized.into()
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            status: self.status.as_u16(),
            message: self.message.clone(),
            problems: self.problems.clone(),
        }
    }
}

impl From<ControllerError> for ApiError {
    fn from(e: ControllerError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match e {
            ControllerError::Invalid(lines) => {
                let message = match lines.as_slice() {
                    [] => "invalid request".to_string(),
                    [one] => one.clone(),
                    many => format!("invalid: {} problems", many.len()),
                };
                ApiError {
                    status,
                    message,
                    problems: lines,
                    retry_after: None,
                }
            }
            ControllerError::TooManyAttempts { retry_after_secs } => ApiError {
                status,
                message: e.to_string(),
                problems: Vec::new(),
                retry_after: Some(retry_after_secs.max(1)),
            },
            other => {
                if status.is_server_error() {
                    tracing::error!(error = %other, "request failed");
                }
                ApiError {
                    status,
                    message: other.to_string(),
                    problems: Vec::new(),
                    retry_after: None,
                }
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\"")));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self.body())
    }
}

/// Map an error of actix' own extractors (body too large, bad payload, ...) to the JSON shape.
pub fn from_actix(e: &actix_web::Error, limit: usize) -> ApiError {
    let status = e.as_response_error().status_code();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("request body larger than {limit} bytes")
    } else {
        e.to_string()
    };
    ApiError::new(status, message)
}
