//! `/api/cartridges`: list, describe, deploy (XML or Stratos JSON), undeploy.

use super::error::ApiError;
use super::extract::{Body, Caller, Format};
use super::json_shapes;
use crate::controller::Controller;
use actix_web::{web, HttpResponse};

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

pub async fn list(
    controller: web::Data<Controller>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.list_cartridges(&caller.0).await?))
}

pub async fn get(
    controller: web::Data<Controller>,
    caller: Caller,
    cartridge_type: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(controller.get_cartridge(&caller.0, &cartridge_type).await?))
}

pub async fn deploy(
    controller: web::Data<Controller>,
    caller: Caller,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let xml = definition_xml(&body, json_shapes::cartridges_to_xml)?;
    let deployed = controller.deploy_cartridge(&caller.0, &xml).await?;
    Ok(HttpResponse::Created().json(deployed))
}

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
