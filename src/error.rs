//! [`StepError`]: why a step could not make its transition, and the stable `errorType` names that
//! a Step Functions `Retry`/`Catch` matches on (listed in the README).
//!
//! It composes the errors of the layers below (input, configuration, Fauna, the bucket, the copy),
//! each owned by its own module; the mapping to `errorType` lives here, once.
//!
//! A step that fails leaves the job as it was: retrying the same input is always safe. Retryable
//! errors are transient (Fauna or S3 unavailable, a download that broke off); the rest need a
//! person to change something, and the message says what.

use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;

use crate::config::ConfigError;
use crate::copy::CopyError;
use crate::fauna::secret::SecretError;
use crate::fauna::{DownloadError, FaunaError};
use crate::input::InvalidJob;
use crate::job::JobFailure;
use crate::redact::redact;
use crate::scope::Scope;
use crate::store::StoreError;
use crate::time::rfc3339;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start: {0}")]
    Startup(String),
    #[error(transparent)]
    InvalidJob(#[from] InvalidJob),
    #[error(transparent)]
    Fauna(#[from] FaunaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Copy(CopyError),
    #[error(
        "Fauna could not produce the logs of {scope} from {start} to {end}: the request ended {state} on each of {attempts} attempts (MAX_REQUEST_ATTEMPTS). Run the window again later; if it keeps failing, try smaller windows",
        start = rfc3339(*time_start), end = rfc3339(*time_end)
    )]
    ExportFailed {
        scope: Scope,
        time_start: DateTime<Utc>,
        time_end: DateTime<Utc>,
        state: String,
        attempts: u32,
    },
    #[error(
        "the log request {request_id} was still {state} at the poll deadline {deadline} (POLL_DEADLINE_SECONDS after the first request). Raise POLL_DEADLINE_SECONDS or run the window again later",
        deadline = rfc3339(*deadline)
    )]
    PollDeadlineExceeded {
        request_id: String,
        state: String,
        deadline: DateTime<Utc>,
    },
}

/// Every `errorType` this function reports, with whether Step Functions should retry it.
pub(crate) const ERROR_TYPES: &[(&str, bool)] = &[
    ("ConfigError", false),
    ("SecretUnavailable", true),
    ("StartupFailed", false),
    ("InvalidJob", false),
    ("FaunaAuthRejected", false),
    ("FaunaRequestRejected", false),
    ("FaunaUnavailable", true),
    ("FaunaProtocolError", false),
    ("InsecureDownloadUrl", false),
    ("DownloadFailed", true),
    ("CorruptLogFile", false),
    ("ChecksumMismatch", true),
    ("S3WriteRejected", false),
    ("S3Unavailable", true),
    ("ExportFailed", false),
    ("PollDeadlineExceeded", false),
];

impl StepError {
    /// The stable name Step Functions sees as `errorType` / `Error`.
    pub fn error_type(&self) -> &'static str {
        match self {
            StepError::Config(_) | StepError::Secret(SecretError::Unreadable { .. }) => {
                "ConfigError"
            }
            StepError::Secret(SecretError::Unavailable { .. }) => "SecretUnavailable",
            StepError::Startup(_) => "StartupFailed",
            StepError::InvalidJob(_) => "InvalidJob",
            StepError::Fauna(e) | StepError::Copy(CopyError::Fauna(e)) => match e {
                FaunaError::AuthRejected { .. } => "FaunaAuthRejected",
                FaunaError::Rejected { .. } => "FaunaRequestRejected",
                FaunaError::Unavailable { .. } => "FaunaUnavailable",
                FaunaError::Protocol { .. } => "FaunaProtocolError",
            },
            StepError::Copy(CopyError::UrlNotReady { .. }) => "FaunaUnavailable",
            StepError::Copy(CopyError::Download(DownloadError::InsecureUrl { .. })) => {
                "InsecureDownloadUrl"
            }
            StepError::Copy(CopyError::Download(DownloadError::FileChanged { .. }))
            | StepError::Copy(CopyError::Corrupt(_)) => "CorruptLogFile",
            StepError::Copy(CopyError::Download(_)) => "DownloadFailed",
            StepError::Copy(CopyError::ChecksumMismatch { .. }) => "ChecksumMismatch",
            StepError::Store(e) | StepError::Copy(CopyError::Store(e))
                if e.is_checksum_refused() =>
            {
                "ChecksumMismatch"
            }
            StepError::Store(e) | StepError::Copy(CopyError::Store(e)) if e.is_retryable() => {
                "S3Unavailable"
            }
            StepError::Store(_) | StepError::Copy(CopyError::Store(_)) => "S3WriteRejected",
            StepError::ExportFailed { .. } => "ExportFailed",
            StepError::PollDeadlineExceeded { .. } => "PollDeadlineExceeded",
        }
    }

    /// The job's record of this error, when the export ends on it.
    /// Its message goes through [`redact`] (again: upstream text is redacted where it enters),
    /// as every message that leaves the process does.
    pub fn failure(&self) -> JobFailure {
        JobFailure {
            error_type: self.error_type().to_owned(),
            message: redact(&self.to_string()).into_owned(),
        }
    }

    /// Whether running the same step again later may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        let name = self.error_type();
        ERROR_TYPES.iter().any(|(t, retry)| *t == name && *retry)
    }
}

