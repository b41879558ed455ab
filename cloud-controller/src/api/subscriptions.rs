//! `/api/subscriptions`: subscribe, list (the caller's tenant only), unsubscribe.

use super::error::ApiError;
use super::extract::{Body, Caller};
use crate::controller::Controller;
use crate::model::SubscribeRequest;
use actix_web::{web, HttpResponse};

pub async fn list(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_subscriptions(&caller.0).await?))
}

pub async fn subscribe(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let req: SubscribeRequest = body.json()?;
    Ok(HttpResponse::Created().json(controller.subscribe(&caller.0, req).await?))
}

/// 202: the members terminate in the background; the body says `Unsubscribing`.
pub async fn unsubscribe(
    controller: web::Data<Controller>,
    caller: Caller,
    alias: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(controller.unsubscribe(&caller.0, &alias).await?))
}
