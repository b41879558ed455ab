//! The REST API (actix-web): JSON responses, HTTP Basic auth on everything but `/healthz` and `/metrics`.
//!
//! | route | |
//! |---|---|
//! | `GET /healthz` | `{"status":"ok"}`, no auth |
//! | `GET /metrics` | Prometheus metrics, no auth; 404 with `--metrics-listen` (served there) |
//! | `GET /api/cartridges`, `POST /api/cartridges`, `PUT /api/cartridges` | list; deploy (XML, or Stratos 4.0/4.1 JSON) → 201, 409 when the type exists; update → 200 |
//! | `GET /api/cartridges/{type}`, `PUT …`, `DELETE …` | describe (Stratos 4.1 JSON); update; undeploy → 204, 409 while subscribed |
//! | `GET /api/autoscalingPolicies`, `POST …`, `PUT …` | list; deploy → 201 (409 when the id exists); update → 200 |
//! | `GET /api/autoscalingPolicies/{id}`, `PUT …`, `DELETE …` | describe (4.1 JSON); update; remove → 204, 409 while subscribed |
//! | `GET /api/deploymentPolicies`, `POST …`, `PUT …` | the same for deployment policies |
//! | `GET /api/deploymentPolicies/{id}`, `PUT …`, `DELETE …` | the same for deployment policies |
//! | `GET /api/networkPartitions`, `POST …`, `PUT …` | Stratos 4.1 network partitions: list; add → 201 (409 when the id exists); update |
//! | `GET /api/networkPartitions/{id}`, `PUT …`, `DELETE …` | describe; update; remove → 204, 409 while a deployment policy uses it |
//! | `/api/applications[/…]`, `/api/cartridgeGroups[/…]`, `/api/applicationPolicies[/…]` | 501: Stratos 4.1 composite applications are not implemented |
//! | `POST /api/tenants` | create a tenant (platform admin) → 201 |
//! | `GET /api/subscriptions`, `POST /api/subscriptions` | the caller's subscriptions; subscribe → 201 |
//! | `DELETE /api/subscriptions/{alias}` | unsubscribe → 202 (`Unsubscribing`) |
//! | `GET /api/clusters`, `GET /api/clusters/{clusterId}` | the caller's clusters; each with `memberCounts` (by state) and one page of `members` (oldest first), `nextCursor` naming the next page of members |
//! | `GET /api/clusters/{clusterId}/decisions` | the cluster's recent autoscaler decision records, oldest first |
//! | `GET /api/leader` | which replica leads: `{"leader", "self", "isLeader", "since", "fencingToken"}`, no auth (like `/healthz`, a probe for load balancers and operators) |
//! | `GET /api/reconcile` | the last reconciliation pass with the clouds (platform admin): `{"time", "mode", "actions", "errors", "totals"}` |
//! | `GET /api/openapi.json` | this API's OpenAPI 3.1 document, generated from the handlers' annotations ([`openapi`]), no auth |
//! | `GET /`, `/console/...` | the web console (HTML; its own login and session cookie): [`crate::console`] |
//! | `GET /api/payload/{token}` | a member's payload, for clouds with too little user data (no Basic auth: the token is the credential) |
//!
//! Paging ([`paging`], [`crate::paging`]): every list (`GET` of cartridges, both policy kinds,
//! network partitions, subscriptions, clusters, decisions; a cluster's members; the
//! reconciliation report's actions) takes `limit` (1–1000, default 100; anything else is a 400)
//! and `cursor` (opaque, from the page before). Lists stay bare JSON arrays and name the next
//! page in `X-Next-Cursor` and `Link: <…>; rel="next"` (absent on the last page); the cluster
//! view and the report, objects, also carry it as `nextCursor` (null on the last page).
//!
//! Errors: `{"status", "message", "problems"?}` with the status of [`ControllerError::status`]
//! (plus 404/405 for unknown routes and methods, 413 for bodies over [`MAX_BODY_BYTES`], and
//! 400/408/414/431 for request heads refused before routing: [`head_guard`]).
//!
//! [`ControllerError::status`]: crate::error::ControllerError::status

