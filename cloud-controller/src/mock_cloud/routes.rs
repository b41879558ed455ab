//! The mock cloud's HTTP routes (the protocol is `iaas::mock::wire`): one JSON error body on
//! every failure, bounded bodies and names, the caller's headers read before anything else.

use super::calls::{CallKind, Stale};
use super::MockCloud;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use iaas::mock::wire::{
    self, DescribeQuery, ErrorBody, RegisterRequest, RegisterResponse, StartRequest,
    FENCING_TOKEN_HEADER, REPLICA_HEADER, STALE_FENCING_TOKEN, UNKNOWN_PROVIDER,
};
use iaas::{ErrorClass, Iaas, IaasError, InstanceFilter};
use std::fmt;
use std::sync::Arc;

/// Largest request body: a start carries a payload of up to ~64 KiB (JSON-escaped) plus its
/// properties and tags.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// A failure as the wire carries it.
#[derive(Debug)]
pub struct WireError {
    status: StatusCode,
    body: ErrorBody,
}

impl WireError {
    pub fn new(class: ErrorClass, code: &str, message: impl Into<String>) -> WireError {
        let status = wire::status_for(&class, Some(code));
        WireError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: ErrorBody::new(&class, Some(code), message),
        }
    }

    fn with_status(mut self, status: StatusCode) -> WireError {
        self.status = status;
        self
    }
}

impl From<IaasError> for WireError {
    fn from(e: IaasError) -> WireError {
        let status = wire::status_for(&e.class, e.code.as_deref());
        WireError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: ErrorBody::from_error(&e),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}]: {}",
            self.status, self.body.class, self.body.message
        )
    }
}

impl ResponseError for WireError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(&self.body)
    }
}

fn invalid(code: &str, message: impl Into<String>) -> WireError {
    WireError::new(ErrorClass::InvalidRequest, code, message)
}

/// The routes, with JSON errors for bodies, queries and paths actix refuses.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_BODY_BYTES)
            .error_handler(|e, _| {
                let status = match &e {
                    actix_web::error::JsonPayloadError::Overflow { .. }
                    | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                        StatusCode::PAYLOAD_TOO_LARGE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                invalid("InvalidBody", format!("request body: {e}"))
                    .with_status(status)
                    .into()
            }),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| invalid("InvalidQuery", format!("query: {e}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| invalid("InvalidPath", format!("path: {e}")).into()),
    )
    .route("/calls", web::get().to(calls))
    .route("/providers/{type}", web::post().to(register))
    .route("/providers/{type}/instances", web::post().to(start))
    .route("/providers/{type}/instances", web::get().to(describe))
    .route(
        "/providers/{type}/instances/{instance}",
        web::delete().to(terminate),
    )
    .default_service(web::to(no_route));
}

async fn no_route(req: HttpRequest) -> HttpResponse {
    // Not `not-found`: a client must never take a wrong route for a vanished instance.
    invalid(
        "NoSuchRoute",
        format!("no route for {} {}", req.method(), req.path()),
    )
    .with_status(StatusCode::NOT_FOUND)
    .error_response()
}

/// The caller's replica id and fencing token.
fn caller(req: &HttpRequest) -> Result<(String, u64), WireError> {
    let replica = match req.headers().get(REPLICA_HEADER) {
        None => String::new(),
        Some(value) => value
            .to_str()
            .ok()
            .filter(|v| v.len() <= wire::MAX_NAME_BYTES)
            .map(str::to_string)
            .ok_or_else(|| {
                invalid(
                    "InvalidCaller",
                    format!(
                        "{REPLICA_HEADER} must be visible ASCII of at most {} bytes",
                        wire::MAX_NAME_BYTES
                    ),
                )
            })?,
    };
    let token = match req.headers().get(FENCING_TOKEN_HEADER) {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                invalid(
                    "InvalidFencingToken",
                    format!("{FENCING_TOKEN_HEADER} must be a non-negative integer"),
                )
            })?,
    };
    Ok((replica, token))
}

