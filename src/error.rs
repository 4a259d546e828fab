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
use crate::fauna::{DownloadError, FaunaError};
use crate::input::InvalidJob;
use crate::job::JobFailure;
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
pub const ERROR_TYPES: &[(&str, bool)] = &[
    ("ConfigError", false),
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
            StepError::Config(_) => "ConfigError",
            StepError::Startup(_) => "StartupFailed",
            StepError::InvalidJob(_) => "InvalidJob",
            StepError::Fauna(e) | StepError::Copy(CopyError::Fauna(e)) => match e {
                FaunaError::AuthRejected { .. } => "FaunaAuthRejected",
                FaunaError::Rejected { .. } => "FaunaRequestRejected",
                FaunaError::Unavailable { .. } => "FaunaUnavailable",
                FaunaError::Protocol { .. } => "FaunaProtocolError",
            },
            StepError::Copy(CopyError::Download(DownloadError::InsecureUrl { .. })) => {
                "InsecureDownloadUrl"
            }
            StepError::Copy(CopyError::Download(_)) => "DownloadFailed",
            StepError::Copy(CopyError::Corrupt(_)) => "CorruptLogFile",
            StepError::Copy(CopyError::ChecksumMismatch { .. }) => "ChecksumMismatch",
            StepError::Store(e) | StepError::Copy(CopyError::Store(e)) if e.is_retryable() => {
                "S3Unavailable"
            }
            StepError::Store(_) | StepError::Copy(CopyError::Store(_)) => "S3WriteRejected",
            StepError::ExportFailed { .. } => "ExportFailed",
            StepError::PollDeadlineExceeded { .. } => "PollDeadlineExceeded",
        }
    }

    /// The job's record of this error, when the export ends on it.
    pub fn failure(&self) -> JobFailure {
        JobFailure {
            error_type: self.error_type().to_owned(),
            message: self.to_string(),
        }
    }

    /// Whether running the same step again later may succeed.
    pub fn is_retryable(&self) -> bool {
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
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_type_is_listed_once() {
        let names: std::collections::HashSet<&str> = ERROR_TYPES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), ERROR_TYPES.len());
        let samples = [
            StepError::InvalidJob(InvalidJob::NoScope),
            StepError::Fauna(FaunaError::Unavailable {
                endpoint: "GET",
                attempts: 6,
                last: "HTTP 503".into(),
            }),
            StepError::Startup("x".into()),
        ];
        for e in samples {
            assert!(names.contains(e.error_type()), "{}", e.error_type());
        }
        assert!(
            StepError::Fauna(FaunaError::Unavailable {
                endpoint: "GET",
                attempts: 6,
                last: String::new()
            })
            .is_retryable()
        );
        assert!(!StepError::InvalidJob(InvalidJob::NoScope).is_retryable());
    }

    #[test]
    fn diagnostics_carry_the_stable_name() {
        let d: Diagnostic = StepError::InvalidJob(InvalidJob::BothScopes).into();
        assert_eq!(d.error_type, "InvalidJob");
        assert!(d.error_message.contains("exactly one"));
    }
}
