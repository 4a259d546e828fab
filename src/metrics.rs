//! Metrics in CloudWatch Embedded Metric Format: one JSON line per Lambda step on stdout, which
//! CloudWatch Logs turns into metrics (namespace `FaunaLogsExport`, dimension `Scope`) with no API
//! call and no extra permission. Lambda only: the CLI's stdout is its answer.
//!
//! | metric | unit | when |
//! |---|---|---|
//! | `StepDuration` | Milliseconds | every step, a failed one too |
//! | `StepFailures` | Count | a step that failed (its `ErrorType` beside it) |
//! | `Polls` | Count | every step (the current request's polls so far) |
//! | `Bytes`, `Records` | Bytes, Count | the step that finished the export |
//! | `ExportLag` | Seconds | the same: from the window's end to the logs being stored |

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::job::{Job, Step};
use crate::scope::Scope;

pub const NAMESPACE: &str = "FaunaLogsExport";

/// The EMF line for a step that took `duration` and left the job as `job`.
pub(crate) fn step_line(job: &Job, before: Step, duration: Duration) -> String {
    let mut metrics = vec![(
        "StepDuration",
        "Milliseconds",
        json!(duration.as_millis() as u64),
    )];
    metrics.push(("Polls", "Count", json!(job.polls)));
    if job.step == Step::Done {
        metrics.push(("Bytes", "Bytes", json!(job.bytes.unwrap_or(0))));
        metrics.push(("Records", "Count", json!(job.records.unwrap_or(0))));
        let lag = (Utc::now() - job.time_end).num_seconds().max(0);
        metrics.push(("ExportLag", "Seconds", json!(lag)));
    }
    emf_line(&job.scope, before, job.step.as_str(), &metrics, None)
}

/// The EMF line for a step that failed with `error_type` after `duration`: the slow steps an
/// operator looks for are often the ones that fail.
pub(crate) fn failed_step_line(
    scope: &Scope,
    before: Step,
    error_type: &str,
    duration: Duration,
) -> String {
    let metrics = [
        (
            "StepDuration",
            "Milliseconds",
            json!(duration.as_millis() as u64),
        ),
        ("StepFailures", "Count", json!(1)),
    ];
    emf_line(scope, before, "error", &metrics, Some(error_type))
}

fn emf_line(
    scope: &Scope,
    before: Step,
    next: &str,
    metrics: &[(&str, &str, Value)],
    error_type: Option<&str>,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Scope"]],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    line.insert("Scope".into(), Value::String(scope.to_string()));
    line.insert("Step".into(), Value::String(before.as_str().into()));
    line.insert("NextStep".into(), Value::String(next.into()));
    if let Some(error_type) = error_type {
        line.insert("ErrorType".into(), Value::String(error_type.into()));
    }
    for (name, _, value) in metrics {
        line.insert((*name).into(), value.clone());
    }
    Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;
    use crate::time::parse_rfc3339;

    #[test]
    fn a_done_step_reports_every_metric_in_emf() {
        let mut job = Job::new(
            Scope::Database("us-std/A".into()),
            parse_rfc3339("2026-11-24T00:00:00Z").unwrap(),
            parse_rfc3339("2026-11-25T00:00:00Z").unwrap(),
            "p",
        );
        job.step = Step::Done;
        job.bytes = Some(123);
        job.records = Some(7);
        let line: Value =
            serde_json::from_str(&step_line(&job, Step::Copy, Duration::from_millis(1500)))
                .unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["StepDuration", "Polls", "Bytes", "Records", "ExportLag"]
        );
        for name in names {
            assert!(line[name].is_number(), "{name} has a value");
        }
        assert_eq!(line["StepDuration"], 1500);
        assert_eq!(line["Scope"], "database us-std/A");
        assert_eq!(
            (line["Step"].as_str(), line["NextStep"].as_str()),
            (Some("copy"), Some("done"))
        );
    }

    #[test]
    fn a_failed_step_reports_its_duration_and_error_type() {
        let scope = Scope::Database("us-std/A".into());
        let line = failed_step_line(&scope, Step::Copy, "S3Unavailable", Duration::from_secs(3));
        let line: Value = serde_json::from_str(&line).unwrap();
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["StepDuration", "StepFailures"]);
        assert_eq!(
            (line["StepDuration"].as_u64(), line["StepFailures"].as_u64()),
            (Some(3000), Some(1))
        );
        assert_eq!(
            (
                line["Step"].as_str(),
                line["NextStep"].as_str(),
                line["ErrorType"].as_str()
            ),
            (Some("copy"), Some("error"), Some("S3Unavailable"))
        );
    }
}
