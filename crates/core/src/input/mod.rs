//! Input: every payload the function accepts, turned into one typed [`Event`].
//!
//! | payload | module | event |
//! |---|---|---|
//! | manual request `{"database" \| "region_group", "time_start", "time_end"}` | [`job`] | [`Event::Job`] |
//! | a job this function returned | [`job`] | [`Event::Job`] |
//! | EventBridge Scheduler input `{"scheduled_time", …}` | [`schedule`] | [`Event::Job`] |
//! | classic EventBridge Scheduled Event (`"detail-type": "Scheduled Event"`) | [`schedule`] | [`Event::Job`] |
//! | backfill plan `{"scopes", "from", "to", "granularity", …}` | [`backfill`] | [`Event::Plan`] |
//! | backfill Map outcomes `{"summarize": {…}}` | [`backfill`] | [`Event::Outcomes`] |
//!
//! [`parse`] is the one dispatch; [`InvalidJob`] the one error, naming the field at fault. The
//! command line builds the same values from its arguments through [`job::new_job`] and
//! [`backfill::Plan::new`], so every validation lives here once.

pub mod backfill;
pub mod error;
pub mod job;
pub mod schedule;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use self::backfill::Plan;
pub use self::error::InvalidJob;
use self::error::MAX_FIELD_BYTES;
use self::schedule::ScheduleDefaults;
use crate::job::{Job, Outcome};
use crate::shown::{SHOWN_BYTES, clip};

/// What validation needs to know from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRules {
    /// Region groups a database path may start with.
    pub region_groups: Vec<String>,
    /// Key prefix in the bucket.
    pub prefix: String,
    /// How scheduled entries choose their window.
    pub schedule: ScheduleDefaults,
}

/// The key prefix when none is configured (`LOGS_PREFIX`).
pub const DEFAULT_PREFIX: &str = "fauna-logs";

/// The region groups a database path may start with when none are configured
/// (`FAUNA_REGION_GROUPS`).
pub const DEFAULT_REGION_GROUPS: [&str; 3] = ["us-std", "eu-std", "classic"];

/// The embedded defaults: the function's rules when nothing is configured.
impl Default for JobRules {
    fn default() -> Self {
        JobRules {
            region_groups: DEFAULT_REGION_GROUPS.map(String::from).to_vec(),
            prefix: DEFAULT_PREFIX.to_owned(),
            schedule: ScheduleDefaults::default(),
        }
    }
}

impl JobRules {
    /// The known region groups, for messages.
    pub fn known_region_groups(&self) -> String {
        self.region_groups.join(", ")
    }
}

/// A payload, understood. (One per invocation, moved once: the size of its largest variant, a
/// job, costs nothing worth a box.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// One step of an export: a new job (from a manual request or a scheduled entry) or a job
    /// this function returned.
    Job(Job),
    /// A backfill plan: the windows to export.
    Plan(Plan),
    /// What a backfill's windows came to, by key.
    Outcomes(Vec<(String, Outcome)>),
}

/// Turns a payload into its event. `now` bounds a backfill plan's range.
pub fn parse(value: Value, rules: &JobRules, now: DateTime<Utc>) -> Result<Event, InvalidJob> {
    if !value.is_object() {
        return Err(InvalidJob::Malformed {
            path: ".".into(),
            detail: format!(
                "{} instead of a JSON object with the job's fields",
                kind_of(&value)
            ),
        });
    }
    if backfill::is_plan(&value) {
        return backfill::plan(value, rules, now).map(Event::Plan);
    }
    if backfill::is_outcomes(&value) {
        return backfill::outcomes(value).map(Event::Outcomes);
    }
    check_field_sizes(&value)?;
    let job = if schedule::is_classic_event(&value) {
        schedule::classic_event(&value, rules)?
    } else if schedule::is_scheduler_input(&value) {
        schedule::scheduler_input(value, rules)?
    } else {
        job::parse(value, rules)?
    };
    Ok(Event::Job(job))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Refuses a payload with a field over [`MAX_FIELD_BYTES`], naming the first such field.
fn check_field_sizes(value: &Value) -> Result<(), InvalidJob> {
    let Value::Object(fields) = value else {
        return Ok(());
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

/// The rules of the unit tests: three region groups, the default prefix and schedule.
#[cfg(test)]
pub(crate) fn test_rules() -> JobRules {
    JobRules::default()
}

#[cfg(test)]
mod tests;
