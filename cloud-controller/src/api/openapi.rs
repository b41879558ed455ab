//! `GET /api/openapi.json`: the OpenAPI 3.1 document of this API, generated from the
//! `#[utoipa::path]` annotations next to the handlers and the `ToSchema` derives of the types
//! they return. No auth: it describes the API, it does not expose any data.

use super::error::ErrorBody;
use actix_web::HttpResponse;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The name the operations' `security` requirements use for HTTP Basic.
pub const BASIC_AUTH: &str = "basic";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Altostratus cloud controller",
        description = "Cartridges, policies, tenants, subscriptions and clusters of an Altostratus \
            installation. Every error is an `ErrorBody` with the response's status. Operations \
            marked with `basic` take HTTP Basic credentials (`admin` or `USER@TENANTDOMAIN`); a \
            tenant sees only its own subscriptions and clusters."
    ),
    paths(
        super::healthz,
        super::leader,
        document,
        super::cartridges::list,
        super::cartridges::deploy,
        super::cartridges::get,
        super::cartridges::update,
        super::cartridges::update_one,
        super::cartridges::undeploy,
        super::policies::list_autoscaling,
        super::policies::deploy_autoscaling,
        super::policies::update_autoscaling,
        super::policies::get_autoscaling,
        super::policies::update_autoscaling_by_id,
        super::policies::remove_autoscaling,
        super::policies::list_deployment,
        super::policies::deploy_deployment,
        super::policies::update_deployment,
        super::policies::get_deployment,
        super::policies::update_deployment_by_id,
        super::policies::remove_deployment,
        super::network_partitions::list,
        super::network_partitions::add,
        super::network_partitions::update,
        super::network_partitions::get,
        super::network_partitions::update_by_id,
        super::network_partitions::remove,
        super::not_implemented::applications_get,
        super::not_implemented::applications_post,
        super::not_implemented::applications_put,
        super::not_implemented::applications_delete,
        super::not_implemented::application_get,
        super::not_implemented::application_post,
        super::not_implemented::application_put,
        super::not_implemented::application_delete,
        super::not_implemented::groups_get,
        super::not_implemented::groups_post,
        super::not_implemented::groups_put,
        super::not_implemented::groups_delete,
        super::not_implemented::group_get,
        super::not_implemented::group_post,
        super::not_implemented::group_put,
        super::not_implemented::group_delete,
        super::not_implemented::app_policies_get,
        super::not_implemented::app_policies_post,
        super::not_implemented::app_policies_put,
        super::not_implemented::app_policies_delete,
        super::not_implemented::app_policy_get,
        super::not_implemented::app_policy_post,
        super::not_implemented::app_policy_put,
        super::not_implemented::app_policy_delete,
        super::tenants::create,
        super::subscriptions::list,
        super::subscriptions::subscribe,
        super::subscriptions::unsubscribe,
        super::clusters::list,
        super::clusters::get,
        super::clusters::decisions,
        super::reconcile::last,
        super::payload::get,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BasicAuth, &LoginThrottling),
    tags(
        (name = "probes", description = "Health, leadership and this document (no auth)"),
        (name = "cartridges", description = "Cartridge definitions"),
        (name = "policies", description = "Autoscaling and deployment policies, network partitions"),
        (name = "tenants", description = "Tenants and their admins"),
        (name = "subscriptions", description = "A tenant's subscriptions to cartridges"),
        (name = "clusters", description = "A tenant's clusters, members and autoscaler decisions"),
        (name = "operations", description = "What the controller did on its own"),
        (name = "members", description = "What members fetch (token credentials, no Basic auth)"),
        (name = "not-implemented", description = "Stratos 4.1 routes of features Altostratus does not have (composite applications): 501 naming the feature"),
    )
)]
pub struct ApiDoc;

/// Adds the HTTP Basic scheme the operations' `security(("basic" = []))` refer to.
struct BasicAuth;

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                BASIC_AUTH,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
            );
    }
}

