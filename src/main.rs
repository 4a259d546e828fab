//! Entry point: the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is set (inside Lambda, or under
//! `cargo lambda watch`), the command line otherwise.

#![recursion_limit = "256"]

use std::process::ExitCode;

use fauna_logs_export::redact::RedactingWriter;
use fauna_logs_export::{cli, lambda};
use tracing_subscriber::EnvFilter;

/// The command line's log filter when `RUST_LOG` is unset: our progress, and nothing of the AWS
/// SDK's own chatter below an error (its credential and region probing warns at length).
const CLI_LOG_FILTER: &str = "info,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_runtime=error,aws_sdk_s3=error,aws_sdk_secretsmanager=error";

fn main() -> ExitCode {
    one_malloc_arena();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fauna-logs-export: the async runtime did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

/// Makes glibc keep one malloc arena for the whole process, before any thread starts. By default
/// glibc gives threads that allocate at the same moment arenas of their own, and memory freed in
/// one arena is never reused by another: with the copy's few long-lived part buffers and its low
/// rate of allocation (under 2,000 a second), the extra arenas only add resident memory. A 4 GiB
/// copy peaked at 65.1 MiB RSS with glibc's default and 58.0 MiB with one arena, in the same CPU
/// time (docs/performance.md, "Memory").
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    // SAFETY: mallopt only sets one of the allocator's parameters, and no other thread exists
    // yet. A refusal (it returns 0) leaves glibc's default, which is only more memory.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Other C libraries have their own allocators; nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

async fn run() -> ExitCode {
    // Logs go to stderr, through the one redaction: stdout is the CLI's answer, and the Lambda's
    // metric lines.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // JSON when AWS_LAMBDA_LOG_FORMAT=JSON; the level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
        lambda_runtime::tracing::init_default_subscriber_with_writer(|| {
            RedactingWriter(std::io::stderr())
        });
        match lambda::run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "Lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    } else {
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(CLI_LOG_FILTER));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(|| RedactingWriter(std::io::stderr()))
            .init();
        cli::main().await
    }
}
