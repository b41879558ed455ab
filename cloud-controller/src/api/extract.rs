//! Request extractors: the authenticated caller (HTTP Basic) and a size-limited body with its
//! format (XML or JSON).

use super::error::{from_actix, ApiError};
use super::MAX_BODY_BYTES;
use crate::auth::Principal;
use crate::controller::Controller;
use crate::error::ControllerError;
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use std::future::Future;
use std::pin::Pin;

/// The login a request authenticated (or tried to authenticate) as; read by the request log.
#[derive(Debug, Clone)]
pub struct LoginName {
    pub login: String,
    pub authenticated: bool,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// `Authorization: Basic base64(login:password)` → (login, password).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (login, password) = decoded.split_once(':')?;
    if login.is_empty() {
        return None;
    }
    Some((login.to_string(), password.to_string()))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let controller = req.app_data::<web::Data<Controller>>().cloned();
        let credentials = basic_credentials(req.headers());
        let req = req.clone();
        Box::pin(async move {
            let controller = controller.ok_or_else(|| {
                ApiError::new(
                    actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "no controller",
                )
            })?;
            let (login, password) = credentials.ok_or_else(ApiError::unauthorized)?;
            req.extensions_mut().insert(LoginName {
                login: login.clone(),
                authenticated: false,
            });
            // A refused login is a plain 401 (which of login and password was wrong is not
            // told); too many of them a 429; a registry that is away a 503.
            let source = req.peer_addr().map(|a| a.ip());
            let principal = controller
                .authenticate_from(&login, &password, source)
                .await
                .map_err(|e| match e {
                    e @ ControllerError::TooManyAttempts { .. } => ApiError::from(e),
                    ControllerError::Registry(r) if r.is_unavailable() => {
                        ApiError::from(ControllerError::Registry(r))
                    }
                    _ => ApiError::unauthorized(),
                })?;
            req.extensions_mut().insert(LoginName {
                login: principal.login.clone(),
                authenticated: true,
            });
            Ok(Caller(principal))
        })
    }
}

/// The format of a definition body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

/// A request body (at most [`MAX_BODY_BYTES`]) and the format it was sent in.
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Bytes,
    pub format: Format,
}

impl Body {
    /// Parse as JSON; a malformed body is a 400 carrying serde's message.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// `application/json` (or `+json`) → JSON; `application/xml`, `text/xml` (or `+xml`) → XML;
/// anything else (e.g. curl's default form type, or none) is sniffed from the first character.
pub fn body_format(content_type: Option<&str>, bytes: &[u8]) -> Format {
    let mime = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime == "application/json" || mime.ends_with("+json") {
        return Format::Json;
    }
    if mime == "application/xml" || mime == "text/xml" || mime.ends_with("+xml") {
        return Format::Xml;
    }
    let first = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF);
    match first {
        Some(b'{') | Some(b'[') => Format::Json,
        _ => Format::Xml,
    }
}

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Body, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| from_actix(&e, MAX_BODY_BYTES))?;
            let format = body_format(content_type.as_deref(), &bytes);
            Ok(Body { bytes, format })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("boss@acme.example:pa:ss");
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {encoded}"))),
            Some(("boss@acme.example".to_string(), "pa:ss".to_string()))
        );
        assert_eq!(
            basic_credentials(&headers(&format!("basic   {encoded}"))).map(|c| c.0),
            Some("boss@acme.example".to_string())
        );
        assert_eq!(basic_credentials(&headers("Bearer abc")), None);
        assert_eq!(basic_credentials(&headers("Basic !!!")), None);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("admin");
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {no_colon}"))),
            None
        );
        let empty_login = base64::engine::general_purpose::STANDARD.encode(":pw");
        assert_eq!(
            basic_credentials(&headers(&format!("Basic {empty_login}"))),
            None
        );
        assert_eq!(basic_credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn body_format_follows_content_type_then_sniffs() {
        assert_eq!(
            body_format(Some("application/json; charset=utf-8"), b"<x/>"),
            Format::Json
        );
        assert_eq!(
            body_format(Some("application/vnd.stratos+json"), b""),
            Format::Json
        );
        assert_eq!(body_format(Some("application/xml"), b"{}"), Format::Xml);
        assert_eq!(body_format(Some("text/xml"), b"{}"), Format::Xml);
        assert_eq!(
            body_format(Some("application/x-www-form-urlencoded"), b"  {\"id\":1}"),
            Format::Json
        );
        assert_eq!(body_format(None, b"\n[{}]"), Format::Json);
        assert_eq!(
            body_format(None, b"<?xml version=\"1.0\"?><a/>"),
            Format::Xml
        );
    }
}
