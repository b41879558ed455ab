//! What a request head (and a chunked body's framing lines) must be before actix-http sees it.
//!
//! actix-http's HTTP/1 decoder answers an oversized or malformed head itself, with an empty
//! body, before any of our code runs. [`super::head_guard`] runs these checks first, with
//! limits below actix's (128 KiB, 96 headers), and with every rule that makes actix's decoder
//! refuse a head, so that whatever it lets through actix accepts, and whatever it refuses is
//! answered in the JSON error shape. Parsing is httparse's, the parser actix-http uses, with
//! the same default configuration.

use actix_web::http::{Method, StatusCode, Uri};

/// The most header fields actix-http parses (a limit of ours above it could not be reached).
const ACTIX_MAX_HEADERS: usize = 96;

/// Bounds on what a client may send outside a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// A request head (request line, header fields, blank line).
    pub max_head_bytes: usize,
    /// Header fields in one head.
    pub max_headers: usize,
    /// The request target (path and query).
    pub max_target_bytes: usize,
    /// One chunk-size line of a chunked body (the size and its extensions).
    pub max_chunk_line_bytes: usize,
    /// The trailer section after a chunked body's last chunk.
    pub max_trailer_bytes: usize,
}

/// The REST API's limits: half of actix-http's head buffer and two thirds of its header array,
/// so that our answer always comes first; a target of 16 KiB is far beyond any route's.
pub const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 64 * 1024,
    max_headers: 64,
    max_target_bytes: 16 * 1024,
    max_chunk_line_bytes: 4 * 1024,
    max_trailer_bytes: 16 * 1024,
};

impl HeadLimits {
    /// The longest request line: the target and room for the method and version around it.
    pub fn max_request_line_bytes(&self) -> usize {
        self.max_target_bytes + 64
    }
}

/// Why a head is refused, and the status that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn head_too_large(limits: &HeadLimits) -> Self {
        Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("request head larger than {} bytes", limits.max_head_bytes),
        )
    }

    pub fn too_many_headers(limits: &HeadLimits) -> Self {
        Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("more than {} header fields", limits.max_headers),
        )
    }

    pub fn target_too_long(limits: &HeadLimits) -> Self {
        Refusal::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "request target longer than {} bytes",
                limits.max_target_bytes
            ),
        )
    }

    pub fn timed_out(seconds: u64) -> Self {
        Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("no complete request head within {seconds} s"),
        )
    }
}

/// How the body after a head is delimited (RFC 9112 §6.3, as actix-http decides it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
    /// Everything until the connection closes (a WebSocket upgrade, CONNECT): no further head.
    UntilClose,
}

/// The verdict on the bytes of a head received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadCheck {
    Incomplete,
    Complete { len: usize, body: BodyFraming },
    Refused(Refusal),
}

/// Parse a complete or partial head. Size limits on partial heads are the caller's (it knows
/// how far the request line got without parsing again); this enforces them on complete ones.
pub fn check_head(bytes: &[u8], limits: &HeadLimits) -> HeadCheck {
    let mut slots = [httparse::EMPTY_HEADER; ACTIX_MAX_HEADERS];
    let mut request =
        httparse::Request::new(&mut slots[..limits.max_headers.min(ACTIX_MAX_HEADERS)]);
    match request.parse(bytes) {
        Ok(httparse::Status::Partial) => HeadCheck::Incomplete,
        Ok(httparse::Status::Complete(len)) if len > limits.max_head_bytes => {
            HeadCheck::Refused(Refusal::head_too_large(limits))
        }
        Ok(httparse::Status::Complete(len)) => match framing(&request, limits) {
            Ok(body) => HeadCheck::Complete { len, body },
            Err(refusal) => HeadCheck::Refused(refusal),
        },
        Err(httparse::Error::TooManyHeaders) => {
            HeadCheck::Refused(Refusal::too_many_headers(limits))
        }
        Err(e) => HeadCheck::Refused(Refusal::bad_request(format!("malformed request head: {e}"))),
    }
}

/// The header fields actix-http's decoder looks at, counted and kept.
#[derive(Default)]
struct FramingFields<'a> {
    content_length: Option<&'a [u8]>,
    content_lengths: usize,
    transfer_encoding: Option<&'a [u8]>,
    transfer_encodings: usize,
    hosts: usize,
    websocket: bool,
}

