//! The invariants a run must keep, whatever the hostile Fauna did, checked on what the run left:
//! the bucket, the job, every output, the server's counts and the test's clock.
//!
//! 1. What is at the key is exactly one valid version of this window's file (never a splice,
//!    never a file the test judges invalid), or nothing; beside an object, a manifest that
//!    describes it (records, bytes, checksum).
//! 2. No secret in any output: the job JSON, every step error (Display and Debug), the log
//!    lines as the log writer wrote them; and the account key never went to the file host.
//! 3. Every read bounded: no single answer (but a file body the copy streams into parts) got
//!    more than [`READ_BOUND`] bytes out of the server, though some offered 300 MiB; no part
//!    larger than the part size.
//! 4. The run ends, within a bound computed from the crate's constants and the answers the
//!    server gave, on the test's clock; each step within its own bound, and a step with a
//!    deadline within its bound after it ([`Allowance`]).
//! 5. No multipart upload and no copy record of the run's own is left, whether it failed or not.

use std::time::Duration;

use crate::job::{Job, Step};
use crate::keys::{copy_records_prefix, manifest_key};
use crate::store::crc32c_base64;

use super::clock::TICK;
use super::store::WatchedStore;
use super::world::{Answer, World};
use super::{POLL_INTERVAL_MAX, RETRY, TIMEOUTS, compat};
use crate::cli::STEP_RETRIES;
use crate::copy::PAST_DEADLINE_READ;

/// The most bytes one answer may get out of the server before the client hangs up: what the
/// client read (64 KiB for an answer, 8 KiB of an error) and the socket buffers between.
pub const READ_BOUND: u64 = 32 << 20;

/// How a step with a deadline went.
#[derive(Debug, Clone)]
pub struct StepTiming {
    pub invocation: u32,
    pub step: Step,
    pub budget: Option<Duration>,
    pub took: Duration,
}

/// What was left before the run: an upload of another file and its record.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub upload: Option<String>,
    pub record: Option<Vec<u8>>,
}

/// Everything a run left, to be judged.
pub struct Observed<'a> {
    pub account_key: &'a str,
    pub job: &'a Job,
    /// What the run output: (what, text).
    pub outputs: Vec<(String, String)>,
    pub took: Duration,
    pub ended: bool,
    pub steps: &'a [StepTiming],
    pub store: &'a WatchedStore,
    pub seeded: &'a Seeded,
    pub world: &'a World,
    pub part_size: usize,
}

/// Every invariant `observed` breaks, each in a sentence.
pub fn broken(o: &Observed) -> Vec<String> {
    let mut broken = Vec::new();
    stored(o, &mut broken);
    secrets(o, &mut broken);
    reads(o, &mut broken);
    time(o, &mut broken);
    leftovers(o, &mut broken);
    broken
}

/// 1. One valid version of this window's file at the key, with its manifest, or nothing.
fn stored(o: &Observed, broken: &mut Vec<String>) {
    let objects = o.store.inner.state.lock().expect("store").objects.clone();
    let job = o.job;
    let manifest = objects
        .get(&manifest_key(&job.key))
        .and_then(|m| serde_json::from_slice::<serde_json::Value>(m).ok());
    let Some(bytes) = objects.get(&job.key) else {
        if let Some(m) = &manifest
            && !(m["key"].is_null() && m["records"] == 0 && m["bytes"] == 0)
        {
            broken.push(format!(
                "1: no object at the key, but a manifest that describes one: {m}"
            ));
        }
        if job.step == Step::Done && manifest.is_none() {
            broken.push("1: the export is done, with neither an object nor a manifest".into());
        }
        return;
    };
    let valid = o
        .world
        .versions
        .iter()
        .find(|v| v.ours && v.records.is_ok() && v.bytes == bytes.as_slice());
    let Some(version) = valid else {
        broken.push(format!(
            "1: the object at the key ({} bytes) is no valid version of this window's file: {}",
            bytes.len(),
            what_it_is(o.world, bytes)
        ));
        return;
    };
    let records = version.records.clone().unwrap_or_default();
    let Some(m) = manifest else {
        broken.push("1: an object at the key without its manifest".into());
        return;
    };
    let expected = serde_json::json!({
        "key": job.key,
        "bytes": bytes.len(),
        "records": records,
        "checksum_crc32c": crc32c_base64(crc32c::crc32c(bytes)),
    });
    for field in ["key", "bytes", "records", "checksum_crc32c"] {
        if m[field] != expected[field] {
            broken.push(format!(
                "1: the manifest says {field} {}, the object has {}",
                m[field], expected[field]
            ));
        }
    }
    if job.step == Step::Done
        && (job.bytes != Some(bytes.len() as u64) || job.records != Some(records))
    {
        broken.push(format!(
            "1: the done job says {:?} bytes and {:?} records; the object has {} and {records}",
            job.bytes,
            job.records,
            bytes.len()
        ));
    }
}

