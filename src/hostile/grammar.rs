//! The grammar of misbehaviour: what a hostile Fauna may do, drawn from a seed.
//!
//! A run draws a [`Plan`] once: the file the host means to serve, how its host and the bucket
//! behave, how each log request ends, and a few [`Scheduled`] fault classes, each with *when*
//! it may strike ([`When`]: at the Nth answer of its channel, for a while, forever, or from an
//! invocation on) and how often inside that time. Then every answer draws, in place, whether
//! to misbehave and the concrete fault with its parameters ([`super::faults`]).

use fastrand::Rng;
use std::fmt;

use super::files::Shape;

/// Which answers a fault class strikes: the Account API's or the file host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Api,
    File,
}

/// When, in the run, a scheduled class may strike: counted in answers of its channel (1 is the
/// first), or in invocations (step boundaries; the command line's run has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    AtCall(u32),
    Window { from: u32, len: u32 },
    Forever { from: u32 },
    FromInvocation(u32),
}

impl When {
    pub fn covers(self, call: u32, invocation: u32) -> bool {
        match self {
            When::AtCall(n) => call == n,
            When::Window { from, len } => (from..from + len).contains(&call),
            When::Forever { from } => call >= from,
            When::FromInvocation(k) => invocation >= k,
        }
    }
}

/// The kinds of misbehaviour; each answer inside its time draws the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 429, 5xx or 408, with or without Retry-After (seconds or an HTTP date).
    Unavailable,
    /// 400 or 404: a permanent refusal.
    Rejected,
    /// 401 or 403: the key refused.
    AuthRejected,
    /// A valid answer followed by whitespace, up to 300 MiB, chunked or not.
    Padded,
    /// A Content-Length that is not the body's.
    LyingLength,
    /// 200 with an HTML page.
    NotJson,
    /// The status of another request (another id, or this id with another window).
    AboutAnother,
    /// The request's `Authorization` header quoted in a field of a 200 answer.
    EchoInField,
    /// A state out of order or undocumented.
    StateLie,
    /// A presigned URL already expired.
    ExpiredUrl,
    /// The answer's bytes a few at a time, seconds apart.
    Trickle,
    /// Silence after some bytes, for a while or until the client hangs up.
    Stall,
    /// Silence before the status line.
    StallHead,
    /// The connection dropped mid-answer.
    Cut,
    /// The file host refuses (403, 404, 500, 503), its page quoting the presigned URL.
    Refused,
    /// A resumed `Range` request is answered from another version of the file.
    OtherVersionOnResume,
    /// A renewed URL serves another version of the file.
    OtherVersionOnRenewal,
    /// `Range` ignored: 200 and the whole file.
    IgnoreRange,
    /// 206 with a Content-Range from another byte.
    WrongContentRange,
    /// A redirect to the instance metadata service.
    Redirect,
}

impl Class {
    /// The classes each channel draws, with their weights.
    const API: [(Class, u32); 14] = [
        (Class::Unavailable, 4),
        (Class::Rejected, 1),
        (Class::AuthRejected, 1),
        (Class::Padded, 3),
        (Class::LyingLength, 2),
        (Class::NotJson, 1),
        (Class::AboutAnother, 1),
        (Class::EchoInField, 2),
        (Class::StateLie, 3),
        (Class::ExpiredUrl, 2),
        (Class::Trickle, 2),
        (Class::Stall, 2),
        (Class::StallHead, 2),
        (Class::Cut, 3),
    ];
    const FILE: [(Class, u32); 11] = [
        (Class::Refused, 3),
        (Class::OtherVersionOnResume, 6),
        (Class::OtherVersionOnRenewal, 4),
        (Class::IgnoreRange, 2),
        (Class::WrongContentRange, 1),
        (Class::Redirect, 1),
        (Class::LyingLength, 2),
        (Class::Trickle, 3),
        (Class::Stall, 3),
        (Class::StallHead, 2),
        (Class::Cut, 4),
    ];

    fn pick(rng: &mut Rng, weighted: &[(Class, u32)]) -> Class {
        let total: u32 = weighted.iter().map(|(_, w)| w).sum();
        let mut at = rng.u32(0..total);
        for (class, weight) in weighted {
            if at < *weight {
                return *class;
            }
            at -= weight;
        }
        weighted[0].0
    }

    /// Whether it is about how an answer is delivered (its pace, framing, range), rather than
    /// what it says: an answer may draw one of each.
    pub fn delivers(self) -> bool {
        matches!(
            self,
            Class::Padded
                | Class::LyingLength
                | Class::Trickle
                | Class::Stall
                | Class::StallHead
                | Class::Cut
                | Class::IgnoreRange
                | Class::WrongContentRange
        )
    }

