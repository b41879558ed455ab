//! `GET /metrics` (no auth, like `/healthz`), the middleware that counts and times every
//! REST request by route pattern, and the listener of its own `--metrics-listen` asks for.

use super::not_found;
use crate::controller::Controller;
use crate::metrics::{wants_openmetrics, CLASSIC_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpRequest, HttpResponse, ResponseError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The route label of a request no route matched (raw paths are unbounded and may carry
/// tokens: they never become labels).
const UNMATCHED: &str = "unmatched";

/// `GET /metrics` on the API (404 when `--metrics-listen` serves it elsewhere).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(api_metrics))
            .default_service(web::to(super::method_not_allowed)),
    );
}

async fn api_metrics(req: HttpRequest, controller: web::Data<Controller>) -> HttpResponse {
    if !controller.metrics().served_on_api() {
        return not_found(req).await;
    }
    exposition(req, controller).await
}

async fn exposition(req: HttpRequest, controller: web::Data<Controller>) -> HttpResponse {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let openmetrics = wants_openmetrics(accept);
    match controller.metrics_text(openmetrics).await {
        Ok(body) => HttpResponse::Ok()
            .content_type(if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                CLASSIC_CONTENT_TYPE
            })
            .body(body),
        Err(e) => super::error::ApiError::from(e).error_response(),
    }
}

/// Count and time the request under its route pattern (`/api/clusters/{clusterId}`).
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let controller = req.app_data::<web::Data<Controller>>().cloned();
    let method = method_label(req.method());
    let started = Instant::now();
    let result = next.call(req).await;
    if let Some(controller) = controller {
        let (route, status) = match &result {
            Ok(res) => (res.request().match_pattern(), res.status().as_u16()),
            Err(e) => (None, e.as_response_error().status_code().as_u16()),
        };
        controller.metrics().request(
            method,
            route.as_deref().unwrap_or(UNMATCHED),
            status,
            started.elapsed(),
        );
    }
    result
}

/// The standard methods by name, any other as `other` (the label set stays bounded).
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// `--metrics-listen`: `/metrics` alone on its own address (the API's answers 404 then).
pub fn bind(
    controller: Arc<Controller>,
    listen: SocketAddr,
) -> std::io::Result<(Server, SocketAddr)> {
    controller.metrics().serve_separately();
    let settings = super::server::Settings {
        name: "altostratus-metrics",
        workers: 1,
        shutdown_timeout_secs: 5,
    };
    let listener = std::net::TcpListener::bind(listen)?;
    super::server::serve(listener, None, settings, move || {
        App::new()
            .app_data(web::Data::from(controller.clone()))
            .wrap(from_fn(record_request))
            .route("/metrics", web::get().to(exposition))
            .default_service(web::to(not_found))
    })
}