/// Every rule by which actix-http's decoder refuses a parsed head, and the body's framing.
fn framing(
    request: &httparse::Request<'_, '_>,
    limits: &HeadLimits,
) -> Result<BodyFraming, Refusal> {
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(Refusal::bad_request("malformed request line"));
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Refusal::bad_request("invalid request method"))?;
    if target.len() > limits.max_target_bytes {
        return Err(Refusal::target_too_long(limits));
    }
    Uri::try_from(target).map_err(|_| Refusal::bad_request("invalid request target"))?;
    let http11 = version == 1;

    // Names are compared as they are: httparse admits only token characters in a name, all of
    // which `HeaderName` accepts (actix-http unwraps it), so no name is refused here.
    let mut fields = FramingFields::default();
    for header in request.headers.iter() {
        let name = header.name;
        let value = header.value;
        if name.eq_ignore_ascii_case("content-length") {
            fields.content_lengths += 1;
            fields.content_length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            fields.transfer_encodings += 1;
            fields.transfer_encoding = Some(value);
        } else if name.eq_ignore_ascii_case("host") {
            fields.hosts += 1;
        } else if name.eq_ignore_ascii_case("upgrade") {
            fields.websocket |=
                ascii_trimmed(value).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        }
    }

    if fields.content_lengths > 1 {
        return Err(Refusal::bad_request("more than one Content-Length"));
    }
    if fields.transfer_encodings > 1 {
        return Err(Refusal::bad_request("more than one Transfer-Encoding"));
    }
    if fields.hosts > 1 {
        return Err(Refusal::bad_request("more than one Host"));
    }
    if http11 && fields.hosts == 0 {
        return Err(Refusal::bad_request("HTTP/1.1 request without Host"));
    }
    let length = match fields.content_length {
        None => None,
        Some(value) => Some(content_length(value)?),
    };
    let chunked = match fields.transfer_encoding {
        None => false,
        Some(_) if !http11 => {
            return Err(Refusal::bad_request(
                "Transfer-Encoding in an HTTP/1.0 request",
            ))
        }
        Some(value) if ascii_trimmed(value).is_some_and(|v| v.eq_ignore_ascii_case("chunked")) => {
            true
        }
        Some(_) => return Err(Refusal::bad_request("Transfer-Encoding other than chunked")),
    };
    if chunked && length.is_some() {
        return Err(Refusal::bad_request(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if !http11 && method == Method::POST && length.is_none() {
        return Err(Refusal::bad_request("HTTP/1.0 POST without Content-Length"));
    }

    Ok(if chunked {
        BodyFraming::Chunked
    } else if fields.websocket {
        BodyFraming::UntilClose
    } else {
        match length {
            Some(0) | None if method == Method::CONNECT => BodyFraming::UntilClose,
            Some(0) | None => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        }
    })
}

/// A header value as visible ASCII, trimmed; `None` when it holds other bytes.
fn ascii_trimmed(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
    if !visible {
        return None;
    }
    std::str::from_utf8(value).ok().map(str::trim)
}

fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    let invalid = || Refusal::bad_request("invalid Content-Length");
    let text = ascii_trimmed(value).ok_or_else(invalid)?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse::<u64>().map_err(|_| invalid())
}

/// A chunk-size line (`line`, up to and including its `\n`): the chunk's size, or `None` when
/// actix-http would refuse it (or it is stricter than actix: at most 16 hex digits, no control
/// byte in an extension).
pub fn chunk_size(line: &[u8]) -> Option<u64> {
    let content = line.strip_suffix(b"\r\n")?;
    if !content.first().is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    if content
        .iter()
        .any(|&b| b != b'\t' && (b < b' ' || b == 0x7f))
    {
        return None;
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((used, size))) if used == line.len() => Some(size),
        _ => None,
    }
}

