//! `/api/autoscalingPolicies` and `/api/deploymentPolicies`: list, deploy (XML or JSON; 409
//! when the id exists), describe (Stratos 4.1 JSON), update (PUT), remove (409 while a
//! subscription uses the policy).

use super::cartridges::submitted;
use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller};
use super::paging::{respond, Page, PageQuery};
use super::{json_shapes, stratos_json};
use crate::controller::{Controller, WriteMode};
use crate::paging::{self, CursorList};
use actix_web::{web, HttpRequest, HttpResponse};
use alto_config::{AutoscalePolicy, DeploymentPolicy};
use alto_registry::DefinitionKind;

fn shown_autoscaling(controller: &Controller, p: &AutoscalePolicy) -> serde_json::Value {
    stratos_json::shown(
        stratos_json::autoscale_policy(p),
        controller.posted_definition(DefinitionKind::AutoscalePolicy, &p.id),
    )
}

fn shown_deployment(controller: &Controller, p: &DeploymentPolicy) -> serde_json::Value {
    stratos_json::shown(
        stratos_json::deployment_policy(p),
        controller.posted_definition(DefinitionKind::DeploymentPolicy, &p.id),
    )
}

#[utoipa::path(
    get,
    path = "/api/autoscalingPolicies",
    tag = "policies",
    summary = "List the autoscaling policies",
    operation_id = "listAutoscalingPolicies",
    params(PageQuery),
    responses(
        (status = 200, description = "The policies", body = Vec<AutoscalePolicy>, headers(
            ("X-Next-Cursor" = String, description = "The `cursor` of the next page; absent on the last page"),
            ("Link" = String, description = "`<…?limit=N&cursor=…>; rel=\"next\"`; absent on the last page")
        )),
        (status = 400, description = "`limit` is not 1 to 1000, or `cursor` is malformed or from another list", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
    req: HttpRequest,
    Page(page): Page,
) -> Result<HttpResponse, ApiError> {
    let all = controller.list_autoscaling_policies(&caller.0).await?;
    let shown = paging::page_sorted(all, CursorList::AutoscalingPolicies, &page, |p| {
        p.id.clone()
    })?;
    Ok(respond(
        &req,
        &page,
        &shown.items,
        shown.next_cursor.as_deref(),
    ))
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
        (status = 409, description = "A policy of that id exists (update it with PUT)", body = ErrorBody),
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
    let doc = submitted(
        &body,
        json_shapes::autoscale_policy_to_xml,
        json_shapes::AUTOSCALE_ROOT,
    )?;
    Ok(HttpResponse::Created().json(
        controller
            .write_autoscaling_policy(&caller.0, doc, WriteMode::Create, None)
            .await?,
    ))
}

/// PUT with or without the id in the path (Stratos 4.1 puts it in the body only).
async fn update_autoscaling_policy(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
    path_id: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let doc = submitted(
        &body,
        json_shapes::autoscale_policy_to_xml,
        json_shapes::AUTOSCALE_ROOT,
    )?;
    let policy = controller
        .write_autoscaling_policy(&caller.0, doc, WriteMode::Update, path_id)
        .await?;
    Ok(HttpResponse::Ok().json(shown_autoscaling(&controller, &policy)))
}

#[utoipa::path(
    put,
    path = "/api/autoscalingPolicies",
    tag = "policies",
    summary = "Update an autoscaling policy named by its id (platform admin; Stratos 4.1's PUT)",
    operation_id = "updateAutoscalingPolicy",
    request_body(
        description = "An `<autoscalePolicy>` (XML, or Stratos 4.0/4.1 JSON) whose id is deployed. Running clusters use it from their next evaluation.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The policy as now deployed, in Stratos 4.1 JSON", body = Object),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No policy of that id (create it with POST)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    update_autoscaling_policy(controller, caller, body, None).await
}

