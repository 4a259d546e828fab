//! The file host behind the presigned URLs, as the hostile world answers it: signatures,
//! `Range` (honoured, ignored, or answered from another byte), `If-Match` (honoured with 412 or
//! ignored), ETag and Last-Modified (true, or the previous version's), and the versions a
//! renewed URL or a resumed request may switch to.

use super::super::faults::{Fault, VersionChange};
use super::super::files::{self, Shape};
use super::super::grammar::{Channel, Class};
use super::super::server::{Reply, Request};
use super::{DAY, World};

impl World {
    /// `GET /files/{id}/{generation}?…`: the file host.
    pub(super) fn file(&mut self, request: &Request, rest: &str) -> (Reply, String) {
        self.file_calls += 1;
        let call = self.file_calls;
        if request.header("authorization").is_some() {
            self.wrongs.push(format!(
                "file request #{call} carried an Authorization header"
            ));
        }
        let url = format!("http://127.0.0.1:{}{}", self.port, request.target);
        let xml = |status, code: &str| {
            Reply::new(
                status,
                "application/xml",
                format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code></Error>"),
            )
        };
        let (id, generation) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(r) = self.requests.iter().position(|r| r.id == id) else {
            return (
                xml(404, "NoSuchKey"),
                format!("(file #{call}) no such file"),
            );
        };
        let signed = generation
            .parse::<usize>()
            .ok()
            .and_then(|g| self.requests[r].urls.get(g))
            .is_some_and(|[_, _, sig]| request.target.ends_with(&format!("X-Amz-Signature={sig}")));
        if !signed {
            return (
                xml(403, "SignatureDoesNotMatch"),
                format!("(file #{call}) bad signature"),
            );
        }
        let from = request
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let renewed = generation != "0";
        let (what, how) = self.draw(Channel::File, |class| match class {
            Class::OtherVersionOnResume => from > 0,
            Class::OtherVersionOnRenewal => renewed,
            _ => true,
        });
        let mut note = format!("(file #{call}, from {from}) {what:?} {how:?}");
        match what {
            Some(Fault::Rejected { status, body }) => {
                let mut reply = self.error(status, body, Some(&url));
                self.mangle(&mut reply, how);
                return (reply, note);
            }
            Some(Fault::Redirect) => {
                let mut reply = Reply::new(307, "text/plain", "");
                reply.headers.push((
                    "location",
                    "http://169.254.169.254/latest/meta-data/iam/security-credentials/".into(),
                ));
                return (reply, note);
            }
            Some(Fault::OtherVersion { change, lie }) => {
                let v = self.switch_version(r, change, lie, from);
                note.push_str(&format!(" → version {v}: {}", self.versions[v].what));
            }
            _ => {}
        }
        let v = &self.versions[self.requests[r].version];
        if self.plan.honours_if_match && request.header("if-match").is_some_and(|tag| tag != v.etag)
        {
            return (xml(412, "PreconditionFailed"), note);
        }
        let len = v.bytes.len() as u64;
        let (start, partial) = match how {
            Some(Fault::IgnoreRange) => (0, false),
            _ if from == 0 => (0, false),
            _ if from >= len => {
                let mut reply = xml(416, "InvalidRange");
                reply
                    .headers
                    .push(("content-range", format!("bytes */{len}")));
                return (reply, note);
            }
            Some(Fault::WrongContentRange { off_by }) => {
                (from.saturating_add_signed(off_by).min(len - 1), true)
            }
            _ => (from, true),
        };
        let mut reply = Reply::new(
            if partial { 206 } else { 200 },
            "application/gzip",
            v.bytes.slice(start as usize..),
        );
        if partial {
            reply
                .headers
                .push(("content-range", format!("bytes {start}-{}/{len}", len - 1)));
        }
        reply.headers.push(("accept-ranges", "bytes".into()));
        if self.plan.etag {
            reply.headers.push(("etag", v.etag.clone()));
        }
        if self.plan.last_modified {
            reply
                .headers
                .push(("last-modified", v.last_modified.clone()));
        }
        self.mangle(&mut reply, how);
        (reply, note)
    }

    /// From this answer on, request `r`'s URLs serve another version; its index.
    fn switch_version(&mut self, r: usize, change: VersionChange, lie: bool, from: u64) -> usize {
        let old = self.requests[r].version;
        let ours = self.requests[r].ours;
        let base = self.versions[old].bytes.clone();
        let claims = lie.then_some(old);
        let v = match change {
            VersionChange::Mutated { past_start } => {
                let bytes = files::mutated(&mut self.rng, &base, from + past_start);
                self.add_version(
                    bytes,
                    ours,
                    &format!("bytes changed at {}", from + past_start),
                    claims,
                )
            }
            VersionChange::Grown => {
                let bytes = files::grown(&mut self.rng, &base, DAY);
                self.add_version(bytes, ours, "a member appended", claims)
            }
            VersionChange::Regenerated => {
                let f = self.plan.file;
                let bytes = files::make(
                    &mut self.rng,
                    Shape::Good,
                    f.records,
                    f.members,
                    f.fast,
                    DAY,
                );
                self.add_version(bytes, ours, "another file", claims)
            }
            VersionChange::Bad(shape) => {
                let f = self.plan.file;
                let bytes = files::make(&mut self.rng, shape, f.records, f.members, f.fast, DAY);
                self.add_version(bytes, ours, &format!("another file, {shape:?}"), claims)
            }
        };
        self.requests[r].version = v;
        v
    }
}