fn provider_type(raw: &str) -> Result<&str, WireError> {
    if wire::valid_provider_type(raw) {
        Ok(raw)
    } else {
        Err(invalid(
            "InvalidProviderType",
            format!(
                "provider type must be letters, digits, '-' and '_', at most {} bytes",
                wire::MAX_NAME_BYTES
            ),
        ))
    }
}

/// Count the call, refuse it when its token is stale.
fn admit(cloud: &MockCloud, req: &HttpRequest, kind: CallKind) -> Result<(String, u64), WireError> {
    let (replica, token) = caller(req)?;
    let admitted = cloud
        .ledger
        .lock()
        .map_err(|_| {
            WireError::new(
                ErrorClass::Transient,
                "Internal",
                "call ledger lock poisoned",
            )
        })?
        .admit(&replica, kind, token);
    match admitted {
        Ok(()) => Ok((replica, token)),
        Err(Stale { token, highest }) => {
            tracing::warn!(caller = %replica, token, highest, ?kind, "refused a call with a stale fencing token");
            Err(WireError::new(
                ErrorClass::InvalidRequest,
                STALE_FENCING_TOKEN,
                format!("fencing token {token} is older than {highest}, already seen"),
            ))
        }
    }
}

async fn cloud_of(
    cloud: &MockCloud,
    provider_type: &str,
) -> Result<Arc<iaas::mock::MockIaas>, WireError> {
    cloud.get(provider_type).await.ok_or_else(|| {
        // Transient: the replica registers the type again and repeats the call.
        WireError::new(
            ErrorClass::Transient,
            UNKNOWN_PROVIDER,
            format!("provider type {provider_type} is not registered"),
        )
    })
}

async fn calls(cloud: web::Data<MockCloud>) -> Result<HttpResponse, WireError> {
    let counts = cloud
        .ledger
        .lock()
        .map_err(|_| {
            WireError::new(
                ErrorClass::Transient,
                "Internal",
                "call ledger lock poisoned",
            )
        })?
        .counts()
        .clone();
    Ok(HttpResponse::Ok().json(counts))
}

async fn register(
    cloud: web::Data<MockCloud>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, WireError> {
    let (replica, _) = caller(&req)?;
    let t = provider_type(&path)?;
    let created = cloud.register(t, body.into_inner().properties).await?;
    tracing::info!(provider = %t, caller = %replica, created, "provider type registered");
    Ok(HttpResponse::Ok().json(RegisterResponse {
        provider_type: t.to_string(),
        created,
    }))
}

async fn start(
    cloud: web::Data<MockCloud>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<StartRequest>,
) -> Result<HttpResponse, WireError> {
    let t = provider_type(&path)?;
    let (replica, token) = admit(&cloud, &req, CallKind::Start)?;
    let spec = body.into_inner().into_spec();
    let driver = cloud_of(&cloud, t).await?;
    // The spec's Debug leaves the payload out; nothing else of it is logged.
    tracing::info!(provider = %t, caller = %replica, token, member = %spec.member_id, "start");
    let instance = driver.start_instance(&spec).await?;
    Ok(HttpResponse::Ok().json(instance))
}

async fn describe(
    cloud: web::Data<MockCloud>,
    path: web::Path<String>,
    query: web::Query<DescribeQuery>,
) -> Result<HttpResponse, WireError> {
    let t = provider_type(&path)?;
    let query = query.into_inner();
    let filter = InstanceFilter {
        cluster_id: query.cluster_id,
        member_id: query.member_id,
    };
    let instances = cloud_of(&cloud, t)
        .await?
        .describe_instances(&filter)
        .await?;
    Ok(HttpResponse::Ok().json(instances))
}

async fn terminate(
    cloud: web::Data<MockCloud>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, WireError> {
    let (raw_type, instance_id) = path.into_inner();
    let t = provider_type(&raw_type)?;
    if instance_id.len() > wire::MAX_NAME_BYTES {
        return Err(invalid("InvalidInstanceId", "instance id too long"));
    }
    let (replica, token) = admit(&cloud, &req, CallKind::Terminate)?;
    let driver = cloud_of(&cloud, t).await?;
    tracing::info!(provider = %t, caller = %replica, token, instance = %instance_id, "terminate");
    driver.terminate_instance(&instance_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
