//! Manual requests and returned jobs: the payloads that are already a job, or its start.
//!
//! A manual request is `{"database" | "region_group", "time_start", "time_end"}`; a returned job
//! is what this function answered, sent back for its next step. Both go through [`new_job`], the
//! one validation of a scope and a window, which the schedule and backfill inputs and the command
//! line use too.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::JobRules;
use super::error::{InvalidJob, MAX_WINDOW_DAYS, deserialize};
use crate::job::{Job, JobFailure, Step, UploadProgress};
use crate::keys::{MAX_KEY_BYTES, WHOLE_REGION_GROUP, manifest_key};
use crate::scope::Scope;
use crate::shown::{SHOWN_BYTES, clip};
use crate::time::{parse_rfc3339, rfc3339};

/// Everything a job payload may hold. Unknown fields are refused so a typo does not pass
/// silently.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobInput {
    step: Option<String>,
    database: Option<String>,
    region_group: Option<String>,
    time_start: Option<String>,
    time_end: Option<String>,
    /// Derived from scope and window; accepted so a returned job can be sent back unchanged.
    #[allow(dead_code)]
    key: Option<String>,
    request_id: Option<String>,
    #[serde(default)]
    attempt: u32,
    #[serde(default)]
    polls: u32,
    poll_deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    wait_seconds: u64,
    upload: Option<UploadProgress>,
    #[serde(default)]
    corrupt_reads: u32,
    #[serde(default)]
    copy_failures: u32,
    bytes: Option<u64>,
    records: Option<u64>,
    error: Option<JobFailure>,
}

const TIME_HINT: &str = "give the window as RFC 3339 date-times, e.g. \"time_start\": \"2026-11-24T00:00:00Z\", \"time_end\": \"2026-11-25T00:00:00Z\"";

/// A manual request or a returned job.
pub(super) fn parse(value: Value, rules: &JobRules) -> Result<Job, InvalidJob> {
    let input: JobInput = deserialize(value)?;
    let step = match input.step.as_deref() {
        None => Step::Request,
        Some(name) => Step::parse(name).ok_or_else(|| InvalidJob::UnknownStep {
            value: clip(name, SHOWN_BYTES),
        })?,
    };
    let scope = scope(input.database, input.region_group, rules)?;
    let start = required_time("time_start", input.time_start)?;
    let end = required_time("time_end", input.time_end)?;
    let job = new_job(scope, start, end, rules)?;
    if matches!(step, Step::Poll | Step::Copy) && input.request_id.is_none() {
        return Err(InvalidJob::MISSING_REQUEST_ID);
    }
    if step == Step::Failed && input.error.is_none() {
        return Err(InvalidJob::MissingField {
            field: "error",
            hint: "a `failed` job carries why it failed, {\"error_type\", \"message\"}: send the job this function returned",
        });
    }
    if let Some(upload) = &input.upload {
        check_upload(upload)?;
    }
    Ok(Job {
        step,
        request_id: input.request_id,
        attempt: input.attempt,
        polls: input.polls,
        poll_deadline: input.poll_deadline,
        wait_seconds: input.wait_seconds,
        upload: input.upload,
        corrupt_reads: input.corrupt_reads,
        copy_failures: input.copy_failures,
        bytes: input.bytes,
        records: input.records,
        error: input.error,
        ..job
    })
}

/// A new export of `scope` over `[start, end)`, validated: the scope against the known region
/// groups, the window against Fauna's limits, the key against S3's.
pub fn new_job(
    scope: Scope,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    rules: &JobRules,
) -> Result<Job, InvalidJob> {
    let scope = check_scope(scope, rules)?;
    check_window(start, end)?;
    let job = Job::new(scope, start, end, &rules.prefix);
    let longest = manifest_key(&job.key).len().max(job.key.len());
    if let (Scope::Database(path), true) = (&job.scope, longest > MAX_KEY_BYTES) {
        return Err(InvalidJob::BadDatabasePath {
            path: clip(path, SHOWN_BYTES),
            reason: format!(
                "it is too long: under LOGS_PREFIX its object keys would be {longest} bytes, over S3's limit of {MAX_KEY_BYTES}"
            ),
            known: rules.known_region_groups(),
        });
    }
    Ok(job)
}

/// The scope named by the `database` and `region_group` fields: exactly one of them.
pub fn scope(
    database: Option<String>,
    region_group: Option<String>,
    rules: &JobRules,
) -> Result<Scope, InvalidJob> {
    let scope = match (database, region_group) {
        (Some(_), Some(_)) => return Err(InvalidJob::BothScopes),
        (None, None) => return Err(InvalidJob::NoScope),
        (None, Some(rg)) => Scope::RegionGroup(rg),
        (Some(path), None) => Scope::Database(path),
    };
    check_scope(scope, rules)
}

