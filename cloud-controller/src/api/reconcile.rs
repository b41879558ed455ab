//! `GET /api/reconcile`: the last reconciliation pass with the clouds (platform admin).
//! `time` is `null` until the first pass (at startup) has finished. A pass over many members
//! can find many actions: `actions` is one page of them (in provider, instance, member order),
//! and `nextCursor` names the next (null after the last).

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::Caller;
use super::paging::{respond, Page, PageQuery};
use crate::controller::Controller;
use crate::controller::ReconcileReport;
use crate::paging::{self, CursorList};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

#[utoipa::path(
    get,
    path = "/api/reconcile",
    tag = "operations",
    summary = "The last reconciliation pass with the clouds (platform admin)",
    operation_id = "getReconcileReport",
    params(PageQuery),
    responses(
        (status = 200, description = "The report; `time` is null until the first pass has finished; `actions` is one page (provider, instance, member order) and `nextCursor` the next page's cursor (null after the last)", body = ReconcileReport, headers(
            ("X-Next-Cursor" = String, description = "The same as `nextCursor`; absent on the last page"),
            ("Link" = String, description = "`<…?limit=N&cursor=…>; rel=\"next\"`; absent on the last page")
        )),
        (status = 400, description = "`limit` is not 1 to 1000, or `cursor` is malformed or from another list", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn last(
    controller: web::Data<Controller>,
    caller: Caller,
    req: HttpRequest,
    Page(page): Page,
) -> Result<HttpResponse, ApiError> {
    let mut report = controller.reconcile_report(&caller.0).await?;
    let mut actions = match report.get_mut("actions").map(Value::take) {
        Some(Value::Array(actions)) => actions,
        _ => Vec::new(),
    };
    actions.sort_by_cached_key(action_key);
    let shown = paging::page_sorted(actions, CursorList::ReconcileActions, &page, action_key)?;
    report["actions"] = Value::Array(shown.items);
    report["nextCursor"] = shown.next_cursor.clone().map_or(Value::Null, Value::String);
    Ok(respond(&req, &page, &report, shown.next_cursor.as_deref()))
}

/// An action's place in the report's order: provider, instance, member, kind (together
/// unique: a pass plans one action per instance or member).
fn action_key(action: &Value) -> String {
    let field = |name: &str| action[name].as_str().unwrap_or_default().to_string();
    [
        field("providerType"),
        field("instanceId"),
        field("memberId"),
        field("action"),
    ]
    .join("\u{1f}")
}
