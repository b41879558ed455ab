//! `GET /api/reconcile`: the last reconciliation pass with the clouds (platform admin).
//! `time` is `null` until the first pass (at startup) has finished.

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::Caller;
use crate::controller::Controller;
use crate::controller::ReconcileReport;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    get,
    path = "/api/reconcile",
    tag = "operations",
    summary = "The last reconciliation pass with the clouds (platform admin)",
    operation_id = "getReconcileReport",
    responses(
        (status = 200, description = "The report; `time` is null until the first pass has finished", body = ReconcileReport),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn last(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.reconcile_report(&caller.0).await?))
}