    /// Whether it ends an export for good when it strikes: such classes never last forever
    /// in a plan, or nearly every run would end at once.
    fn is_final(self) -> bool {
        matches!(
            self,
            Class::Rejected | Class::AuthRejected | Class::AboutAnother | Class::Redirect
        )
    }

    /// Whether it only ever strikes for a while: a state lie that lasted forever would keep
    /// the export polling until the poll deadline, which is on the wall clock (chrono), not on
    /// the test's.
    fn is_bounded(self) -> bool {
        matches!(self, Class::StateLie | Class::EchoInField | Class::NotJson)
    }
}

/// A fault class, on one channel, at a time in the run, striking each answer inside that time
/// with probability `chance`.
#[derive(Debug, Clone, Copy)]
pub struct Scheduled {
    pub class: Class,
    pub channel: Channel,
    pub when: When,
    pub chance: f64,
}

/// How a log request ends, as the honest Fauna would have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// Polls answered `Pending`/`Requested` before the outcome.
    pub polls: u32,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    DoesNotExist,
    Failed,
    TimedOut,
}

/// How the test drives the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `cli::run_to_end`, as the command line runs it.
    Run,
    /// `step::step` once per invocation, each with a deadline, as Step Functions drives it
    /// (retries, then the failed job handed back to let go of what it holds).
    Steps,
}

/// The file the host means to serve for each request.
#[derive(Debug, Clone, Copy)]
pub struct FilePlan {
    pub shape: Shape,
    pub records: usize,
    pub members: usize,
    pub fast: bool,
}

/// Everything a run draws once.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub region_group_scope: bool,
    pub driver: Driver,
    pub file: FilePlan,
    pub etag: bool,
    pub last_modified: bool,
    pub honours_if_match: bool,
    /// The bucket lists no part checksums and checks a completion against the checksums the
    /// client lists (as moto does), instead of S3's checks.
    pub moto_like_store: bool,
    /// An upload of another file at the key, with the copy record of another request whose
    /// process is gone.
    pub foreign_upload: Option<u32>,
    pub fates: Vec<Fate>,
    pub faults: Vec<Scheduled>,
}

impl Plan {
    pub fn draw(seed: u64) -> Plan {
        let mut rng = Rng::with_seed(seed);
        let shape = match rng.u32(0..100) {
            0..80 => Shape::Good,
            80..85 => Shape::Truncated,
            85..90 => Shape::HtmlLine,
            90..95 => Shape::ArrayLine,
            _ => Shape::CutMember,
        };
        let file = FilePlan {
            shape,
            records: rng.usize(1500..7000),
            members: rng.usize(1..=4),
            fast: rng.bool(),
        };
        let fates = (0..4)
            .map(|_| Fate {
                polls: rng.u32(0..4),
                outcome: match rng.u32(0..100) {
                    0..85 => Outcome::Complete,
                    85..90 => Outcome::DoesNotExist,
                    90..95 => Outcome::Failed,
                    _ => Outcome::TimedOut,
                },
            })
            .collect();
        let mut faults = Vec::new();
        let classes = if rng.u32(0..8) == 0 {
            0
        } else {
            rng.usize(1..=4)
        };
        for _ in 0..classes {
            draw_scheduled(&mut rng, &mut faults);
        }
        if rng.u32(0..6) == 0 {
            faults.push(draw_outage(&mut rng));
        }
        if rng.u32(0..6) == 0 {
            faults.push(draw_file_change(&mut rng));
        }
        let driver = if rng.bool() {
            Driver::Run
        } else {
            Driver::Steps
        };
        if driver == Driver::Run {
            // The command line's run is one invocation: from the kth answer on instead.
            for s in &mut faults {
                if let When::FromInvocation(k) = s.when {
                    s.when = When::Forever { from: k };
                }
            }
        }
        Plan {
            seed,
            region_group_scope: rng.u32(0..5) == 0,
            driver,
            file,
            etag: rng.u32(0..10) > 0,
            last_modified: rng.bool(),
            honours_if_match: rng.bool(),
            moto_like_store: rng.u32(0..3) == 0,
            foreign_upload: (rng.u32(0..8) == 0).then(|| rng.u32(1..4)),
            fates,
            faults,
        }
    }

    /// The classes scheduled on `channel` that cover answer `call` in `invocation`.
    pub fn active(
        &self,
        channel: Channel,
        call: u32,
        invocation: u32,
    ) -> impl Iterator<Item = &Scheduled> {
        self.faults
            .iter()
            .filter(move |s| s.channel == channel && s.when.covers(call, invocation))
    }
}

