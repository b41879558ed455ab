//! `/api/clusters`: the caller's clusters and their members, a page at a time.

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::Caller;
use super::paging::{respond, Page, PageQuery};
use crate::controller::Controller;
use crate::model::ClusterInfo;
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(
    get,
    path = "/api/clusters",
    tag = "clusters",
    summary = "The caller's clusters, each with its member counts and first page of members",
    operation_id = "listClusters",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of clusters in id order; each carries `memberCounts` and its first 100 members (`nextCursor` pages on through `GET /api/clusters/{clusterId}`)", body = Vec<ClusterInfo>, headers(
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
    let shown = controller.list_clusters(&caller.0, &page).await?;
    Ok(respond(
        &req,
        &page,
        &shown.items,
        shown.next_cursor.as_deref(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/clusters/{clusterId}",
    tag = "clusters",
    summary = "One cluster: its member counts by state and one page of its members",
    operation_id = "getCluster",
    params(("clusterId" = String, Path, description = "The cluster id"), PageQuery),
    responses(
        (status = 200, description = "The cluster; `members` is the page `limit`/`cursor` name (oldest first), `nextCursor` the next one's cursor (null after the last)", body = ClusterInfo, headers(
            ("X-Next-Cursor" = String, description = "The same as `nextCursor`; absent on the last page"),
            ("Link" = String, description = "`<…?limit=N&cursor=…>; rel=\"next\"`; absent on the last page")
        )),
        (status = 400, description = "`limit` is not 1 to 1000, or `cursor` is malformed or from another list", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 404, description = "No such cluster (of this tenant)", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn get(
    controller: web::Data<Controller>,
    caller: Caller,
    cluster_id: web::Path<String>,
    req: HttpRequest,
    Page(page): Page,
) -> Result<HttpResponse, ApiError> {
    let cluster = controller
        .get_cluster_page(&caller.0, &cluster_id, &page)
        .await?;
    let next = cluster.next_cursor.clone();
    Ok(respond(&req, &page, &cluster, next.as_deref()))
}

#[utoipa::path(
    get,
    path = "/api/clusters/{clusterId}/decisions",
    tag = "clusters",
    summary = "The cluster's recent autoscaler decision records, oldest first",
    operation_id = "getClusterDecisions",
    params(("clusterId" = String, Path, description = "The cluster id"), PageQuery),
    responses(
        (status = 200, description = "A page of decision records as the autoscaler wrote them (what it saw, predicted, required and did, and why)", body = Vec<Object>, headers(
            ("X-Next-Cursor" = String, description = "The `cursor` of the next page; absent on the last page"),
            ("Link" = String, description = "`<…?limit=N&cursor=…>; rel=\"next\"`; absent on the last page")
        )),
        (status = 400, description = "`limit` is not 1 to 1000, or `cursor` is malformed or from another list", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 404, description = "No such cluster (of this tenant)", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
/// The cluster's recent decision records, oldest first (what the autoscaler saw, predicted,
/// required and did, and why).
pub async fn decisions(
    controller: web::Data<Controller>,
    caller: Caller,
    cluster_id: web::Path<String>,
    req: HttpRequest,
    Page(page): Page,
) -> Result<HttpResponse, ApiError> {
    let shown = controller
        .cluster_decisions_page(&caller.0, &cluster_id, &page)
        .await?;
    Ok(respond(
        &req,
        &page,
        &shown.items,
        shown.next_cursor.as_deref(),
    ))
}
