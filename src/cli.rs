//! The command line: `fauna-logs-export run …` runs the same steps as the Lambda, in one process.
//!
//! It sleeps between steps as the job says, retries a retryable failure a few times the way the
//! state machine's `Retry` does, writes progress to stderr and the final job as one JSON object to
//! stdout. Exit status: 0 done, 1 the export failed, 2 bad arguments or configuration.

use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use serde_json::json;

use crate::config::ENVIRONMENT_HELP;
use crate::error::StepError;
use crate::fauna::LogsApi;
use crate::job::{Job, JobFailure, Step};
use crate::retry::RetryPolicy;
use crate::step::{Deps, step};
use crate::store::ObjectStore;

#[derive(Debug, Parser)]
#[command(
    name = "fauna-logs-export",
    version,
    about = "Export Fauna query logs into an S3 bucket: an AWS Lambda, and this command line",
    long_about = "Export Fauna query logs into an S3 bucket.\n\nRun inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) it performs one step per invocation, driven by a Step Functions state machine. Run here, `run` performs a whole export in this process.",
    after_help = ENVIRONMENT_HELP
)]
pub struct Cli {
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
}

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
const STEP_RETRIES: u32 = 3;

/// Parses the arguments and runs the command.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args).await,
    }
}

async fn run(args: RunArgs) -> ExitCode {
    let deps = match Deps::from_env().await {
        Ok(deps) => deps,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let entry = match (args.database, args.region_group) {
        (Some(db), _) => json!({"database": db, "time_start": args.start, "time_end": args.end}),
        (None, rg) => json!({"region_group": rg, "time_start": args.start, "time_end": args.end}),
    };
    let job = match Job::from_value(entry, &deps.config.job_rules()) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let job = run_to_end(job, &deps).await;
    match serde_json::to_string(&job) {
        Ok(line) => println!("{line}"),
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

/// Steps `job` until it is done or failed, sleeping as it says in between.
pub async fn run_to_end<A: LogsApi, S: ObjectStore>(mut job: Job, deps: &Deps<A, S>) -> Job {
    let backoff = RetryPolicy {
        base_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(30),
        ..RetryPolicy::default()
    };
    let mut retries = 0;
    while !job.step.is_terminal() {
        let before = job.step;
        match step(job.clone(), deps, None).await {
            Ok(next) => {
                retries = 0;
                job = next;
                eprintln!(
                    "{before} → {}{}",
                    job.step,
                    if job.wait_seconds > 0 && !job.step.is_terminal() {
                        format!(" (next in {}s)", job.wait_seconds)
                    } else {
                        String::new()
                    }
                );
                if !job.step.is_terminal() && job.wait_seconds > 0 {
                    tokio::time::sleep(Duration::from_secs(job.wait_seconds)).await;
                }
            }
            Err(e) if e.is_retryable() && retries < STEP_RETRIES => {
                retries += 1;
                let delay = backoff.backoff(retries + 1);
                eprintln!(
                    "{before} failed ({}): {e}; trying again in {:.1}s",
                    e.error_type(),
                    delay.as_secs_f64()
                );
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                job.error = Some(failure(&e));
                job.step = Step::Failed;
                job.wait_seconds = 0;
            }
        }
    }
    job
}

fn failure(e: &StepError) -> JobFailure {
    JobFailure {
        error_type: e.error_type().to_owned(),
        message: e.to_string(),
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
