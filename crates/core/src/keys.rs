//! Where things land in the bucket: the object key of a scope and window, the manifest's key
//! beside it, and Hive's escaping of partition values.
//!
//! `{prefix}/region_group={rg}/database={db}/date={YYYY-MM-DD}/{start}_{end}.jsonl.gz`, where `db`
//! is the database path below the region group, Hive-escaped (`/` becomes `%2F`), or
//! [`WHOLE_REGION_GROUP`] for a region-group export, and `date` is the day the window starts. The
//! key is deterministic, so a re-run overwrites instead of duplicating.

use chrono::{DateTime, Utc};

/// S3's limit on an object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// The `database=` partition of a region-group export.
pub const WHOLE_REGION_GROUP: &str = "__all__";

/// The object key of the logs of `region_group` (and `database`, the path below it, if the
/// export is of one database) from `start` to `end`.
pub fn object_key(
    prefix: &str,
    region_group: &str,
    database: Option<&str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    let name = format!(
        "region_group={}/database={}/date={}/{}_{}.jsonl.gz",
        hive_escape(region_group),
        database.map_or_else(|| WHOLE_REGION_GROUP.to_owned(), hive_escape),
        start.format("%Y-%m-%d"),
        start.format("%Y%m%dT%H%M%SZ"),
        end.format("%Y%m%dT%H%M%SZ"),
    );
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// The manifest's key for an object key: same folder, `_{window}.manifest.json`. The leading
/// underscore hides it from Athena and Hive.
pub fn manifest_key(object_key: &str) -> String {
    let (folder, name) = match object_key.rsplit_once('/') {
        Some((folder, name)) => (format!("{folder}/"), name),
        None => (String::new(), object_key),
    };
    let stem = name.strip_suffix(".jsonl.gz").unwrap_or(name);
    format!("{folder}_{stem}.manifest.json")
}

/// The key of the copy record of request `request_id`'s copy beside an object's multipart upload
/// (which upload, whose, and the verifier's checkpoint): same folder,
/// `_{window}.{request_id}.copy.json`, hidden from Athena like the manifest. One per request, so
/// that two runs of a window (two requests) each keep theirs, and each can tell the other's live
/// upload from one a killed run left.
pub fn copy_record_key(object_key: &str, request_id: &str) -> String {
    format!(
        "{}{}.copy.json",
        copy_records_prefix(object_key),
        hive_escape(request_id)
    )
}

/// What every copy record of an object's key starts with (list it, keep the `.copy.json` ones).
pub fn copy_records_prefix(object_key: &str) -> String {
    let manifest = manifest_key(object_key);
    let stem = manifest.strip_suffix(".manifest.json").unwrap_or(&manifest);
    format!("{stem}.")
}

/// Escapes a partition value the way Hive does: anything but letters, digits, `-`, `_` and `.`
/// becomes `%XX`.
pub fn hive_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn keys_are_hive_partitions() {
        let start = parse_rfc3339("2026-11-24T00:00:00Z").unwrap();
        let end = parse_rfc3339("2026-11-25T00:00:00Z").unwrap();
        assert_eq!(
            object_key("fauna-logs", "us-std", Some("ECommerce"), start, end),
            "fauna-logs/region_group=us-std/database=ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
        );
        assert_eq!(
            object_key("/p/", "classic", None, start, end),
            "p/region_group=classic/database=__all__/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
        );
        assert!(
            object_key("", "us-std", Some("production/customers"), start, end)
                .starts_with("region_group=us-std/database=production%2Fcustomers/")
        );
    }

    #[test]
    fn manifest_sits_beside_the_object_hidden_from_athena() {
        assert_eq!(
            manifest_key(
                "fauna-logs/region_group=us-std/database=A/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz"
            ),
            "fauna-logs/region_group=us-std/database=A/date=2026-11-24/_20261124T000000Z_20261125T000000Z.manifest.json"
        );
        assert_eq!(manifest_key("x.jsonl.gz"), "_x.manifest.json");
        assert_eq!(
            copy_record_key("a/x.jsonl.gz", "r/1"),
            "a/_x.r%2F1.copy.json"
        );
        assert!(
            copy_record_key("a/x.jsonl.gz", "r").starts_with(&copy_records_prefix("a/x.jsonl.gz"))
        );
    }
}
