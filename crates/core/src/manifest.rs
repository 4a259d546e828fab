//! The manifest: a small JSON completeness record beside each export, the file a data team
//! checks (and a backfill skips on). It is written last, so its presence means the object before
//! it is complete and verified; an empty window gets a manifest with zero records and no object.
//!
//! It lives in the object's partition with a leading underscore, which Athena and Hive skip:
//! `…/date=2026-11-24/_20261124T000000Z_20261125T000000Z.manifest.json` (see
//! [`crate::keys::manifest_key`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::job::Job;
use crate::scope::Scope;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub request_id: String,
    #[serde(flatten)]
    pub scope: Scope,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    pub bucket: String,
    /// The log file's key; `None` when Fauna had no logs for the window (nothing was written).
    pub key: Option<String>,
    pub bytes: u64,
    pub records: u64,
    /// The first and last record's `TS`; `null` when the window has no records, or when that
    /// record is one of the `long_records`.
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    /// Records longer than the verifier keeps whole (1 MiB): counted in `records`, but their
    /// `TS` is not read.
    pub long_records: u64,
    /// S3's full-object CRC32C of the stored file, base64, as `HeadObject` reports it.
    pub checksum_crc32c: Option<String>,
    pub completed_at: DateTime<Utc>,
    pub exporter: String,
}

impl Manifest {
    /// The manifest of `job`'s window with nothing stored: what an empty window records, and
    /// the base a stored file's manifest fills in.
    pub fn empty(job: &Job, request_id: String, bucket: &str) -> Manifest {
        Manifest {
            request_id,
            scope: job.scope.clone(),
            time_start: job.time_start,
            time_end: job.time_end,
            bucket: bucket.to_owned(),
            key: None,
            bytes: 0,
            records: 0,
            first_ts: None,
            last_ts: None,
            long_records: 0,
            checksum_crc32c: None,
            completed_at: Utc::now(),
            exporter: crate::USER_AGENT.to_owned(),
        }
    }

    /// The manifest as stored: pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings, numbers and timestamps: serialising them cannot fail.
        serde_json::to_vec_pretty(self).expect("a manifest always serialises")
    }
}

/// Content type of manifests.
pub const CONTENT_TYPE: &str = "application/json";
