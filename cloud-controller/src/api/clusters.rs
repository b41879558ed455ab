//! `/api/clusters`: the caller's clusters and their members.

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::Caller;
use crate::controller::Controller;
use crate::model::ClusterInfo;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    get,
    path = "/api/clusters",
    tag = "clusters",
    summary = "The caller's clusters with their members",
    operation_id = "listClusters",
    responses(
        (status = 200, description = "The clusters", body = Vec<ClusterInfo>),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_clusters(&caller.0).await?))
}

#[utoipa::path(
    get,
    path = "/api/clusters/{clusterId}",
    tag = "clusters",
    summary = "One cluster with its members",
    operation_id = "getCluster",
    params(("clusterId" = String, Path, description = "The cluster id")),
    responses(
        (status = 200, description = "The cluster", body = ClusterInfo),
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
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.get_cluster(&caller.0, &cluster_id).await?))
}

#[utoipa::path(
    get,
    path = "/api/clusters/{clusterId}/decisions",
    tag = "clusters",
    summary = "The cluster's recent autoscaler decision records, oldest first",
    operation_id = "getClusterDecisions",
    params(("clusterId" = String, Path, description = "The cluster id")),
    responses(
        (status = 200, description = "Decision records as the autoscaler wrote them (what it saw, predicted, required and did, and why)", body = Vec<Object>),
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
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.cluster_decisions(&caller.0, &cluster_id).await?))
}
