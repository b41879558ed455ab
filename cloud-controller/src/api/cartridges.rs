//! `/api/cartridges`: list, describe, deploy (XML or Stratos JSON), undeploy.

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller, Format};
use super::json_shapes;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};
use alto_config::Cartridge;

/// The XML document of a definition body: XML as sent, JSON converted to the equivalent XML.
pub(super) fn definition_xml(
    body: &Body,
    convert: fn(&serde_json::Value) -> Result<String, json_shapes::ConvertError>,
) -> Result<Vec<u8>, ApiError> {
    match body.format {
        Format::Xml => Ok(body.bytes.to_vec()),
        Format::Json => {
            let doc: serde_json::Value = body.json()?;
            convert(&doc).map(String::into_bytes).map_err(|e| {
                crate::error::ControllerError::invalid(format!("request body: {e}")).into()
            })
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/cartridges",
    tag = "cartridges",
    summary = "List the deployed cartridges",
    operation_id = "listCartridges",
    responses(
        (status = 200, description = "The cartridges", body = Vec<Cartridge>),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn list(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_cartridges(&caller.0).await?))
}

#[utoipa::path(
    get,
    path = "/api/cartridges/{type}",
    tag = "cartridges",
    summary = "Describe one cartridge",
    operation_id = "getCartridge",
    params(("type" = String, Path, description = "The cartridge type")),
    responses(
        (status = 200, description = "The cartridge", body = Cartridge),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 404, description = "No such cartridge", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn get(
    controller: web::Data<Controller>,
    caller: Caller,
    cartridge_type: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.get_cartridge(&caller.0, &cartridge_type).await?))
}

#[utoipa::path(
    post,
    path = "/api/cartridges",
    tag = "cartridges",
    summary = "Deploy one cartridge or a list of them (platform admin)",
    operation_id = "deployCartridges",
    request_body(
        description = "One `<cartridge>` or a `<cartridges>` list (in JSON an object or an array): an XML document, or Stratos 4.0/4.1 JSON (converted to the same XML). Without a JSON or XML content type the first character decides.",
        content(
            (serde_json::Value = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 201, description = "The cartridges deployed", body = Vec<Cartridge>),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 409, description = "Conflicts with what exists", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn deploy(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let xml = definition_xml(&body, json_shapes::cartridges_to_xml)?;
    let deployed = controller.deploy_cartridge(&caller.0, &xml).await?;
    Ok(HttpResponse::Created().json(deployed))
}

#[utoipa::path(
    delete,
    path = "/api/cartridges/{type}",
    tag = "cartridges",
    summary = "Undeploy a cartridge no subscription uses (platform admin)",
    operation_id = "undeployCartridge",
    params(("type" = String, Path, description = "The cartridge type")),
    responses(
        (status = 204, description = "Undeployed"),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such cartridge", body = ErrorBody),
        (status = 409, description = "A subscription still uses the cartridge", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn undeploy(
    controller: web::Data<Controller>,
    caller: Caller,
    cartridge_type: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    controller
        .undeploy_cartridge(&caller.0, &cartridge_type)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
