//! The misbehaviour of one answer: a [`Fault`] and its parameters, drawn in place by
//! [`draw_fault`] from the class the plan scheduled (see [`super::grammar`]): error answers
//! and their bodies (up to 300 MiB, echoing the key or the presigned URL), states out of order,
//! pace (trickles, silences, cuts), framing (padding, chunks, lying lengths), ranges, and the
//! versions of a file (changed, regenerated, grown, or wrong in shape).

use std::time::Duration;

use fastrand::Rng;

use super::files::Shape;
use super::grammar::{Channel, Class};

/// How long a server waits, when it is silent: a while, or until the client hangs up.
pub type Silence = Option<Duration>;

/// `Retry-After` as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    None,
    Seconds(u64),
    /// An HTTP date this many seconds from now (negative: in the past).
    Date(i64),
}

/// The body of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorBody {
    /// `{code, reason}`.
    Json,
    /// `{code, reason}` whose reason quotes the request's `Authorization` header.
    EchoKeyInReason,
    /// `{code, reason}` whose reason quotes the presigned URL, query and all.
    EchoUrlInReason,
    /// A proxy's HTML page quoting the request's headers.
    HtmlEchoingKey,
    /// An HTML page quoting the presigned URL.
    HtmlEchoingUrl,
    /// S3's XML error, its canonical request quoting the URL.
    XmlEchoingUrl,
    Empty,
    /// This many bytes of an HTML page, chunked or with a Content-Length.
    Huge {
        bytes: u64,
        chunked: bool,
    },
}

/// A field of a 200 answer that quotes the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoField {
    RequestId,
    Database,
    RegionGroup,
    State,
    Extra,
}

/// A state reported out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateLie {
    Said(&'static str),
}

/// What a version switch serves instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChange {
    /// The same file with a few bytes changed this far past where the answer starts: same size.
    Mutated { past_start: u64 },
    /// Another file of the same request (other records).
    Regenerated,
    /// The same file with another gzip member appended.
    Grown,
    /// A file of this shape.
    Bad(Shape),
}

/// One answer's misbehaviour, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    Unavailable {
        status: u16,
        retry_after: RetryAfter,
        body: ErrorBody,
    },
    Rejected {
        status: u16,
        body: ErrorBody,
    },
    Padded {
        filler: u64,
        chunked: bool,
    },
    /// The declared Content-Length is this many bytes off (negative: shorter than the body).
    LyingLength {
        off_by: i64,
    },
    NotJson {
        body: ErrorBody,
    },
    AboutAnother {
        same_id: bool,
    },
    EchoInField(EchoField),
    StateLie(StateLie),
    ExpiredUrl,
    Trickle {
        piece: usize,
        every: Duration,
    },
    Stall {
        after: u64,
        silence: Silence,
    },
    StallHead {
        silence: Silence,
    },
    Cut {
        after: u64,
    },
    OtherVersion {
        change: VersionChange,
        /// The host claims the version it served before (its ETag and Last-Modified).
        lie: bool,
    },
    IgnoreRange,
    WrongContentRange {
        off_by: i64,
    },
    Redirect,
}

/// The largest body of the grammar: 300 MiB.
pub const HUGE: u64 = 300 << 20;

/// A body size of any magnitude: empty to 300 MiB, log-uniform, 300 MiB itself often.
fn any_size(rng: &mut Rng) -> u64 {
    match rng.u32(0..4) {
        0 => HUGE,
        _ => 1u64 << rng.u32(0..29),
    }
}

fn silence(rng: &mut Rng) -> Silence {
    match rng.u32(0..3) {
        0 => None,
        1 => Some(Duration::from_millis(rng.u64(100..3_000))),
        _ => Some(Duration::from_secs(rng.u64(3..120))),
    }
}

fn error_body(rng: &mut Rng) -> ErrorBody {
    match rng.u32(0..9) {
        0 => ErrorBody::Json,
        1 | 2 => ErrorBody::EchoKeyInReason,
        3 => ErrorBody::EchoUrlInReason,
        4 => ErrorBody::HtmlEchoingKey,
        5 => ErrorBody::HtmlEchoingUrl,
        6 => ErrorBody::XmlEchoingUrl,
        7 => ErrorBody::Empty,
        _ => ErrorBody::Huge {
            bytes: any_size(rng),
            chunked: rng.bool(),
        },
    }
}

