//! The command line: `fauna-logs-export run …` runs the same steps as the Lambda, in one process.
//!
//! It sleeps between steps as the job says, retries a retryable failure a few times the way the
//! state machine's `Retry` does, writes progress to stderr and the final job as one JSON object to
//! stdout. Exit status: 0 done, 1 the export failed, 2 bad arguments or configuration. Arguments
//! and settings are checked before any client is built or any request is made.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::{ArgGroup, Args, Parser, Subcommand};
use futures_util::{StreamExt, stream};

use crate::backfill::{self, Summary};
use crate::clients::Deps;
use crate::config::{Config, ENVIRONMENT_HELP};
use crate::fauna::{FaunaClient, LogsApi};
use crate::input::backfill::{DEFAULT_MAX_CONCURRENCY, MAX_CONCURRENCY, PlanRequest};
use crate::input::job::{new_job, scope, time};
use crate::input::{InvalidJob, JobRules, Plan};
use crate::job::{Job, Outcome, Step};
use crate::redact::redact;
use crate::retry::RetryPolicy;
use crate::scope::Scope;
use crate::step::step;
use crate::store::{ObjectStore, S3Store};
use crate::time::{Granularity, rfc3339};

#[derive(Debug, Parser)]
#[command(
    name = "fauna-logs-export",
    version,
    about = "Export Fauna query logs into an S3 bucket: an AWS Lambda, and this command line",
    long_about = "Export Fauna query logs into an S3 bucket.\n\nRun inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it performs one step per invocation, driven by a Step Functions state machine. Run here, `run` performs a whole export in this process.",
    after_help = ENVIRONMENT_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Export one window now: request the logs, poll until ready, copy the file into the bucket.
    ///
    /// Progress goes to stderr; the final job is printed to stdout as one JSON object.
    #[command(after_help = ENVIRONMENT_HELP)]
    Run(RunArgs),
    /// Export the past: every hour or day of [--from, --to) for each scope, a few at a time.
    ///
    /// Windows whose manifest is already in the bucket are skipped unless --force. Progress goes
    /// to stderr, one line per finished window; the summary table goes to stdout. Exits 1 if any
    /// window failed, naming them, and 2 on bad input or configuration.
    #[command(after_help = ENVIRONMENT_HELP)]
    Backfill(BackfillArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["databases", "region_group"])))]
struct BackfillArgs {
    /// Database paths, each starting with its region group: --database us-std/A us-std/B (or the
    /// flag repeated)
    #[arg(long = "database", value_name = "PATH", num_args = 1..)]
    databases: Vec<String>,
    /// A whole region group, e.g. us-std
    #[arg(long, value_name = "RG")]
    region_group: Option<String>,
    /// Start of the range (included), RFC 3339, on a boundary of --window
    #[arg(long, value_name = "RFC3339")]
    from: String,
    /// End of the range (excluded), RFC 3339, on a boundary of --window, not in the future
    #[arg(long, value_name = "RFC3339")]
    to: String,
    /// Length of each exported window
    #[arg(long, value_name = "1h|1d", default_value = "1d")]
    window: String,
    /// Exports running at once
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CONCURRENCY)))]
    concurrency: u32,
    /// Export windows again even if their manifest is already in the bucket
    #[arg(long)]
    force: bool,
}

/// The most windows one `backfill` command runs (ten years of hours for one database).
const MAX_CLI_WINDOWS: usize = 100_000;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["database", "region_group"])))]
struct RunArgs {
    /// A database path that starts with its region group, e.g. us-std/ECommerce
    #[arg(long, value_name = "PATH")]
    database: Option<String>,
    /// A whole region group, e.g. us-std
    #[arg(long, value_name = "RG")]
    region_group: Option<String>,
    /// Start of the window (included), RFC 3339, e.g. 2026-11-24T00:00:00Z
    #[arg(long, value_name = "RFC3339")]
    start: String,
    /// End of the window (excluded), RFC 3339; at most 90 days after --start
    #[arg(long, value_name = "RFC3339")]
    end: String,
}

/// How often the CLI runs a step again after a retryable failure (like the state machine's Retry).
pub const STEP_RETRIES: u32 = 3;

/// Parses the arguments and runs the command.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Backfill(args) => backfill(args).await,
    }
}

/// A bad argument or setting: printed, and exit status 2.
fn refuse(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {}", redact(&e.to_string()));
    ExitCode::from(2)
}

async fn run(args: RunArgs) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return refuse(e),
    };
    let job = match run_job(&args, &config.rules) {
        Ok(job) => job,
        Err(e) => return refuse(e),
    };
    let deps = match connect(config).await {
        Ok(deps) => deps,
        Err(exit) => return exit,
    };
    let job = run_to_end(job, &deps, StepLines::Print, std::io::stderr()).await;
    match serde_json::to_string(&job) {
        Ok(line) => println!("{}", redact(&line)),
        Err(e) => eprintln!("error: cannot print the job: {e}"),
    }
    match (&job.step, &job.error) {
        (Step::Done, _) => ExitCode::SUCCESS,
        (_, Some(failure)) => {
            eprintln!("error ({}): {}", failure.error_type, failure.message);
            ExitCode::FAILURE
        }
        _ => ExitCode::FAILURE,
    }
}

