//! fauna-logs-export: ships Fauna query logs into an S3 bucket.
//!
//! One export is a [`job::Job`] that moves through a few steps (request → poll → copy → done).
//! Each call of [`step::step`] performs exactly one transition and returns the changed job, so the
//! same code runs one step per Lambda invocation (driven by Step Functions, see [`lambda`]) or as a
//! loop in one process (the command line, see [`cli`]).
//!
//! Where each part lives:
//! - [`job`]: the payload, its parsing and validation, and the destination key.
//! - [`schedule`]: the window a scheduled run exports.
//! - [`backfill`]: many windows × many scopes: the plan, and the summary of how they went.
//! - [`config`]: environment → [`config::Config`], read once per process.
//! - [`fauna`]: the Fauna Account API client (request, status, renew URL) and the file download.
//! - [`store`]: the destination bucket (S3) behind a small trait.
//! - [`copy`]: streaming the log file into the bucket: bounded multipart upload, resume, checksum.
//! - [`verify`]: gunzipping the file as it passes, counting records.
//! - [`manifest`]: the completeness record written beside each export.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines from the Lambda.
//! - [`step`]: the transitions.
//! - [`error`]: the typed errors and their stable `errorType` names.

pub mod backfill;
pub mod cli;
pub mod config;
pub mod copy;
pub mod error;
pub mod fauna;
pub mod job;
pub mod lambda;
pub mod manifest;
pub mod metrics;
pub mod retry;
pub mod schedule;
pub mod step;
pub mod store;
pub mod verify;
