//! The job: the event payload that every invocation receives and returns.
//!
//! A job is created from a manual request (`{"database" | "region_group", "time_start",
//! "time_end"}`) and then carries all the state of one export between invocations: the step to run
//! next, the Fauna request id, counters and how long to wait. It never carries the account key or
//! a presigned URL. This module owns parsing and validating every accepted shape, with a typed
//! [`InvalidJob`] naming the field at fault, and the deterministic destination key.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::copy::UploadProgress;
use crate::schedule::{ScheduleDefaults, to_manual_request};

/// The longest window Fauna accepts in one log request.
pub const MAX_WINDOW_DAYS: i64 = 90;

/// The most one payload field may hold, name and serialised value together. A job's fields are
/// short (a database path, a request id, numbers), so a job always fits a Step Functions state
/// (256 KiB), and a huge payload is refused, naming its field, before anything else reads it.
pub const MAX_FIELD_BYTES: usize = 4096;

/// S3's limit on an object key, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// How much of a refused value an error message shows; see [`clip`].
pub(crate) const SHOWN_BYTES: usize = 96;

/// What to export: one database (a path that starts with its region group) or a whole region group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Database(String),
    RegionGroup(String),
}

impl Scope {
    /// The region group the scope lives in (the first segment of a database path).
    pub fn region_group(&self) -> &str {
        match self {
            Scope::Database(path) => path.split('/').next().unwrap_or(path),
            Scope::RegionGroup(rg) => rg,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Database(path) => write!(f, "database {path}"),
            Scope::RegionGroup(rg) => write!(f, "region group {rg}"),
        }
    }
}

/// The step a job runs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Ask Fauna for the logs of the window.
    Request,
    /// Ask Fauna how the request is going.
    Poll,
    /// Stream the finished file into the bucket.
    Copy,
    /// Terminal: the logs are in the bucket (or there were none).
    Done,
    /// Terminal: the export gave up; `error` says why.
    Failed,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Step {
    const NAMES: &'static str = "request, poll, copy, done, failed";

    const ALL: [Step; 5] = [
        Step::Request,
        Step::Poll,
        Step::Copy,
        Step::Done,
        Step::Failed,
    ];

    fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The name used in the payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Request => "request",
            Step::Poll => "poll",
            Step::Copy => "copy",
            Step::Done => "done",
            Step::Failed => "failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Step::Done | Step::Failed)
    }
}

/// Why a job ended in [`Step::Failed`]: the stable `errorType` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub error_type: String,
    pub message: String,
}

/// One export of one scope over one window, between invocations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub step: Step,
    #[serde(flatten)]
    pub scope: Scope,
    /// Start of the window (included).
    pub time_start: DateTime<Utc>,
    /// End of the window (excluded).
    pub time_end: DateTime<Utc>,
    /// Where the file lands in the bucket, derived from scope and window.
    pub key: String,
    /// The Fauna log request in progress, once one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How many log requests were made for this window (a Failed/TimedOut request is retried).
    pub attempt: u32,
    /// How many status polls the current request has had.
    pub polls: u32,
    /// Polling gives up after this instant; set by the first request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_deadline: Option<DateTime<Utc>>,
    /// How long the driver waits before the next step.
    pub wait_seconds: u64,
    /// A multipart copy paused at a part boundary, to continue in the next invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadProgress>,
    /// How often this window's file was found corrupt (a copy downloads it again, up to a limit
    /// that holds across steps).
    #[serde(skip_serializing_if = "is_zero")]
    pub corrupt_reads: u32,
    /// Bytes stored, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Log records stored, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Why the job failed, when `step` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobFailure>,
}

/// What validation needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct JobRules {
    /// Region groups a database path may start with.
    pub region_groups: Vec<String>,
    /// Key prefix in the bucket.
    pub prefix: String,
    /// How scheduled entries choose their window.
    pub schedule: ScheduleDefaults,
}

/// Everything the payload may hold. Unknown fields are refused so a typo does not pass silently.
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
    bytes: Option<u64>,
    records: Option<u64>,
    error: Option<JobFailure>,
}

