//! The HTTP server of the REST API and of `--metrics-listen`, built from actix-server and
//! actix-http as actix-web's `HttpServer` builds it (its settings are kept: worker count, no
//! signal handlers, shutdown timeout, keep-alive, peer address, TLS from [`crate::tls`] with
//! HTTP/1.1 only), with one difference `HttpServer` cannot make: every accepted connection,
//! after TLS, is wrapped in a [`HeadGuard`], so that request heads actix-http would answer
//! with an empty body are answered in the JSON error shape.

use super::head_check::LIMITS;
use super::head_guard::HeadGuard;
use actix_http::body::MessageBody;
use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Request, Response};
use actix_server::{GracefulShutdownSignal, Server};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_tls::accept::TlsError;
use actix_web::dev::AppConfig;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How long a client has for its first request head (what `HttpServer` gives it), answered
/// 408 by the guard; later requests are bounded by the keep-alive timeout.
pub const FIRST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection being closed may take to go (`HttpServer`'s default).
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What differs between the servers built here.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Names the listener in actix-server's logs.
    pub name: &'static str,
    pub workers: usize,
    /// Seconds a graceful stop waits for requests in flight.
    pub shutdown_timeout_secs: u64,
}

/// Serve the application `factory` makes (one per worker) on `listener`, over TLS when `tls`
/// is given. Returns the server, to be awaited or stopped through its handle, and the address
/// bound.
pub fn serve<F, I, S, B>(
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    settings: Settings,
    factory: F,
) -> std::io::Result<(Server, SocketAddr)>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = Server::build()
        .workers(settings.workers)
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs);
    let shutdown = builder.graceful_shutdown_signal();
    let name = format!("{}-{addr}", settings.name);
    let builder = match tls {
        None => builder.listen(name, listener, move || {
            let http = http1(&factory, false, addr, shutdown.clone());
            fn_service(|tcp: TcpStream| async move {
                let peer = tcp.peer_addr().ok();
                Ok::<_, DispatchError>((guard(tcp), peer))
            })
            .and_then(http)
        })?,
        Some(config) => {
            // The acceptor takes the configuration by value; the Arc only shares it with the
            // caller.
            let config = (*config).clone();
            builder.listen(name, listener, move || {
                let http = http1(&factory, true, addr, shutdown.clone());
                Acceptor::new(config.clone())
                    .map_err(TlsError::into_service_error)
                    .map(|tls: TlsStream<TcpStream>| {
                        let peer = tls.get_ref().0.peer_addr().ok();
                        (guard(tls), peer)
                    })
                    .and_then(http.map_err(TlsError::Service))
            })?
        }
    };
    Ok((builder.run(), addr))
}

fn guard<IO>(io: IO) -> HeadGuard<IO> {
    HeadGuard::new(io, LIMITS, Some(FIRST_HEAD_TIMEOUT))
}

/// actix-http's HTTP/1 service over guarded connections, with `HttpServer`'s settings.
fn http1<IO, F, I, S, B>(
    factory: &F,
    secure: bool,
    addr: SocketAddr,
    shutdown: GracefulShutdownSignal,
) -> impl ServiceFactory<
    (HeadGuard<IO>, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let app = factory()
        .into_factory()
        .map_err(|err| err.into().error_response());
    // What `connection_info()` falls back on (the console's cookies are `Secure` over TLS):
    // the constructor `HttpServer` and actix-test use, public but hidden; a rename breaks the
    // build, not the behaviour.
    let app_config = AppConfig::__priv_test_new(secure, addr.to_string(), addr);
    let mut builder = HttpService::build()
        .keep_alive(KeepAlive::default())
        // The guard answers a slow first head (408 in the JSON shape) instead.
        .client_request_timeout(Duration::ZERO)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        // The guard ends the input at a refused head and answers when actix-http has
        // finished the requests before it: actix must keep writing after the input ends.
        .h1_allow_half_closed(true)
        .local_addr(addr)
        .graceful_shutdown_signal(move || {
            let shutdown = shutdown.clone();
            async move { shutdown.notified().await }
        });
    if secure {
        builder = builder.secure();
    }
    builder.h1(map_config(app, move |()| app_config.clone()))
}
