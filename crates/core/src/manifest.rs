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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    /// The stored manifest is pretty JSON of every field, the scope flattened into it.
    #[test]
    fn the_stored_manifest_is_its_fields_as_pretty_json() {
        let start = parse_rfc3339("2026-11-24T00:00:00Z").unwrap();
        let end = parse_rfc3339("2026-11-25T00:00:00Z").unwrap();
        let job = Job::new(Scope::Database("us-std/ECommerce".into()), start, end, "p");
        let manifest = Manifest::empty(&job, "req-1".into(), "bucket");
        let bytes = manifest.to_json();
        assert!(
            bytes.starts_with(b"{\n  \""),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["request_id"], "req-1");
        assert_eq!(json["database"], "us-std/ECommerce");
        assert_eq!(json["bucket"], "bucket");
        assert_eq!(json["time_start"], "2026-11-24T00:00:00Z");
        assert_eq!(
            (json["bytes"].as_u64(), json["records"].as_u64()),
            (Some(0), Some(0))
        );
        assert!(json["key"].is_null() && json["checksum_crc32c"].is_null());
        assert_eq!(json["exporter"], crate::USER_AGENT);
    }
}