/// A payload that cannot become a job. Every variant names the field and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJob {
    #[error(
        "the event is not a job: {detail} (at `{path}`). Send {{\"database\": \"us-std/ECommerce\", \"time_start\": \"2026-11-24T00:00:00Z\", \"time_end\": \"2026-11-25T00:00:00Z\"}} or a job this function returned"
    )]
    Malformed { path: String, detail: String },
    #[error("`{field}` is missing: {hint}")]
    MissingField {
        field: &'static str,
        hint: &'static str,
    },
    #[error(
        "both `database` and `region_group` are set: give exactly one (a database path such as \"us-std/ECommerce\" already names its region group)"
    )]
    BothScopes,
    #[error(
        "neither `database` nor `region_group` is set: give one, e.g. \"database\": \"us-std/ECommerce\" or \"region_group\": \"us-std\""
    )]
    NoScope,
    #[error(
        "`database` {path:?} is not a database path: {reason}. Write the region group, then the database names separated by '/', e.g. \"us-std/ECommerce\" (known region groups: {known})"
    )]
    BadDatabasePath {
        path: String,
        reason: String,
        known: String,
    },
    #[error("`region_group` {value:?} is not a known region group: use one of {known}")]
    UnknownRegionGroup { value: String, known: String },
    #[error(
        "`{field}` {value:?} is not an RFC 3339 date-time ({detail}): write it like \"2026-11-24T00:00:00Z\""
    )]
    BadTime {
        field: &'static str,
        value: String,
        detail: String,
    },
    #[error("`time_start` ({start}) must be before `time_end` ({end})")]
    EmptyWindow { start: String, end: String },
    #[error(
        "the window from `time_start` to `time_end` spans {span}, over Fauna's limit of {MAX_WINDOW_DAYS} days: split it into windows of at most {MAX_WINDOW_DAYS} days"
    )]
    WindowTooLong { span: String },
    #[error("`step` {value:?} is not a step: use one of {names}", names = Step::NAMES)]
    UnknownStep { value: String },
    #[error(
        "`{field}` is {bytes} bytes, over the limit of {MAX_FIELD_BYTES} bytes per field: no field of a job is that large. Send a manual request or a job this function returned"
    )]
    FieldTooLarge { field: String, bytes: usize },
    #[error("`{field}` of the schedule input: {detail}")]
    BadSchedule { field: &'static str, detail: String },
    #[error("`{field}` of the backfill plan: {detail}")]
    BadPlan { field: String, detail: String },
}

impl InvalidJob {
    pub const MISSING_REQUEST_ID: InvalidJob = InvalidJob::MissingField {
        field: "request_id",
        hint: "steps `poll` and `copy` continue a Fauna request; send the job this function returned, or leave out `step` to start afresh",
    };
}

impl Job {
    /// Parses and validates a payload: a scheduled entry, a manual request or a job this
    /// function returned.
    pub fn from_value(value: Value, rules: &JobRules) -> Result<Job, InvalidJob> {
        check_shape(&value)?;
        let value = to_manual_request(value, &rules.schedule)?;
        Job::from_input(deserialize(value)?, rules)
    }

