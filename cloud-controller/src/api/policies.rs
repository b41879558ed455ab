//! `/api/autoscalingPolicies` and `/api/deploymentPolicies`: list and deploy (XML or JSON).

use super::cartridges::definition_xml;
use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller};
use super::json_shapes;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};
use alto_config::{AutoscalePolicy, DeploymentPolicy};

#[utoipa::path(
    get,
    path = "/api/autoscalingPolicies",
    tag = "policies",
    summary = "List the autoscaling policies",
    operation_id = "listAutoscalingPolicies",
    responses(
        (status = 200, description = "The policies", body = Vec<AutoscalePolicy>),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_autoscaling_policies(&caller.0).await?))
}

#[utoipa::path(
    post,
    path = "/api/autoscalingPolicies",
    tag = "policies",
    summary = "Deploy an autoscaling policy (platform admin)",
    operation_id = "deployAutoscalingPolicy",
    request_body(
        description = "An `<autoscalePolicy>`: an XML document, or Stratos 4.0/4.1 JSON (converted to the same XML). Without a JSON or XML content type the first character decides.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 201, description = "The policy deployed", body = AutoscalePolicy),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 409, description = "Conflicts with what exists", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn deploy_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let xml = definition_xml(&body, json_shapes::autoscale_policy_to_xml)?;
    Ok(HttpResponse::Created().json(
        controller
            .deploy_autoscaling_policy(&caller.0, &xml)
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/deploymentPolicies",
    tag = "policies",
    summary = "List the deployment policies",
    operation_id = "listDeploymentPolicies",
    responses(
        (status = 200, description = "The policies", body = Vec<DeploymentPolicy>),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_deployment_policies(&caller.0).await?))
}

#[utoipa::path(
    post,
    path = "/api/deploymentPolicies",
    tag = "policies",
    summary = "Deploy a deployment policy (platform admin)",
    operation_id = "deployDeploymentPolicy",
    request_body(
        description = "A `<deploymentPolicy>`: an XML document, or Stratos 4.0/4.1 JSON (converted to the same XML). Without a JSON or XML content type the first character decides.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 201, description = "The policy deployed", body = DeploymentPolicy),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 409, description = "Conflicts with what exists", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn deploy_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let xml = definition_xml(&body, json_shapes::deployment_policy_to_xml)?;
    Ok(HttpResponse::Created().json(controller.deploy_deployment_policy(&caller.0, &xml).await?))
}
