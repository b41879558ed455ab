//! `GET /api/payload/{token}`: a member's payload for clouds whose user data is too small to
//! carry it. No Basic auth: the token is the credential (per member, single use, expiring,
//! revoked when the member terminates); an unknown, used, expired or revoked token is a plain
//! 404.

use super::error::ApiError;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};

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
