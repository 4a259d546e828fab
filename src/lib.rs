//! fauna-logs-export: ships Fauna query logs into an S3 bucket.
//!
//! One export is a [`job::Job`] that moves through a few steps (request → poll → copy → done).
//! Each call of [`step::step`] performs exactly one transition and returns the changed job, so the
//! same code runs one step per Lambda invocation (driven by Step Functions, see [`lambda`]) or as a
//! loop in one process (the command line, see [`cli`]).
//!
//! The modules form layers; each imports only from the layers below it. The two lowest, the model
//! and the input, are the crate `fauna-logs-core` (crates/core), which has no AWS SDK and no
//! async runtime, and the verifier is the crate `fauna-logs-verify` (crates/verify): Cargo keeps
//! them below everything else.
//!
//! | layer | modules |
//! |---|---|
//! | entry points | [`lambda`] (one event per invocation), [`cli`] (`run`, `backfill`), `main.rs` |
//! | orchestration | [`step`] (the transitions: [`step`]`/log_request.rs`, `copy.rs`), [`clients`] (building the clients), [`backfill`] (skipping what is done, summaries), [`metrics`], [`config`] (the environment), [`error`] (`StepError` and its `errorType` names) |
//! | engine | [`copy`] (streaming multipart copy; [`copy`]`/part_writer.rs`: bounded parts in flight, resume, abort; [`copy::copy_record`]: the record beside an upload) |
//! | adapters | [`fauna`] (the API client, the file download and where it may go, the account key), [`store`] (the bucket: S3, in-memory) |
//! | bottom | [`aws_error`], [`retry`], [`tls`] (the root certificates, read once) |
//! | verifier (its own crate) | [`verify`] (crates/verify: gunzip and count records as bytes pass, checkpointable; no AWS SDK) |
//! | input (core) | [`input`]: every payload shape → one [`input::Event`] (manual request, returned job, Scheduler input, classic Scheduled Event, backfill plan, Map outcomes), one [`input::InvalidJob`] |
//! | model (core) | [`manifest`], [`job`] (`Job`, `Step`, `UploadProgress`, `Outcome`), [`scope`], [`time`], [`keys`] (object, manifest and copy-record keys), [`redact`] (the one redaction of upstream text) |

pub(crate) mod aws_error;
pub mod backfill;
pub mod cli;
pub mod clients;
pub mod config;
pub mod copy;
pub mod error;
pub mod fauna;
#[cfg(test)]
mod hostile;
pub mod lambda;
pub(crate) mod metrics;
pub mod retry;
pub mod step;
pub mod store;
pub(crate) mod tls;

#[cfg(test)]
mod test_data;

// The model (crates/core: no AWS SDK, no tokio), re-exported where the exporter has always named it.
pub use fauna_logs_core::{USER_AGENT, input, job, keys, manifest, redact, scope, shown, time};
// The copy's integrity check (crates/verify: gunzip, every line JSON, its checkpoint).
pub use fauna_logs_verify as verify;
