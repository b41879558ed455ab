//! `/api/subscriptions`: subscribe, list (the caller's tenant only), unsubscribe.

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller};
use super::paging::{respond, Page, PageQuery};
use crate::controller::Controller;
use crate::model::SubscribeRequest;
use crate::model::SubscriptionInfo;
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(
    get,
    path = "/api/subscriptions",
    tag = "subscriptions",
    summary = "The caller's tenant's subscriptions",
    operation_id = "listSubscriptions",
    params(PageQuery),
    responses(
        (status = 200, description = "The subscriptions", body = Vec<SubscriptionInfo>, headers(
            ("X-Next-Cursor" = String, description = "The `cursor` of the next page; absent on the last page"),
            ("Link" = String, description = "`<…?limit=N&cursor=…>; rel=\"next\"`; absent on the last page")
        )),
        (status = 400, description = "`limit` is not 1 to 1000, or `cursor` is malformed or from another list", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list(
    controller: web::Data<Controller>,
    caller: Caller,
    req: HttpRequest,
    Page(page): Page,
) -> Result<HttpResponse, ApiError> {
    let shown = controller.list_subscriptions(&caller.0, &page).await?;
    Ok(respond(
        &req,
        &page,
        &shown.items,
        shown.next_cursor.as_deref(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/subscriptions",
    tag = "subscriptions",
    summary = "Subscribe to a cartridge: a cluster for the tenant",
    operation_id = "subscribe",
    request_body(content = SubscribeRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The subscription", body = SubscriptionInfo),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such cartridge or policy", body = ErrorBody),
        (status = 409, description = "The alias is taken", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn subscribe(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let req: SubscribeRequest = body.json()?;
    Ok(HttpResponse::Created().json(controller.subscribe(&caller.0, req).await?))
}

#[utoipa::path(
    delete,
    path = "/api/subscriptions/{alias}",
    tag = "subscriptions",
    summary = "Unsubscribe: the members terminate in the background",
    operation_id = "unsubscribe",
    params(("alias" = String, Path, description = "The subscription alias")),
    responses(
        (status = 202, description = "Unsubscribing (`status` says so)", body = SubscriptionInfo),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such subscription (of this tenant)", body = ErrorBody),
        (status = 409, description = "Conflicts with what exists", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
/// 202: the members terminate in the background; the body says `Unsubscribing`.
pub async fn unsubscribe(
    controller: web::Data<Controller>,
    caller: Caller,
    alias: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(controller.unsubscribe(&caller.0, &alias).await?))
}