mod cartridges;
mod clusters;
pub mod error;
pub mod extract;
pub mod head_check;
pub mod head_guard;
pub mod json_shapes;
pub mod metrics;
mod network_partitions;
mod not_implemented;
pub mod openapi;
pub mod paging;
mod payload;
mod policies;
mod reconcile;
pub mod server;
pub mod stratos_json;
mod subscriptions;
mod tenants;

#[cfg(test)]
mod tests;

use crate::controller::Controller;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use error::ApiError;
use extract::LoginName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The routes, body limits and JSON fallbacks (404, 405). Needs `web::Data<Controller>` in the
/// app data (see [`app`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(
            web::resource("/healthz")
                .route(web::get().to(healthz))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/leader")
                .route(web::get().to(leader))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/openapi.json")
                .route(web::get().to(openapi::document))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::scope("/api")
                .service(
                    web::resource("/cartridges")
                        .route(web::get().to(cartridges::list))
                        .route(web::post().to(cartridges::deploy))
                        .route(web::put().to(cartridges::update))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/cartridges/{type}")
                        .route(web::get().to(cartridges::get))
                        .route(web::put().to(cartridges::update_one))
                        .route(web::delete().to(cartridges::undeploy))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/autoscalingPolicies")
                        .route(web::get().to(policies::list_autoscaling))
                        .route(web::post().to(policies::deploy_autoscaling))
                        .route(web::put().to(policies::update_autoscaling))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/autoscalingPolicies/{id}")
                        .route(web::get().to(policies::get_autoscaling))
                        .route(web::put().to(policies::update_autoscaling_by_id))
                        .route(web::delete().to(policies::remove_autoscaling))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/deploymentPolicies")
                        .route(web::get().to(policies::list_deployment))
                        .route(web::post().to(policies::deploy_deployment))
                        .route(web::put().to(policies::update_deployment))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/deploymentPolicies/{id}")
                        .route(web::get().to(policies::get_deployment))
                        .route(web::put().to(policies::update_deployment_by_id))
                        .route(web::delete().to(policies::remove_deployment))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/networkPartitions")
                        .route(web::get().to(network_partitions::list))
                        .route(web::post().to(network_partitions::add))
                        .route(web::put().to(network_partitions::update))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/networkPartitions/{id}")
                        .route(web::get().to(network_partitions::get))
                        .route(web::put().to(network_partitions::update_by_id))
                        .route(web::delete().to(network_partitions::remove))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/applications")
                        .route(web::get().to(not_implemented::applications_get))
                        .route(web::post().to(not_implemented::applications_post))
                        .route(web::put().to(not_implemented::applications_put))
                        .route(web::delete().to(not_implemented::applications_delete))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/applications/{rest:.*}")
                        .route(web::get().to(not_implemented::application_get))
                        .route(web::post().to(not_implemented::application_post))
                        .route(web::put().to(not_implemented::application_put))
                        .route(web::delete().to(not_implemented::application_delete))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/cartridgeGroups")
                        .route(web::get().to(not_implemented::groups_get))
                        .route(web::post().to(not_implemented::groups_post))
                        .route(web::put().to(not_implemented::groups_put))
                        .route(web::delete().to(not_implemented::groups_delete))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/cartridgeGroups/{rest:.*}")
                        .route(web::get().to(not_implemented::group_get))
                        .route(web::post().to(not_implemented::group_post))
                        .route(web::put().to(not_implemented::group_put))
                        .route(web::delete().to(not_implemented::group_delete))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/applicationPolicies")
                        .route(web::get().to(not_implemented::app_policies_get))
                        .route(web::post().to(not_implemented::app_policies_post))
                        .route(web::put().to(not_implemented::app_policies_put))
                        .route(web::delete().to(not_implemented::app_policies_delete))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/applicationPolicies/{rest:.*}")
                        .route(web::get().to(not_implemented::app_policy_get))
                        .route(web::post().to(not_implemented::app_policy_post))
                        .route(web::put().to(not_implemented::app_policy_put))
                        .route(web::delete().to(not_implemented::app_policy_delete))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/tenants")
                        .route(web::post().to(tenants::create))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/subscriptions")
                        .route(web::get().to(subscriptions::list))
                        .route(web::post().to(subscriptions::subscribe))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/subscriptions/{alias}")
                        .route(web::delete().to(subscriptions::unsubscribe))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/clusters")
                        .route(web::get().to(clusters::list))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/clusters/{clusterId}")
                        .route(web::get().to(clusters::get))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/payload/{token}")
                        .route(web::get().to(payload::get))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/clusters/{clusterId}/decisions")
                        .route(web::get().to(clusters::decisions))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/reconcile")
                        .route(web::get().to(reconcile::last))
                        .default_service(web::to(method_not_allowed)),
                ),
        )
        .configure(metrics::configure)
        .default_service(web::to(not_found));
}