/// Every operation that takes credentials can also answer 429: too many failed logins for that
/// login or from that address (controller/logins.rs), with `Retry-After`.
struct LoginThrottling;

impl Modify for LoginThrottling {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let throttled = ResponseBuilder::new()
            .description("Too many failed logins for this login or from this address; retry after Retry-After seconds")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                if op.responses.responses.contains_key("401") {
                    op.responses
                        .responses
                        .insert("429".to_string(), throttled.clone().into());
                }
            }
        }
    }
}

/// The document as served, built once: it never changes while the process runs.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            // Serialising a tree of strings and maps has no way to fail; keep a valid body anyway.
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    })
}

/// A route pattern as OpenAPI writes it: actix's `{rest:.*}` (a parameter with its regex) is
/// `{rest}`.
pub fn openapi_path(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let (mut in_param, mut in_regex) = (false, false);
    for c in pattern.chars() {
        match c {
            '{' => in_param = true,
            ':' if in_param => in_regex = true,
            '}' => (in_param, in_regex) = (false, false),
            _ => {}
        }
        if !in_regex {
            out.push(c);
        }
    }
    out
}

/// The `Allow` header value of a route pattern as actix matched it (`/api/cartridges/{type}`):
/// the methods the document lists for it, so a 405 names exactly the documented ones.
pub fn allowed_methods(pattern: &str) -> Option<&'static str> {
    let pattern = openapi_path(pattern);
    static ALLOW: OnceLock<HashMap<String, String>> = OnceLock::new();
    ALLOW
        .get_or_init(|| {
            let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap_or_default();
            let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
                return HashMap::new();
            };
            paths
                .iter()
                .filter_map(|(path, item)| {
                    let methods: Vec<String> = item
                        .as_object()?
                        .keys()
                        .filter(|k| HTTP_METHODS.contains(&k.as_str()))
                        .map(|k| k.to_uppercase())
                        .collect();
                    Some((path.clone(), methods.join(", ")))
                })
                .collect()
        })
        .get(&pattern)
        .map(String::as_str)
}

