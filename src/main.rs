//! Entry point: the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is set (inside Lambda, or under
//! `cargo lambda watch`), the command line otherwise.

#![recursion_limit = "256"]

use std::process::ExitCode;

use fauna_logs_export::{cli, lambda};
use tracing_subscriber::EnvFilter;

/// The command line's log filter when `RUST_LOG` is unset: our progress, and nothing of the AWS
/// SDK's own chatter below an error (its credential and region probing warns at length).
const CLI_LOG_FILTER: &str = "info,aws_config=error,aws_smithy_runtime=error,aws_smithy_runtime_api=error,aws_runtime=error,aws_sdk_s3=error,aws_sdk_secretsmanager=error";

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout is the CLI's answer, and the Lambda's metric lines.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // JSON when AWS_LAMBDA_LOG_FORMAT=JSON; the level from AWS_LAMBDA_LOG_LEVEL or RUST_LOG.
        lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
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
            .with_writer(std::io::stderr)
            .init();
        cli::main().await
    }
}
