//! A connection wrapper below actix-http that checks every request head before actix-http
//! reads it, so that an oversized or malformed head is answered in the JSON error shape of
//! [`super::error`] instead of actix's empty-bodied 431/400 (which it writes before any of our
//! code runs and has no setting for); it also owns the wait for the first head (408), which
//! actix would answer with an empty body too.
//!
//! Reading: bytes from the client are held until the head they belong to is complete and
//! passes [`check_head`]; then the head and its body (by `Content-Length`, or by following the
//! chunked framing line by line) are handed on, and the next head is held again, so body bytes
//! are never taken for a head on a keep-alive connection. A refused head is never handed on:
//! actix-http sees the input end after the requests before it, finishes those, and shuts the
//! connection down; the refusal is written then, after their responses, with
//! `connection: close`. A broken chunked framing also ends the input there, without an answer
//! of ours: that request is already actix's, and its handler fails it (body incomplete) in the
//! JSON shape.
//!
//! Bounded: at most one head (limits in [`HeadLimits`]) plus one read is held; what the client
//! still sends after a refusal is drained up to [`MAX_DRAIN_BYTES`] so that closing does not
//! reset the connection before the client has read the answer.

use super::error::ApiError;
use super::head_check::{
    check_head, chunk_size, trailer_line_ok, BodyFraming, HeadCheck, HeadLimits, Refusal,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Bytes read from the connection at a time.
const READ_CHUNK: usize = 8 * 1024;

/// A partial head is parsed again when a line ends or this many bytes arrived since the last
/// parse (not on every byte: a head sent a byte at a time must not cost a parse per byte).
const REPARSE_BYTES: usize = 1024;

/// What is read and dropped after a refusal, at most, waiting for the client to stop sending.
pub const MAX_DRAIN_BYTES: usize = 1024 * 1024;

/// Where the next byte from the client falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Head,
    Body {
        remaining: u64,
    },
    ChunkSize,
    ChunkData {
        remaining: u64,
    },
    ChunkEnd,
    Trailers {
        seen: usize,
    },
    /// The body runs until the connection closes: no further head can follow.
    UntilClose,
    /// The chunked framing broke: the input ends here for actix-http.
    Stopped,
    /// A head was refused: the input ends here, the answer is written at shutdown.
    Refused,
}

/// Progress through the head being received, so that each byte is looked at once.
#[derive(Debug, Default)]
struct HeadScan {
    scanned: usize,
    lines: usize,
    /// Where the request line starts (after the empty lines a client may send first).
    request_line_start: Option<usize>,
    request_line_done: bool,
    parsed_up_to: usize,
}

/// The answer to a refused head and how far writing it got.
#[derive(Debug)]
struct Answer {
    bytes: Vec<u8>,
    written: usize,
    flushed: bool,
    write_closed: bool,
    drained: usize,
}

pub struct HeadGuard<IO> {
    io: IO,
    limits: HeadLimits,
    /// Bytes read from `io` and not yet handed on.
    pending: Vec<u8>,
    /// How many leading bytes of `pending` are checked and may be handed on; the rest starts
    /// at a position described by `framing`.
    released: usize,
    framing: Framing,
    head: HeadScan,
    /// Until the first head is complete; `None` once it is (or when not limited).
    first_head_timeout: Option<Duration>,
    first_head_deadline: Option<Pin<Box<Sleep>>>,
    eof: bool,
    answer: Option<Answer>,
}

impl<IO> HeadGuard<IO> {
    /// Guard `io`. `first_head_timeout` bounds the wait for the first request head (answered
    /// 408); later requests on the connection are bounded by actix-http's keep-alive timeout.
    pub fn new(io: IO, limits: HeadLimits, first_head_timeout: Option<Duration>) -> Self {
        HeadGuard {
            io,
            limits,
            pending: Vec::new(),
            released: 0,
            framing: Framing::Head,
            head: HeadScan::default(),
            first_head_timeout,
            first_head_deadline: None,
            eof: false,
            answer: None,
        }
    }

