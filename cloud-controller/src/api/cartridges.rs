//! `/api/cartridges`: list, describe (Stratos 4.1 JSON), deploy (XML or Stratos JSON; 409 when
//! the type exists), update (PUT), undeploy (409 while subscribed).

use super::error::ApiError;
use super::error::ErrorBody;
use super::extract::{Body, Caller, Format};
use super::paging::{respond, Page, PageQuery};
use super::{json_shapes, stratos_json};
use crate::controller::{Controller, Submitted, WriteMode};
use crate::paging::{self, CursorList};
use actix_web::{web, HttpRequest, HttpResponse};
use alto_config::Cartridge;
use alto_registry::DefinitionKind;

/// A definition body as the controller takes it: XML as sent, JSON converted to the equivalent
/// XML (and kept, unwrapped from its root, to be shown back).
pub(super) fn submitted(
    body: &Body,
    convert: fn(&serde_json::Value) -> Result<String, json_shapes::ConvertError>,
    root: (&[&str], &str),
) -> Result<Submitted, ApiError> {
    match body.format {
        Format::Xml => Ok(Submitted {
            xml: body.bytes.to_vec(),
            json: None,
        }),
        Format::Json => {
            let doc: serde_json::Value = body.json()?;
            let xml = convert(&doc).map_err(|e| {
                ApiError::from(crate::error::ControllerError::invalid(format!(
                    "request body: {e}"
                )))
            })?;
            Ok(Submitted {
                xml: xml.into_bytes(),
                json: Some(json_shapes::bean(&doc, root).clone()),
            })
        }
    }
}

/// A cartridge as `GET /api/cartridges/{type}` shows it.
fn shown(controller: &Controller, c: &Cartridge) -> serde_json::Value {
    stratos_json::shown(
        stratos_json::cartridge(c),
        controller.posted_definition(DefinitionKind::Cartridge, &c.cartridge_type),
    )
}

#[utoipa::path(
    get,
    path = "/api/cartridges",
    tag = "cartridges",
    summary = "List the deployed cartridges",
    operation_id = "listCartridges",
    params(PageQuery),
    responses(
        (status = 200, description = "The cartridges", body = Vec<Cartridge>, headers(
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
    let all = controller.list_cartridges(&caller.0).await?;
    let shown = paging::page_sorted(all, CursorList::Cartridges, &page, |c| {
        c.cartridge_type.clone()
    })?;
    Ok(respond(
        &req,
        &page,
        &shown.items,
        shown.next_cursor.as_deref(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/cartridges/{type}",
    tag = "cartridges",
    summary = "Describe one cartridge (Stratos 4.1 `CartridgeBean` JSON)",
    operation_id = "getCartridge",
    params(("type" = String, Path, description = "The cartridge type")),
    responses(
        (status = 200, description = "The cartridge in Stratos 4.1's field names (`portMapping`, `iaasProvider`, `property`, ...); a cartridge posted as JSON shows every field it was posted with", body = Object),
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
    let c = controller.get_cartridge(&caller.0, &cartridge_type).await?;
    Ok(HttpResponse::Ok().json(shown(&controller, &c)))
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
        (status = 409, description = "A cartridge of that type exists (update it with PUT)", body = ErrorBody),
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
    let doc = submitted(
        &body,
        json_shapes::cartridges_to_xml,
        json_shapes::CARTRIDGE_ROOT,
    )?;
    let deployed = controller
        .write_cartridges(&caller.0, doc, WriteMode::Create, None)
        .await?;
    Ok(HttpResponse::Created().json(deployed))
}

#[utoipa::path(
    put,
    path = "/api/cartridges",
    tag = "cartridges",
    summary = "Update deployed cartridges, each named by its type (platform admin; Stratos 4.1's PUT)",
    operation_id = "updateCartridges",
    request_body(
        description = "One `<cartridge>` or a `<cartridges>` list (in JSON an object or an array), as for POST; every type must be deployed.",
        content(
            (serde_json::Value = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The cartridges as now deployed, in Stratos 4.1 JSON", body = Vec<Object>),
        (status = 400, description = "The body is malformed or fails validation (`problems` lists each finding)", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "A cartridge of that type is not deployed (create it with POST)", body = ErrorBody),
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
    let doc = submitted(
        &body,
        json_shapes::cartridges_to_xml,
        json_shapes::CARTRIDGE_ROOT,
    )?;
    let updated = controller
        .write_cartridges(&caller.0, doc, WriteMode::Update, None)
        .await?;
    let shown: Vec<_> = updated.iter().map(|c| shown(&controller, c)).collect();
    Ok(HttpResponse::Ok().json(shown))
}

#[utoipa::path(
    put,
    path = "/api/cartridges/{type}",
    tag = "cartridges",
    summary = "Update one deployed cartridge (platform admin)",
    operation_id = "updateCartridge",
    params(("type" = String, Path, description = "The cartridge type; the body must define this type")),
    request_body(
        description = "One `<cartridge>` (XML, or Stratos 4.0/4.1 JSON) of the path's type.",
        content(
            (serde_json::Value = "application/json"),
            (String = "application/xml"),
            (String = "text/xml")
        )
    ),
    responses(
        (status = 200, description = "The cartridge as now deployed, in Stratos 4.1 JSON", body = Object),
        (status = 400, description = "The body is malformed, fails validation or names another type", body = ErrorBody),
        (status = 401, description = "No or wrong HTTP Basic credentials", body = ErrorBody),
        (status = 403, description = "The caller may not do this (platform or tenant admin only)", body = ErrorBody),
        (status = 404, description = "No such cartridge (create it with POST)", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB", body = ErrorBody),
        (status = 503, description = "The registry is restarting or unreachable; retry after `Retry-After` seconds", body = ErrorBody)
    ),
    security(("basic" = []))
)]
pub async fn update_one(
    controller: web::Data<Controller>,
    caller: Caller,
    cartridge_type: web::Path<String>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let doc = submitted(
        &body,
        json_shapes::cartridges_to_xml,
        json_shapes::CARTRIDGE_ROOT,
    )?;
    let updated = controller
        .write_cartridges(&caller.0, doc, WriteMode::Update, Some(&cartridge_type))
        .await?;
    let shown: Vec<_> = updated.iter().map(|c| shown(&controller, c)).collect();
    Ok(HttpResponse::Ok().json(shown.into_iter().next()))
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
