//! One seed's export against the hostile Fauna: the real [`FaunaClient`] and the watched
//! in-memory bucket, driven as the command line drives it (`cli::run_to_end`) or as Step
//! Functions does (one `step::step` per invocation, each with a deadline), on the test's clock;
//! then the run judged by [`invariants`](super::invariants).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use fastrand::Rng;
use tokio::time::Instant;
use url::Url;

use super::clock::{ClockWaits, keep_time};
use super::grammar::{Driver, Plan};
use super::invariants::{self, Observed, Seeded, StepTiming};
use super::server::HostileServer;
use super::store::WatchedStore;
use super::world::{ClientPatience, World};
use super::{
    LogLines, MAX_REQUEST_ATTEMPTS, PART_SIZE, POLL_INTERVAL, POLL_INTERVAL_MAX, RETRY, TIMEOUTS,
};
use crate::cli::{STEP_RETRIES, StepLines, run_to_end};
use crate::clients::Deps;
use crate::config::Config;
use crate::fauna::{AccountKey, FaunaClient};
use crate::input::{Event, parse};
use crate::job::Job;
use crate::step::step;
use crate::store::ObjectStore;

/// A run that has not ended after this long on the test's clock is stopped and judged.
const GIVE_UP_AFTER: Duration = Duration::from_secs(6 * 3600);

fn account_key(seed: u64) -> String {
    format!("fnAE_hostile_{seed}_secretkey")
}

fn config(base: &str, key: &str) -> Config {
    let mut config = Config::from_lookup(|name| {
        let value = match name {
            "FAUNA_ACCOUNT_URL" => base.to_owned(),
            "FAUNA_ACCOUNT_KEY" => key.to_owned(),
            "LOGS_BUCKET" => "hostile-bucket".to_owned(),
            "POLL_INTERVAL_SECONDS" => POLL_INTERVAL.to_string(),
            "POLL_INTERVAL_MAX_SECONDS" => POLL_INTERVAL_MAX.to_string(),
            "MAX_REQUEST_ATTEMPTS" => MAX_REQUEST_ATTEMPTS.to_string(),
            "MAX_PARTS_IN_FLIGHT" => "2".to_owned(),
            _ => return None,
        };
        Some(value)
    })
    .expect("a valid configuration");
    config.part_size = PART_SIZE;
    config.timeouts = TIMEOUTS;
    config
}

fn new_job(plan: &Plan, config: &Config) -> Job {
    let (start, end) = (super::world::START, super::world::END);
    let payload = if plan.region_group_scope {
        serde_json::json!({"region_group": "us-std", "time_start": start, "time_end": end})
    } else {
        serde_json::json!({"database": "us-std/ECommerce", "time_start": start, "time_end": end})
    };
    match parse(payload, &config.rules, Utc::now()) {
        Ok(Event::Job(job)) => job,
        other => panic!("the test's job does not parse: {other:?}"),
    }
}

/// Leaves what a killed copy of another request left at the key: an upload of another file's
/// first `parts` parts, and its record, whose process is gone.
async fn leave_foreign_upload(store: &WatchedStore, key: &str, parts: u32, file: &[u8]) -> Seeded {
    let inner = &store.inner;
    let upload = inner.create_multipart(key).await.expect("memory");
    for (n, part) in file.chunks(PART_SIZE).take(parts as usize).enumerate() {
        let number = i32::try_from(n + 1).expect("few parts");
        let part = bytes::Bytes::copy_from_slice(part);
        inner
            .upload_part(key, &upload, number, part)
            .await
            .expect("memory");
    }
    let mut owner =
        serde_json::to_value(crate::copy::copy_record::Owner::this_process()).expect("serialises");
    owner["started"] = (owner["started"].as_u64().unwrap_or(0) + 1).into();
    let record = serde_json::json!({
        "upload_id": upload,
        "request_id": "req-gone",
        "file_size": file.len(),
        "part_size": PART_SIZE,
        "owner": owner,
    });
    let record = serde_json::to_vec(&record).expect("serialises");
    let record_key = crate::keys::copy_record_key(key, "req-gone");
    inner
        .put_object(&record_key, record.clone().into(), "application/json")
        .await
        .expect("memory");
    Seeded {
        upload: Some(upload),
        record: Some(record),
    }
}

