//! Request heads that actix-http would answer itself with an empty body (too large, too many
//! fields, a target too long, malformed) are answered by the real `alto` in the JSON error
//! shape, over raw connections; keep-alive connections with bodies (Content-Length and
//! chunked) still carry several requests; the same holds over TLS.

mod common;

use base64::Engine;
use common::tls::TestPki;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP/1.1 response as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A refusal in the JSON error shape, with `connection: close`.
    fn assert_json_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), "application/json", "{self:?}");
        assert_eq!(self.header("connection"), "close", "{self:?}");
        let body = self.json();
        assert_eq!(body["status"], status, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle:?} not in {body}");
    }
}

/// The responses in `bytes` (each delimited by its Content-Length, as every answer here is).
fn responses(mut bytes: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8_lossy(&bytes[..end]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no content-length in {head}"));
        let body_start = end + 4;
        assert!(
            bytes.len() >= body_start + length,
            "truncated body after {head}"
        );
        out.push(Response {
            status,
            headers,
            body: bytes[body_start..body_start + length].to_vec(),
        });
        bytes = &bytes[body_start + length..];
    }
    out
}

/// Send `request` on a new connection and read until the server closes it. A write the
/// server stopped reading may fail: the answer is what counts.
fn exchange(addr: &str, request: &[u8]) -> Vec<Response> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let _ = stream.write_all(request);
    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .expect("the server answers and closes");
    responses(&received)
}

fn host_port(url: &str) -> String {
    url.split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(url)
        .to_string()
}

fn basic_admin() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    format!("Basic {token}")
}

#[test]
fn oversized_and_malformed_heads_are_answered_in_the_json_error_shape() {
    let dir = temp_dir("request-heads");
    let alto = Alto::start(&dir.join("data"), None);
    let addr = host_port(&alto.url);

    let long_url = format!(
        "GET /api/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let many_headers: String = (0..200).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let many_headers = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n");
    let huge_value = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "v".repeat(200 * 1024)
    );
    let cases: [(&str, &str, u16, &str); 7] = [
        ("a 100 KB URL", &long_url, 414, "request target longer than 16384 bytes"),
        ("200 header fields", &many_headers, 431, "more than 64 header fields"),
        ("a 200 KiB header value", &huge_value, 431, "request head larger than 65536 bytes"),
        ("a garbage request line", "GARBAGE\r\n\r\n", 400, "malformed request head"),
        (
            "a header line without a colon",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            400,
            "malformed request head",
        ),
        (
            "two Content-Length fields",
            "PUT /api/cartridges HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
            "more than one Content-Length",
        ),
        ("HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "without Host"),
    ];
    for (what, request, status, needle) in cases {
        let answers = exchange(&addr, request.as_bytes());
        assert_eq!(answers.len(), 1, "{what}: {answers:?}");
        answers[0].assert_json_error(status, needle);
    }

    // After good requests on the same connection, a bad head is answered after theirs.
    let answers = exchange(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
    );
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 400], "{answers:?}");
    assert_eq!(answers[0].json()["status"], "ok");
    answers[2].assert_json_error(400, "malformed request head");

    // A client that opens a connection and sends no complete head: 408, in the shape.
    let mut idle = TcpStream::connect(&addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    idle.write_all(b"GET /healthz HT").expect("partial head");
    let mut received = Vec::new();
    idle.read_to_end(&mut received).expect("answer and close");
    let answers = responses(&received);
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers[0].assert_json_error(408, "no complete request head within 5 s");

    let (status, _) = alto.admin().get("/healthz");
    assert_eq!(status, 200, "still serving");
    alto.stop();
}

#[test]
fn keep_alive_connections_with_bodies_carry_several_requests() {
    let dir = temp_dir("request-heads-keepalive");
    let alto = Alto::start(&dir.join("data"), None);
    let addr = host_port(&alto.url);
    let auth = basic_admin();
    let cartridge = web_cartridge(&["mock"]);
    // The update's body in chunks of 100 bytes, with an extension and a trailer.
    let updated = cartridge.replace(
        "<description>e2e tests</description>",
        "<description>chunked</description>",
    );
    let chunked: String = updated
        .as_bytes()
        .chunks(100)
        .map(|c| format!("{:x};n=1\r\n{}\r\n", c.len(), String::from_utf8_lossy(c)))
        .collect();
    let requests = format!(
        "POST /api/cartridges HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{cartridge}\
PUT /api/cartridges/web HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}0\r\nX-Trailer: t\r\n\r\n\
GET /api/cartridges/web HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
        cartridge.len()
    );
    let answers = exchange(&addr, requests.as_bytes());
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 200, 200], "{answers:?}");
    let described = answers[2].json();
    assert_eq!(described["description"], "chunked", "{described}");

    // A broken chunked framing ends the input there: that request fails as an incomplete
    // body, in the JSON shape, and nothing after it is read.
    let requests = format!(
        "PUT /api/cartridges/web HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<cart\r\nnot-a-size\r\n\r\n\
GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let answers = exchange(&addr, requests.as_bytes());
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].status, 400, "{answers:?}");
    assert_eq!(answers[0].json()["status"], 400);
    alto.stop();
}

#[test]
fn over_tls_a_head_too_large_is_answered_in_the_json_shape_and_cookies_are_secure() {
    let dir = temp_dir("request-heads-tls");
    let pki = TestPki::create(&dir.join("pki"));
    let db = fresh_postgres_database("request_heads_tls");
    let alto = Alto::start_with(
        &dir.join("data"),
        Some(&db),
        StartOptions {
            serve: true,
            args: vec![
                "--tls-cert".into(),
                pki.cert.display().to_string(),
                "--tls-key".into(),
                pki.key.display().to_string(),
            ],
            ..StartOptions::default()
        },
    );
    assert!(alto.url.starts_with("https://"), "{}", alto.url);
    let pem = std::fs::read(&pki.ca).expect("read ca.pem");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("TLS client");

    let response = client
        .get(format!("{}/healthz", alto.url))
        .header("X-Big", "v".repeat(100 * 1024))
        .send()
        .expect("an answer over TLS");
    assert_eq!(response.status().as_u16(), 431);
    let body: Value = response.json().expect("JSON error body");
    assert_eq!(body["status"], 431, "{body}");

    let response = client
        .get(format!("{}/api/{}", alto.url, "a".repeat(20 * 1024)))
        .send()
        .expect("an answer over TLS");
    assert_eq!(response.status().as_u16(), 414);
    let body: Value = response.json().expect("JSON error body");
    assert_eq!(body["status"], 414, "{body}");

    // The console's session cookie is Secure over TLS (the connection is known to be secure).
    let response = client
        .post(format!("{}/console/login", alto.url))
        .header("Origin", alto.url.as_str())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("login=admin&password={ADMIN_PASSWORD}"))
        .send()
        .expect("console login");
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    alto.stop();
}

#[test]
fn the_peer_address_still_reaches_login_throttling() {
    // Past 20 failures from one address (each for a different login, so no login's own
    // limit applies) the address is throttled: only the peer address tells them apart.
    let dir = temp_dir("request-heads-peer");
    let alto = Alto::start(&dir.join("data"), None);
    let mut statuses = Vec::new();
    for i in 0..22 {
        let (status, body) = alto
            .api(&format!("nobody-{i}"), "wrong")
            .get("/api/clusters");
        assert_eq!(body["status"], status, "{body}");
        statuses.push(status);
    }
    assert_eq!(&statuses[..20], &[401; 20], "{statuses:?}");
    assert_eq!(statuses[21], 429, "{statuses:?}");
    alto.stop();
}
