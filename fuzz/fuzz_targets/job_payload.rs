//! Fuzz target `job_payload`: arbitrary bytes as the Lambda's event payload.
//!
//! The bytes go where the Lambda runtime puts them (`serde_json` → `Value`), then through
//! `input::parse`, the function's one dispatch, with its default rules (every setting at its
//! embedded default (`JobRules::default()`), plus `SCHEDULE_DATABASE` so that classic Scheduled Events reach the job
//! parser too). Whatever arrives, the parser answers an event or a typed `InvalidJob`, and never
//! panics:
//! - a job it accepts is what the function would return, so it must parse back to itself;
//! - a plan holds between 1 and the state machine's limit of windows;
//! - a refusal names the field at fault in backticks and stays short (it goes into an answer
//!   and a log line, so it must never echo a large payload).

#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use fauna_logs_core::input::backfill::MAX_STATE_MACHINE_WINDOWS;
use fauna_logs_core::input::{Event, JobRules, parse};
use fauna_logs_core::scope::Scope;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The longest refusal message: a field name and a value are shown clipped to 96 bytes each.
const MAX_MESSAGE_BYTES: usize = 1024;

fn rules() -> &'static JobRules {
    static RULES: OnceLock<JobRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let mut rules = JobRules::default();
        rules.schedule.scope = Some(Scope::Database("us-std/ECommerce".into()));
        rules
    })
}

fn now() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::days(20_000)
}

fuzz_target!(|data: &[u8]| {
    // Bytes that are not JSON never reach the function: the Lambda runtime refuses them.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match parse(value, rules(), now()) {
        Ok(Event::Job(job)) => {
            let returned = serde_json::to_value(&job).expect("a job serialises");
            let Ok(Event::Job(again)) = parse(returned, rules(), now()) else {
                panic!("a returned job does not parse back to a job");
            };
            assert_eq!(again, job);
        }
        Ok(Event::Plan(plan)) => {
            assert!(!plan.windows.is_empty() && plan.windows.len() <= MAX_STATE_MACHINE_WINDOWS);
        }
        Ok(Event::Outcomes(_)) => {}
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.matches('`').count() >= 2,
                "a refusal names no field: {message}"
            );
            assert!(
                message.len() < MAX_MESSAGE_BYTES,
                "a {}-byte refusal: {message}",
                message.len()
            );
        }
    }
});
