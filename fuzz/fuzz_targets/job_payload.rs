//! Fuzz target `job_payload`: arbitrary bytes as the Lambda's event payload.
//!
//! The bytes go where the Lambda runtime puts them (`serde_json` → `Value`), then through
//! `Job::from_value` with the function's default rules (every setting at its embedded default,
//! plus `SCHEDULE_DATABASE` so that classic Scheduled Events reach the job parser too). Whatever
//! arrives, the parser answers a job or a typed `InvalidJob`, and never panics; a job it accepts
//! is what the function would return, so it must parse back to itself. Payloads the function
//! dispatches elsewhere (a backfill plan, a backfill summary) go to their own parsers, as there.

#![no_main]

use std::sync::OnceLock;

use fauna_logs_export::backfill::{self, MAX_STATE_MACHINE_WINDOWS, Plan};
use fauna_logs_export::config::Config;
use fauna_logs_export::job::{Job, JobRules};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn rules() -> &'static JobRules {
    static RULES: OnceLock<JobRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let config = Config::from_lookup(|var| match var {
            "FAUNA_ACCOUNT_KEY" => Some("fuzz".into()),
            "LOGS_BUCKET" => Some("fuzz".into()),
            "SCHEDULE_DATABASE" => Some("us-std/ECommerce".into()),
            _ => None,
        })
        .expect("the default configuration is valid");
        config.job_rules()
    })
}

fuzz_target!(|data: &[u8]| {
    // Bytes that are not JSON never reach the function: the Lambda runtime refuses them.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if backfill::is_plan(&value) {
        let now = chrono::DateTime::UNIX_EPOCH + chrono::TimeDelta::days(20_000);
        if let Ok(plan) = Plan::from_value(value, rules(), MAX_STATE_MACHINE_WINDOWS, now) {
            assert!(!plan.windows.is_empty() && plan.windows.len() <= MAX_STATE_MACHINE_WINDOWS);
        }
        return;
    }
    if backfill::is_summary_request(&value) {
        if let Ok(summary) = backfill::summarize(value) {
            assert_eq!(summary.failures.len(), summary.failed);
        }
        return;
    }
    match Job::from_value(value, rules()) {
        Ok(job) => {
            let returned = serde_json::to_value(&job).expect("a job serialises");
            let again = Job::from_value(returned, rules()).expect("a returned job parses back");
            assert_eq!(again, job);
        }
        Err(err) => {
            // Every refusal has a message for people.
            assert!(!err.to_string().is_empty());
        }
    }
});
