//! fauna-logs-export: ships Fauna query logs into an S3 bucket.
//!
//! One export is a [`job::Job`] that moves through a few steps (request → poll → copy → done).
//! Each call of [`step::step`] performs exactly one transition and returns the changed job, so the
//! same code runs one step per Lambda invocation (driven by Step Functions, see [`lambda`]) or as a
//! loop in one process (the command line, see [`cli`]).
//!
//! The modules form layers; each imports only from the layers below it.
//!
//! | layer | modules |
//! |---|---|
//! | entry points | [`lambda`] (one event per invocation), [`cli`] (`run`, `backfill`), `main.rs` |
//! | orchestration | [`step`] (the transitions: [`step`]`/request.rs`, `poll.rs`, `copy.rs`), [`clients`] (building the clients), [`backfill`] (skipping what is done, summaries), [`metrics`], [`config`] (the environment), [`error`] (`StepError` and its `errorType` names) |
//! | engine | [`copy`] (streaming multipart copy; [`copy`]`/part_writer.rs`: bounded parts in flight, resume, abort; [`copy::record`]: the record beside an upload) |
//! | adapters | [`fauna`] (the API client, the file download and where it may go, the account key), [`store`] (the bucket: S3, in-memory), [`manifest`] |
//! | input | [`input`]: every payload shape → one [`input::Event`] (manual request, returned job, Scheduler input, classic Scheduled Event, backfill plan, Map outcomes), one [`input::InvalidJob`] |
//! | model | [`job`] (`Job`, `Step`, `UploadProgress`, `Outcome`), [`scope`] |
//! | bottom | [`time`], [`keys`] (object, manifest and copy-record keys), [`aws_error`], [`retry`], [`verify`] (gunzip and count records as bytes pass, checkpointable), [`tls`] (the root certificates, read once), [`redact`] (the one redaction of upstream text) |

pub mod aws_error;
pub mod backfill;
pub mod cli;
pub mod clients;
pub mod config;
pub mod copy;
pub mod error;
pub mod fauna;
#[cfg(test)]
mod hostile;
pub mod input;
pub mod job;
pub mod keys;
pub mod lambda;
pub mod manifest;
pub mod metrics;
pub mod redact;
pub mod retry;
pub mod scope;
pub mod step;
pub mod store;
pub mod time;
pub mod tls;
pub mod verify;

#[cfg(test)]
mod test_data;

/// How the exporter names itself: the HTTP `User-Agent` of its Fauna calls and the `exporter` of
/// its manifests.
pub const USER_AGENT: &str = concat!("fauna-logs-export/", env!("CARGO_PKG_VERSION"));