impl From<CopyError> for StepError {
    /// A Fauna failure during a copy (renewing its URL) is a Fauna failure, a bucket failure a
    /// bucket failure.
    fn from(err: CopyError) -> StepError {
        match err {
            CopyError::Fauna(e) => StepError::Fauna(e),
            CopyError::Store(e) => StepError::Store(e),
            other => StepError::Copy(other),
        }
    }
}

impl From<StepError> for Diagnostic {
    fn from(err: StepError) -> Diagnostic {
        let failure = err.failure();
        Diagnostic {
            error_type: failure.error_type,
            error_message: failure.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fauna::DownloadError;
    use crate::verify::CorruptLog;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn store(status: Option<u16>, code: &str) -> StoreError {
        StoreError {
            status,
            code: Some(code.into()),
            ..StoreError::new("UploadPart", "b", "k", "d".into())
        }
    }

    /// One error of every kind a step can fail with: every variant of `StepError` and of the
    /// errors it wraps, the bucket's as a retryable, a refused and a corrupted write.
    fn one_of_each() -> Vec<StepError> {
        let endpoint = "POST /api/v1/logs";
        let (code, reason) = (String::from("code"), String::from("reason"));
        let url = "https://files.example/f?<redacted>".to_owned();
        let download = |e: DownloadError| StepError::Copy(CopyError::Download(e));
        let t = chrono::DateTime::UNIX_EPOCH;
        vec![
            StepError::Config(ConfigError {
                var: "LOGS_BUCKET",
                problem: "is not set".into(),
            }),
            StepError::Startup("no TLS roots".into()),
            StepError::Secret(SecretError::Unreadable {
                detail: "ResourceNotFoundException".into(),
            }),
            StepError::Secret(SecretError::Unavailable {
                detail: "ThrottlingException".into(),
            }),
            StepError::InvalidJob(InvalidJob::NoScope),
            StepError::Fauna(FaunaError::AuthRejected {
                endpoint,
                status: 401,
                code: code.clone(),
                reason: reason.clone(),
            }),
            StepError::Fauna(FaunaError::Rejected {
                endpoint,
                status: 400,
                code,
                reason,
            }),
            StepError::Fauna(FaunaError::Unavailable {
                endpoint,
                attempts: 6,
                last: "HTTP 503".into(),
            }),
            StepError::Fauna(FaunaError::Protocol {
                endpoint,
                detail: "not JSON".into(),
            }),
            StepError::Store(store(Some(503), "SlowDown")),
            StepError::Store(store(Some(403), "AccessDenied")),
            StepError::Store(store(Some(400), "BadDigest")),
            StepError::Copy(CopyError::Fauna(FaunaError::Protocol {
                endpoint,
                detail: "no URL".into(),
            })),
            download(DownloadError::InsecureUrl {
                host: "169.254.169.254".into(),
                reason: "it is a link-local address".into(),
            }),
            download(DownloadError::Refused {
                status: 403,
                url: url.clone(),
            }),
            download(DownloadError::Interrupted {
                url: url.clone(),
                received: 1,
                cause: "reset".into(),
            }),
            download(DownloadError::Truncated {
                url: url.clone(),
                received: 1,
                expected: 2,
            }),
            download(DownloadError::BadRange {
                url: url.clone(),
                asked: 1,
                answer: "bytes 0-1/2".into(),
            }),
            download(DownloadError::FileChanged {
                url,
                pinned: "ETag \"a\"".into(),
                now: "ETag \"b\"".into(),
            }),
            StepError::Copy(CopyError::Store(store(None, "Unknown"))),
            StepError::Copy(CopyError::Corrupt(CorruptLog("cut short".into()))),
            StepError::Copy(CopyError::ChecksumMismatch {
                bucket: "b".into(),
                key: "k".into(),
                sent: "AAAAAA==".into(),
                stored: "AAAAAQ==".into(),
            }),
            StepError::Copy(CopyError::UrlNotReady {
                request_id: "r".into(),
            }),
            StepError::ExportFailed {
                scope: crate::scope::Scope::RegionGroup("us-std".into()),
                time_start: t,
                time_end: t,
                state: "Failed".into(),
                attempts: 3,
            },
            StepError::PollDeadlineExceeded {
                request_id: "r".into(),
                state: "Pending".into(),
                deadline: t,
            },
        ]
    }

    /// Which variant an error is, nested ones included. No wildcard: a new variant does not
    /// compile until it has an arm here, and [`VARIANTS`] counts the arms, so it fails the test
    /// below until [`one_of_each`] has a sample of it.
    fn variant(e: &StepError) -> usize {
        match e {
            StepError::Config(_) => 0,
            StepError::Startup(_) => 1,
            StepError::InvalidJob(_) => 2,
            StepError::Fauna(FaunaError::AuthRejected { .. }) => 3,
            StepError::Fauna(FaunaError::Rejected { .. }) => 4,
            StepError::Fauna(FaunaError::Unavailable { .. }) => 5,
            StepError::Fauna(FaunaError::Protocol { .. }) => 6,
            StepError::Store(_) => 7,
            StepError::Copy(CopyError::Fauna(_)) => 8,
            StepError::Copy(CopyError::Download(DownloadError::InsecureUrl { .. })) => 9,
            StepError::Copy(CopyError::Download(DownloadError::Refused { .. })) => 10,
            StepError::Copy(CopyError::Download(DownloadError::Interrupted { .. })) => 11,
            StepError::Copy(CopyError::Download(DownloadError::Truncated { .. })) => 12,
            StepError::Copy(CopyError::Download(DownloadError::BadRange { .. })) => 13,
            StepError::Copy(CopyError::Store(_)) => 14,
            StepError::Copy(CopyError::Corrupt(_)) => 15,
            StepError::Copy(CopyError::ChecksumMismatch { .. }) => 16,
            StepError::ExportFailed { .. } => 17,
            StepError::PollDeadlineExceeded { .. } => 18,
            StepError::Copy(CopyError::UrlNotReady { .. }) => 19,
            StepError::Secret(SecretError::Unreadable { .. }) => 20,
            StepError::Secret(SecretError::Unavailable { .. }) => 21,
            StepError::Copy(CopyError::Download(DownloadError::FileChanged { .. })) => 22,
        }
    }

    const VARIANTS: usize = 23;

    /// Every error a step can fail with has a name in `ERROR_TYPES`, with the retry flag that
    /// list gives, and every name listed is one a step can fail with.
    #[test]
    fn every_error_type_is_listed_with_its_retry_flag() {
        let samples = one_of_each();
        let covered: BTreeSet<usize> = samples.iter().map(variant).collect();
        assert_eq!(covered, (0..VARIANTS).collect(), "a variant has no sample");
        let listed: BTreeSet<&str> = ERROR_TYPES.iter().map(|(n, _)| *n).collect();
        assert_eq!(listed.len(), ERROR_TYPES.len(), "a name is listed twice");
        let produced: BTreeSet<&str> = samples.iter().map(StepError::error_type).collect();
        assert_eq!(produced, listed);
        for e in &samples {
            let flag = ERROR_TYPES
                .iter()
                .find(|(n, _)| *n == e.error_type())
                .map(|(_, retry)| *retry);
            assert_eq!(Some(e.is_retryable()), flag, "{e:?}");
        }
        // What the copy keeps its parts for is what Step Functions would retry.
        for e in &samples {
            if let StepError::Copy(copy) = e {
                assert_eq!(copy.is_transient(), e.is_retryable(), "{e:?}");
            }
        }
        // The bucket's errors: a throttled write is retried, a refused one is not, a corrupted
        // one is a checksum mismatch (sent again).
        let names: Vec<&str> = samples
            .iter()
            .filter(|e| matches!(e, StepError::Store(_)))
            .map(StepError::error_type)
            .collect();
        assert_eq!(
            names,
            ["S3Unavailable", "S3WriteRejected", "ChecksumMismatch"]
        );
    }

    /// The error names each Lambda task of the state machines retries (beside Lambda's, the
    /// sandbox's and runtime's, and Step Functions' own).
    fn retried_by(definition: &str) -> Vec<BTreeSet<String>> {
        fn walk(value: &Value, found: &mut Vec<BTreeSet<String>>) {
            match value {
                Value::Object(fields) => {
                    if let Some(Value::Array(retriers)) = fields.get("Retry") {
                        let names: BTreeSet<String> = retriers
                            .iter()
                            .flat_map(|r| r["ErrorEquals"].as_array().into_iter().flatten())
                            .filter_map(Value::as_str)
                            .filter(|n| {
                                !["Lambda.", "States.", "Sandbox.", "Runtime."]
                                    .iter()
                                    .any(|own| n.starts_with(own))
                            })
                            .map(str::to_owned)
                            .collect();
                        found.push(names);
                    }
                    fields.values().for_each(|v| walk(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
                _ => {}
            }
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("infra")
            .join(definition);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut found = Vec::new();
        walk(&serde_json::from_str(&text).unwrap(), &mut found);
        found
    }

    /// Each state machine's export step retries exactly the retryable error types; the others
    /// (the backfill's plan task) retry only retryable ones.
    #[test]
    fn the_state_machines_retry_exactly_the_retryable_error_types() {
        let retryable: BTreeSet<String> = ERROR_TYPES
            .iter()
            .filter(|(_, retry)| *retry)
            .map(|(n, _)| (*n).to_owned())
            .collect();
        for definition in ["state-machine.asl.json", "backfill.asl.json"] {
            let lists = retried_by(definition);
            assert!(
                lists.contains(&retryable),
                "{definition}: no task retries exactly {retryable:?}: {lists:?}"
            );
            for names in lists {
                assert!(names.is_subset(&retryable), "{definition}: {names:?}");
            }
        }
    }

    /// The state machines' retry decision, as data (`tests/infra/retry_policy.json`, which the
    /// infra tests check the definitions against), names the same error types with the same
    /// flags.
    #[test]
    fn the_retry_policy_of_infra_lists_the_same_error_types() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/infra/retry_policy.json");
        let policy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let listed: BTreeSet<(String, bool)> = policy["function_error_types"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, retry)| (name.clone(), retry.as_bool().unwrap()))
            .collect();
        let ours: BTreeSet<(String, bool)> = ERROR_TYPES
            .iter()
            .map(|(name, retry)| ((*name).to_owned(), *retry))
            .collect();
        assert_eq!(listed, ours);
    }

    #[test]
    fn diagnostics_carry_the_stable_name() {
        let d: Diagnostic = StepError::InvalidJob(InvalidJob::BothScopes).into();
        assert_eq!(d.error_type, "InvalidJob");
        assert!(d.error_message.contains("exactly one"));
    }

    /// One row of `events/expected-errors.json`.
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Expected {
        error_type: String,
        kind: Option<String>,
        names: Vec<String>,
        says: Vec<String>,
    }

    /// The bad-input table (`events/invalid-*.json`, with what each must produce in
    /// `events/expected-errors.json`): each payload the function sees (those that are JSON at all;
    /// the Lambda runtime refuses the rest, see tests/lambda_runtime.rs) is refused with its own
    /// variant, a message that names its fields in backticks and says what the row says, in under
    /// 1 KiB, and the stable `errorType`.
    #[test]
    fn every_bad_input_fixture_gets_its_typed_error() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
        let table: std::collections::BTreeMap<String, Expected> =
            serde_json::from_slice(&std::fs::read(dir.join("expected-errors.json")).unwrap())
                .unwrap();
        let mut checked = 0;
        for (file, expected) in &table {
            let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let Some(kind) = &expected.kind else {
                continue;
            };
            let payload: Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            let now = crate::time::parse_rfc3339("2026-11-26T12:00:00Z").unwrap();
            let err = crate::input::parse(payload, &crate::input::JobRules::default(), now)
                .expect_err(file);
            assert!(
                format!("{err:?}").starts_with(kind.as_str()),
                "{file}: expected {kind}, got {err:?}"
            );
            assert_eq!(
                StepError::from(err.clone()).error_type(),
                expected.error_type,
                "{file}"
            );
            let message = err.to_string();
            for name in &expected.names {
                assert!(
                    message.contains(&format!("`{name}")),
                    "{file}: the message does not name `{name}`: {message}"
                );
            }
            for text in &expected.says {
                assert!(
                    message.contains(text.as_str()),
                    "{file}: no {text:?} in {message}"
                );
            }
            assert!(
                message.len() < 1024,
                "{file}: a {}-byte message",
                message.len()
            );
            checked += 1;
        }
        let json_rows = table.values().filter(|e| e.kind.is_some()).count();
        assert_eq!(checked, json_rows);
        assert!(checked >= 30, "{checked} rows");
    }
}