/// The keys of an OpenAPI path item that name operations.
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `GET /healthz`'s body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process serves requests.
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "probes",
    summary = "This document (OpenAPI 3.1)",
    operation_id = "getOpenApiDocument",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test as actix_test, App};
    use std::collections::BTreeSet;

    /// (METHOD, path) of every operation in the document, paths in OpenAPI's `{param}` form.
    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        let paths = doc["paths"].as_object().expect("the document has paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                HTTP_METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// The string literal at the start of `s` (which begins right after the opening quote).
    fn literal(s: &str) -> &str {
        &s[..s.find('"').expect("a closed string literal")]
    }

    /// (METHOD, path) of every route `configure` registers, read from its source in mod.rs:
    /// actix has no public way to list the routes of an app. Scopes nest by parentheses.
    fn served() -> BTreeSet<(String, String)> {
        let src = include_str!("mod.rs");
        let start = src.find("pub fn configure(").expect("configure in mod.rs");
        let end = start + src[start..].find("\n}\n").expect("the end of configure");
        let body = &src[start..end];
        let mut routes = BTreeSet::new();
        // (prefix, parenthesis depth of the call the scope is an argument of)
        let mut scopes: Vec<(String, usize)> = Vec::new();
        let mut resource: Option<String> = None;
        let mut depth = 0usize;
        for (i, c) in body.char_indices() {
            let rest = &body[i..];
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    while scopes.last().is_some_and(|(_, d)| depth < *d) {
                        scopes.pop();
                        resource = None;
                    }
                }
                _ => {}
            }
            let prefix: String = scopes.iter().map(|(p, _)| p.as_str()).collect();
            if let Some(arg) = rest.strip_prefix("web::scope(\"") {
                scopes.push((literal(arg).to_string(), depth));
            } else if let Some(arg) = rest.strip_prefix("web::resource(\"") {
                resource = Some(openapi_path(&format!("{prefix}{}", literal(arg))));
            } else if let Some(route) = &resource {
                for method in HTTP_METHODS {
                    if rest.starts_with(&format!("web::{method}()")) {
                        routes.insert((method.to_uppercase(), route.clone()));
                    }
                }
            }
        }
        routes
    }

    #[test]
    fn the_document_lists_exactly_the_routes_actix_serves() {
        let served = served();
        assert!(
            served.contains(&("GET".into(), "/api/cartridges/{type}".into())),
            "the route reader found {served:?}"
        );
        assert!(served.contains(&("GET".into(), "/healthz".into())));
        let documented = documented();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let not_served: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && not_served.is_empty(),
            "served but not documented: {undocumented:?}; documented but not served: {not_served:?}"
        );
    }

    /// The reader of mod.rs could be wrong in the same way as the document: every documented
    /// operation must also reach a handler of the real app, not the 404/405 fallbacks.
    #[actix_web::test]
    async fn every_documented_operation_reaches_a_handler() {
        let app = actix_test::init_service(App::new().configure(super::super::configure)).await;
        for (method, path) in documented() {
            let uri = path.replace(['{', '}'], "");
            let req = actix_test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(&uri)
                .to_request();
            let res = actix_test::call_service(&app, req).await;
            let status = res.status().as_u16();
            let body = actix_test::read_body(res).await;
            let text = String::from_utf8_lossy(&body);
            assert!(
                !(status == 404 && text.contains("no route for")) && status != 405,
                "{method} {uri}: {status} {text}"
            );
        }
    }

    #[actix_web::test]
    async fn a_405_allows_the_documented_methods() {
        let app = actix_test::init_service(App::new().configure(super::super::configure)).await;
        for (method, uri, allow) in [
            ("PATCH", "/api/cartridges/php", "GET, PUT, DELETE"),
            ("TRACE", "/api/cartridges", "GET, POST, PUT"),
            ("PATCH", "/api/networkPartitions/np1", "GET, PUT, DELETE"),
            (
                "PATCH",
                "/api/applications/app1/deploy/p1",
                "GET, POST, PUT, DELETE",
            ),
            ("POST", "/healthz", "GET"),
            ("HEAD", "/api/openapi.json", "GET"),
        ] {
            let req = actix_test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(uri)
                .to_request();
            let res = actix_test::call_service(&app, req).await;
            assert_eq!(res.status().as_u16(), 405, "{method} {uri}");
            let header = res.headers().get("allow").map(|v| v.to_str().unwrap());
            let mut got: Vec<&str> = header.unwrap_or_default().split(", ").collect();
            let mut want: Vec<&str> = allow.split(", ").collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{method} {uri}: Allow {header:?}");
        }
    }

    #[test]
    fn actix_patterns_become_openapi_paths() {
        assert_eq!(
            openapi_path("/api/applications/{rest:.*}"),
            "/api/applications/{rest}"
        );
        assert_eq!(
            openapi_path("/api/cartridges/{type}"),
            "/api/cartridges/{type}"
        );
        assert_eq!(openapi_path("/a/{x:[0-9]+}/b/{y}"), "/a/{x}/b/{y}");
        assert_eq!(openapi_path("/healthz"), "/healthz");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_basic_auth_and_the_error_shape() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
        assert_eq!(
            doc["components"]["securitySchemes"][BASIC_AUTH]["scheme"],
            "basic"
        );
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        // The probes and the payload (its token is the credential) are public; the rest is not.
        for (method, path) in documented() {
            let op = &doc["paths"][&path][method.to_lowercase()];
            let public = path == "/healthz"
                || path == "/api/leader"
                || path == "/api/openapi.json"
                || path.starts_with("/api/payload/");
            assert_eq!(op.get("security").is_none(), public, "{method} {path}");
            if !public {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path}: no 401"
                );
            }
        }
        let deploy = &doc["paths"]["/api/cartridges"]["post"]["requestBody"]["content"];
        assert!(deploy["application/json"].is_object(), "{deploy}");
        assert!(deploy["application/xml"].is_object(), "{deploy}");
    }
}
