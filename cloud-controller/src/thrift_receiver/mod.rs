//! The Thrift health receiver: the WSO2 data bridge's secure event transmission service
//! (`connect`/`defineStream`/`publish`/`disconnect` over TLS, binary protocol, unframed), to
//! which Stratos 4.1 agents send their health statistics as they did to CEP. Each
//! `cartridge_agent_health_stats` event (one metric per event) is handed to a [`StatSink`],
//! the same path bus stats take (docs/PROTOCOL.md).
//!
//! Blocking I/O on a thread per connection (the `thrift` crate's processors are
//! synchronous), at most [`ReceiverLimits::max_connections`] at once. Every call is bounded:
//! its bytes on the wire, each string and list in it (the crate's `TConfiguration`), the
//! events in a bundle and the attributes of a stream; an idle connection is closed.

pub mod auth;
pub mod cli;
#[allow(clippy::all, dead_code)]
pub mod databridge;
mod handler;
pub mod sessions;
pub mod stream;
pub mod tls;

pub use auth::{Authenticator, PlatformLogin, Principal};
pub use handler::{health_stat, HEALTH_STREAM};

use databridge::ThriftSecureEventTransmissionServiceSyncProcessor;
use messaging::events::MemberHealthStatsEvent;
use openssl::ssl::{SslAcceptor, SslStream};
use sessions::Sessions;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thrift::protocol::{TBinaryInputProtocol, TBinaryOutputProtocol};
use thrift::server::TProcessor;
use thrift::transport::{TBufferedReadTransport, TBufferedWriteTransport};
use thrift::TConfiguration;

/// Where decoded health stats go.
pub trait StatSink: Send + Sync {
    /// Apply `stat`; `false` when no live member of the stat's cluster has its member id (the
    /// stat is then dropped).
    fn apply(&self, stat: &MemberHealthStatsEvent) -> bool;
}

/// What the receiver has done since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Stats handed to the sink and applied.
    pub applied: AtomicU64,
    /// Stats for no live member of their cluster.
    pub refused: AtomicU64,
    /// Events of other streams or descriptions.
    pub ignored: AtomicU64,
    /// Bundles that did not decode.
    pub malformed: AtomicU64,
    pub logins_refused: AtomicU64,
    /// Connections closed for a call over the size limit or not Thrift at all.
    pub protocol_errors: AtomicU64,
    /// Connections turned away because the receiver had as many as it takes.
    pub connections_refused: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
pub struct ReceiverLimits {
    pub max_connections: usize,
    /// The most bytes one call may take on the wire.
    pub max_message_bytes: usize,
    /// A connection that sends nothing this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        ReceiverLimits {
            max_connections: 256,
            max_message_bytes: 256 * 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// A running receiver.
pub struct ThriftReceiver {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

impl ThriftReceiver {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Serve on `listener` until the process ends.
    pub fn spawn(
        listener: TcpListener,
        acceptor: SslAcceptor,
        auth: Arc<dyn Authenticator>,
        sink: Arc<dyn StatSink>,
        limits: ReceiverLimits,
    ) -> io::Result<ThriftReceiver> {
        let addr = listener.local_addr()?;
        let config = protocol_limits(&limits)?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            acceptor,
            auth,
            sink,
            sessions: Arc::new(Sessions::default()),
            counters: counters.clone(),
            limits,
            config,
            active: AtomicUsize::new(0),
        });
        std::thread::Builder::new()
            .name("thrift-accept".into())
            .spawn(move || accept_loop(listener, shared))?;
        tracing::info!(%addr, "thrift health receiver listening");
        Ok(ThriftReceiver { addr, counters })
    }
}

struct Shared {
    acceptor: SslAcceptor,
    auth: Arc<dyn Authenticator>,
    sink: Arc<dyn StatSink>,
    sessions: Arc<Sessions>,
    counters: Arc<Counters>,
    limits: ReceiverLimits,
    config: TConfiguration,
    active: AtomicUsize,
}

/// Every string, container and message the protocol reads, bounded by `limits`.
fn protocol_limits(limits: &ReceiverLimits) -> io::Result<TConfiguration> {
    TConfiguration::builder()
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes))
        .max_string_size(Some(limits.max_message_bytes))
        .max_container_size(Some(16 * 1024))
        .max_recursion_depth(Some(16))
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "thrift receiver: accept failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.limits.max_connections {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            shared
                .counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let conn = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("thrift-conn".into())
            .spawn(move || {
                serve(stream, &conn);
                conn.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(error = %e, "thrift receiver: cannot start a connection thread");
        }
    }
}

fn serve(tcp: TcpStream, shared: &Shared) {
    let peer = tcp.peer_addr().ok();
    let timeouts = tcp
        .set_read_timeout(Some(shared.limits.idle_timeout))
        .and_then(|_| tcp.set_write_timeout(Some(Duration::from_secs(30))));
    if timeouts.is_err() {
        return;
    }
    let tls = match shared.acceptor.accept(tcp) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::debug!(?peer, error = %e, "thrift receiver: TLS handshake failed");
            return;
        }
    };
    let conn = Rc::new(RefCell::new(Limited {
        inner: tls,
        read: 0,
        limit: shared.limits.max_message_bytes,
    }));
    let mut input = TBinaryInputProtocol::with_config(
        TBufferedReadTransport::new(Half(conn.clone())),
        false,
        shared.config.clone(),
    );
    let mut output =
        TBinaryOutputProtocol::new(TBufferedWriteTransport::new(Half(conn.clone())), true);
    let processor = ThriftSecureEventTransmissionServiceSyncProcessor::new(handler::Handler {
        auth: shared.auth.clone(),
        sessions: shared.sessions.clone(),
        sink: shared.sink.clone(),
        counters: shared.counters.clone(),
    });
    loop {
        conn.borrow_mut().read = 0;
        if let Err(e) = processor.process(&mut input, &mut output) {
            tracing::trace!(?peer, error = %e, "thrift receiver: connection ends");
            if !is_end_of_connection(&e) {
                shared
                    .counters
                    .protocol_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?peer, error = %e, "thrift receiver: closing the connection");
            }
            return;
        }
    }
}

fn is_end_of_connection(e: &thrift::Error) -> bool {
    matches!(e, thrift::Error::Transport(t)
        if t.kind == thrift::TransportErrorKind::EndOfFile)
}

/// The TLS stream, counting what one call reads so that a call over the limit ends the
/// connection before it is buffered whole.
struct Limited {
    inner: SslStream<TcpStream>,
    read: usize,
    limit: usize,
}

/// One side of the connection for the protocol's transports (both on this thread).
struct Half(Rc<RefCell<Limited>>);

impl Read for Half {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut conn = self.0.borrow_mut();
        if conn.read >= conn.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("call larger than {} bytes", conn.limit),
            ));
        }
        let room = (conn.limit - conn.read).min(buf.len());
        let n = conn.inner.read(&mut buf[..room])?;
        conn.read += n;
        Ok(n)
    }
}

impl Write for Half {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().inner.flush()
    }
}