/// The clients, built as a step would be run: a transient failure (the key's secret unreadable
/// for a moment) is tried again STEP_RETRIES times, then exits 1, as a step that keeps failing
/// does; a bad setting exits 2.
async fn connect(config: Config) -> Result<Deps<FaunaClient, S3Store>, ExitCode> {
    let backoff = step_backoff();
    let mut retries = 0;
    loop {
        match Deps::connect(config.clone()).await {
            Ok(deps) => return Ok(deps),
            Err(e) if e.is_retryable() && retries < STEP_RETRIES => {
                retries += 1;
                let delay = backoff.backoff(retries + 1);
                eprintln!(
                    "starting failed ({}): {}; trying again in {:.1}s",
                    e.error_type(),
                    redact(&e.to_string()),
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
            }
            Err(e) if e.is_retryable() => {
                let failure = e.failure();
                eprintln!("error ({}): {}", failure.error_type, failure.message);
                return Err(ExitCode::FAILURE);
            }
            Err(e) => return Err(refuse(e)),
        }
    }
}

/// The waits between tries of a step that failed transiently.
fn step_backoff() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(30),
        ..RetryPolicy::default()
    }
}

/// The job `run` exports, checked as the Lambda checks a manual request.
fn run_job(args: &RunArgs, rules: &JobRules) -> Result<Job, InvalidJob> {
    let scope = scope(args.database.clone(), args.region_group.clone(), rules)?;
    let start = time("time_start", &args.start)?;
    let end = time("time_end", &args.end)?;
    new_job(scope, start, end, rules)
}

/// Whether [`run_to_end`] prints each transition (one export) or only retries (a backfill).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepLines {
    Print,
    Quiet,
}