/// What a drive gives back besides the job: each step's timing and each step error.
#[derive(Default)]
struct Drive {
    steps: Vec<StepTiming>,
    errors: Vec<(String, String)>,
}

/// The most invocations a run by steps may take.
const MAX_INVOCATIONS: u32 = 400;

/// Step by step, as Step Functions drives it: a deadline per invocation (already past, soon,
/// later, none); a retryable error tried again STEP_RETRIES times; a final one makes the job
/// failed, handed back once to let go of what it holds; now and then an invocation's answer
/// is lost and the same job runs again. The waits between invocations are the state
/// machine's, which no step observes (it reads the wall clock, which the test's does not
/// move): they are left out, so that the test's clock stays near the process's, which an older
/// tree's copy read.
async fn drive_steps(
    seed: u64,
    mut job: Job,
    deps: &Deps<FaunaClient, WatchedStore>,
    world: &Mutex<World>,
    drive: &Mutex<Drive>,
) -> Job {
    let mut rng = Rng::with_seed(seed ^ 0xd21e);
    let mut retries = 0;
    for invocation in 1..=MAX_INVOCATIONS {
        world.lock().expect("world").invocation = invocation;
        let budget = match rng.u32(0..20) {
            0..6 => Some(Duration::ZERO),
            6..10 => Some(Duration::from_millis(rng.u64(100..5_000))),
            10..15 => Some(Duration::from_secs(rng.u64(5..60))),
            _ => None,
        };
        let started = Instant::now();
        // On both clocks the code may read: the test's (tokio's) and the process's.
        let now = started.into_std().min(std::time::Instant::now());
        let deadline = budget.map(|b| now + b);
        let before = job.step;
        let result = step(job.clone(), deps, deadline).await;
        drive.lock().expect("drive").steps.push(StepTiming {
            invocation,
            step: before,
            budget: deadline.map(|d| d.saturating_duration_since(started.into_std())),
            took: started.elapsed(),
        });
        match result {
            Ok(next) if next.step.is_terminal() => return next,
            Ok(_) if rng.u32(0..10) == 0 => {}
            Ok(next) => {
                retries = 0;
                job = next;
            }
            Err(e) => {
                let shown = (format!("{e}"), format!("{e:?}"));
                drive.lock().expect("drive").errors.push(shown);
                if e.is_retryable() && retries < STEP_RETRIES {
                    retries += 1;
                    continue;
                }
                let failed = job.fail(e.failure());
                world.lock().expect("world").invocation = invocation + 1;
                let _ = step(failed.clone(), deps, None).await;
                return failed;
            }
        }
    }
    job
}

