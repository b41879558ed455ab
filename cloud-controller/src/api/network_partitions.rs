//! `/api/networkPartitions`: Stratos 4.1's network partitions (a cloud, its properties and the
//! partitions inside it, which 4.1 deployment policies name). List, describe, create (409 when
//! the id exists), update (PUT; 409 when a deployment policy using it would break), remove
//! (409 while a deployment policy uses it). Bodies are 4.1's `NetworkPartitionBean` JSON or our
//! `<networkPartition>` XML.

use super::cartridges::submitted;
use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller};
use super::paging::{respond, Page, PageQuery};
use super::{json_shapes, stratos_json};
use crate::controller::{Controller, WriteMode};
use crate::paging::{self, CursorList};
use actix_web::{web, HttpRequest, HttpResponse};
use alto_config::NetworkPartitionConfig;
use alto_registry::DefinitionKind;

fn shown(controller: &Controller, np: &NetworkPartitionConfig) -> serde_json::Value {
    stratos_json::shown(
        stratos_json::network_partition(np),
        controller.posted_definition(DefinitionKind::NetworkPartition, &np.id),
    )
}

#[utoipa::path(
    get,
    path = "/api/networkPartitions",
    tag = "policies",
    summary = "List the network partitions (Stratos 4.1 JSON)",
    operation_id = "listNetworkPartitions",
    params(PageQuery),
    responses(
        (status = 200, description = "The network partitions, each as `GET /api/networkPartitions/{id}` shows it (an empty list when there is none)", body = Vec<Object>, headers(
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
    let all = controller.list_network_partitions(&caller.0).await?;
    let listed = paging::page_sorted(all, CursorList::NetworkPartitions, &page, |np| {
        np.id.clone()
    })?;
    let shown: Vec<_> = listed
        .items
        .iter()
        .map(|np| shown(&controller, np))
        .collect();
    Ok(respond(&req, &page, &shown, listed.next_cursor.as_deref()))
}

#[utoipa::path(
    get,
    path = "/api/networkPartitions/{id}",
    tag = "policies",
    summary = "Describe one network partition (Stratos 4.1 `NetworkPartitionBean` JSON)",
    operation_id = "getNetworkPartition",
    params(("id" = String, Path, description = "The network partition id")),
    responses(
        (status = 200, description = "`{id, provider, partitions: [{id, property}], properties}`; one posted as JSON shows every field it was posted with", body = Object),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 404, description = "No such network partition", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn get(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let np = controller.get_network_partition(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(shown(&controller, &np)))
}

#[utoipa::path(
    post,
    path = "/api/networkPartitions",
    tag = "policies",
    summary = "Add a network partition (platform admin)",
    operation_id = "addNetworkPartition",
    request_body(
        description = "Stratos 4.1 JSON `{\"id\", \"provider\", \"partitions\": [{\"id\", \"property\": [{\"name\", \"value\"}]}], \"properties\"}` (`provider` is an iaasProvider type of cloud-controller.xml), or a `<networkPartition id provider>` XML document. Without a JSON or XML content type the first character decides.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 201, description = "Added; `Location` names it", body = Object),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 409, description = "A network partition of that id exists (update it with PUT)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn add(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let doc = submitted(
        &body,
        json_shapes::network_partition_to_xml,
        json_shapes::NETWORK_PARTITION_ROOT,
    )?;
    let np = controller
        .write_network_partition(&caller.0, doc, WriteMode::Create, None)
        .await?;
    // Ids are identifiers (letters, digits, `.`, `_`, `-`): safe in a header as they are.
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/networkPartitions/{}", np.id),
        ))
        .json(shown(&controller, &np)))
}

async fn update_network_partition(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
    path_id: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let doc = submitted(
        &body,
        json_shapes::network_partition_to_xml,
        json_shapes::NETWORK_PARTITION_ROOT,
    )?;
    let np = controller
        .write_network_partition(&caller.0, doc, WriteMode::Update, path_id)
        .await?;
    Ok(HttpResponse::Ok().json(shown(&controller, &np)))
}

#[utoipa::path(
    put,
    path = "/api/networkPartitions",
    tag = "policies",
    summary = "Update a network partition named by its id (platform admin; Stratos 4.1's PUT)",
    operation_id = "updateNetworkPartition",
    request_body(
        description = "A network partition as for POST, whose id exists. Members started from then on use its new properties.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The network partition as now defined", body = Object),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No network partition of that id (create it with POST)", body = ErrorBody),
        (status = 409, description = "A deployment policy using it would no longer resolve (a partition it names is gone)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    update_network_partition(controller, caller, body, None).await
}

#[utoipa::path(
    put,
    path = "/api/networkPartitions/{id}",
    tag = "policies",
    summary = "Update one network partition (platform admin)",
    operation_id = "updateNetworkPartitionById",
    params(("id" = String, Path, description = "The network partition id; the body must define this id")),
    request_body(
        description = "A network partition as for POST, of the path's id.",
        content(
            (Object = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The network partition as now defined", body = Object),
        (status = 400, description = "The body is malformed, fails validation or names another id", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such network partition (create it with POST)", body = ErrorBody),
        (status = 409, description = "A deployment policy using it would no longer resolve (a partition it names is gone)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update_by_id(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    update_network_partition(controller, caller, body, Some(&id)).await
}

#[utoipa::path(
    delete,
    path = "/api/networkPartitions/{id}",
    tag = "policies",
    summary = "Remove a network partition no deployment policy uses (platform admin)",
    operation_id = "removeNetworkPartition",
    params(("id" = String, Path, description = "The network partition id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such network partition", body = ErrorBody),
        (status = 409, description = "A deployment policy places partitions in it", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn remove(
    controller: web::Data<Controller>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    controller.remove_network_partition(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