    /// Look at the bytes not yet checked, releasing what may be handed on.
    fn advance(&mut self) {
        loop {
            let available = self.pending.len() - self.released;
            match self.framing {
                Framing::Head => {
                    if available == 0 || !self.advance_head() {
                        return;
                    }
                }
                Framing::Body { remaining } => {
                    let left = self.release_body(remaining);
                    if left > 0 {
                        self.framing = Framing::Body { remaining: left };
                        return;
                    }
                    self.framing = Framing::Head;
                }
                Framing::ChunkData { remaining } => {
                    let left = self.release_body(remaining);
                    if left > 0 {
                        self.framing = Framing::ChunkData { remaining: left };
                        return;
                    }
                    self.framing = Framing::ChunkEnd;
                }
                Framing::ChunkSize => {
                    let Some(line) = self.next_line(self.limits.max_chunk_line_bytes) else {
                        return;
                    };
                    let Some(line) = line else {
                        return self.stop("chunk-size line too long");
                    };
                    self.framing = match chunk_size(&self.pending[line.clone()]) {
                        Some(0) => Framing::Trailers { seen: 0 },
                        Some(size) => Framing::ChunkData { remaining: size },
                        None => return self.stop("malformed chunk-size line"),
                    };
                    self.released = line.end;
                }
                Framing::ChunkEnd => {
                    if available < 2 {
                        return;
                    }
                    if &self.pending[self.released..self.released + 2] != b"\r\n" {
                        return self.stop("chunk data not followed by CRLF");
                    }
                    self.released += 2;
                    self.framing = Framing::ChunkSize;
                }
                Framing::Trailers { seen } => {
                    let budget = self.limits.max_trailer_bytes.saturating_sub(seen);
                    let Some(line) = self.next_line(budget) else {
                        return;
                    };
                    let Some(line) = line else {
                        return self.stop("trailer section too large");
                    };
                    let bytes = &self.pending[line.clone()];
                    if bytes == b"\r\n" {
                        self.framing = Framing::Head;
                    } else if trailer_line_ok(bytes) {
                        self.framing = Framing::Trailers {
                            seen: seen + bytes.len(),
                        };
                    } else {
                        return self.stop("malformed trailer line");
                    }
                    self.released = line.end;
                }
                Framing::UntilClose => {
                    self.released = self.pending.len();
                    return;
                }
                Framing::Stopped | Framing::Refused => return,
            }
        }
    }

    /// The next line (with its `\n`) among the unchecked bytes, within `max` bytes:
    /// `None` when more bytes are needed, `Some(None)` when no line ends within `max`.
    fn next_line(&self, max: usize) -> Option<Option<std::ops::Range<usize>>> {
        let rest = &self.pending[self.released..];
        match rest.iter().take(max).position(|&b| b == b'\n') {
            Some(i) => Some(Some(self.released..self.released + i + 1)),
            None if rest.len() >= max => Some(None),
            None => None,
        }
    }

    /// Release up to `remaining` body bytes; what is left of the body.
    fn release_body(&mut self, remaining: u64) -> u64 {
        let available = (self.pending.len() - self.released) as u64;
        let taken = available.min(remaining);
        // `taken` is at most the bytes held, so it fits a usize.
        self.released += taken as usize;
        remaining - taken
    }

