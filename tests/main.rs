//! The integration tests: one binary (one link of the exporter and the AWS SDK), a module per
//! area. They run the real parts on loopback: the exporter's binary and library, the Fauna
//! simulator, moto behind the strict S3 front, `cargo lambda watch`, Step Functions in moto
//! (`support`); and whole exports in-process on the test's clock (`support::in_process`,
//! `store_faults`). `cargo nextest run --all-features -E 'test(/^fault_matrix::/)'` runs one area.

mod support;

mod backfill;
mod backfill_state_machine;
mod bucket_owner_and_key;
mod chaos;
mod cli;
mod concurrent_runs;
mod download_guard;
mod events;
mod export;
mod fault_matrix;
mod lambda_runtime;
mod layers;
mod resume;
mod state_machine;
mod store_faults;
