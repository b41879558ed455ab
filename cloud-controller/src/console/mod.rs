//! The web console, served by `alto` itself: server-rendered HTML (maud), charts drawn as SVG
//! on the server (plotters), one small script and stylesheet of our own embedded in the binary.
//! No CDN, no build step, works offline.
//!
//! | route | |
//! |---|---|
//! | `GET /` | the overview: the caller's subscriptions and clusters, the first 100 of each (or the login page) |
//! | `GET /console/login`, `POST /console/login` | the login form; checks the REST API's logins, sets the session cookie |
//! | `POST /console/logout` | ends the session |
//! | `GET /console/clusters/{clusterId}` | members (the oldest 100, with the total), the last hour's load chart, the decision timeline |
//! | `GET /console/definitions` | cartridges and policies (platform admin) |
//! | `GET /console/assets/{name}` | the embedded stylesheet and script |
//!
//! Every page asks the controller's tenant-scoped views as the logged-in principal, so a tenant
//! sees exactly what the REST API shows it; another tenant's cluster is a 404 page. Sessions
//! and CSRF: [`session`].

mod chart;
mod pages;
pub mod session;

use crate::api::extract::LoginName;
use crate::auth::Principal;
use crate::controller::Controller;
use crate::error::ControllerError;
use crate::paging::PageRequest;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use maud::Markup;
use serde::Deserialize;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The console's routes: `/` and `/console/...`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(overview))
        .route("/console", web::get().to(to_overview))
        .route("/console/", web::get().to(to_overview))
        .service(
            web::resource("/console/login")
                .route(web::get().to(login_page))
                .route(web::post().to(login)),
        )
        .route("/console/logout", web::post().to(logout))
        .route("/console/clusters/{clusterId}", web::get().to(cluster))
        .route("/console/definitions", web::get().to(definitions))
        .route("/console/assets/{name}", web::get().to(asset));
}

fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .body(markup.into_string())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The session's principal (noted for the request log), or the redirect to the login page.
async fn logged_in(controller: &Controller, req: &HttpRequest) -> Result<Principal, HttpResponse> {
    match session::principal(controller, req).await {
        Some(p) => {
            req.extensions_mut().insert(LoginName {
                login: p.login.clone(),
                authenticated: true,
            });
            Ok(p)
        }
        None => Err(see_other("/console/login")),
    }
}

/// A controller error as a page: 404 and 403 say what; anything else says only that it failed.
fn failure(who: &Principal, e: &ControllerError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (title, message) = match status {
        StatusCode::NOT_FOUND => ("Not found", e.to_string()),
        StatusCode::FORBIDDEN => ("Forbidden", e.to_string()),
        _ => {
            tracing::warn!(error = %e, "console page failed");
            (
                "Something failed",
                "The controller could not answer; try again.".to_string(),
            )
        }
    };
    page(status, pages::problem(Some(who), title, &message))
}

async fn to_overview() -> HttpResponse {
    see_other("/")
}

async fn overview(controller: web::Data<Controller>, req: HttpRequest) -> HttpResponse {
    let p = match logged_in(&controller, &req).await {
        Ok(p) => p,
        Err(redirect) => return redirect,
    };
    let views = async {
        Ok::<_, ControllerError>((
            controller
                .list_subscriptions(&p, &PageRequest::default())
                .await?
                .items,
            controller
                .list_clusters(&p, &PageRequest::default())
                .await?
                .items,
        ))
    };
    match views.await {
        Ok((subscriptions, clusters)) => page(
            StatusCode::OK,
            pages::overview(&p, &subscriptions, &clusters),
        ),
        Err(e) => failure(&p, &e),
    }
}

async fn login_page(controller: web::Data<Controller>, req: HttpRequest) -> HttpResponse {
    if session::principal(&controller, &req).await.is_some() {
        return see_other("/");
    }
    page(StatusCode::OK, pages::login(None))
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
}

