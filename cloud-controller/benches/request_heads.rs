//! What the request-head guard costs: keep-alive `GET /healthz` requests per second through
//! the REST API's server (`api::server`: actix-http below a `HeadGuard`) against actix-web's
//! own `HttpServer` serving the same application, in the same run, one worker each, with a
//! minimal head and with a 3 KiB one (32 fields of 100 bytes). Rounds alternate between the
//! two servers so that load beside the bench weighs on both alike; the best round of each
//! counts.
//!
//! `cargo bench -p cloud-controller --bench request_heads` (`ALTO_BENCH_SECONDS`, default 2
//! per round; `ALTO_BENCH_ROUNDS`, default 3; 8 client connections).

use actix_web::{web, App, HttpResponse, HttpServer};
use cloud_controller::api::server::{self, Settings};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;

fn app() -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new().route(
        "/healthz",
        web::get().to(|| async { HttpResponse::Ok().body("ok") }),
    )
}

/// Read one response whose body is `ok` (what the application answers).
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    buf.clear();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if buf.len() >= end + 4 + 2 {
                assert!(buf.starts_with(b"HTTP/1.1 200"), "{buf:?}");
                return;
            }
        }
        let n = stream.read(&mut chunk).expect("read response");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Requests per second of `CLIENTS` keep-alive connections sending `request` for `seconds`.
fn throughput(addr: SocketAddr, request: &[u8], seconds: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = request.to_vec();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut buf = Vec::new();
                let mut done = 0u64;
                while Instant::now() < deadline {
                    stream.write_all(&request).expect("write request");
                    read_response(&mut stream, &mut buf);
                    done += 1;
                }
                done
            })
        })
        .collect();
    let done: u64 = clients.into_iter().map(|c| c.join().expect("client")).sum();
    done as f64 / seconds
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seconds: f64 = env_or("ALTO_BENCH_SECONDS", 2.0);
    let rounds: usize = env_or("ALTO_BENCH_ROUNDS", 3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let settings = Settings {
            name: "bench-guarded",
            workers: 1,
            shutdown_timeout_secs: 1,
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let (guarded, guarded_addr) = server::serve(listener, None, settings, app).expect("serve");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let reference_addr = listener.local_addr().expect("addr");
        let reference = HttpServer::new(app)
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
        let (guarded_handle, reference_handle) = (guarded.handle(), reference.handle());
        tokio::spawn(guarded);
        tokio::spawn(reference);

        let fields: String = (0..32)
            .map(|i| format!("X-Field-{i:02}: {}\r\n", "v".repeat(86)))
            .collect();
        let heads = [
            (
                "minimal head",
                "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n".to_string(),
            ),
            (
                "3 KiB head",
                format!("GET /healthz HTTP/1.1\r\nHost: bench\r\n{fields}\r\n"),
            ),
        ];
        println!("| head | guarded (api::server) | reference (HttpServer) | ratio |");
        println!("|---|---|---|---|");
        for (what, request) in &heads {
            let (mut best_guarded, mut best_reference) = (0f64, 0f64);
            for _ in 0..rounds {
                let request = request.clone();
                let (g, r) = tokio::task::spawn_blocking(move || {
                    let g = throughput(guarded_addr, request.as_bytes(), seconds);
                    let r = throughput(reference_addr, request.as_bytes(), seconds);
                    (g, r)
                })
                .await
                .expect("round");
                best_guarded = best_guarded.max(g);
                best_reference = best_reference.max(r);
            }
            println!(
                "| {what} ({} bytes) | {best_guarded:.0}/s | {best_reference:.0}/s | {:.2} |",
                request.len(),
                best_guarded / best_reference
            );
        }
        guarded_handle.stop(false).await;
        reference_handle.stop(false).await;
    });
}
