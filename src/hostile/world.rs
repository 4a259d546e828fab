//! The hostile Fauna's world: an honest model of the Account API's log requests and of the file
//! host behind their presigned URLs, and, on every answer, the misbehaviour the plan draws.
//!
//! It keeps what the invariants need to judge a run: every version of a file it served (and
//! whether it was a valid log file of this window), every secret it minted (the presigned
//! URLs' signatures and credentials), the bytes each answer managed to write, and what the
//! client did that it never should (the account key sent to the file host).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use fastrand::Rng;

use super::faults::Fault;
use super::files::{self, Shape};
use super::grammar::{Channel, Class, Outcome, Plan};
use super::server::{Pace, Reply, Request};

mod api;
mod host;

/// The window the export asks for, and the day before it (another request's).
pub const START: &str = "2026-01-10T00:00:00Z";
pub const END: &str = "2026-01-11T00:00:00Z";
const OTHER_START: &str = "2026-01-09T00:00:00Z";
const DAY: &str = "2026-01-10";

/// One version of a file the host served.
pub struct Version {
    pub bytes: Bytes,
    /// A file of this window's requests (not another request's).
    pub ours: bool,
    /// Its records, when it is a valid log file; else why not.
    pub records: Result<u64, String>,
    etag: String,
    last_modified: String,
    pub what: String,
}

/// A log request as Fauna keeps it.
struct LogRequest {
    id: String,
    ours: bool,
    polls_left: u32,
    outcome: Outcome,
    /// Presigned URL generations: each one's secrets.
    urls: Vec<[String; 3]>,
    version: usize,
}

/// One answer: what was asked and drawn, and what got written.
pub struct Answer {
    pub line: String,
    /// The misbehaviour it drew: what it says, how it is delivered.
    pub faults: Vec<Fault>,
    /// An Account API answer (else the file host's).
    pub api: bool,
    /// The driver's invocation it came in.
    pub invocation: u32,
    /// Counts for the read bound: not a file body that the copy streams into parts.
    pub bounded: bool,
    pub planned: u64,
    pub written: u64,
}

/// How the client retries, so the server knows how long it may back off.
#[derive(Debug, Clone, Copy)]
pub struct ClientPatience {
    pub max_delay: Duration,
    pub max_retry_after: Duration,
}

pub struct World {
    pub plan: Plan,
    rng: Rng,
    port: u16,
    key: String,
    patience: ClientPatience,
    requests: Vec<LogRequest>,
    tokens: HashMap<String, usize>,
    pub versions: Vec<Version>,
    api_calls: u32,
    file_calls: u32,
    /// The driver's invocation (step) count.
    pub invocation: u32,
    pub answers: Vec<Answer>,
    /// The faults the answer being made drew.
    drawn: Vec<Fault>,
    /// Every secret of every presigned URL minted.
    pub secrets: Vec<String>,
    /// What the client did that it never should.
    pub wrongs: Vec<String>,
}

impl World {
    pub fn new(plan: Plan, key: &str, patience: ClientPatience) -> World {
        let mut world = World {
            rng: Rng::with_seed(plan.seed ^ 0x5eed),
            plan,
            port: 0,
            key: key.to_owned(),
            patience,
            requests: Vec::new(),
            tokens: HashMap::new(),
            versions: Vec::new(),
            api_calls: 0,
            file_calls: 0,
            invocation: 1,
            answers: Vec::new(),
            drawn: Vec::new(),
            secrets: Vec::new(),
            wrongs: Vec::new(),
        };
        let version = world.new_version(Shape::Good, false, "another request's file");
        world.requests.push(LogRequest {
            id: format!("req-{}-other", world.plan.seed),
            ours: false,
            polls_left: 0,
            outcome: Outcome::Complete,
            urls: Vec::new(),
            version,
        });
        world.mint(0);
        world
    }

    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// Another request's valid file, for an upload of another file left at the key.
    pub fn foreign_file(&self) -> Bytes {
        self.versions[self.requests[0].version].bytes.clone()
    }

    fn new_version(&mut self, shape: Shape, ours: bool, what: &str) -> usize {
        let f = self.plan.file;
        let bytes = files::make(&mut self.rng, shape, f.records, f.members, f.fast, DAY);
        self.add_version(bytes, ours, what, None)
    }

