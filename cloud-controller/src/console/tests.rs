//! The console against a real controller (SQLite in a temp dir, in-process bus, conf/): login,
//! the session cookie, the Origin check, tenant scoping.

use crate::api;
use crate::controller::{Controller, ControllerOptions};
use actix_web::http::{header, StatusCode};
use actix_web::test;
use std::path::Path;
use std::sync::Arc;

const ADMIN_PASSWORD: &str = "console-test-admin-pw";
const ORIGIN: &str = "http://localhost:8080";

async fn controller(dir: &Path) -> Arc<Controller> {
    let mut opts = ControllerOptions::new(
        dir.join("registry.db").display().to_string(),
        dir.to_path_buf(),
        Arc::new(messaging::InProcessBus::new()),
        ADMIN_PASSWORD.to_string(),
    );
    opts.conf_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf"));
    Controller::start(opts)
        .await
        .expect("the controller starts")
}

fn login_form(login: &str, password: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri("/console/login")
        .insert_header((header::HOST, "localhost:8080"))
        .set_form([("login", login), ("password", password)])
}

#[actix_web::test]
async fn login_sets_a_signed_session_that_pages_accept() {
    let dir = std::env::temp_dir().join(format!("alto-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let controller = controller(&dir).await;
    let app = test::init_service(api::app(controller.clone())).await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "no session: to the login page"
    );
    assert_eq!(
        res.headers().get(header::LOCATION).unwrap(),
        "/console/login"
    );

    let res = test::call_service(&app, login_form("admin", ADMIN_PASSWORD).to_request()).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a POST without Origin is refused"
    );

    let wrong = login_form("admin", "wrong").insert_header((header::ORIGIN, ORIGIN));
    let res = test::call_service(&app, wrong.to_request()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(header::SET_COOKIE).is_none());

    let right = login_form("admin", ADMIN_PASSWORD).insert_header((header::ORIGIN, ORIGIN));
    let res = test::call_service(&app, right.to_request()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set_cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains(ADMIN_PASSWORD));
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    let page = |path: &str, cookie: &str| {
        test::TestRequest::get()
            .uri(path)
            .insert_header((header::COOKIE, cookie.to_string()))
            .to_request()
    };
    let res = test::call_service(&app, page("/", &cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(body.contains("id=\"who\">admin<"), "{body}");

    let res = test::call_service(&app, page("/console/definitions", &cookie)).await;
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        body.contains("data-type=\"php\""),
        "conf/'s cartridges listed: {body}"
    );

    let res = test::call_service(&app, page("/console/clusters/nope", &cookie)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // A tampered cookie (another login under the admin's signature) is no session.
    let (_, rest) = cookie.split_once('.').unwrap();
    let forged = format!(
        "{}={}.{rest}",
        super::session::COOKIE,
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            "boss@acme.example"
        )
    );
    let res = test::call_service(&app, page("/", &forged)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let res = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/console/assets/console.js")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    controller.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn replicas_share_one_session_key() {
    let dir = std::env::temp_dir().join(format!("alto-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = controller(&dir.join("a")).await;
    let key = first.session_key().await.unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(first.session_key().await.unwrap(), key, "read once, kept");
    first.shutdown().await;
    drop(first);
    // The same registry opened again (another replica, or a restart) finds the same key.
    let again = controller(&dir.join("a")).await;
    assert_eq!(again.session_key().await.unwrap(), key);
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