/// A line of a chunked body's trailer section (with its `\r\n`) that actix-http accepts.
pub fn trailer_line_ok(line: &[u8]) -> bool {
    line.strip_suffix(b"\r\n")
        .is_some_and(|content| !content.iter().any(|&b| b == b'\r' || b == b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &str) -> HeadCheck {
        check_head(head.as_bytes(), &LIMITS)
    }

    fn refused(head: &str) -> Refusal {
        match check(head) {
            HeadCheck::Refused(r) => r,
            other => panic!("{head:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_complete_head_gives_its_length_and_framing() {
        let head = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            check(&format!("{head}next")),
            HeadCheck::Complete {
                len: head.len(),
                body: BodyFraming::None
            }
        );
        let put = "PUT /api/cartridges HTTP/1.1\r\nHost: a\r\nContent-Length:  12 \r\n\r\n";
        assert!(matches!(
            check(put),
            HeadCheck::Complete {
                body: BodyFraming::Length(12),
                ..
            }
        ));
        let chunked = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n";
        assert!(matches!(
            check(chunked),
            HeadCheck::Complete {
                body: BodyFraming::Chunked,
                ..
            }
        ));
        let ws = "GET /x HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert!(matches!(
            check(ws),
            HeadCheck::Complete {
                body: BodyFraming::UntilClose,
                ..
            }
        ));
        let http10 = "GET / HTTP/1.0\r\n\r\n";
        assert!(matches!(check(http10), HeadCheck::Complete { .. }));
        assert_eq!(
            check("GET / HTTP/1.1\r\nHost: a\r\n"),
            HeadCheck::Incomplete
        );
        assert_eq!(check("\r\nGET / HT"), HeadCheck::Incomplete);
    }

    #[test]
    fn what_actix_refuses_is_refused_with_400() {
        for head in [
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
            "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\n\r\n",
        ] {
            let refusal = refused(head);
            assert_eq!(refusal.status, StatusCode::BAD_REQUEST, "{head:?}: {refusal:?}");
            assert!(!refusal.message.is_empty());
        }
    }

    #[test]
    fn limits_are_refused_with_431_and_414() {
        let many: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
        let refusal = refused(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n"));
        assert_eq!(refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(refusal.message, "more than 64 header fields");
        let sixty_three: String = (0..63).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(matches!(
            check(&format!("GET / HTTP/1.1\r\nHost: a\r\n{sixty_three}\r\n")),
            HeadCheck::Complete { .. }
        ));
        let big = "v".repeat(LIMITS.max_head_bytes);
        let refusal = refused(&format!("GET / HTTP/1.1\r\nHost: a\r\nX: {big}\r\n\r\n"));
        assert_eq!(refusal.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let long = "a".repeat(LIMITS.max_target_bytes);
        let refusal = refused(&format!("GET /{long} HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(refusal.status, StatusCode::URI_TOO_LONG);
        assert!(matches!(
            check(&format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", &long[1..])),
            HeadCheck::Complete { .. }
        ));
    }

    #[test]
    fn every_header_name_httparse_admits_is_a_header_name_for_actix() {
        for byte in 0..=255u8 {
            let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX".to_vec();
            head.push(byte);
            head.extend_from_slice(b": v\r\n\r\n");
            let mut slots = [httparse::EMPTY_HEADER; 4];
            let mut request = httparse::Request::new(&mut slots);
            if let Ok(httparse::Status::Complete(_)) = request.parse(&head) {
                for header in request.headers.iter() {
                    assert!(
                        actix_web::http::header::HeaderName::from_bytes(header.name.as_bytes())
                            .is_ok(),
                        "byte {byte}: {:?}",
                        header.name
                    );
                }
            }
        }
    }

    #[test]
    fn chunk_lines_are_checked_at_least_as_strictly_as_actix() {
        assert_eq!(chunk_size(b"1a\r\n"), Some(26));
        assert_eq!(chunk_size(b"0\r\n"), Some(0));
        assert_eq!(chunk_size(b"5;name=value\r\n"), Some(5));
        assert_eq!(chunk_size(b"5 ;x\r\n"), Some(5));
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b";x\r\n",
            b"5\n",
            b"5\r",
            b"5;\x01\r\n",
            b"5 6\r\n",
            b"11111111111111111\r\n",
        ] {
            assert_eq!(chunk_size(bad), None, "{bad:?}");
        }
        assert!(trailer_line_ok(b"X-Sum: 1\r\n"));
        assert!(!trailer_line_ok(b"X-Sum: 1\n"));
        assert!(!trailer_line_ok(b"X\rY\r\n"));
    }
}