    fn from_input(input: JobInput, rules: &JobRules) -> Result<Job, InvalidJob> {
        let step = match input.step.as_deref() {
            None => Step::Request,
            Some(name) => Step::parse(name).ok_or_else(|| InvalidJob::UnknownStep {
                value: clip(name, SHOWN_BYTES),
            })?,
        };
        let scope = parse_scope(input.database, input.region_group, &rules.region_groups)?;
        let time_start = parse_time("time_start", input.time_start)?;
        let time_end = parse_time("time_end", input.time_end)?;
        check_window(time_start, time_end)?;
        if matches!(step, Step::Poll | Step::Copy) && input.request_id.is_none() {
            return Err(InvalidJob::MISSING_REQUEST_ID);
        }
        let key = object_key(&rules.prefix, &scope, time_start, time_end);
        let longest = crate::manifest::manifest_key(&key).len().max(key.len());
        if let (Scope::Database(path), true) = (&scope, longest > MAX_KEY_BYTES) {
            return Err(InvalidJob::BadDatabasePath {
                path: clip(path, SHOWN_BYTES),
                reason: format!(
                    "it is too long: under LOGS_PREFIX its object keys would be {longest} bytes, over S3's limit of {MAX_KEY_BYTES}"
                ),
                known: known_list(&rules.region_groups),
            });
        }
        Ok(Job {
            step,
            scope,
            time_start,
            time_end,
            key,
            request_id: input.request_id,
            attempt: input.attempt,
            polls: input.polls,
            poll_deadline: input.poll_deadline,
            wait_seconds: input.wait_seconds,
            upload: input.upload,
            corrupt_reads: input.corrupt_reads,
            bytes: input.bytes,
            records: input.records,
            error: input.error,
        })
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn known_list(region_groups: &[String]) -> String {
    region_groups.join(", ")
}

/// Refuses a payload that is not a JSON object (serde would take a list field by field), or that
/// has a field over [`MAX_FIELD_BYTES`], naming the first such field.
fn check_shape(value: &Value) -> Result<(), InvalidJob> {
    let Value::Object(fields) = value else {
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        return Err(InvalidJob::Malformed {
            path: ".".into(),
            detail: format!("{kind} instead of a JSON object with the job's fields"),
        });
    };
    for (name, field) in fields {
        let bytes = name.len() + json_len(field);
        if bytes > MAX_FIELD_BYTES {
            return Err(InvalidJob::FieldTooLarge {
                field: clip(name, SHOWN_BYTES),
                bytes,
            });
        }
    }
    Ok(())
}

/// The length of a value written as JSON.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A `Value` always serialises, and this sink never fails.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// A value as an error message shows it: whole if at most `max` bytes, else its head and tail
/// around its length, so that a huge payload is never echoed into answers and logs.
pub(crate) fn clip(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let head = &value[..value.floor_char_boundary(max / 2)];
    let tail = &value[value.ceil_char_boundary(value.len() - max / 2)..];
    format!("{head}…[{} bytes]…{tail}", value.len())
}

fn parse_scope(
    database: Option<String>,
    region_group: Option<String>,
    known: &[String],
) -> Result<Scope, InvalidJob> {
    match (database, region_group) {
        (Some(_), Some(_)) => Err(InvalidJob::BothScopes),
        (None, None) => Err(InvalidJob::NoScope),
        (None, Some(rg)) => {
            if known.contains(&rg) {
                Ok(Scope::RegionGroup(rg))
            } else {
                Err(InvalidJob::UnknownRegionGroup {
                    value: clip(&rg, SHOWN_BYTES),
                    known: known_list(known),
                })
            }
        }
        (Some(path), None) => {
            let bad = |reason: &str| InvalidJob::BadDatabasePath {
                path: clip(&path, SHOWN_BYTES),
                reason: reason.to_owned(),
                known: known_list(known),
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
            Ok(Scope::Database(path))
        }
    }
}

fn parse_time(field: &'static str, value: Option<String>) -> Result<DateTime<Utc>, InvalidJob> {
    let value = value.ok_or(InvalidJob::MissingField {
        field,
        hint: "give the window as RFC 3339 date-times, e.g. \"time_start\": \"2026-11-24T00:00:00Z\", \"time_end\": \"2026-11-25T00:00:00Z\"",
    })?;
    parse_rfc3339(field, &value)
}

/// An RFC 3339 date-time in field `field`, in UTC.
pub(crate) fn parse_rfc3339(field: &'static str, value: &str) -> Result<DateTime<Utc>, InvalidJob> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| InvalidJob::BadTime {
            field,
            value: clip(value, SHOWN_BYTES),
            detail: err.to_string(),
        })
}

/// A payload shape, with the path to whatever in it does not fit.
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, InvalidJob> {
    // serde's detail quotes the offending value or field name: clipped, keeping the head and
    // the tail (where it says what was expected).
    serde_path_to_error::deserialize(value).map_err(|err| InvalidJob::Malformed {
        path: clip(&err.path().to_string(), SHOWN_BYTES),
        detail: clip(&err.inner().to_string(), 4 * SHOWN_BYTES),
    })
}

/// Checks `start < end` and a span of at most 90 days.
pub fn check_window(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), InvalidJob> {
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

/// RFC 3339 in UTC with a `Z`, as Fauna and S3 keys want it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The deterministic object key of a scope and window: a re-run overwrites, never duplicates.
///
/// Hive-style partitions an Athena table can use:
/// `{prefix}/region_group={rg}/database={db}/date={YYYY-MM-DD}/{start}_{end}.jsonl.gz`, where `db`
/// is the database path below the region group with Hive's escaping (`/` becomes `%2F`), or
/// `__all__` for a region-group export, and `date` is the day the window starts.
pub fn object_key(prefix: &str, scope: &Scope, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let database = match scope {
        Scope::Database(path) => {
            let below = path.split_once('/').map_or("", |(_, rest)| rest);
            hive_escape(below)
        }
        Scope::RegionGroup(_) => "__all__".to_owned(),
    };
    let name = format!(
        "region_group={}/database={}/date={}/{}_{}.jsonl.gz",
        hive_escape(scope.region_group()),
        database,
        start.format("%Y-%m-%d"),
        start.format("%Y%m%dT%H%M%SZ"),
        end.format("%Y%m%dT%H%M%SZ"),
    );
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// Escapes a partition value the way Hive does: anything but letters, digits, `-`, `_` and `.`
/// becomes `%XX`.
fn hive_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The rules of the unit tests: three region groups, the default prefix and schedule.
    pub(crate) fn rules() -> JobRules {
        JobRules {
            region_groups: vec!["us-std".into(), "eu-std".into(), "classic".into()],
            prefix: "fauna-logs".into(),
            schedule: ScheduleDefaults::default(),
        }
    }

    fn parse(value: Value) -> Result<Job, InvalidJob> {
        Job::from_value(value, &rules())
    }

    #[test]
    fn manual_request_becomes_a_request_job() {
        let job = parse(json!({
            "database": "us-std/ECommerce",
            "time_start": "2026-11-24T00:00:00Z",
            "time_end": "2026-11-25T00:00:00+00:00"
        }))
        .unwrap();
        assert_eq!(job.step, Step::Request);
        assert_eq!(job.scope, Scope::Database("us-std/ECommerce".into()));
        assert_eq!(
            job.key,
            "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
        );
        assert_eq!(job.attempt, 0);
    }

    #[test]
    fn returned_job_parses_back_to_itself() {
        let mut job = parse(json!({
            "region_group": "eu-std",
            "time_start": "2026-11-24T10:00:00Z",
            "time_end": "2026-11-24T11:00:00Z"
        }))
        .unwrap();
        job.step = Step::Poll;
        job.request_id = Some("abc".into());
        job.attempt = 1;
        job.polls = 3;
        job.wait_seconds = 15;
        job.poll_deadline = Some(job.time_end);
        job.upload = Some(UploadProgress {
            upload_id: "u-1".into(),
            next_part: 3,
            offset: 16 << 20,
            part_size: 8 << 20,
        });
        let round = parse(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(round, job);
    }

    #[test]
    fn nested_database_path_is_hive_escaped() {
        let job = parse(json!({
            "database": "us-std/production/customers",
            "time_start": "2026-11-24T00:00:00Z",
            "time_end": "2026-11-24T01:00:00Z"
        }))
        .unwrap();
        assert!(
            job.key.contains("/database=production%2Fcustomers/"),
            "{}",
            job.key
        );
        let rg = parse(json!({
            "region_group": "classic",
            "time_start": "2026-11-24T00:00:00Z",
            "time_end": "2026-11-24T01:00:00Z"
        }))
        .unwrap();
        assert!(rg.key.contains("region_group=classic/database=__all__/"));
    }

    #[test]
    fn scope_rules() {
        let window = |scope: Value| {
            let mut v =
                json!({"time_start": "2026-11-24T00:00:00Z", "time_end": "2026-11-25T00:00:00Z"});
            v.as_object_mut()
                .unwrap()
                .extend(scope.as_object().unwrap().clone());
            parse(v)
        };
        assert_eq!(
            window(json!({"database": "us-std/A", "region_group": "us-std"})),
            Err(InvalidJob::BothScopes)
        );
        assert_eq!(window(json!({})), Err(InvalidJob::NoScope));
        for bad in [
            "ECommerce",
            "us-std",
            "us-std/",
            "us-std//A",
            "/us-std/A",
            "mars/A",
            "us-std/A B",
        ] {
            let err = window(json!({ "database": bad })).unwrap_err();
            assert!(
                matches!(err, InvalidJob::BadDatabasePath { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("`database`"), "{err}");
        }
        let err = window(json!({"region_group": "mars"})).unwrap_err();
        assert!(matches!(err, InvalidJob::UnknownRegionGroup { .. }));
    }

    #[test]
    fn window_rules() {
        let job = |start: &str, end: &str| {
            parse(json!({"region_group": "us-std", "time_start": start, "time_end": end}))
        };
        assert!(job("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z").is_ok()); // exactly 90 days
        let err = job("2026-01-01T00:00:00Z", "2026-04-01T00:00:01Z").unwrap_err();
        assert!(matches!(err, InvalidJob::WindowTooLong { .. }));
        assert!(err.to_string().contains("90 days and 1s"), "{err}");
        assert!(matches!(
            job("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
            Err(InvalidJob::EmptyWindow { .. })
        ));
        assert!(matches!(
            job("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            Err(InvalidJob::EmptyWindow { .. })
        ));
        let err = job("yesterday", "2026-01-01T00:00:00Z").unwrap_err();
        assert!(matches!(
            err,
            InvalidJob::BadTime {
                field: "time_start",
                ..
            }
        ));
        let err = parse(json!({"region_group": "us-std", "time_start": "2026-01-01T00:00:00Z"}))
            .unwrap_err();
        assert!(matches!(
            err,
            InvalidJob::MissingField {
                field: "time_end",
                ..
            }
        ));
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let err =
            parse(json!({"region_group": 7, "time_start": "x", "time_end": "y"})).unwrap_err();
        match err {
            InvalidJob::Malformed { path, .. } => assert_eq!(path, "region_group"),
            other => panic!("unexpected {other:?}"),
        }
        let err = parse(json!({"databse": "us-std/A"})).unwrap_err();
        assert!(err.to_string().contains("databse"), "{err}");
        assert!(matches!(
            parse(json!([1, 2])),
            Err(InvalidJob::Malformed { .. })
        ));
        assert!(matches!(
            parse(json!("hello")),
            Err(InvalidJob::Malformed { .. })
        ));
    }

    #[test]
    fn a_scheduler_input_becomes_a_job_for_its_window() {
        let job = parse(
            json!({"scheduled_time": "2026-11-25T01:30:00Z", "database": "us-std/ECommerce"}),
        )
        .unwrap();
        assert_eq!(job.step, Step::Request);
        assert_eq!(rfc3339(job.time_start), "2026-11-24T00:00:00Z");
        assert_eq!(rfc3339(job.time_end), "2026-11-25T00:00:00Z");
        let err = parse(json!({"scheduled_time": "2026-11-25T01:30:00Z"})).unwrap_err();
        assert_eq!(err, InvalidJob::NoScope);
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9:/ _-]{0,12}".prop_map(Value::from),
            Just(Value::from("2026-11-24T00:00:00Z")),
            Just(Value::from("us-std/ECommerce")),
            // Long values: near and over the field limit, and database paths S3 cannot hold.
            (0usize..6000).prop_map(|n| Value::from(format!("us-std/{}", "x".repeat(n)))),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let keys = prop_oneof![
                Just("database".to_owned()),
                Just("region_group".to_owned()),
                Just("time_start".to_owned()),
                Just("time_end".to_owned()),
                Just("step".to_owned()),
                Just("request_id".to_owned()),
                Just("upload".to_owned()),
                Just("scheduled_time".to_owned()),
                Just("detail-type".to_owned()),
                "[a-z_]{1,8}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever arrives, parsing answers a job or a typed error; it never panics, a job it
        /// accepts survives a round trip, and an error names a field without echoing more than
        /// one field's worth of the payload.
        #[test]
        fn the_parser_never_panics(value in json_value()) {
            match parse(value) {
                Ok(job) => {
                    let again = parse(serde_json::to_value(&job).unwrap()).unwrap();
                    proptest::prop_assert_eq!(again, job);
                }
                Err(err) => {
                    let message = err.to_string();
                    proptest::prop_assert!(message.matches('`').count() >= 2, "{}", message);
                    proptest::prop_assert!(message.len() < MAX_FIELD_BYTES, "{}", message);
                }
            }
        }
    }

    #[test]
    fn steps_are_checked() {
        let base = json!({"region_group": "us-std", "time_start": "2026-01-01T00:00:00Z", "time_end": "2026-01-02T00:00:00Z"});
        let with = |extra: Value| {
            let mut v = base.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse(v)
        };
        assert_eq!(
            with(json!({"step": "launch"})),
            Err(InvalidJob::UnknownStep {
                value: "launch".into()
            })
        );
        assert!(matches!(
            with(json!({"step": "poll"})),
            Err(InvalidJob::MissingField {
                field: "request_id",
                ..
            })
        ));
        assert_eq!(
            with(json!({"step": "poll", "request_id": "r1"}))
                .unwrap()
                .step,
            Step::Poll
        );
    }

    /// One row of the bad-input table (issue #5): a payload, the variant it must be refused with,
    /// and the fields its message must name (in backticks, as every message does).
    struct Bad {
        case: &'static str,
        payload: Value,
        variant: fn(&InvalidJob) -> bool,
        names: &'static [&'static str],
    }

    const MIB: usize = 1 << 20;

    /// A manual request for `us-std/ECommerce` over one day, with `change` merged in (a `null`
    /// removes the field).
    fn request_with(change: Value) -> Value {
        let mut v = json!({
            "database": "us-std/ECommerce",
            "time_start": "2026-11-24T00:00:00Z",
            "time_end": "2026-11-25T00:00:00Z"
        });
        let fields = v.as_object_mut().unwrap();
        for (k, val) in change.as_object().unwrap() {
            if val.is_null() {
                fields.remove(k);
            } else {
                fields.insert(k.clone(), val.clone());
            }
        }
        v
    }

    fn bad_inputs() -> Vec<Bad> {
        let many_unknown: serde_json::Map<String, Value> = (0..10_000)
            .map(|i| (format!("f{i:05}"), Value::from(i)))
            .chain([("database".to_owned(), Value::from("us-std/ECommerce"))])
            .collect();
        vec![
            Bad {
                case: "wrong type: database is a number",
                payload: request_with(json!({"database": 7})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "database"),
                names: &["database"],
            },
            Bad {
                case: "wrong type: time_start is a number",
                payload: request_with(json!({"time_start": 20261124})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "time_start"),
                names: &["time_start"],
            },
            Bad {
                case: "wrong type: attempt is a string",
                payload: request_with(json!({"attempt": "one"})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "attempt"),
                names: &["attempt"],
            },
            Bad {
                case: "wrong type: attempt is negative",
                payload: request_with(json!({"attempt": -1})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "attempt"),
                names: &["attempt"],
            },
            Bad {
                case: "wrong type: step is a list",
                payload: request_with(json!({"step": ["poll"]})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "step"),
                names: &["step"],
            },
            Bad {
                case: "wrong type: upload.next_part is a string",
                payload: request_with(json!({"step": "copy", "request_id": "r1",
                    "upload": {"upload_id": "u1", "next_part": "three", "offset": 0, "part_size": 8388608}})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "upload.next_part"),
                names: &["upload.next_part"],
            },
            Bad {
                case: "missing field: time_start",
                payload: request_with(json!({"time_start": null})),
                variant: |e| {
                    matches!(
                        e,
                        InvalidJob::MissingField {
                            field: "time_start",
                            ..
                        }
                    )
                },
                names: &["time_start"],
            },
            Bad {
                case: "missing field: time_end",
                payload: request_with(json!({"time_end": null})),
                variant: |e| {
                    matches!(
                        e,
                        InvalidJob::MissingField {
                            field: "time_end",
                            ..
                        }
                    )
                },
                names: &["time_end"],
            },
            Bad {
                case: "missing field: request_id of a poll step",
                payload: request_with(json!({"step": "poll"})),
                variant: |e| *e == InvalidJob::MISSING_REQUEST_ID,
                names: &["request_id"],
            },
            Bad {
                case: "missing field: upload.upload_id",
                payload: request_with(json!({"step": "copy", "request_id": "r1",
                    "upload": {"next_part": 3, "offset": 0, "part_size": 8388608}})),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "upload"),
                names: &["upload_id"],
            },
            Bad {
                case: "both scopes",
                payload: request_with(json!({"region_group": "us-std"})),
                variant: |e| *e == InvalidJob::BothScopes,
                names: &["database", "region_group"],
            },
            Bad {
                case: "neither scope",
                payload: request_with(json!({"database": null})),
                variant: |e| *e == InvalidJob::NoScope,
                names: &["database", "region_group"],
            },
            Bad {
                case: "a 91-day window",
                payload: request_with(
                    json!({"time_start": "2026-01-01T00:00:00Z", "time_end": "2026-04-02T00:00:00Z"}),
                ),
                variant: |e| matches!(e, InvalidJob::WindowTooLong { span } if span == "91 days"),
                names: &["time_start", "time_end"],
            },
            Bad {
                case: "end before start",
                payload: request_with(
                    json!({"time_start": "2026-11-25T00:00:00Z", "time_end": "2026-11-24T00:00:00Z"}),
                ),
                variant: |e| matches!(e, InvalidJob::EmptyWindow { .. }),
                names: &["time_start", "time_end"],
            },
            Bad {
                case: "not a date-time",
                payload: request_with(json!({"time_end": "tomorrow"})),
                variant: |e| {
                    matches!(
                        e,
                        InvalidJob::BadTime {
                            field: "time_end",
                            ..
                        }
                    )
                },
                names: &["time_end"],
            },
            Bad {
                case: "bad database path: no region group",
                payload: request_with(json!({"database": "ECommerce"})),
                variant: |e| matches!(e, InvalidJob::BadDatabasePath { .. }),
                names: &["database"],
            },
            Bad {
                case: "bad database path: empty segment",
                payload: request_with(json!({"database": "us-std//ECommerce"})),
                variant: |e| matches!(e, InvalidJob::BadDatabasePath { .. }),
                names: &["database"],
            },
            Bad {
                case: "unknown region group",
                payload: request_with(json!({"database": null, "region_group": "mars"})),
                variant: |e| matches!(e, InvalidJob::UnknownRegionGroup { .. }),
                names: &["region_group"],
            },
            Bad {
                case: "unknown step",
                payload: request_with(json!({"step": "launch"})),
                variant: |e| {
                    *e == InvalidJob::UnknownStep {
                        value: "launch".into(),
                    }
                },
                names: &["step"],
            },
            Bad {
                case: "unknown field (a typo)",
                payload: request_with(json!({"database": null, "databse": "us-std/ECommerce"})),
                variant: |e| matches!(e, InvalidJob::Malformed { detail, .. } if detail.contains("unknown field")),
                names: &["databse"],
            },
            Bad {
                case: "huge: a 1 MiB database path",
                payload: request_with(json!({"database": format!("us-std/{}", "A".repeat(MIB))})),
                variant: |e| matches!(e, InvalidJob::FieldTooLarge { field, bytes } if field == "database" && *bytes > MIB),
                names: &["database"],
            },
            Bad {
                case: "huge: a database path whose object key S3 cannot hold",
                payload: request_with(json!({"database": format!("us-std/{}", "A".repeat(2000))})),
                variant: |e| matches!(e, InvalidJob::BadDatabasePath { reason, .. } if reason.contains("S3's limit of 1024")),
                names: &["database"],
            },
            Bad {
                case: "huge: a 1 MiB request_id",
                payload: request_with(json!({"step": "poll", "request_id": "r".repeat(MIB)})),
                variant: |e| matches!(e, InvalidJob::FieldTooLarge { field, .. } if field == "request_id"),
                names: &["request_id"],
            },
            Bad {
                case: "huge: a 1 MiB value nested in upload",
                payload: request_with(json!({"step": "copy", "request_id": "r1",
                    "upload": {"upload_id": "u".repeat(MIB), "next_part": 3, "offset": 0, "part_size": 8388608}})),
                variant: |e| matches!(e, InvalidJob::FieldTooLarge { field, .. } if field == "upload"),
                names: &["upload"],
            },
            Bad {
                case: "huge: a 1 MiB scheduled_time",
                payload: json!({"scheduled_time": "9".repeat(MIB), "region_group": "us-std"}),
                variant: |e| matches!(e, InvalidJob::FieldTooLarge { field, .. } if field == "scheduled_time"),
                names: &["scheduled_time"],
            },
            Bad {
                case: "huge: a 1 MiB unknown field name",
                payload: request_with(json!({ "x".repeat(MIB): 1 })),
                variant: |e| matches!(e, InvalidJob::FieldTooLarge { field, .. } if field.starts_with("xxx") && field.len() < 200),
                names: &["xxxxxxxx"],
            },
            Bad {
                case: "huge: 10,000 unknown fields",
                payload: Value::Object(many_unknown),
                variant: |e| matches!(e, InvalidJob::Malformed { detail, .. } if detail.starts_with("unknown field `f")),
                names: &["f0"],
            },
            Bad {
                case: "huge: a 1 MiB string instead of a job",
                payload: Value::from("z".repeat(MIB)),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "."),
                names: &["."],
            },
            Bad {
                case: "not an object: a string",
                payload: json!("database=us-std/ECommerce"),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "."),
                names: &["."],
            },
            Bad {
                case: "not an object: a list",
                payload: json!([{"database": "us-std/ECommerce"}]),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "."),
                names: &["."],
            },
            Bad {
                case: "not an object: the fields in order, as a list",
                payload: json!([
                    "request",
                    "us-std/ECommerce",
                    null,
                    "2026-11-24T00:00:00Z",
                    "2026-11-25T00:00:00Z"
                ]),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "."),
                names: &["."],
            },
            Bad {
                case: "not an object: a number",
                payload: json!(42),
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "."),
                names: &["."],
            },
            Bad {
                case: "not an object: null",
                payload: Value::Null,
                variant: |e| matches!(e, InvalidJob::Malformed { path, .. } if path == "."),
                names: &["."],
            },
        ]
    }