#[utoipa::path(
    put,
    path = "/api/autoscalingPolicies/{id}",
    tag = "policies",
    summary = "Update one autoscaling policy (platform admin)",
    operation_id = "updateAutoscalingPolicyById",
    params(("id" = String, Path, description = "The policy id; the body must define this id")),
    request_body(
        description = "An `<autoscalePolicy>` (XML, or Stratos 4.0/4.1 JSON) of the path's id. Running clusters use it from their next evaluation.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The policy as now deployed, in Stratos 4.1 JSON", body = Object),
        (status = 400, description = "The body is malformed, fails validation or names another id", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such policy (create it with POST)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update_autoscaling_by_id(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    update_autoscaling_policy(controller, caller, body, Some(&id)).await
}

#[utoipa::path(
    get,
    path = "/api/autoscalingPolicies/{id}",
    tag = "policies",
    summary = "Describe one autoscaling policy (Stratos 4.1 `AutoscalePolicyBean` JSON)",
    operation_id = "getAutoscalingPolicy",
    params(("id" = String, Path, description = "The policy id")),
    responses(
        (status = 200, description = "The policy in Stratos 4.1's field names; one posted as JSON shows every field it was posted with", body = Object),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn get_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let policy = controller.get_autoscaling_policy(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(shown_autoscaling(&controller, &policy)))
}

#[utoipa::path(
    delete,
    path = "/api/autoscalingPolicies/{id}",
    tag = "policies",
    summary = "Remove an autoscaling policy no subscription uses (platform admin)",
    operation_id = "removeAutoscalingPolicy",
    params(("id" = String, Path, description = "The policy id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 409, description = "A subscription still uses the policy", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn remove_autoscaling(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    controller.remove_autoscaling_policy(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/deploymentPolicies",
    tag = "policies",
    summary = "List the deployment policies",
    operation_id = "listDeploymentPolicies",
    params(PageQuery),
    responses(
        (status = 200, description = "The policies", body = Vec<DeploymentPolicy>, headers(
            ("X-Next-Cursor" = String, description = "The `cursor` of the next page; absent on the last page"),
            ("Link" = String, description = "`<…?limit=N&cursor=…>; rel=\"next\"`; absent on the last page")
        )),
        (status = 400, description = "`limit` is not 1 to 1000, or `cursor` is malformed or from another list", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
    req: HttpRequest,
    Page(page): Page,
) -> Result<HttpResponse, ApiError> {
    let all = controller.list_deployment_policies(&caller.0).await?;
    let shown = paging::page_sorted(all, CursorList::DeploymentPolicies, &page, |p| p.id.clone())?;
    Ok(respond(
        &req,
        &page,
        &shown.items,
        shown.next_cursor.as_deref(),
    ))
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
        (status = 409, description = "A policy of that id exists (update it with PUT)", body = ErrorBody),
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
    let doc = submitted(
        &body,
        json_shapes::deployment_policy_to_xml,
        json_shapes::DEPLOYMENT_ROOT,
    )?;
    Ok(HttpResponse::Created().json(
        controller
            .write_deployment_policy(&caller.0, doc, WriteMode::Create, None)
            .await?,
    ))
}

async fn update_deployment_policy(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
    path_id: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let doc = submitted(
        &body,
        json_shapes::deployment_policy_to_xml,
        json_shapes::DEPLOYMENT_ROOT,
    )?;
    let policy = controller
        .write_deployment_policy(&caller.0, doc, WriteMode::Update, path_id)
        .await?;
    Ok(HttpResponse::Ok().json(shown_deployment(&controller, &policy)))
}

#[utoipa::path(
    put,
    path = "/api/deploymentPolicies",
    tag = "policies",
    summary = "Update a deployment policy named by its id (platform admin; Stratos 4.1's PUT)",
    operation_id = "updateDeploymentPolicy",
    request_body(
        description = "A `<deploymentPolicy>` (XML, or Stratos 4.0/4.1 JSON) whose id is deployed.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The policy as now deployed, in Stratos 4.1 JSON", body = Object),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No policy of that id (create it with POST)", body = ErrorBody),
        (status = 409, description = "Conflicts with what exists (a cloud that is not available, member limits)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    update_deployment_policy(controller, caller, body, None).await
}

#[utoipa::path(
    put,
    path = "/api/deploymentPolicies/{id}",
    tag = "policies",
    summary = "Update one deployment policy (platform admin)",
    operation_id = "updateDeploymentPolicyById",
    params(("id" = String, Path, description = "The policy id; the body must define this id")),
    request_body(
        description = "A `<deploymentPolicy>` (XML, or Stratos 4.0/4.1 JSON) of the path's id.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The policy as now deployed, in Stratos 4.1 JSON", body = Object),
        (status = 400, description = "The body is malformed, fails validation or names another id", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such policy (create it with POST)", body = ErrorBody),
        (status = 409, description = "Conflicts with what exists (a cloud that is not available, member limits)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update_deployment_by_id(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    update_deployment_policy(controller, caller, body, Some(&id)).await
}

#[utoipa::path(
    get,
    path = "/api/deploymentPolicies/{id}",
    tag = "policies",
    summary = "Describe one deployment policy (Stratos 4.1 `DeploymentPolicyBean` JSON)",
    operation_id = "getDeploymentPolicy",
    params(("id" = String, Path, description = "The policy id")),
    responses(
        (status = 200, description = "The policy in Stratos 4.1's field names (`networkPartitions[].partitions[]`, `partitionMax`); one posted as JSON shows every field it was posted with", body = Object),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn get_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let policy = controller.get_deployment_policy(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(shown_deployment(&controller, &policy)))
}

#[utoipa::path(
    delete,
    path = "/api/deploymentPolicies/{id}",
    tag = "policies",
    summary = "Remove a deployment policy no subscription uses (platform admin)",
    operation_id = "removeDeploymentPolicy",
    params(("id" = String, Path, description = "The policy id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
        (status = 409, description = "A subscription still uses the policy", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn remove_deployment(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    controller.remove_deployment_policy(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
