//! The job: the state of one export between invocations, and what each invocation returns.
//!
//! A job carries everything one export needs besides the clients: its scope and window, the
//! step to run next, the Fauna request id, counters, how long to wait, and where a paused copy
//! stands. It never carries the account key or a presigned URL. Turning payloads into jobs (and
//! refusing bad ones) is [`crate::input`]'s work; this module is only the model.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::object_key;
use crate::scope::Scope;
use crate::time::rfc3339;

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

impl Step {
    /// Every step, in the order an export goes through them.
    pub const ALL: [Step; 5] = [
        Step::Request,
        Step::Poll,
        Step::Copy,
        Step::Done,
        Step::Failed,
    ];

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

    /// The step of a payload name.
    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Step::Done | Step::Failed)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job ended in [`Step::Failed`]: the stable `errorType` and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub error_type: String,
    pub message: String,
}

/// Where a multipart copy stands between invocations: no URL, no part list (ListParts rebuilds
/// it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadProgress {
    pub upload_id: String,
    /// The next part to upload; parts `1..next_part` are stored.
    pub next_part: i32,
    /// Bytes stored in those parts: the file offset the copy continues from.
    pub offset: u64,
    pub part_size: u64,
    /// The version of the file those parts hold (absent from jobs of earlier releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileIdentity>,
}

/// What tells one version of a file from another, as the file host describes it: its ETag,
/// Last-Modified and total size. A copy pins the identity of the first answer and compares every
/// later one with it, across renewals and invocations, so that no object is made of two files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl FileIdentity {
    /// Whether `other` can be the same version: every attribute that both name is equal.
    pub fn same_as(&self, other: &FileIdentity) -> bool {
        fn agree<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
        }
        agree(&self.etag, &other.etag)
            && agree(&self.last_modified, &other.last_modified)
            && agree(&self.size, &other.size)
    }

    /// Whether it names one version (an ETag or a Last-Modified), so that a `Range` request can
    /// continue it: without one, a file is read again from its first byte, and each stored part
    /// is checked against it.
    pub fn is_pinned(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }
}

impl fmt::Display for FileIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let etag = self.etag.as_deref().unwrap_or("none");
        let modified = self.last_modified.as_deref().unwrap_or("unknown");
        let size = self.size.map_or("unknown".into(), |n| n.to_string());
        write!(f, "ETag {etag}, Last-Modified {modified}, {size} bytes")
    }
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
    /// How often this window's copy stopped on a fault a later try may get past (a download that
    /// kept breaking off, S3 unavailable): counted across steps, never reset, so a copy that
    /// cannot finish ends.
    #[serde(skip_serializing_if = "is_zero")]
    pub copy_failures: u32,
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

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Job {
    /// A new export of `scope` over `[start, end)`, ready for its first step, its key under
    /// `prefix`. The caller has validated the scope and the window.
    pub fn new(scope: Scope, start: DateTime<Utc>, end: DateTime<Utc>, prefix: &str) -> Job {
        let key = object_key(
            prefix,
            scope.region_group(),
            scope.database_below_region_group(),
            start,
            end,
        );
        Job {
            step: Step::Request,
            scope,
            time_start: start,
            time_end: end,
            key,
            request_id: None,
            attempt: 0,
            polls: 0,
            poll_deadline: None,
            wait_seconds: 0,
            upload: None,
            corrupt_reads: 0,
            copy_failures: 0,
            bytes: None,
            records: None,
            error: None,
        }
    }

    /// The job as failed: terminal, with the reason.
    pub fn fail(mut self, failure: JobFailure) -> Job {
        self.step = Step::Failed;
        self.error = Some(failure);
        self.wait_seconds = 0;
        self
    }

    /// `database us-std/ECommerce 2026-11-24T00:00:00Z/2026-11-25T00:00:00Z`, for people.
    pub fn window_name(&self) -> String {
        format!(
            "{} {}/{}",
            self.scope,
            rfc3339(self.time_start),
            rfc3339(self.time_end)
        )
    }

    /// How the export ended, once it has.
    pub fn outcome(&self) -> Outcome {
        match &self.error {
            Some(f) => Outcome::Failed {
                error_type: f.error_type.clone(),
                message: f.message.clone(),
            },
            None => Outcome::Done,
        }
    }
}