    /// Issue #5's table of malformed inputs: each is refused with its own typed error (errorType
    /// `InvalidJob`) whose message names the field at fault in backticks, and no message echoes a
    /// huge value: it stays short enough for an answer and a log line.
    #[test]
    fn every_bad_input_gets_a_typed_error_naming_its_field() {
        let table = bad_inputs();
        for Bad {
            case,
            payload,
            variant,
            names,
        } in table
        {
            let err = parse(payload).expect_err(case);
            assert!(variant(&err), "{case}: unexpected {err:?}");
            let message = err.to_string();
            for name in names {
                assert!(
                    message.contains(&format!("`{name}")),
                    "{case}: the message does not name `{name}`: {message}"
                );
            }
            assert!(
                message.len() < 1024,
                "{case}: a {}-byte message",
                message.len()
            );
            assert_eq!(
                crate::error::StepError::from(err).error_type(),
                "InvalidJob",
                "{case}"
            );
        }
    }

    /// Not JSON at all never reaches the parser: the Lambda runtime refuses it first (see
    /// tests/lambda_runtime.rs), and the fuzz target (fuzz/) feeds it bytes.
    #[test]
    fn not_json_is_refused_before_the_parser() {
        for bytes in [
            &b"database=us-std/ECommerce"[..],
            b"{\"database\": ",
            b"",
            b"\xff\xfe",
        ] {
            assert!(serde_json::from_slice::<Value>(bytes).is_err());
        }
    }