/// Runs seed `seed`'s plan: a line on how it ended, or the invariants it broke with what
/// reproduces them.
/// `blocking` names the runtime's blocking threads.
pub async fn exercise(
    seed: u64,
    plan: Plan,
    logs: LogLines,
    blocking: &str,
) -> Result<String, String> {
    let key = account_key(seed);
    let clock = Arc::new(ClockWaits::default());
    let patience = ClientPatience {
        max_delay: RETRY.max_delay,
        max_retry_after: RETRY.max_retry_after,
    };
    let world = World::new(plan.clone(), &key, patience);
    let server = HostileServer::start(world, Arc::clone(&clock)).await;
    let config = config(&server.base, &key);
    let base = Url::parse(&server.base).expect("a URL");
    let api = FaunaClient::new(base, AccountKey::new(key.clone()), None, RETRY, TIMEOUTS)
        .expect("a client");
    let store = WatchedStore::new(plan.moto_like_store);
    let job = new_job(&plan, &config);
    let deps = Deps {
        api,
        store: store.clone(),
        config,
    };
    let seeded = match plan.foreign_upload {
        Some(parts) => {
            let file = server.world.lock().expect("world").foreign_file();
            leave_foreign_upload(&store, &job.key, parts, &file).await
        }
        None => Seeded::default(),
    };
    let drive = Mutex::new(Drive::default());
    let started = Instant::now();
    let run = async {
        match plan.driver {
            Driver::Run => {
                run_to_end(job.clone(), &deps, StepLines::Quiet, std::io::stderr()).await
            }
            Driver::Steps => drive_steps(seed, job.clone(), &deps, &server.world, &drive).await,
        }
    };
    let ended = keep_time(&clock, blocking, tokio::time::timeout(GIVE_UP_AFTER, run)).await;
    let took = started.elapsed();
    let (ended, job) = match ended {
        Ok(job) => (true, job),
        Err(_) => (false, job),
    };
    let drive = drive.into_inner().expect("drive");
    let mut outputs = vec![(
        "the job JSON".to_owned(),
        serde_json::to_string(&job).expect("a job serialises"),
    )];
    for (display, debug) in &drive.errors {
        outputs.push(("a step error".into(), display.clone()));
        outputs.push(("a step error's Debug".into(), debug.clone()));
    }
    let log = String::from_utf8_lossy(&logs.0.lock().expect("log")).into_owned();
    if let Some(dir) = std::env::var_os("HOSTILE_LOG_DIR") {
        let path = std::path::Path::new(&dir).join(format!("seed-{seed}.log"));
        std::fs::write(&path, &log).expect("HOSTILE_LOG_DIR is writable");
    }
    outputs.push(("the log".into(), log.clone()));
    let world = server.world.lock().expect("world");
    let broken = invariants::broken(&Observed {
        account_key: &key,
        job: &job,
        outputs,
        took,
        ended,
        steps: &drive.steps,
        store: &store,
        seeded: &seeded,
        world: &world,
        part_size: PART_SIZE,
    });
    if broken.is_empty() {
        let mut line = summary(seed, &plan, &job, took, &world, drive.steps.len());
        if std::env::var("HOSTILE_VERBOSE").is_ok_and(|v| v == "answers") {
            line.push('\n');
            line.push_str(&report(&[], &job, took, &world, &log));
        }
        return Ok(line);
    }
    Err(report(&broken, &job, took, &world, &log))
}

/// How a run that broke nothing ended, in a line.
fn summary(
    seed: u64,
    plan: &Plan,
    job: &Job,
    took: Duration,
    world: &World,
    steps: usize,
) -> String {
    let mut struck: Vec<String> = world
        .answers
        .iter()
        .flat_map(|a| &a.faults)
        .map(|f| {
            let name = format!("{f:?}");
            name.split([' ', '(', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    struck.sort();
    struck.dedup();
    format!(
        "seed {seed} ({:?}): {} {}, {took:?} on the test's clock, {} answers, {steps} invocations; {struck:?}",
        plan.driver,
        job.step,
        job.error.as_ref().map_or("", |e| e.error_type.as_str()),
        world.answers.len(),
    )
}

/// What broke, the job, the last answers and log lines.
fn report(broken: &[String], job: &Job, took: Duration, world: &World, log: &str) -> String {
    let mut report = String::new();
    for b in broken {
        report.push_str(&format!("  BROKEN {b}\n"));
    }
    report.push_str(&format!(
        "  the job: {}\n  ran {took:?} on the test's clock; the last answers:\n",
        serde_json::to_string(job).unwrap_or_default()
    ));
    let skip = world.answers.len().saturating_sub(40);
    for (n, a) in world.answers.iter().enumerate().skip(skip) {
        report.push_str(&format!(
            "    #{} (invocation {}) {} [wrote {} of {} body bytes]\n",
            n + 1,
            a.invocation,
            a.line,
            a.written,
            a.planned
        ));
    }
    report.push_str("  the last log lines:\n");
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    for line in tail.iter().rev() {
        report.push_str(&format!("    {line}\n"));
    }
    report
}
