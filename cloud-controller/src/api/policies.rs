//! `/api/autoscalingPolicies` and `/api/deploymentPolicies`: list and deploy (XML or JSON).

use super::cartridges::definition_xml;
use super::error::ApiError;
use super::extract::{Body, Caller};
use super::json_shapes;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};

pub async fn list_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_autoscaling_policies(&caller.0).await?))
}

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

pub async fn list_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_deployment_policies(&caller.0).await?))
}

pub async fn deploy_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let xml = definition_xml(&body, json_shapes::deployment_policy_to_xml)?;
    Ok(HttpResponse::Created().json(controller.deploy_deployment_policy(&caller.0, &xml).await?))
}