/// The complete application: controller, request log, routes.
pub fn app(
    controller: Arc<Controller>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::from(controller))
        .wrap(from_fn(log_request))
        .configure(crate::console::configure)
        .wrap(from_fn(metrics::record_request))
        .configure(configure)
}

/// Bind the REST API on `listen` (port 0 picks a free port). Returns the server, to be awaited
/// or stopped through its handle, and the address actually bound. The server does not install
/// signal handlers: the caller decides when to stop it.
pub fn bind(
    controller: Arc<Controller>,
    listen: SocketAddr,
) -> std::io::Result<(Server, SocketAddr)> {
    bind_listener(controller, std::net::TcpListener::bind(listen)?)
}

/// Serve on a socket bound beforehand (`alto serve` binds first: the default replica id names
/// the port).
pub fn bind_listener(
    controller: Arc<Controller>,
    listener: std::net::TcpListener,
) -> std::io::Result<(Server, SocketAddr)> {
    bind_listener_with(controller, listener, None)
}

/// [`bind_listener`], over TLS when `tls` is given (`alto serve --tls-cert/--tls-key`).
pub fn bind_listener_with(
    controller: Arc<Controller>,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<(Server, SocketAddr)> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let settings = server::Settings {
        name: "altostratus-api",
        workers,
        shutdown_timeout_secs: 10,
    };
    server::serve(listener, tls, settings, move || app(controller.clone()))
}

/// Serve until the server is stopped.
pub async fn serve(controller: Arc<Controller>, listen: SocketAddr) -> anyhow::Result<()> {
    let (server, addr) = bind(controller, listen)?;
    tracing::info!(%addr, "REST API listening");
    server.await?;
    Ok(())
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    summary = "The process serves requests",
    operation_id = "healthz",
    responses((status = 200, description = "Healthy", body = openapi::Health))
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(openapi::Health { status: "ok" })
}

#[utoipa::path(
    get,
    path = "/api/leader",
    tag = "probes",
    summary = "Which replica leads",
    operation_id = "getLeader",
    responses((status = 200, description = "The lease as this replica last read it", body = crate::controller::LeaderView))
)]
async fn leader(controller: web::Data<Controller>) -> HttpResponse {
    HttpResponse::Ok().json(controller.leader())
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// 405 with the `Allow` header RFC 9110 requires (the route's methods in the OpenAPI document).
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {} not allowed on {}", req.method(), req.path()),
    )
    .error_response();
    let allow = req
        .match_pattern()
        .and_then(|pattern| openapi::allowed_methods(&pattern));
    if let Some(allow) = allow {
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
    }
    response
}

/// One log line per request: method, path, status, login. Never a header value or a body.
/// The path as logs may show it: a payload-by-URL path carries the token that fetches the
/// member's payload (with its CARTRIDGE_KEY), so the token is never written down.
fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/api/payload/") {
        Some(_) => "/api/payload/***".to_string(),
        None => path.to_string(),
    }
}

async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = loggable_path(req.path());
    let started = Instant::now();
    let result = next.call(req).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok(res) => {
            let status = res.status().as_u16();
            let login = res.request().extensions().get::<LoginName>().cloned();
            let (login, authenticated) = match &login {
                Some(l) => (l.login.as_str(), l.authenticated),
                None => ("-", false),
            };
            if path == "/healthz" {
                tracing::debug!(%method, %path, status, elapsed_ms, "request");
            } else if res.status().is_server_error() {
                tracing::warn!(%method, %path, status, login, authenticated, elapsed_ms, "request");
            } else {
                tracing::info!(%method, %path, status, login, authenticated, elapsed_ms, "request");
            }
        }
        Err(e) => tracing::warn!(%method, %path, error = %e, elapsed_ms, "request failed"),
    }
    result
}
