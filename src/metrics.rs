//! Metrics in CloudWatch Embedded Metric Format: one JSON line per Lambda step on stdout, which
//! CloudWatch Logs turns into metrics (namespace `FaunaLogsExport`, dimension `Scope`) with no API
//! call and no extra permission. Lambda only: the CLI's stdout is its answer.
//!
//! | metric | unit | when |
//! |---|---|---|
//! | `StepDuration` | Milliseconds | every step |
//! | `Polls` | Count | every step (the current request's polls so far) |
//! | `Bytes`, `Records` | Bytes, Count | the step that finished the export |
//! | `ExportLag` | Seconds | the same: from the window's end to the logs being stored |

use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::job::{Job, Step};

pub const NAMESPACE: &str = "FaunaLogsExport";

/// The EMF line for a step that took `duration` and left the job as `job`.
pub fn step_line(job: &Job, before: Step, duration: Duration) -> String {
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
    line.insert("Scope".into(), Value::String(job.scope.to_string()));
    line.insert("Step".into(), Value::String(before.as_str().into()));
    line.insert("NextStep".into(), Value::String(job.step.as_str().into()));
    for (name, _, value) in metrics {
        line.insert(name.into(), value);
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
}