    /// Records a version; `claims` the one whose validators it shows instead of its own.
    fn add_version(
        &mut self,
        bytes: Vec<u8>,
        ours: bool,
        what: &str,
        claims: Option<usize>,
    ) -> usize {
        let n = self.versions.len();
        let (etag, last_modified) = match claims {
            Some(old) => (
                self.versions[old].etag.clone(),
                self.versions[old].last_modified.clone(),
            ),
            None => (
                format!("\"{:08x}{n}\"", crc32c::crc32c(&bytes)),
                (Utc::now() - TimeDelta::hours(100 - n as i64))
                    .format("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string(),
            ),
        };
        self.versions.push(Version {
            records: files::judge(&bytes),
            bytes: bytes.into(),
            ours,
            etag,
            last_modified,
            what: what.to_owned(),
        });
        n
    }

    /// A new presigned URL generation of request `r`.
    fn mint(&mut self, r: usize) {
        let hex = |rng: &mut Rng, n: usize| -> String {
            (0..n)
                .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
                .collect()
        };
        let credential = format!("ASIA{}", hex(&mut self.rng, 16).to_uppercase());
        let token = format!("IQoJb3JpZ2luX2Vj{}", hex(&mut self.rng, 40));
        let signature = hex(&mut self.rng, 64);
        self.secrets
            .extend([credential.clone(), token.clone(), signature.clone()]);
        self.requests[r].urls.push([credential, token, signature]);
    }

    fn url(&self, r: usize) -> String {
        let req = &self.requests[r];
        let generation = req.urls.len() - 1;
        let [credential, token, signature] = &req.urls[generation];
        format!(
            "http://127.0.0.1:{}/files/{}/{generation}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}%2F20260110%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260110T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token={token}&X-Amz-Signature={signature}",
            self.port, req.id
        )
    }

    /// The answer to `request`, the index of its record, and how long the client may back off
    /// after it.
    pub fn answer(&mut self, request: &Request) -> (Reply, usize, Option<Duration>) {
        let path = request
            .target
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.drawn.clear();
        let (reply, note, backoff, bounded) = if let Some(rest) = path.strip_prefix("/files/") {
            let (reply, note) = self.file(request, rest);
            let bounded = reply.status >= 300;
            (reply, note, None, bounded)
        } else {
            let (reply, note, backoff) = self.api(request, &path);
            (reply, note, backoff, true)
        };
        self.answers.push(Answer {
            line: format!("{} {path} → {} {note}", request.method, reply.status),
            faults: std::mem::take(&mut self.drawn),
            api: !path.starts_with("/files/"),
            invocation: self.invocation,
            bounded,
            planned: reply.len(),
            written: 0,
        });
        (reply, self.answers.len() - 1, backoff)
    }

    pub fn wrote(&mut self, answer: usize, written: u64) {
        self.answers[answer].written = written;
    }

    /// The faults this answer draws among the classes the plan has active on `channel`: the
    /// first that strikes of those about what it says, and of those about how it is delivered.
    fn draw(
        &mut self,
        channel: Channel,
        applies: impl Fn(Class) -> bool,
    ) -> (Option<Fault>, Option<Fault>) {
        let call = match channel {
            Channel::Api => self.api_calls,
            Channel::File => self.file_calls,
        };
        let active: Vec<_> = self
            .plan
            .active(channel, call, self.invocation)
            .filter(|s| applies(s.class))
            .copied()
            .collect();
        let (mut what, mut how) = (None, None);
        for s in active {
            let layer = if s.class.delivers() {
                &mut how
            } else {
                &mut what
            };
            if layer.is_none() && self.rng.f64() < s.chance {
                *layer = Some(super::faults::draw_fault(s.class, channel, &mut self.rng));
            }
        }
        self.drawn.extend(what.iter().chain(how.iter()).copied());
        (what, how)
    }

    /// The pace, framing and length faults of `fault` on `reply`; whether it breaks the answer.
    fn mangle(&mut self, reply: &mut Reply, fault: Option<Fault>) -> bool {
        match fault {
            Some(Fault::Padded { filler, chunked }) => {
                reply.filler = filler;
                reply.chunked = chunked;
            }
            Some(Fault::LyingLength { off_by }) => {
                reply.declared = Some(reply.len().saturating_add_signed(off_by));
            }
            Some(Fault::Trickle { piece, every }) => reply.pace = Pace::Trickle { piece, every },
            Some(Fault::Stall { after, silence }) => reply.pace = Pace::StallAt { after, silence },
            Some(Fault::StallHead { silence }) => reply.pace = Pace::StallHead { silence },
            Some(Fault::Cut { after }) => reply.pace = Pace::CutAt { after },
            _ => return false,
        }
        true
    }
}