/// A scope the exporter can export: a known region group, or a well-formed database path in one.
pub fn check_scope(scope: Scope, rules: &JobRules) -> Result<Scope, InvalidJob> {
    let known = &rules.region_groups;
    let path = match &scope {
        Scope::RegionGroup(rg) if known.contains(rg) => return Ok(scope),
        Scope::RegionGroup(rg) => {
            return Err(InvalidJob::UnknownRegionGroup {
                value: clip(rg, SHOWN_BYTES),
                known: rules.known_region_groups(),
            });
        }
        Scope::Database(path) => path,
    };
    let bad = |reason: &str| InvalidJob::BadDatabasePath {
        path: clip(path, SHOWN_BYTES),
        reason: reason.to_owned(),
        known: rules.known_region_groups(),
    };
    let mut segments = path.split('/');
    let first = segments.next().unwrap_or_default();
    if !known.iter().any(|k| k == first) {
        return Err(bad("it does not start with a known region group"));
    }
    let rest: Vec<&str> = segments.collect();
    if rest.is_empty() {
        return Err(bad(
            "it names only a region group; for a whole region group set `region_group` instead",
        ));
    }
    if rest.iter().any(|s| s.is_empty()) {
        return Err(bad(
            "it has an empty segment (a leading, trailing or doubled '/')",
        ));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    if rest == [WHOLE_REGION_GROUP] {
        return Err(bad(&format!(
            "{WHOLE_REGION_GROUP} is the key's name for a whole region group's export, so this database's logs would land on it; set `region_group` for the whole region group"
        )));
    }
    Ok(scope)
}

/// An RFC 3339 date-time in field `field`.
pub fn time(field: &'static str, value: &str) -> Result<DateTime<Utc>, InvalidJob> {
    parse_rfc3339(value).map_err(|e| InvalidJob::bad_time(field, value, e))
}

fn required_time(field: &'static str, value: Option<String>) -> Result<DateTime<Utc>, InvalidJob> {
    let value = value.ok_or(InvalidJob::MissingField {
        field,
        hint: TIME_HINT,
    })?;
    time(field, &value)
}

/// S3's limits on a multipart upload's parts: their size, and how many there may be.
const MIN_PART_SIZE: u64 = 5 << 20;
const MAX_PART_SIZE: u64 = 5 << 30;
const MAX_PARTS: i32 = 10_000;

/// A paused copy's progress, as the copy left it: a part size S3 allows, a part number within
/// S3's 10,000, and the offset the stored parts end at.
fn check_upload(upload: &UploadProgress) -> Result<(), InvalidJob> {
    let bad = |field, detail: String| Err(InvalidJob::BadUpload { field, detail });
    if upload.upload_id.is_empty() {
        return bad("upload_id", "is empty".into());
    }
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&upload.part_size) {
        return bad(
            "part_size",
            format!(
                "is {}: S3's parts are {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes",
                upload.part_size
            ),
        );
    }
    if !(1..=MAX_PARTS + 1).contains(&upload.next_part) {
        return bad(
            "next_part",
            format!(
                "is {}: an upload has parts 1 to {MAX_PARTS}",
                upload.next_part
            ),
        );
    }
    let stored = u64::from((upload.next_part - 1).unsigned_abs()) * upload.part_size;
    if upload.offset != stored {
        return bad(
            "offset",
            format!(
                "is {}, but {} parts of {} bytes end at {stored}",
                upload.offset,
                upload.next_part - 1,
                upload.part_size
            ),
        );
    }
    let file = upload.file.as_ref();
    for (field, value) in [
        ("file.etag", file.and_then(|f| f.etag.as_deref())),
        (
            "file.last_modified",
            file.and_then(|f| f.last_modified.as_deref()),
        ),
    ] {
        if let Some(len) = value.map(str::len).filter(|n| *n > MAX_VALIDATOR_BYTES) {
            return bad(field, format!("is {len} bytes, over {MAX_VALIDATOR_BYTES}"));
        }
    }
    Ok(())
}

/// The longest ETag or Last-Modified a job may carry (the download keeps none longer).
const MAX_VALIDATOR_BYTES: usize = 256;

/// Checks that both ends are whole seconds, `start < end` and a span of at most 90 days.
pub fn check_window(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), InvalidJob> {
    for (field, time) in [("time_start", start), ("time_end", end)] {
        if time.timestamp_subsec_nanos() != 0 {
            return Err(InvalidJob::SubSecondTime {
                field,
                value: rfc3339(time),
                whole: rfc3339(time.trunc_subsecs(0)),
            });
        }
    }
    if start >= end {
        return Err(InvalidJob::EmptyWindow {
            start: rfc3339(start),
            end: rfc3339(end),
        });
    }
    let span = end - start;
    if span > TimeDelta::days(MAX_WINDOW_DAYS) {
        return Err(InvalidJob::WindowTooLong {
            span: describe_span(span),
        });
    }
    Ok(())
}

fn describe_span(span: TimeDelta) -> String {
    let days = span.num_days();
    let rest = span - TimeDelta::days(days);
    if rest.is_zero() {
        format!("{days} days")
    } else {
        format!("{days} days and {}s", rest.num_seconds())
    }
}
