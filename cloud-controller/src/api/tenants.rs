//! `/api/tenants`: create a tenant and its admin (platform admin only).

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller};
use crate::controller::Controller;
use crate::model::TenantInfo;
use crate::model::TenantRequest;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    post,
    path = "/api/tenants",
    tag = "tenants",
    summary = "Create a tenant and its admin (platform admin)",
    operation_id = "createTenant",
    request_body(content = TenantRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The tenant", body = TenantInfo),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 409, description = "The tenant domain exists", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn create(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let req: TenantRequest = body.json()?;
    Ok(HttpResponse::Created().json(controller.create_tenant(&caller.0, req).await?))
}
