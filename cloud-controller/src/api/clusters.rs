//! `/api/clusters`: the caller's clusters and their members.

use super::error::ApiError;
use super::extract::Caller;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};

pub async fn list(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_clusters(&caller.0).await?))
}

pub async fn get(
    controller: web::Data<Controller>,
    caller: Caller,
    cluster_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.get_cluster(&caller.0, &cluster_id).await?))
}

/// The cluster's recent decision records, oldest first (what the autoscaler saw, predicted,
/// required and did, and why).
pub async fn decisions(
    controller: web::Data<Controller>,
    caller: Caller,
    cluster_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.cluster_decisions(&caller.0, &cluster_id).await?))
}
