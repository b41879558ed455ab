//! `GET /api/payload/{token}`: a member's payload for clouds whose user data is too small to
//! carry it. No Basic auth: the token is the credential (per member, single use, expiring,
//! revoked when the member terminates); an unknown, used, expired or revoked token is a plain
//! 404.

use super::error::ApiError;
use super::error::ErrorBody;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    get,
    path = "/api/payload/{token}",
    tag = "members",
    summary = "A member's payload, once (the token is the credential)",
    operation_id = "getPayload",
    params(("token" = String, Path, description = "The payload token")),
    responses(
        (status = 200, description = "The payload", body = String, content_type = "text/plain"),
        (status = 404, description = "Unknown, used, expired or revoked token", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    )
)]
pub async fn get(
    controller: web::Data<Controller>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let payload = controller.payload_by_token(&token).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(payload))
}
