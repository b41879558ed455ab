//! `GET /api/reconcile`: the last reconciliation pass with the clouds (platform admin).
//! `time` is `null` until the first pass (at startup) has finished.

use super::error::ApiError;
use super::extract::Caller;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};

pub async fn last(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.reconcile_report(&caller.0).await?))
}