/// How one window of a backfill ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Exported before (its manifest is in the bucket).
    Skipped,
    Failed {
        error_type: String,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn job() -> Job {
        let start = parse_rfc3339("2026-11-24T00:00:00Z").unwrap();
        let end = parse_rfc3339("2026-11-25T00:00:00Z").unwrap();
        Job::new(Scope::Database("us-std/ECommerce".into()), start, end, "p")
    }

    #[test]
    fn only_done_and_failed_end_an_export() {
        let ends: Vec<Step> = Step::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(ends, [Step::Done, Step::Failed]);
        for step in Step::ALL {
            assert_eq!(step.to_string(), step.as_str());
            assert_eq!(Step::parse(&step.to_string()), Some(step));
        }
    }

    /// Two answers can be one version of a file when every attribute both name agrees; one
    /// differing attribute, whichever, makes them two.
    #[test]
    fn a_file_version_is_every_attribute_both_answers_name() {
        let a = FileIdentity {
            etag: Some("\"e1\"".into()),
            last_modified: Some("Mon, 23 Nov 2026 10:00:00 GMT".into()),
            size: Some(10),
        };
        assert!(a.same_as(&a.clone()));
        assert!(
            a.same_as(&FileIdentity::default()),
            "nothing named, nothing differs"
        );
        let etag_only = FileIdentity {
            etag: a.etag.clone(),
            ..FileIdentity::default()
        };
        assert!(a.same_as(&etag_only) && etag_only.same_as(&a));
        let others = [
            FileIdentity {
                etag: Some("\"e2\"".into()),
                ..a.clone()
            },
            FileIdentity {
                last_modified: Some("Tue, 24 Nov 2026 10:00:00 GMT".into()),
                ..a.clone()
            },
            FileIdentity {
                size: Some(11),
                ..a.clone()
            },
        ];
        for other in &others {
            assert!(!a.same_as(other) && !other.same_as(&a), "{other}");
        }
        assert_eq!(
            a.to_string(),
            "ETag \"e1\", Last-Modified Mon, 23 Nov 2026 10:00:00 GMT, 10 bytes"
        );
        assert_eq!(
            FileIdentity::default().to_string(),
            "ETag none, Last-Modified unknown, unknown bytes"
        );
    }

    /// A version can be continued with `Range` only when an ETag or a Last-Modified names it.
    #[test]
    fn a_file_is_pinned_by_an_etag_or_a_last_modified() {
        let size_only = FileIdentity {
            size: Some(10),
            ..FileIdentity::default()
        };
        assert!(!size_only.is_pinned());
        let by_etag = FileIdentity {
            etag: Some("\"e\"".into()),
            ..FileIdentity::default()
        };
        let by_date = FileIdentity {
            last_modified: Some("Mon, 23 Nov 2026 10:00:00 GMT".into()),
            ..FileIdentity::default()
        };
        assert!(by_etag.is_pinned() && by_date.is_pinned());
    }

    /// The counters a job carries across steps appear in its JSON once they count something,
    /// so that the payloads of jobs that never needed them stay as they were.
    #[test]
    fn zero_counters_stay_out_of_the_job_json() {
        let mut job = job();
        let json = serde_json::to_value(&job).unwrap();
        assert!(json.get("corrupt_reads").is_none() && json.get("copy_failures").is_none());
        job.corrupt_reads = 1;
        job.copy_failures = 2;
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(
            (
                json["corrupt_reads"].as_u64(),
                json["copy_failures"].as_u64()
            ),
            (Some(1), Some(2))
        );
    }

    #[test]
    fn a_new_job_starts_with_its_request_at_its_key() {
        let start = parse_rfc3339("2026-11-24T00:00:00Z").unwrap();
        let end = parse_rfc3339("2026-11-25T00:00:00Z").unwrap();
        let job = Job::new(
            Scope::Database("us-std/ECommerce".into()),
            start,
            end,
            "fauna-logs",
        );
        assert_eq!(
            (job.step, job.attempt, job.request_id.as_deref()),
            (Step::Request, 0, None)
        );
        assert_eq!(
            job.key,
            "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
        );
        assert_eq!(
            job.window_name(),
            "database us-std/ECommerce 2026-11-24T00:00:00Z/2026-11-25T00:00:00Z"
        );
        let failed = job.fail(JobFailure {
            error_type: "X".into(),
            message: "m".into(),
        });
        assert_eq!(failed.step, Step::Failed);
        assert!(
            matches!(failed.outcome(), Outcome::Failed { error_type, .. } if error_type == "X")
        );
    }

    #[test]
    fn steps_have_their_payload_names() {
        for step in Step::ALL {
            assert_eq!(Step::parse(step.as_str()), Some(step));
        }
        assert_eq!(Step::parse("launch"), None);
    }
}