/// A scheduled class; a version switch comes with what makes it happen (a resume needs a
/// break, a renewal a refused or expired URL) half the time.
fn draw_scheduled(rng: &mut Rng, faults: &mut Vec<Scheduled>) {
    let channel = if rng.bool() {
        Channel::Api
    } else {
        Channel::File
    };
    let class = match channel {
        Channel::Api => Class::pick(rng, &Class::API),
        Channel::File => Class::pick(rng, &Class::FILE),
    };
    let when = draw_when(rng, channel, class);
    faults.push(Scheduled {
        class,
        channel,
        when,
        chance: draw_chance(rng),
    });
    let companion = match class {
        Class::OtherVersionOnResume => (Class::Cut, Channel::File),
        Class::OtherVersionOnRenewal if rng.bool() => (Class::Refused, Channel::File),
        Class::OtherVersionOnRenewal => (Class::ExpiredUrl, Channel::Api),
        _ => return,
    };
    if rng.bool() {
        faults.push(Scheduled {
            class: companion.0,
            channel: companion.1,
            when: draw_when(rng, companion.1, companion.0),
            chance: draw_chance(rng),
        });
    }
}

/// Fauna goes down at some time in the run and stays down: every API answer from then on fails
/// (an error, silence, or a cut connection).
fn draw_outage(rng: &mut Rng) -> Scheduled {
    let classes = [
        Class::Unavailable,
        Class::Stall,
        Class::StallHead,
        Class::Cut,
    ];
    Scheduled {
        class: classes[rng.usize(..classes.len())],
        channel: Channel::Api,
        when: if rng.bool() {
            When::Forever {
                from: rng.u32(3..=20),
            }
        } else {
            When::FromInvocation(rng.u32(3..=12))
        },
        chance: 1.0,
    }
}

/// The file changes at some time in the run: from then on, a resumed request or a renewed URL
/// gets another version of it.
fn draw_file_change(rng: &mut Rng) -> Scheduled {
    Scheduled {
        class: if rng.bool() {
            Class::OtherVersionOnResume
        } else {
            Class::OtherVersionOnRenewal
        },
        channel: Channel::File,
        when: if rng.bool() {
            When::Forever {
                from: rng.u32(2..=6),
            }
        } else {
            When::FromInvocation(rng.u32(2..=8))
        },
        chance: 1.0,
    }
}

/// When a class strikes: answers are counted per channel, and a run has far fewer file answers
/// than API answers.
fn draw_when(rng: &mut Rng, channel: Channel, class: Class) -> When {
    let calls = match channel {
        Channel::Api => 8,
        Channel::File => 4,
    };
    // An outage may begin late: in the middle of a copy paused across invocations.
    let when = match rng.u32(0..4) {
        0 => When::AtCall(rng.u32(1..=calls)),
        1 => When::Window {
            from: rng.u32(1..=calls),
            len: rng.u32(1..7),
        },
        2 => When::Forever {
            from: rng.u32(1..=2 * calls),
        },
        _ => When::FromInvocation(rng.u32(2..=12)),
    };
    let endless = matches!(when, When::Forever { .. } | When::FromInvocation(_));
    if endless && (class.is_final() || class.is_bounded()) {
        return When::Window {
            from: rng.u32(1..=calls),
            len: rng.u32(1..5),
        };
    }
    when
}

fn draw_chance(rng: &mut Rng) -> f64 {
    if rng.bool() {
        1.0
    } else {
        0.2 + 0.6 * rng.f64()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan of seed {}: {:?} driver, {} scope",
            self.seed,
            self.driver,
            if self.region_group_scope {
                "region-group"
            } else {
                "database"
            }
        )?;
        writeln!(
            f,
            "  file: {:?}, {} records in {} member(s), {} compression",
            self.file.shape,
            self.file.records,
            self.file.members,
            if self.file.fast { "fast" } else { "default" }
        )?;
        writeln!(
            f,
            "  host: ETag {}, Last-Modified {}, If-Match {}",
            self.etag,
            self.last_modified,
            if self.honours_if_match {
                "honoured (412)"
            } else {
                "ignored"
            }
        )?;
        writeln!(
            f,
            "  bucket: {}{}",
            if self.moto_like_store {
                "lists no part checksums, trusts the listed ones at completion (moto)"
            } else {
                "S3's checks"
            },
            match self.foreign_upload {
                Some(n) =>
                    format!("; a gone process's upload of another file at the key ({n} parts)"),
                None => String::new(),
            }
        )?;
        for (n, fate) in self.fates.iter().enumerate() {
            writeln!(
                f,
                "  request {}: {:?} after {} polls",
                n + 1,
                fate.outcome,
                fate.polls
            )?;
        }
        for s in &self.faults {
            writeln!(
                f,
                "  fault: {:?} on {:?} answers, {:?}, chance {:.2}",
                s.class, s.channel, s.when, s.chance
            )?;
        }
        Ok(())
    }
}