    /// Check the head being received; true when it completed (and was released).
    fn advance_head(&mut self) -> bool {
        let head = &self.pending[self.released..];
        let scan = &mut self.head;
        let new = &head[scan.scanned..];
        let new_lines = new.iter().filter(|&&b| b == b'\n').count();
        if scan.request_line_start.is_none() {
            scan.request_line_start = new
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .map(|i| scan.scanned + i);
        }
        if let Some(start) = scan.request_line_start {
            scan.request_line_done =
                scan.request_line_done || head[start.max(scan.scanned)..].contains(&b'\n');
        }
        scan.lines += new_lines;
        let line_ended = new_lines > 0;
        scan.scanned = head.len();
        let limits = self.limits;
        if let Some(start) = scan.request_line_start {
            if !scan.request_line_done && head.len() - start > limits.max_request_line_bytes() {
                self.refuse(Refusal::target_too_long(&limits));
                return false;
            }
        }
        // The request line, the fields and the blank line, with room for a few empty lines
        // before the request line.
        if scan.lines > limits.max_headers + 4 {
            self.refuse(Refusal::too_many_headers(&limits));
            return false;
        }
        let parse =
            line_ended || scan.parsed_up_to == 0 || head.len() - scan.parsed_up_to >= REPARSE_BYTES;
        if parse {
            scan.parsed_up_to = head.len();
            match check_head(head, &limits) {
                HeadCheck::Incomplete => {}
                HeadCheck::Complete { len, body } => {
                    self.released += len;
                    self.head = HeadScan::default();
                    self.first_head_timeout = None;
                    self.first_head_deadline = None;
                    self.framing = match body {
                        BodyFraming::None => Framing::Head,
                        BodyFraming::Length(n) => Framing::Body { remaining: n },
                        BodyFraming::Chunked => Framing::ChunkSize,
                        BodyFraming::UntilClose => Framing::UntilClose,
                    };
                    return true;
                }
                HeadCheck::Refused(refusal) => {
                    self.refuse(refusal);
                    return false;
                }
            }
        }
        if head.len() > limits.max_head_bytes {
            self.refuse(Refusal::head_too_large(&limits));
        }
        false
    }

    fn refuse(&mut self, refusal: Refusal) {
        tracing::info!(
            status = refusal.status.as_u16(),
            reason = %refusal.message,
            "request head refused"
        );
        self.pending.truncate(self.released);
        self.framing = Framing::Refused;
        self.answer = Some(Answer {
            bytes: answer_bytes(&refusal),
            written: 0,
            flushed: false,
            write_closed: false,
            drained: 0,
        });
    }

    fn stop(&mut self, why: &'static str) {
        tracing::debug!(why, "chunked request body framing broken; ending the input");
        self.pending.truncate(self.released);
        self.framing = Framing::Stopped;
    }

    /// Whether the wait for the first head has run out (registering the wake-up if not).
    fn first_head_overdue(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(timeout) = self.first_head_timeout else {
            return false;
        };
        let deadline = self
            .first_head_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.first_head_timeout = None;
        self.first_head_deadline = None;
        self.refuse(Refusal::timed_out(timeout.as_secs().max(1)));
        true
    }
}

/// The HTTP/1.1 response to a refused head: the JSON error shape of every other error.
fn answer_bytes(refusal: &Refusal) -> Vec<u8> {
    let body = ApiError::new(refusal.status, refusal.message.clone()).body();
    // Cannot fail: a number and strings.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut bytes = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        refusal.status.as_u16(),
        refusal.status.canonical_reason().unwrap_or("Error"),
        json.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&json);
    bytes
}

