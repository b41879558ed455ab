//! The REST API against a real controller: SQLite in a temp dir, in-process bus, the
//! repository's conf/ (mock cloud).

use super::*;
use crate::controller::ControllerOptions;
use actix_web::http::header;
use actix_web::test;
use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const ADMIN_PASSWORD: &str = "api-test-admin-pw";

struct Harness {
    controller: Arc<Controller>,
    dir: PathBuf,
}

impl Harness {
    async fn start(tag: &str) -> Harness {
        let dir = std::env::temp_dir().join(format!(
            "alto-api-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
        let mut opts = ControllerOptions::new(
            dir.join("registry.db").display().to_string(),
            dir.clone(),
            Arc::new(messaging::InProcessBus::new()),
            ADMIN_PASSWORD.to_string(),
        );
        opts.conf_dir = Some(conf);
        let controller = Controller::start(opts)
            .await
            .expect("the controller starts on conf/");
        Harness { controller, dir }
    }

    async fn stop(self) {
        self.controller.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn basic(login: &str, password: &str) -> (header::HeaderName, String) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
    (header::AUTHORIZATION, format!("Basic {token}"))
}

fn admin() -> (header::HeaderName, String) {
    basic("admin", ADMIN_PASSWORD)
}

/// Send a `TestRequest` to an initialised app; evaluates to (status, headers, JSON body or Null).
macro_rules! send {
    ($app:expr, $req:expr) => {
        read(test::call_service($app, $req.to_request()).await).await
    };
}

async fn read<B: MessageBody>(res: ServiceResponse<B>) -> (u16, header::HeaderMap, Value) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "status {status}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, headers, body)
}

/// Every error body has the one shape.
fn assert_error(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

const CARTRIDGE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<cartridge type="apitest" host="apitest.example.org" provider="apache" version="1" multiTenant="false">
    <displayName>API test</displayName>
    <iaasProvider type="mock">
        <imageId>mock-image-apitest</imageId>
    </iaasProvider>
    <portMapping>
        <http port="80" proxyPort="8280"/>
    </portMapping>
</cartridge>
"#;

const AUTOSCALE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<autoscalePolicy id="api-autoscale">
    <loadThresholds>
        <requestsInFlight><threshold value="50"/></requestsInFlight>
    </loadThresholds>
</autoscalePolicy>
"#;

const DEPLOYMENT_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<deploymentPolicy id="api-deployment">
    <partitionGroup id="api-np">
        <partitionAlgo>round-robin</partitionAlgo>
        <partition id="api-p1">
            <provider>mock</provider>
            <min>1</min>
            <max>2</max>
        </partition>
    </partitionGroup>
</deploymentPolicy>
"#;

fn post_xml(path: &str, auth: (header::HeaderName, String), body: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(auth)
        .insert_header((header::CONTENT_TYPE, "application/xml"))
        .set_payload(body.to_string())
}

fn post_json(path: &str, auth: (header::HeaderName, String), body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(auth)
        .set_json(body)
}

fn get(path: &str, auth: (header::HeaderName, String)) -> test::TestRequest {
    test::TestRequest::get().uri(path).insert_header(auth)
}

fn delete(path: &str, auth: (header::HeaderName, String)) -> test::TestRequest {
    test::TestRequest::delete().uri(path).insert_header(auth)
}

/// Create a tenant over the API; evaluates to the Basic credentials of its admin `boss@DOMAIN`.
macro_rules! create_tenant {
    ($app:expr, $domain:expr, $password:expr) => {{
        let (domain, password): (&str, &str) = ($domain, $password);
        let body = json!({"tenantDomain": domain, "admin": "boss", "adminPassword": password, "email": format!("boss@{domain}")});
        let (status, _, tenant) = send!($app, post_json("/api/tenants", admin(), &body));
        assert_eq!(status, 201, "{tenant}");
        assert_eq!(tenant["tenantDomain"], domain, "{tenant}");
        assert!(!tenant.to_string().contains(password), "the tenant's password must not be echoed: {tenant}");
        basic(&format!("boss@{domain}"), password)
    }};
}

#[path = "tests_definitions.rs"]
mod definitions;

#[actix_web::test]
async fn healthz_needs_no_auth_and_everything_else_does() {
    let h = Harness::start("auth").await;
    let app = test::init_service(app(h.controller.clone())).await;

    let (status, _, body) = send!(&app, test::TestRequest::get().uri("/healthz"));
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    for path in [
        "/api/cartridges",
        "/api/subscriptions",
        "/api/clusters",
        "/api/clusters/x",
        "/api/autoscalingPolicies",
    ] {
        let (status, headers, body) = send!(&app, test::TestRequest::get().uri(path));
        assert_error(status, &body, 401);
        assert_eq!(
            headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"altostratus\""),
            "{path}"
        );
    }
    for auth in [
        basic("admin", "wrong-password-xyz"),
        basic("nobody@nowhere", "wrong-password-xyz"),
    ] {
        let (status, headers, body) = send!(&app, get("/api/cartridges", auth));
        assert_error(status, &body, 401);
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
        assert!(!body.to_string().contains("wrong-password-xyz"), "{body}");
    }
    let garbage = test::TestRequest::get()
        .uri("/api/cartridges")
        .insert_header((header::AUTHORIZATION, "Basic %%%not-base64"));
    let (status, _, body) = send!(&app, garbage);
    assert_error(status, &body, 401);
    // The POST of an unauthenticated caller is refused too.
    let req = test::TestRequest::post()
        .uri("/api/cartridges")
        .insert_header((header::CONTENT_TYPE, "application/xml"))
        .set_payload(CARTRIDGE_XML);
    let (status, _, body) = send!(&app, req);
    assert_error(status, &body, 401);

    let (status, _, body) = send!(&app, get("/api/cartridges", admin()));
    assert_eq!(status, 200, "{body}");
    assert!(body.is_array(), "{body}");
    h.stop().await;
}

#[actix_web::test]
async fn unknown_routes_methods_and_big_bodies_answer_json() {
    let h = Harness::start("routes").await;
    let app = test::init_service(app(h.controller.clone())).await;
    let (status, _, body) = send!(&app, get("/api/nothing-here", admin()));
    assert_error(status, &body, 404);
    let (status, _, body) = send!(&app, test::TestRequest::get().uri("/nowhere"));
    assert_error(status, &body, 404);
    let (status, _, body) = send!(
        &app,
        test::TestRequest::patch()
            .uri("/api/cartridges")
            .insert_header(admin())
    );
    assert_error(status, &body, 405);

    let big = format!(
        "<cartridge type=\"x\">{}</cartridge>",
        "a".repeat(MAX_BODY_BYTES + 10)
    );
    let (status, _, body) = send!(&app, post_xml("/api/cartridges", admin(), &big));
    assert_error(status, &body, 413);
    h.stop().await;
}

#[actix_web::test]
async fn invalid_definitions_are_400_with_positions() {
    let h = Harness::start("invalid").await;
    let app = test::init_service(app(h.controller.clone())).await;

    // Malformed XML: the problem names the request body with a line and a column.
    let truncated = &CARTRIDGE_XML[..CARTRIDGE_XML.len() / 2];
    let (status, _, body) = send!(&app, post_xml("/api/cartridges", admin(), truncated));
    assert_error(status, &body, 400);
    let problems = body["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("problems: {body}"));
    assert!(!problems.is_empty(), "{body}");
    for p in problems {
        let p = p.as_str().unwrap();
        let mut parts = p.splitn(4, ':');
        let (_, line, col) = (parts.next(), parts.next(), parts.next());
        assert!(
            line.and_then(|l| l.trim().parse::<u32>().ok()).is_some(),
            "no line in {p}"
        );
        assert!(
            col.and_then(|c| c.trim().parse::<u32>().ok()).is_some(),
            "no column in {p}"
        );
    }

    // Well-formed but without the cartridge's type.
    let bad = CARTRIDGE_XML.replace("type=\"apitest\" ", "");
    let (status, _, body) = send!(&app, post_xml("/api/cartridges", admin(), &bad));
    assert_error(status, &body, 400);
    assert!(
        body["problems"].as_array().is_some_and(|p| !p.is_empty()),
        "{body}"
    );

    // Malformed JSON: 400 with serde's message.
    let req = test::TestRequest::post()
        .uri("/api/cartridges")
        .insert_header(admin())
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload("{\"type\": ");
    let (status, _, body) = send!(&app, req);
    assert_error(status, &body, 400);
    assert!(body["message"].as_str().unwrap().contains("EOF"), "{body}");
    let req = test::TestRequest::post()
        .uri("/api/subscriptions")
        .insert_header(admin())
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload("{\"alias\": 5}");
    let (status, _, body) = send!(&app, req);
    assert_error(status, &body, 400);
    assert!(
        body["message"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );

    // Nothing was deployed.
    let (status, _, body) = send!(&app, get("/api/cartridges/apitest", admin()));
    assert_error(status, &body, 404);
    h.stop().await;
}

#[actix_web::test]
async fn json_definitions_are_accepted() {
    let h = Harness::start("json").await;
    let app = test::init_service(app(h.controller.clone())).await;

    // Stratos 4.0 style: numbers and booleans as strings, single objects for arrays.
    let cartridge = json!({
        "type": "jsontest", "provider": "apache", "host": "jsontest.example.org", "displayName": "JSON <test>",
        "version": "7", "multiTenant": "false",
        "portMapping": {"protocol": "http", "port": "80", "proxyPort": "8280"},
        "iaasProvider": [{"type": "mock", "imageId": "mock-image-json", "property": {"name": "k", "value": "v&w"}}]
    });
    let (status, _, body) = send!(&app, post_json("/api/cartridges", admin(), &cartridge));
    assert_eq!(status, 201, "{body}");
    assert!(body.to_string().contains("jsontest"), "{body}");
    let (status, _, body) = send!(&app, get("/api/cartridges/jsontest", admin()));
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("JSON <test>"), "{body}");
    let (status, _, list) = send!(&app, get("/api/cartridges", admin()));
    assert_eq!(status, 200);
    assert!(list.to_string().contains("jsontest"), "{list}");

    // Stratos 4.1 autoscaling policy; 4.0 deployment policy with inline partitions.
    let policy = json!({"id": "json-autoscale", "loadThresholds": {"requestsInFlight": {"threshold": 20}, "loadAverage": {"threshold": 70}}});
    let (status, _, body) = send!(
        &app,
        post_json("/api/autoscalingPolicies", admin(), &policy)
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "json-autoscale", "{body}");
    let deployment = json!({"id": "json-deployment", "partitionGroup": [{"id": "np", "partitionAlgo": "one-after-another",
        "partition": [{"id": "json-p1", "provider": "mock", "partitionMin": "1", "partitionMax": "3"}]}]});
    let (status, _, body) = send!(
        &app,
        post_json("/api/deploymentPolicies", admin(), &deployment)
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "json-deployment", "{body}");
    let (_, _, list) = send!(&app, get("/api/deploymentPolicies", admin()));
    assert!(list.to_string().contains("json-deployment"), "{list}");
    let (_, _, list) = send!(&app, get("/api/autoscalingPolicies", admin()));
    assert!(list.to_string().contains("json-autoscale"), "{list}");

    // Stratos 4.1 deployment policy referencing a partition defined nowhere: validation says so.
    let v41 = json!({"id": "dp41", "networkPartitions": [{"id": "np1", "partitionAlgo": "one-after-another",
        "partitions": [{"id": "partition-nowhere", "partitionMax": 20}]}]});
    let (status, _, body) = send!(&app, post_json("/api/deploymentPolicies", admin(), &v41));
    assert_error(status, &body, 400);
    assert!(body.to_string().contains("partition-nowhere"), "{body}");

    // A JSON document that cannot be a cartridge.
    let (status, _, body) = send!(&app, post_json("/api/cartridges", admin(), &json!("php")));
    assert_error(status, &body, 400);
    h.stop().await;
}

#[actix_web::test]
async fn tenants_cannot_administer_the_platform() {
    let h = Harness::start("forbidden").await;
    let app = test::init_service(app(h.controller.clone())).await;
    let tenant = create_tenant!(&app, "acme.example", "acme-pass-1");

    let (status, _, body) = send!(
        &app,
        post_xml("/api/cartridges", tenant.clone(), CARTRIDGE_XML)
    );
    assert_error(status, &body, 403);
    let (status, _, body) = send!(
        &app,
        post_xml("/api/autoscalingPolicies", tenant.clone(), AUTOSCALE_XML)
    );
    assert_error(status, &body, 403);
    let (status, _, body) = send!(
        &app,
        post_xml("/api/deploymentPolicies", tenant.clone(), DEPLOYMENT_XML)
    );
    assert_error(status, &body, 403);
    let other =
        json!({"tenantDomain": "evil.example", "admin": "x", "adminPassword": "evil-pass-1"});
    let (status, _, body) = send!(&app, post_json("/api/tenants", tenant.clone(), &other));
    assert_error(status, &body, 403);
    let (status, _, body) = send!(&app, delete("/api/cartridges/apitest", tenant.clone()));
    assert!(status == 403 || status == 404, "{status} {body}");
    // A tenant may read the catalogue.
    let (status, _, _) = send!(&app, get("/api/cartridges", tenant));
    assert_eq!(status, 200);
    h.stop().await;
}

#[actix_web::test]
async fn tenants_are_isolated_and_aliases_unique() {
    let h = Harness::start("isolation").await;
    let app = test::init_service(app(h.controller.clone())).await;
    let (status, _, body) = send!(&app, post_xml("/api/cartridges", admin(), CARTRIDGE_XML));
    assert_eq!(status, 201, "{body}");
    assert!(body.is_array(), "{body}");
    let (status, _, body) = send!(
        &app,
        post_xml("/api/autoscalingPolicies", admin(), AUTOSCALE_XML)
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send!(
        &app,
        post_xml("/api/deploymentPolicies", admin(), DEPLOYMENT_XML)
    );
    assert_eq!(status, 201, "{body}");

    let a = create_tenant!(&app, "a.example", "a-pass-123");
    let b = create_tenant!(&app, "b.example", "b-pass-123");
    let subscribe = json!({"cartridgeType": "apitest", "alias": "shop", "autoscalePolicy": "api-autoscale", "deploymentPolicy": "api-deployment"});
    let (status, _, sub) = send!(&app, post_json("/api/subscriptions", b.clone(), &subscribe));
    assert_eq!(status, 201, "{sub}");
    let cluster_id = sub["clusterId"].as_str().expect("clusterId").to_string();
    assert_eq!(sub["alias"], "shop");

    // The same alias again in the same tenant: 409.
    let (status, _, body) = send!(&app, post_json("/api/subscriptions", b.clone(), &subscribe));
    assert_error(status, &body, 409);

    // Tenant A sees nothing of B's.
    let (status, _, subs) = send!(&app, get("/api/subscriptions", a.clone()));
    assert_eq!((status, subs.clone()), (200, json!([])), "{subs}");
    let (status, _, clusters) = send!(&app, get("/api/clusters", a.clone()));
    assert_eq!(status, 200);
    assert!(!clusters.to_string().contains(&cluster_id), "{clusters}");
    let (status, _, body) = send!(&app, get(&format!("/api/clusters/{cluster_id}"), a.clone()));
    assert_error(status, &body, 404);
    let (status, _, body) = send!(&app, delete("/api/subscriptions/shop", a.clone()));
    assert_error(status, &body, 404);
    let decisions = format!("/api/clusters/{cluster_id}/decisions");
    let (status, _, body) = send!(&app, get(&decisions, a.clone()));
    assert_error(status, &body, 404);

    // B's cluster has decision records, with the reason and the actions of each.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let records = loop {
        let (status, _, body) = send!(&app, get(&decisions, b.clone()));
        assert_eq!(status, 200, "{body}");
        if body.as_array().is_some_and(|a| !a.is_empty()) || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let first = &records[0];
    assert_eq!(first["clusterId"], cluster_id.as_str(), "{first}");
    assert!(
        first["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{first}"
    );
    assert!(first["actions"].is_array(), "{first}");
    assert!(first["networkPartitions"].is_array(), "{first}");

    // B still has it, and sees its cluster.
    let (status, _, subs) = send!(&app, get("/api/subscriptions", b.clone()));
    assert_eq!(status, 200);
    assert_eq!(subs.as_array().map(Vec::len), Some(1), "{subs}");
    assert_eq!(subs[0]["alias"], "shop");
    let (status, _, cluster) = send!(&app, get(&format!("/api/clusters/{cluster_id}"), b.clone()));
    assert_eq!(status, 200, "{cluster}");
    assert_eq!(cluster["clusterId"], cluster_id.as_str());
    let (status, _, clusters) = send!(&app, get("/api/clusters", b.clone()));
    assert_eq!(status, 200);
    assert!(clusters.to_string().contains(&cluster_id), "{clusters}");

    // The cartridge cannot be undeployed while subscribed.
    let (status, _, body) = send!(&app, delete("/api/cartridges/apitest", admin()));
    assert_error(status, &body, 409);

    // B unsubscribes: 202, Unsubscribing.
    let (status, _, body) = send!(&app, delete("/api/subscriptions/shop", b.clone()));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "Unsubscribing", "{body}");
    assert_eq!(body["clusterId"], cluster_id.as_str(), "{body}");
    h.stop().await;
}

#[actix_web::test]
async fn a_cartridge_can_be_undeployed() {
    let h = Harness::start("undeploy").await;
    let app = test::init_service(app(h.controller.clone())).await;
    let (status, _, body) = send!(&app, post_xml("/api/cartridges", admin(), CARTRIDGE_XML));
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send!(&app, delete("/api/cartridges/apitest", admin()));
    assert_eq!(status, 204, "{body}");
    assert_eq!(body, Value::Null);
    let (status, _, body) = send!(&app, get("/api/cartridges/apitest", admin()));
    assert_error(status, &body, 404);
    let (status, _, body) = send!(&app, delete("/api/cartridges/apitest", admin()));
    assert_error(status, &body, 404);
    h.stop().await;
}

#[actix_web::test]
async fn bind_serves_on_a_free_port() {
    let h = Harness::start("bind").await;
    let (server, addr) = bind(h.controller.clone(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    assert_ne!(addr.port(), 0);
    let handle = server.handle();
    let task = actix_web::rt::spawn(server);
    // The CLI's client against the real socket.
    let conn = crate::cli::Connection {
        url: format!("http://{addr}"),
        user: "admin".into(),
        password: Some("wrong".into()),
        json: true,

        ca_cert: None,
    };
    let err = crate::cli::run(&conn, crate::cli::Command::ListCartridges)
        .await
        .unwrap_err();
    assert!(
        matches!(err, crate::cli::CliError::Api { status: 401, .. }),
        "{err:?}"
    );
    let conn = crate::cli::Connection {
        password: Some(ADMIN_PASSWORD.into()),
        ..conn
    };
    crate::cli::run(&conn, crate::cli::Command::ListCartridges)
        .await
        .expect("list-cartridges");
    let err = crate::cli::run(
        &conn,
        crate::cli::Command::ListMembers(crate::cli::ListMembersArgs {
            alias: Some("nope".into()),
            alias_option: None,
            cartridge_type: None,
            page: Default::default(),
        }),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("no subscription with alias nope"),
        "{err}"
    );
    handle.stop(true).await;
    let _ = task.await;
    h.stop().await;
}

/// `/metrics` needs no login, labels requests by route pattern (never a raw path, never a
/// payload token), and answers 404 once `--metrics-listen` serves it elsewhere.
#[actix_web::test]
async fn metrics_are_public_and_label_route_patterns_only() {
    let h = Harness::start("metrics").await;
    let app = test::init_service(app(h.controller.clone())).await;
    for uri in ["/api/payload/secret-token-123", "/no/such/path"] {
        let _ = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
    }
    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        crate::metrics::CLASSIC_CONTENT_TYPE
    );
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(body.contains("route=\"/api/payload/{token}\""), "{body}");
    assert!(
        body.contains(
            "alto_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"
        ),
        "{body}"
    );
    assert!(!body.contains("secret-token-123"), "{body}");
    assert!(!body.contains("/no/such/path"), "{body}");

    h.controller.metrics().serve_separately();
    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), 404);
    h.stop().await;
}

#[path = "tests_paging.rs"]
mod paging_routes;