async fn login(
    controller: web::Data<Controller>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    if !session::same_origin(&req) {
        return page(
            StatusCode::FORBIDDEN,
            pages::problem(
                None,
                "Forbidden",
                "This form must be sent from the console's own page.",
            ),
        );
    }
    req.extensions_mut().insert(LoginName {
        login: form.login.clone(),
        authenticated: false,
    });
    // Any failure is the same answer: do not tell which of login and password was wrong.
    let Ok(p) = controller.authenticate(&form.login, &form.password).await else {
        return page(
            StatusCode::UNAUTHORIZED,
            pages::login(Some("Wrong login or password.")),
        );
    };
    match session::start(&controller, &req, &p.login).await {
        Some(cookie) => {
            req.extensions_mut().insert(LoginName {
                login: p.login.clone(),
                authenticated: true,
            });
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/"))
                .cookie(cookie)
                .finish()
        }
        None => page(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::login(Some(
                "Sessions are unavailable (the registry did not answer); try again.",
            )),
        ),
    }
}

async fn logout(req: HttpRequest) -> HttpResponse {
    if !session::same_origin(&req) {
        return page(
            StatusCode::FORBIDDEN,
            pages::problem(
                None,
                "Forbidden",
                "This form must be sent from the console's own page.",
            ),
        );
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/login"))
        .cookie(session::end(&req))
        .finish()
}

async fn cluster(
    controller: web::Data<Controller>,
    req: HttpRequest,
    cluster_id: web::Path<String>,
) -> HttpResponse {
    let p = match logged_in(&controller, &req).await {
        Ok(p) => p,
        Err(redirect) => return redirect,
    };
    let views = async {
        Ok::<_, ControllerError>((
            controller.get_cluster(&p, &cluster_id).await?,
            controller.cluster_decisions(&p, &cluster_id).await?,
            controller.cluster_load(&p, &cluster_id).await?,
        ))
    };
    let (info, decisions, load) = match views.await {
        Ok(views) => views,
        Err(e) => return failure(&p, &e),
    };
    let timeline: Vec<pages::TimelineEntry> = decisions.iter().map(timeline_entry).collect();
    let scale_ups: Vec<chart::ScaleUp> = decisions
        .iter()
        .filter_map(|d| {
            let started = scale_up_starts(d);
            (started > 0).then(|| chart::ScaleUp {
                time: d["time"].as_f64().unwrap_or(0.0),
                started,
            })
        })
        .collect();
    let now = actix_web::cookie::time::OffsetDateTime::now_utc();
    let now_secs = now.unix_timestamp_nanos() as f64 / 1e9;
    let svg = chart::render(&load, &scale_ups, now_secs);
    page(
        StatusCode::OK,
        pages::cluster(&p, &info, &svg, &timeline, (now_secs * 1000.0) as i64),
    )
}

/// How many members a decision record started because of load.
fn scale_up_starts(record: &serde_json::Value) -> usize {
    record["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .filter(|a| a["action"] == "startMember" && a["cause"] == "scaleUp")
                .count()
        })
        .unwrap_or(0)
}

fn timeline_entry(record: &serde_json::Value) -> pages::TimelineEntry {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let actions = record["actions"]
        .as_array()
        .map(|actions| {
            actions
                .iter()
                .map(|a| {
                    let mut line = text(&a["action"]);
                    if let Some(member) = a["memberId"].as_str() {
                        line.push_str(&format!(" {member}"));
                    }
                    line.push_str(&format!(
                        " in {}/{}",
                        text(&a["networkPartitionId"]),
                        text(&a["partitionId"])
                    ));
                    if let Some(cause) = a["cause"].as_str() {
                        line.push_str(&format!(" ({cause})"));
                    }
                    line
                })
                .collect()
        })
        .unwrap_or_default();
    pages::TimelineEntry {
        time: record["time"].as_f64().unwrap_or(0.0),
        reason: text(&record["reason"]),
        actions,
        scale_up: scale_up_starts(record) > 0,
        dry_run: record["dryRun"].as_bool().unwrap_or(false),
    }
}

async fn definitions(controller: web::Data<Controller>, req: HttpRequest) -> HttpResponse {
    let p = match logged_in(&controller, &req).await {
        Ok(p) => p,
        Err(redirect) => return redirect,
    };
    let views = async {
        p.require_admin("the cartridges and policies page")?;
        Ok::<_, ControllerError>((
            controller.list_cartridges(&p).await?,
            controller.list_autoscaling_policies(&p).await?,
            controller.list_deployment_policies(&p).await?,
        ))
    };
    match views.await {
        Ok((cartridges, autoscale, deployment)) => page(
            StatusCode::OK,
            pages::definitions(&p, &cartridges, &autoscale, &deployment),
        ),
        Err(e) => failure(&p, &e),
    }
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .body(body)
}

#[cfg(test)]
mod tests;