/// Steps `job` until it is done or failed, sleeping as it says in between. Progress lines (each
/// transition with [`StepLines::Print`], each retry) go to `progress`: stderr for the command
/// line, a buffer for a test.
pub async fn run_to_end<A: LogsApi, S: ObjectStore>(
    mut job: Job,
    deps: &Deps<A, S>,
    lines: StepLines,
    mut progress: impl std::io::Write,
) -> Job {
    let backoff = step_backoff();
    let mut retries = 0;
    while !job.step.is_terminal() {
        let before = job.step;
        match step(job.clone(), deps, None).await {
            Ok(next) => {
                retries = 0;
                job = next;
                if lines == StepLines::Print {
                    let _ = writeln!(
                        progress,
                        "{before} → {}{}",
                        job.step,
                        if job.wait_seconds > 0 && !job.step.is_terminal() {
                            format!(" (next in {}s)", job.wait_seconds)
                        } else {
                            String::new()
                        }
                    );
                }
                if !job.step.is_terminal() && job.wait_seconds > 0 {
                    tokio::time::sleep(Duration::from_secs(job.wait_seconds)).await;
                }
            }
            Err(e) if e.is_retryable() && retries < STEP_RETRIES => {
                retries += 1;
                let delay = backoff.backoff(retries + 1);
                let whose = match lines {
                    StepLines::Print => String::new(),
                    StepLines::Quiet => format!("{}: ", job.window_name()),
                };
                let _ = writeln!(
                    progress,
                    "{whose}{before} failed ({}): {}; trying again in {:.1}s",
                    e.error_type(),
                    redact(&e.to_string()),
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
            }
            // The export ends: it lets go of the upload and copy record it holds.
            Err(e) => job = crate::step::give_up(job, deps, e.failure()).await,
        }
    }
    job
}

async fn backfill(args: BackfillArgs) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return refuse(e),
    };
    let plan = match backfill_plan(&args, &config.rules) {
        Ok(plan) => plan,
        Err(e) => return refuse(e),
    };
    let deps = match connect(config).await {
        Ok(deps) => deps,
        Err(exit) => return exit,
    };
    let concurrency = plan.max_concurrency as usize;
    let planned = plan.windows.len();
    let (pending, skipped) = match backfill::pending(plan, &deps.store).await {
        Ok(split) => split,
        Err(e) => {
            eprintln!("error: cannot look for the manifests of earlier exports: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "backfill: {planned} windows; {} already exported (skipped); exporting {}, {concurrency} at a time",
        skipped.len(),
        pending.len()
    );
    let total = pending.len();
    let started = Instant::now();
    let mut finished: Vec<Job> = Vec::with_capacity(total);
    let mut exports = stream::iter(pending)
        .map(|job| {
            let deps = &deps;
            async move {
                let began = Instant::now();
                (
                    run_to_end(job, deps, StepLines::Quiet, std::io::stderr()).await,
                    began.elapsed(),
                )
            }
        })
        .buffer_unordered(concurrency);
    while let Some((job, took)) = exports.next().await {
        eprintln!(
            "[{:>width$}/{total}] {} {}: {}",
            finished.len() + 1,
            outcome_word(&job),
            job.window_name(),
            match &job.error {
                Some(f) => format!("{} ({})", f.error_type, f.message),
                None => format!(
                    "{} bytes, {} records, {:.1}s",
                    job.bytes.unwrap_or(0),
                    job.records.unwrap_or(0),
                    took.as_secs_f64()
                ),
            },
            width = total.to_string().len()
        );
        finished.push(job);
    }
    drop(exports);
    let elapsed = started.elapsed();
    finished.sort_by(|a, b| (a.time_start, &a.key).cmp(&(b.time_start, &b.key)));
    let outcomes: Vec<(&str, Outcome)> = finished
        .iter()
        .map(|job| (job.key.as_str(), job.outcome()))
        .chain(
            skipped
                .iter()
                .map(|job| (job.key.as_str(), Outcome::Skipped)),
        )
        .collect();
    // With a failed window, the report of every window goes to the bucket, as the state
    // machine's Summarize writes it.
    let summary = match backfill::summarize(&outcomes, &deps.store, &deps.config.rules.prefix).await
    {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("error: could not write the backfill's report: {e}");
            Summary::of(outcomes.iter().map(|(k, o)| (*k, o)))
        }
    };
    print_table(&finished, &skipped);
    println!("{}", summary.summary);
    eprintln!(
        "backfill: {total} exports in {:.1}s ({:.1} per minute)",
        elapsed.as_secs_f64(),
        total as f64 * 60.0 / elapsed.as_secs_f64().max(0.001)
    );
    if summary.failed > 0 {
        eprintln!("error: {} windows failed:", summary.failed);
        for job in finished.iter().filter(|j| j.error.is_some()) {
            if let Some(f) = &job.error {
                eprintln!("  {}: {} ({})", job.window_name(), f.error_type, f.message);
            }
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The plan `backfill` runs, checked as the Lambda checks a plan entry.
fn backfill_plan(args: &BackfillArgs, rules: &JobRules) -> Result<Plan, String> {
    let Some(granularity) = Granularity::parse(&args.window) else {
        return Err(format!(
            "--window {:?} is not a window length: use 1h or 1d",
            args.window
        ));
    };
    let scopes = match &args.region_group {
        Some(rg) => vec![Scope::RegionGroup(rg.clone())],
        None => args
            .databases
            .iter()
            .cloned()
            .map(Scope::Database)
            .collect(),
    };
    let request = PlanRequest {
        scopes,
        from: time("from", &args.from).map_err(|e| e.to_string())?,
        to: time("to", &args.to).map_err(|e| e.to_string())?,
        granularity,
        force: args.force,
        max_concurrency: Some(args.concurrency),
    };
    Plan::new(request, rules, MAX_CLI_WINDOWS, Utc::now()).map_err(|e| e.to_string())
}

/// How an exported window ended, in the progress lines and the table.
fn outcome_word(job: &Job) -> &'static str {
    if job.error.is_some() {
        "FAILED"
    } else {
        "done"
    }
}

/// One row per window: exported ones in time order, then the skipped ones.
fn print_table(finished: &[Job], skipped: &[Job]) {
    let rows: Vec<[String; 5]> = finished
        .iter()
        .map(|job| {
            [
                rfc3339(job.time_start),
                job.scope.to_string(),
                outcome_word(job).to_owned(),
                job.bytes.map(|b| b.to_string()).unwrap_or_default(),
                match &job.error {
                    Some(f) => f.error_type.clone(),
                    None => job.records.map(|r| r.to_string()).unwrap_or_default(),
                },
            ]
        })
        .chain(skipped.iter().map(|job| {
            [
                rfc3339(job.time_start),
                job.scope.to_string(),
                "skipped".to_owned(),
                String::new(),
                String::new(),
            ]
        }))
        .collect();
    let header = [
        "window start",
        "scope",
        "outcome",
        "bytes",
        "records / error",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    for row in &rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_are_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exactly_one_scope_is_required() {
        let parse = |args: &[&str]| Cli::try_parse_from(args);
        assert!(parse(&["x", "run", "--start", "a", "--end", "b"]).is_err());
        assert!(
            parse(&[
                "x",
                "run",
                "--database",
                "us-std/A",
                "--region-group",
                "us-std",
                "--start",
                "a",
                "--end",
                "b"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "x",
                "run",
                "--database",
                "us-std/A",
                "--start",
                "a",
                "--end",
                "b"
            ])
            .is_ok()
        );
    }

    #[test]
    fn help_documents_the_environment() {
        let help = Cli::command().render_long_help().to_string();
        for var in [
            "FAUNA_ACCOUNT_URL",
            "FAUNA_ACCOUNT_KEY",
            "LOGS_BUCKET",
            "LOGS_PREFIX",
            "POLL_INTERVAL_SECONDS",
            "S3_FORCE_PATH_STYLE",
            "AWS_ENDPOINT_URL_S3",
        ] {
            assert!(help.contains(var), "{var} missing from --help");
        }
    }
}