    #[test]
    fn long_values_are_clipped_in_messages() {
        assert_eq!(clip("short", 8), "short");
        let long = format!("{}{}", "é".repeat(100), "z".repeat(100));
        let shown = clip(&long, 20);
        assert_eq!(shown, "ééééé…[300 bytes]…zzzzzzzzzz");
        // On a char boundary whatever the cut.
        let odd = clip(&"é".repeat(100), 21);
        assert!(odd.starts_with("éééé") && odd.ends_with("éééé"), "{odd}");
        let err = parse(request_with(
            json!({"database": format!("mars/{}", "Q".repeat(4000))}),
        ))
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("mars/QQQ") && message.contains("[4005 bytes]"),
            "{message}"
        );
        assert!(message.len() < 600, "{message}");
    }

    /// The size limit leaves room for every real job: the biggest legitimate job still parses and
    /// round-trips.
    #[test]
    fn a_long_but_legitimate_job_passes() {
        let database = format!("us-std/{}", "a".repeat(800));
        let job = parse(request_with(json!({"database": database, "step": "copy",
            "request_id": "r".repeat(256),
            "upload": {"upload_id": "u".repeat(1024), "next_part": 3, "offset": 0, "part_size": 8388608}})))
        .unwrap();
        let again = parse(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(again, job);
    }
}
