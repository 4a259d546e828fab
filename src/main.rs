//! Entry point: the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is set (inside Lambda, or under
//! `cargo lambda watch`), the command line otherwise.

#![recursion_limit = "256"]

use std::process::ExitCode;

use fauna_logs_export::{cli, lambda};

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout is the CLI's answer. JSON when AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        match lambda::run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "Lambda runtime stopped");
                ExitCode::FAILURE
            }
        }
    } else {
        cli::main().await
    }
}