/// What stored bytes are, against the versions the server served.
fn what_it_is(world: &World, bytes: &[u8]) -> String {
    if let Some((n, v)) = world
        .versions
        .iter()
        .enumerate()
        .find(|(_, v)| v.bytes == bytes)
    {
        return format!(
            "it is version {n} ({}), which is {}",
            v.what,
            match (v.ours, &v.records) {
                (false, _) => "another window's file".to_owned(),
                (true, Err(why)) => format!("not a valid log file ({why})"),
                (true, Ok(_)) => "valid".to_owned(),
            }
        );
    }
    let common = |v: &[u8]| v.iter().zip(bytes).take_while(|(a, b)| a == b).count();
    let (n, v) = world
        .versions
        .iter()
        .enumerate()
        .max_by_key(|(_, v)| common(&v.bytes))
        .expect("the world holds a version");
    let at = common(&v.bytes);
    let tail = world
        .versions
        .iter()
        .enumerate()
        .find(|(_, w)| w.bytes.len() == bytes.len() && w.bytes[at..] == bytes[at..])
        .map_or_else(
            || "other bytes".to_owned(),
            |(m, w)| format!("version {m}'s ({})", w.what),
        );
    format!(
        "a splice: its first {at} bytes are version {n}'s ({}, {} bytes), then {tail}",
        v.what,
        v.bytes.len()
    )
}

/// 2. No secret in any output.
fn secrets(o: &Observed, broken: &mut Vec<String>) {
    for wrong in &o.world.wrongs {
        broken.push(format!("2: {wrong}"));
    }
    let named = std::iter::once(("the account key", o.account_key)).chain(
        o.world
            .secrets
            .iter()
            .map(|s| ("a presigned URL's secret", s.as_str())),
    );
    for (what, text) in &o.outputs {
        for (kind, secret) in named.clone() {
            if let Some(at) = text.find(secret) {
                broken.push(format!("2: {what} shows {kind}: …{}…", around(text, at)));
            }
        }
        let lower = text.to_ascii_lowercase();
        for (at, _) in lower.match_indices("bearer ") {
            let token = &text[at + 7..];
            if !token.starts_with("<redacted>") && !token.is_empty() {
                broken.push(format!(
                    "2: {what} shows a Bearer token: …{}…",
                    around(text, at)
                ));
                break;
            }
        }
    }
}

/// Some text around byte `at`, for a message.
fn around(text: &str, at: usize) -> String {
    let mut start = at.saturating_sub(80);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 80).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    text[start..end].replace('\n', "⏎")
}

/// 3. Every read bounded.
fn reads(o: &Observed, broken: &mut Vec<String>) {
    if let Some(worst) = o
        .world
        .answers
        .iter()
        .filter(|a| a.bounded && a.written > READ_BOUND)
        .max_by_key(|a| a.written)
    {
        broken.push(format!(
            "3: one answer got {} MiB out of the server (bound {} MiB): {} (a body of {} bytes)",
            worst.written >> 20,
            READ_BOUND >> 20,
            worst.line,
            worst.planned
        ));
    }
    let largest = o
        .store
        .largest_part
        .load(std::sync::atomic::Ordering::Relaxed);
    if largest > o.part_size {
        broken.push(format!(
            "3: a part of {largest} bytes, over the part size {}",
            o.part_size
        ));
    }
}

/// What answers may cost the client on the test's clock, from the crate's constants and the
/// test's settings.
pub struct Allowance;

impl Allowance {
    /// An API answer that misbehaved: silent until the call's timeout, then the longest wait
    /// the client makes before it tries again (its backoff, or a Retry-After it accepts).
    const API_FAULT: Duration = TIMEOUTS.api.saturating_add(RETRY.max_retry_after);

