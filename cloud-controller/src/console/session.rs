//! Console sessions: a stateless cookie any replica can check — the login, an expiry and an
//! HMAC-SHA256 over both and the user's password-hash fingerprint, under the key the replicas
//! share ([`Controller::session_key`]). No server-side session table; a password change ends
//! every session signed before it; logout clears the cookie.
//!
//! CSRF: the cookie is `SameSite=Strict` (a browser sends it on no cross-site request) and
//! every POST must carry an `Origin` (or `Referer`) naming this host.

use crate::auth::Principal;
use crate::controller::Controller;
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session cookie's name.
pub const COOKIE: &str = "alto_session";
/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;
/// Longer cookies are not parsed (a login is at most a few hundred bytes).
const MAX_COOKIE_LEN: usize = 1024;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], login: &str, expires: i64, fingerprint: &[u8]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(login.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(fingerprint);
    Some(mac)
}

/// The cookie value for `login` until `expires` (seconds since the epoch).
pub fn sign(key: &[u8], login: &str, expires: i64, fingerprint: &[u8]) -> Option<String> {
    let tag = mac(key, login, expires, fingerprint)?
        .finalize()
        .into_bytes();
    Some(format!(
        "{}.{expires}.{}",
        URL_SAFE_NO_PAD.encode(login),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// A cookie value's login and expiry, before its signature is checked.
pub fn parse(value: &str) -> Option<(String, i64, Vec<u8>)> {
    if value.len() > MAX_COOKIE_LEN {
        return None;
    }
    let mut parts = value.split('.');
    let login = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
    let expires = parts.next()?.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    if parts.next().is_some() || login.is_empty() {
        return None;
    }
    Some((login, expires, tag))
}

/// Whether `tag` signs (login, expires, fingerprint) under `key` (constant-time compare).
pub fn verify(key: &[u8], login: &str, expires: i64, fingerprint: &[u8], tag: &[u8]) -> bool {
    mac(key, login, expires, fingerprint).is_some_and(|m| m.verify_slice(tag).is_ok())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The principal of the request's session, if it has a valid one.
pub async fn principal(controller: &Controller, req: &HttpRequest) -> Option<Principal> {
    let cookie = req.cookie(COOKIE)?;
    let (login, expires, tag) = parse(cookie.value())?;
    if expires < now() {
        return None;
    }
    let key = controller.session_key().await.ok()?;
    let user = controller.session_user(&login).await.ok()??;
    verify(&key, &login, expires, &user.password_fingerprint, &tag).then_some(user.principal)
}

/// A new session cookie for a user who just logged in.
pub async fn start(
    controller: &Controller,
    req: &HttpRequest,
    login: &str,
) -> Option<Cookie<'static>> {
    let key = controller.session_key().await.ok()?;
    let user = controller.session_user(login).await.ok()??;
    let value = sign(
        &key,
        login,
        now() + SESSION_SECONDS,
        &user.password_fingerprint,
    )?;
    Some(cookie(req, value, time::Duration::seconds(SESSION_SECONDS)))
}

/// The cookie that ends a session.
pub fn end(req: &HttpRequest) -> Cookie<'static> {
    cookie(req, String::new(), time::Duration::ZERO)
}

fn cookie(req: &HttpRequest, value: String, max_age: time::Duration) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(max_age)
        .finish()
}

/// Whether a POST comes from a page of this console: its `Origin` (or, lacking one, its
/// `Referer`) names the host the request was sent to.
pub fn same_origin(req: &HttpRequest) -> bool {
    let host = match req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(host) => host,
        None => return false,
    };
    let source = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let Some((_, rest)) = source.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_signed_value_verifies_only_unchanged() {
        let key = b"k".repeat(32);
        let value = sign(&key, "boss@acme.example", 1_000, b"fp").unwrap();
        let (login, expires, tag) = parse(&value).unwrap();
        assert_eq!((login.as_str(), expires), ("boss@acme.example", 1_000));
        assert!(verify(&key, &login, expires, b"fp", &tag));
        assert!(!verify(&key, &login, expires, b"new password", &tag));
        assert!(!verify(&key, "admin", expires, b"fp", &tag));
        assert!(!verify(&key, &login, 2_000, b"fp", &tag));
        assert!(!verify(b"another key", &login, expires, b"fp", &tag));
        assert!(parse("garbage").is_none());
        assert!(parse(&format!("{value}.x")).is_none());
        assert!(parse(&"a".repeat(2000)).is_none());
    }

    #[test]
    fn posts_must_come_from_this_host() {
        let with = |headers: &[(&str, &str)]| {
            let mut req = TestRequest::post().insert_header(("host", "127.0.0.1:8080"));
            for h in headers {
                req = req.insert_header(*h);
            }
            same_origin(&req.to_http_request())
        };
        assert!(with(&[("origin", "http://127.0.0.1:8080")]));
        assert!(with(&[("referer", "http://127.0.0.1:8080/console/login")]));
        assert!(!with(&[("origin", "http://evil.example")]));
        assert!(!with(&[("origin", "null")]));
        assert!(!with(&[]));
    }
}