impl<IO: AsyncRead + Unpin> AsyncRead for HeadGuard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.released > 0 {
                let n = this.released.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.drain(..n);
                this.released -= n;
                return Poll::Ready(Ok(()));
            }
            if this.eof || matches!(this.framing, Framing::Refused | Framing::Stopped) {
                // The end of the input as actix-http sees it.
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Pending => {
                    if this.framing == Framing::Head && this.first_head_overdue(cx) {
                        continue;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    // A partial head at the end is dropped, as actix-http drops it.
                    this.eof = true;
                }
                Poll::Ready(Ok(())) => {
                    this.pending.extend_from_slice(read.filled());
                    this.advance();
                }
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for HeadGuard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// actix-http is done writing: write the refusal (if any) after its responses, close, and
    /// drain what the client is still sending.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(answer) = this.answer.as_mut() else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        let mut io = Pin::new(&mut this.io);
        while answer.written < answer.bytes.len() {
            let n = ready!(io.as_mut().poll_write(cx, &answer.bytes[answer.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            answer.written += n;
        }
        if !answer.flushed {
            ready!(io.as_mut().poll_flush(cx))?;
            answer.flushed = true;
        }
        if !answer.write_closed {
            ready!(io.as_mut().poll_shutdown(cx))?;
            answer.write_closed = true;
        }
        while answer.drained < MAX_DRAIN_BYTES {
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match ready!(io.as_mut().poll_read(cx, &mut read)) {
                Ok(()) if !read.filled().is_empty() => answer.drained += read.filled().len(),
                _ => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::head_check::LIMITS;
    use super::*;
    use std::collections::VecDeque;
    use std::task::Waker;

    /// A connection whose client sends `input` in the given pieces, then closes (or, when
    /// `stalls`, sends nothing more and stays open).
    struct Script {
        input: VecDeque<Vec<u8>>,
        stalls: bool,
        written: Vec<u8>,
        shut_down: bool,
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match self.input.pop_front() {
                Some(mut piece) => {
                    let n = piece.len().min(buf.remaining());
                    buf.put_slice(&piece[..n]);
                    if n < piece.len() {
                        self.input.push_front(piece.split_off(n));
                    }
                    Poll::Ready(Ok(()))
                }
                None if self.stalls => Poll::Pending,
                None => Poll::Ready(Ok(())),
            }
        }
    }

    impl AsyncWrite for Script {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut_down = true;
            Poll::Ready(Ok(()))
        }
    }

    fn script(pieces: &[&[u8]], stalls: bool) -> Script {
        Script {
            input: pieces.iter().map(|p| p.to_vec()).collect(),
            stalls,
            written: Vec::new(),
            shut_down: false,
        }
    }

    fn guard(pieces: &[&[u8]]) -> HeadGuard<Script> {
        HeadGuard::new(script(pieces, false), LIMITS, None)
    }

    /// Everything actix-http would read, in reads of `size` bytes.
    fn read_all(guard: &mut HeadGuard<Script>, size: usize) -> Vec<u8> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        loop {
            let mut space = vec![0u8; size];
            let mut buf = ReadBuf::new(&mut space);
            match Pin::new(&mut *guard).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return out,
                Poll::Ready(Ok(())) => out.extend_from_slice(buf.filled()),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// What the client receives from the guard itself when actix-http shuts down (a client
    /// that stays open keeps the drain pending: actix-http's disconnect timeout ends it).
    fn shut_down(guard: &mut HeadGuard<Script>) -> String {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut *guard).poll_shutdown(&mut cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending if guard.io.stalls => {}
            other => panic!("shutdown: {other:?}"),
        }
        assert!(guard.io.shut_down);
        String::from_utf8(guard.io.written.clone()).expect("UTF-8 answer")
    }

    fn json_of(answer: &str) -> serde_json::Value {
        let (_, body) = answer.split_once("\r\n\r\n").expect("head and body");
        serde_json::from_str(body).expect("JSON body")
    }

    #[test]
    fn keep_alive_requests_with_bodies_pass_unchanged_in_any_pieces() {
        let stream: &[u8] = b"PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 27\r\n\r\n\
GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
4;ext=1\r\nGET \r\nA\r\n/ HTTP/1.1\r\n0\r\nX-Sum: 1\r\n\r\n\
GET /last HTTP/1.1\r\nHost: h\r\n\r\n";
        for piece in [1, 2, 3, 7, 64, stream.len()] {
            let pieces: Vec<&[u8]> = stream.chunks(piece).collect();
            for read_size in [1, 5, 4096] {
                let mut g = guard(&pieces);
                assert_eq!(read_all(&mut g, read_size), stream, "pieces of {piece}");
                assert_eq!(g.framing, Framing::Head);
                assert_eq!(shut_down(&mut g), "", "no answer of ours");
            }
        }
    }

    #[test]
    fn a_bad_head_after_good_requests_ends_the_input_there_and_is_answered_last() {
        let good: &[u8] = b"PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nBAD\r\n";
        let mut g = guard(&[
            good,
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ]);
        assert_eq!(
            read_all(&mut g, 4096),
            good,
            "the body that looks like a head passed"
        );
        let answer = shut_down(&mut g);
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("content-type: application/json\r\n"),
            "{answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        let body = json_of(&answer);
        assert_eq!(body["status"], 400);
        assert_eq!(body["message"], "malformed request head: invalid token");
    }

    #[test]
    fn oversized_heads_are_refused_before_they_are_held_whole() {
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(100_000));
        let mut g = guard(&[long_target.as_bytes()]);
        assert!(read_all(&mut g, 4096).is_empty());
        assert!(g.pending.len() < 2 * LIMITS.max_target_bytes, "bounded");
        let answer = shut_down(&mut g);
        assert!(
            answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"),
            "{answer}"
        );
        assert_eq!(json_of(&answer)["status"], 414);

        let big_value = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "v".repeat(200 * 1024)
        );
        let mut g = guard(&[big_value.as_bytes()]);
        assert!(read_all(&mut g, 4096).is_empty());
        let body = json_of(&shut_down(&mut g));
        assert_eq!(body["status"], 431);
        assert_eq!(body["message"], "request head larger than 65536 bytes");

        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
        let pieces: Vec<&[u8]> = many.as_bytes().chunks(3).collect();
        let mut g = guard(&pieces);
        assert!(read_all(&mut g, 4096).is_empty());
        assert_eq!(
            json_of(&shut_down(&mut g))["message"],
            "more than 64 header fields"
        );
    }

    #[test]
    fn broken_chunk_framing_ends_the_input_without_an_answer() {
        let head: &[u8] =
            b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        for broken in [&b"zz\r\n"[..], b"3\r\nabcXY", b"0\r\nX\nY\r\n\r\n"] {
            let mut g = guard(&[head, broken, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"]);
            let read = read_all(&mut g, 4096);
            assert!(read.starts_with(head) && read.len() <= head.len() + broken.len());
            assert_eq!(g.framing, Framing::Stopped, "{broken:?}");
            assert_eq!(shut_down(&mut g), "");
        }
        let endless_size_line = format!(
            "{head_str}{}",
            "1".repeat(10_000),
            head_str = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut g = guard(&[endless_size_line.as_bytes()]);
        read_all(&mut g, 4096);
        assert_eq!(g.framing, Framing::Stopped);
    }

    #[test]
    fn an_upgraded_connection_is_passed_through_to_its_end() {
        let stream: &[u8] = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGARBAGE\r\n\r\n";
        let mut g = guard(&[stream]);
        assert_eq!(read_all(&mut g, 4096), stream);
    }

    /// xorshift64: reproducible inputs without a property-testing dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn mangled_input_in_any_pieces_never_panics_and_only_a_prefix_passes() {
        let seeds: [&[u8]; 3] = [
            b"PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nab\r\n0\r\nT: 1\r\n\r\n",
            b"\r\nGET /?q=1 HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x00\xff",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let mut input = seeds[round % seeds.len()].to_vec();
            for _ in 0..rng.below(4) {
                let at = rng.below(input.len());
                match rng.below(3) {
                    0 => input[at] = rng.next() as u8,
                    1 => input.insert(at, b"\r\n:; 0\x00"[rng.below(7)]),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            let mut pieces = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(1 + rng.below(rest.len().min(40)));
                pieces.push(piece);
                rest = tail;
            }
            let mut g = guard(&pieces);
            let passed = read_all(&mut g, 1 + rng.below(64));
            assert!(input.starts_with(&passed), "round {round}: {input:?}");
            let answer = shut_down(&mut g);
            if !answer.is_empty() {
                assert!(json_of(&answer)["status"].is_u64(), "{answer}");
            }
        }
    }

    #[tokio::test]
    async fn a_first_head_that_does_not_arrive_in_time_is_answered_408() {
        let slow = script(&[b"GET /healthz HT"], true);
        let mut g = HeadGuard::new(slow, LIMITS, Some(Duration::from_millis(50)));
        let mut space = [0u8; 64];
        let mut buf = ReadBuf::new(&mut space);
        std::future::poll_fn(|cx| Pin::new(&mut g).poll_read(cx, &mut buf))
            .await
            .expect("read");
        assert!(buf.filled().is_empty(), "the input ends");
        let body = json_of(&shut_down(&mut g));
        assert_eq!(body["status"], 408, "{body}");
        assert_eq!(body["message"], "no complete request head within 1 s");
    }
}
