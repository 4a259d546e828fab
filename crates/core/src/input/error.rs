//! [`InvalidJob`]: why a payload cannot become an event, naming the field at fault and what to
//! change. The one error of the input layer (its `errorType` is `InvalidJob`).

use serde_json::Value;

use crate::job::Step;
use crate::shown::{SHOWN_BYTES, clip};

/// The longest window Fauna accepts in one log request.
pub const MAX_WINDOW_DAYS: i64 = 90;

/// The most one payload field may hold, name and serialised value together. A job's fields are
/// short (a database path, a request id, numbers), so a job always fits a Step Functions state
/// (256 KiB), and a huge payload is refused, naming its field, before anything else reads it.
pub const MAX_FIELD_BYTES: usize = 4096;

/// A payload that cannot become an event. Every variant names the field and what to change.
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
        "`{field}` {value} has a fraction of a second: windows are whole seconds, as their object keys name them; use {whole}"
    )]
    SubSecondTime {
        field: &'static str,
        value: String,
        whole: String,
    },
    #[error(
        "the window from `time_start` to `time_end` spans {span}, over Fauna's limit of {MAX_WINDOW_DAYS} days: split it into windows of at most {MAX_WINDOW_DAYS} days"
    )]
    WindowTooLong { span: String },
    #[error("`step` {value:?} is not a step: use one of {names}", names = step_names())]
    UnknownStep { value: String },
    #[error(
        "`{field}` is {bytes} bytes, over the limit of {MAX_FIELD_BYTES} bytes per field: no field of a job is that large. Send a manual request or a job this function returned"
    )]
    FieldTooLarge { field: String, bytes: usize },
    #[error(
        "`upload.{field}` {detail}: the `upload` block is the copy's progress as this function returned it; send the job back unchanged, or leave out `upload` to start the copy afresh"
    )]
    BadUpload { field: &'static str, detail: String },
    #[error(
        "`request_id` {request_id:?} is Fauna's request for {theirs}, not for this job's {ours}: send the job this function returned for this window, or leave out `step` and `request_id` to request the logs afresh"
    )]
    ForeignRequest {
        request_id: String,
        theirs: String,
        ours: String,
    },
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

    /// A bad value of RFC 3339 field `field`.
    pub fn bad_time(field: &'static str, value: &str, err: chrono::ParseError) -> InvalidJob {
        InvalidJob::BadTime {
            field,
            value: clip(value, SHOWN_BYTES),
            detail: err.to_string(),
        }
    }
}

fn step_names() -> String {
    Step::ALL.map(Step::as_str).join(", ")
}

/// A payload shape, with the path to whatever in it does not fit.
pub fn deserialize<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, InvalidJob> {
    // serde's detail quotes the offending value or field name: clipped, keeping the head and
    // the tail (where it says what was expected).
    serde_path_to_error::deserialize(value).map_err(|err| InvalidJob::Malformed {
        path: clip(&err.path().to_string(), SHOWN_BYTES),
        detail: clip(&err.inner().to_string(), 4 * SHOWN_BYTES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_step_lists_the_steps() {
        let err = InvalidJob::UnknownStep {
            value: "launch".into(),
        };
        assert!(
            err.to_string()
                .ends_with("use one of request, poll, copy, done, failed"),
            "{err}"
        );
    }
}
