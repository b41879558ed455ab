//! `/api/tenants`: create a tenant and its admin (platform admin only).

use super::error::ApiError;
use super::extract::{Body, Caller};
use crate::controller::Controller;
use crate::model::TenantRequest;
use actix_web::{web, HttpResponse};

pub async fn create(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let req: TenantRequest = body.json()?;
    Ok(HttpResponse::Created().json(controller.create_tenant(&caller.0, req).await?))
}