const UNDOCUMENTED: [&str; 5] = ["InProgress", "Exporting", "COMPLETE", "complete", ""];

/// The concrete fault of `class` for one answer.
pub fn draw_fault(class: Class, channel: Channel, rng: &mut Rng) -> Fault {
    match class {
        Class::Unavailable => Fault::Unavailable {
            status: [429, 500, 502, 503, 504, 408][rng.usize(..6)],
            retry_after: match rng.u32(0..5) {
                0 | 1 => RetryAfter::None,
                2 => RetryAfter::Seconds(rng.u64(0..4)),
                3 => RetryAfter::Seconds(rng.u64(0..7200)),
                _ => RetryAfter::Date(rng.i64(-60..300)),
            },
            body: error_body(rng),
        },
        Class::Rejected => Fault::Rejected {
            status: [400, 404][rng.usize(..2)],
            body: error_body(rng),
        },
        Class::AuthRejected => Fault::Rejected {
            status: [401, 403][rng.usize(..2)],
            body: error_body(rng),
        },
        Class::Refused => Fault::Rejected {
            status: [403, 403, 403, 404, 500, 503][rng.usize(..6)],
            body: error_body(rng),
        },
        Class::Padded => Fault::Padded {
            filler: any_size(rng),
            chunked: rng.bool(),
        },
        Class::LyingLength => Fault::LyingLength {
            off_by: match rng.u32(0..3) {
                0 => -rng.i64(1..64),
                1 => rng.i64(1..4096),
                _ => HUGE as i64,
            },
        },
        Class::NotJson => Fault::NotJson {
            body: error_body(rng),
        },
        Class::AboutAnother => Fault::AboutAnother {
            same_id: rng.bool(),
        },
        Class::EchoInField => Fault::EchoInField(
            [
                EchoField::RequestId,
                EchoField::Database,
                EchoField::RegionGroup,
                EchoField::State,
                EchoField::Extra,
            ][rng.usize(..5)],
        ),
        Class::StateLie => Fault::StateLie(StateLie::Said(match rng.u32(0..9) {
            0 => "Complete",
            1 => "DoesNotExist",
            2 => "Pending",
            3 => "Requested",
            4 => "CreatingNewUrl",
            5 => "Failed",
            6 => "TimedOut",
            _ => UNDOCUMENTED[rng.usize(..UNDOCUMENTED.len())],
        })),
        Class::ExpiredUrl => Fault::ExpiredUrl,
        Class::Trickle => Fault::Trickle {
            piece: match channel {
                Channel::Api => rng.usize(8..128),
                Channel::File => rng.usize(128..2048),
            },
            every: Duration::from_millis(rng.u64(800..4_000)),
        },
        Class::Stall => Fault::Stall {
            after: match channel {
                Channel::Api => rng.u64(0..200),
                Channel::File => rng.u64(0..300_000),
            },
            silence: silence(rng),
        },
        Class::StallHead => Fault::StallHead {
            silence: silence(rng),
        },
        Class::Cut => Fault::Cut {
            after: match channel {
                Channel::Api => rng.u64(0..300),
                Channel::File => rng.u64(0..400_000),
            },
        },
        Class::OtherVersionOnResume | Class::OtherVersionOnRenewal => Fault::OtherVersion {
            change: match rng.u32(0..6) {
                0..3 => VersionChange::Mutated {
                    // Mostly close to where the answer starts: where a resumed copy's
                    // verifier may already have been.
                    past_start: match rng.u32(0..5) {
                        0..3 => rng.u64(0..256),
                        3 => rng.u64(0..4096),
                        _ => rng.u64(0..65_536),
                    },
                },
                3 => VersionChange::Regenerated,
                4 => VersionChange::Grown,
                _ => VersionChange::Bad(
                    [
                        Shape::Truncated,
                        Shape::HtmlLine,
                        Shape::ArrayLine,
                        Shape::CutMember,
                    ][rng.usize(..4)],
                ),
            },
            lie: rng.bool(),
        },
        Class::IgnoreRange => Fault::IgnoreRange,
        Class::WrongContentRange => Fault::WrongContentRange {
            off_by: if rng.bool() {
                rng.i64(1..5000)
            } else {
                -rng.i64(1..5000)
            },
        },
        Class::Redirect => Fault::Redirect,
    }
}
