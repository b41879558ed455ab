//! The paging query (`limit`, `cursor`) and how a page is answered.
//!
//! List routes answer a bare JSON array, as Stratos 4.1 clients and ours expect, and name the
//! next page in headers: `X-Next-Cursor: <cursor>` and `Link: <path?limit=N&cursor=…>;
//! rel="next"` (RFC 8288); both are absent on the last page. The cluster view, an object,
//! carries its members' cursor in its body as `nextCursor` (and in the same headers). The rules
//! (default 100, maximum 1,000, 400 beyond) are [`crate::paging`]'s.

use super::error::ApiError;
use crate::error::ControllerError;
use crate::paging::PageRequest;
use actix_web::dev::Payload;
use actix_web::http::header::{HeaderName, HeaderValue, LINK};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::future::{ready, Ready};

/// The header that carries the next page's cursor.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// The paging query parameters, as documented in the OpenAPI document.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page: 1 to 1000, default 100 (more is a 400).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Where the page starts: the `X-Next-Cursor` (or `nextCursor`) of the page before;
    /// absent for the first page.
    pub cursor: Option<String>,
}

/// A request's validated page (the extractor refuses a bad `limit` or cursor length with 400).
#[derive(Debug, Clone)]
pub struct Page(pub PageRequest);

impl FromRequest for Page {
    type Error = ApiError;
    type Future = Ready<Result<Page, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            web::Query::<PageQuery>::from_query(req.query_string())
                .map_err(|e| ApiError::bad_request(format!("invalid paging query: {e}")))
                .and_then(|web::Query(q)| {
                    PageRequest::new(q.limit, q.cursor)
                        .map_err(|e: ControllerError| ApiError::from(e))
                })
                .map(Page),
        )
    }
}

/// 200 with `body` and, when there is a next page, its cursor in `X-Next-Cursor` and `Link`.
pub fn respond<T: serde::Serialize>(
    req: &HttpRequest,
    page: &PageRequest,
    body: &T,
    next_cursor: Option<&str>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = next_cursor {
        // Cursors are URL-safe base64: no escaping is needed in the header or the query.
        let link = format!(
            "<{}?limit={}&cursor={cursor}>; rel=\"next\"",
            req.path(),
            page.limit
        );
        if let (Ok(cursor), Ok(link)) =
            (HeaderValue::from_str(cursor), HeaderValue::from_str(&link))
        {
            response.insert_header((HeaderName::from_static(NEXT_CURSOR_HEADER), cursor));
            response.insert_header((LINK, link));
        }
    }
    response.json(body)
}