    /// A download's head: silent until the read timeout, and a second to connect.
    const FILE_HEAD: Duration = TIMEOUTS
        .download_read
        .saturating_add(Duration::from_secs(1));

    /// The longest a driver waits between two steps: the poll interval's cap, `run_to_end`'s
    /// backoff cap (30 s), the step driver's backoff.
    fn between_steps() -> Duration {
        Duration::from_secs(POLL_INTERVAL_MAX)
            .max(Duration::from_secs(30))
            .max(Duration::from_secs(1 << STEP_RETRIES))
    }

    /// `answers` with no deadline: each API answer that misbehaved, each download's head and
    /// its body until it is too slow (RATE_WINDOW), and the clock's tick per answer.
    fn for_answers<'a>(answers: impl Iterator<Item = &'a Answer>) -> Duration {
        answers
            .map(|a| {
                let cost = match (a.api, a.faults.is_empty()) {
                    (true, true) => Duration::ZERO,
                    (true, false) => Self::API_FAULT,
                    (false, _) => Self::FILE_HEAD + compat::RATE_WINDOW,
                };
                cost + TICK
            })
            .sum::<Duration>()
            + Duration::from_secs(1)
    }

    /// Past a step's deadline: its reads may go on PAST_DEADLINE_READ for a checkpoint; then
    /// each API call that misbehaved, and each download's head, may still hold it.
    fn past_deadline<'a>(answers: impl Iterator<Item = &'a Answer>) -> Duration {
        PAST_DEADLINE_READ
            + answers
                .map(|a| {
                    TICK + match (a.api, a.faults.is_empty()) {
                        (true, true) => Duration::ZERO,
                        (true, false) => Self::API_FAULT,
                        (false, _) => Self::FILE_HEAD,
                    }
                })
                .sum::<Duration>()
            + Duration::from_secs(1)
    }
}

/// 4. The run ends in time, and each step yields in time.
fn time(o: &Observed, broken: &mut Vec<String>) {
    let answers = &o.world.answers;
    let api_answers = answers.iter().filter(|a| a.api).count() as u32;
    let run = Allowance::for_answers(answers.iter()) + Allowance::between_steps() * api_answers;
    if !o.ended || !o.job.step.is_terminal() {
        broken.push(format!(
            "4: the run did not end (the job is at {}, after {:?} on the test's clock, {} invocations)",
            o.job.step,
            o.took,
            o.steps.len()
        ));
    } else if o.took > run {
        broken.push(format!(
            "4: the run took {:?}, over its bound {run:?} ({} answers)",
            o.took,
            answers.len()
        ));
    }
    for s in o.steps {
        let in_step = || answers.iter().filter(|a| a.invocation == s.invocation);
        let bound = Allowance::for_answers(in_step());
        if s.took > bound {
            broken.push(format!(
                "4: invocation {} ({} step) took {:?}, over its bound {bound:?} ({} answers)",
                s.invocation,
                s.step,
                s.took,
                in_step().count()
            ));
        }
        if let Some(budget) = s.budget {
            let bound = budget + Allowance::past_deadline(in_step());
            if s.took > bound {
                broken.push(format!(
                    "4: invocation {} ({} step) took {:?} with a deadline {budget:?} after its start: over its bound {bound:?}",
                    s.invocation, s.step, s.took
                ));
            }
        }
    }
}

/// 5. Nothing of the run's own left behind.
fn leftovers(o: &Observed, broken: &mut Vec<String>) {
    let state = o.store.inner.state.lock().expect("store");
    let left: Vec<&String> = state
        .uploads
        .keys()
        .filter(|id| o.seeded.upload.as_ref() != Some(*id))
        .collect();
    if !left.is_empty() {
        broken.push(format!(
            "5: the {} job left multipart upload(s) {left:?} open",
            o.job.step
        ));
    }
    let prefix = copy_records_prefix(&o.job.key);
    let left = state
        .objects
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix) && key.ends_with(".copy.json"))
        .any(|(_, record)| Some(record) != o.seeded.record.as_ref());
    if left {
        broken.push(format!("5: the {} job left a copy record", o.job.step));
    }
}
