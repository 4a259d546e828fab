//! The hostile server's wire: a real loopback socket (tokio `TcpListener` on 127.0.0.1:0), HTTP/1.1
//! written by hand so that an answer can misbehave at the byte level.
//!
//! It reads one request per connection, asks the [`World`] for the [`Reply`], and writes it as
//! the reply says: with its Content-Length (true or not) or chunked, at full speed, a few bytes
//! at a time, silent for a while, or cut. It counts the body bytes it managed to write before
//! the client hung up, the test's measure of what one answer could make the client take in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::clock::ClockWaits;
use super::faults::Silence;
use super::world::World;

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How an answer's bytes go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    Steady,
    /// `piece` bytes of the body every `every`.
    Trickle {
        piece: usize,
        every: Duration,
    },
    /// Silent after `after` body bytes.
    StallAt {
        after: u64,
        silence: Silence,
    },
    /// Silent before the status line.
    StallHead {
        silence: Silence,
    },
    /// The connection closed after `after` body bytes.
    CutAt {
        after: u64,
    },
}

/// An answer, as it is to be written.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Bytes of `filler_unit`, repeated, after the body.
    pub filler: u64,
    pub filler_unit: &'static [u8],
    pub chunked: bool,
    /// The Content-Length declared, when it is not the body's.
    pub declared: Option<u64>,
    pub pace: Pace,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
            filler: 0,
            filler_unit: b" ",
            chunked: false,
            declared: None,
            pace: Pace::Steady,
        }
    }

    pub fn len(&self) -> u64 {
        self.body.len() as u64 + self.filler
    }
}

/// The most of a request head read.
const MAX_HEAD: usize = 64 << 10;

/// Reads one request; `None` if the client closed or sent something else than HTTP/1.1.
async fn read_request(rd: &mut OwnedReadHalf) -> Option<Request> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let n = rd.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length.min(MAX_HEAD) {
        let mut chunk = [0u8; 4096];
        let n = rd.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Ends when the client has hung up (or sends anything more, which it never does).
async fn client_gone(rd: &mut OwnedReadHalf) {
    let mut byte = [0u8; 1];
    let _ = rd.read(&mut byte).await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Whatever",
    }
}

/// The next piece of the reply's body bytes from `at`, at most `max` long.
fn piece(reply: &Reply, at: u64, max: usize) -> Bytes {
    let body_len = reply.body.len() as u64;
    if at < body_len {
        let end = (at + max as u64).min(body_len);
        return reply.body.slice(at as usize..end as usize);
    }
    let left = reply.len().saturating_sub(at);
    let unit = reply.filler_unit;
    let offset = ((at - body_len) % unit.len() as u64) as usize;
    let take = (max as u64).min(left) as usize;
    let mut out = Vec::with_capacity(take);
    while out.len() < take {
        let from = if out.is_empty() { offset } else { 0 };
        let n = (take - out.len()).min(unit.len() - from);
        out.extend_from_slice(&unit[from..from + n]);
    }
    Bytes::from(out)
}

/// Writes `reply`; returns the body bytes written before it ended or the client hung up.
async fn write_reply(
    wr: &mut OwnedWriteHalf,
    rd: &mut OwnedReadHalf,
    reply: &Reply,
    clock: &ClockWaits,
) -> u64 {
    if let Pace::StallHead { silence } = reply.pace
        && !clock.silent(silence, client_gone(rd)).await
    {
        return 0;
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let total = reply.len();
    let body_end = match (reply.chunked, reply.declared) {
        (true, _) => {
            head.push_str("transfer-encoding: chunked\r\n");
            total
        }
        (false, declared) => {
            let declared = declared.unwrap_or(total);
            head.push_str(&format!("content-length: {declared}\r\n"));
            declared.min(total)
        }
    };
    head.push_str("connection: close\r\n\r\n");
    if wr.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut at = 0u64;
    let mut stalled = false;
    while at < body_end {
        let mut max = 64 << 10;
        match reply.pace {
            Pace::Trickle { piece, every } => {
                if at > 0 && !clock.silent(Some(every), client_gone(rd)).await {
                    return at;
                }
                max = piece;
            }
            Pace::StallAt { after, silence } if !stalled => {
                if at >= after {
                    stalled = true;
                    if !clock.silent(silence, client_gone(rd)).await {
                        return at;
                    }
                } else {
                    max = max.min((after - at) as usize);
                }
            }
            Pace::CutAt { after } => {
                if at >= after {
                    return at;
                }
                max = max.min((after - at) as usize);
            }
            _ => {}
        }
        let bytes = piece(reply, at, max.min((body_end - at) as usize));
        let sent = if reply.chunked {
            let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
            framed.extend_from_slice(&bytes);
            framed.extend_from_slice(b"\r\n");
            wr.write_all(&framed).await
        } else {
            wr.write_all(&bytes).await
        };
        if sent.is_err() {
            return at;
        }
        at += bytes.len() as u64;
    }
    if let Pace::CutAt { after } = reply.pace
        && at >= after
    {
        return at;
    }
    if reply.chunked {
        let _ = wr.write_all(b"0\r\n\r\n").await;
    }
    let _ = wr.shutdown().await;
    at
}

/// The hostile server: its address, and the world it answers from.
pub struct HostileServer {
    pub base: String,
    pub world: Arc<Mutex<World>>,
}

impl HostileServer {
    /// Binds 127.0.0.1:0 and serves `world` until the runtime ends.
    pub async fn start(world: World, clock: Arc<ClockWaits>) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("loopback");
        let port = listener.local_addr().expect("bound").port();
        let world = Arc::new(Mutex::new(world));
        world.lock().expect("world").set_port(port);
        let (served, waits) = (Arc::clone(&world), Arc::clone(&clock));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, Arc::clone(&served), Arc::clone(&waits)));
            }
        });
        HostileServer {
            base: format!("http://127.0.0.1:{port}"),
            world,
        }
    }
}

async fn serve(socket: TcpStream, world: Arc<Mutex<World>>, clock: Arc<ClockWaits>) {
    let (mut rd, mut wr) = socket.into_split();
    let Some(request) = read_request(&mut rd).await else {
        return;
    };
    clock.request_arrived();
    let (reply, answer, backoff) = world.lock().expect("world").answer(&request);
    let written = write_reply(&mut wr, &mut rd, &reply, &clock).await;
    world.lock().expect("world").wrote(answer, written);
    if let Some(up_to) = backoff {
        clock.client_backs_off(up_to);
    }
}
