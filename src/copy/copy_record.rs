//! [`CopyRecord`]: what a copy keeps beside its multipart upload, as a small object, one per Fauna
//! request (`_{window}.{request}.copy.json`, see [`crate::keys::copy_record_key`]): which upload,
//! for which request and file size, who is copying (the process), and the verifier's checkpoint
//! at its last pause. Written tagged for the bucket's `ExpireCopyRecords` lifecycle rule.
//!
//! It is written when the upload starts and at every pause, and removed when the copy completes
//! or gives up. A copy step that finds its request's record continues that upload: from the
//! checkpoint when the job paused it (reading each byte of the file once), or, when a process
//! was killed mid-copy, by reading the file again and checking each stored part against it, so
//! that no stored part is uploaded again. Another request's record names a live copy's upload,
//! which no other copy aborts, unless its process is known to be gone.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::job::FileIdentity;
use crate::keys::copy_records_prefix;
use crate::store::{ObjectStore, StoreError};
use crate::verify::Checkpoint;

/// A copy's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRecord {
    pub upload_id: String,
    /// The Fauna request whose file is being copied.
    pub request_id: String,
    pub file_size: u64,
    pub part_size: u64,
    pub owner: Owner,
    /// The verifier's state when the copy last paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// When the checkpoint lies past the end of the stored parts: the checksum of the bytes
    /// between, as the verifier took them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_mark: Option<PastMark>,
    /// The version of the file the stored parts hold (absent from records of earlier releases,
    /// which give only `file_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileIdentity>,
}

/// The CRC32C of the file's bytes from `mark` (where the stored parts end) to a checkpoint past
/// it. Those bytes were verified before the pause, but they are uploaded after it, from another
/// download: this is what proves they are the bytes that were verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastMark {
    pub mark: u64,
    pub crc32c: u32,
}

impl CopyRecord {
    /// The version of the file the record's parts hold, as far as it says.
    pub(crate) fn identity(&self) -> Option<FileIdentity> {
        self.file.clone().or_else(|| {
            (self.file_size > 0).then(|| FileIdentity {
                size: Some(self.file_size),
                ..FileIdentity::default()
            })
        })
    }
}

/// The process that copies: enough to tell, on the same machine, whether it is still running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The machine's boot id (`/proc/sys/kernel/random/boot_id`): a pid means nothing on another.
    pub boot_id: String,
    pub pid: u32,
    /// The process's start time, in clock ticks after boot (`/proc/<pid>/stat`): a pid can be
    /// given to another process later.
    pub started: u64,
}

impl Owner {
    /// This process.
    pub(crate) fn this_process() -> Owner {
        let pid = std::process::id();
        Owner {
            boot_id: boot_id(),
            pid,
            started: process_start(pid).unwrap_or(0),
        }
    }

    /// Whether this owner is a process of this machine that is no longer running: its copy
    /// was cut short (killed, out of memory), and nobody else will continue it.
    pub(crate) fn is_gone(&self) -> bool {
        !self.boot_id.is_empty()
            && self.boot_id == boot_id()
            && process_start(self.pid) != Some(self.started)
    }
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Field 22 of `/proc/<pid>/stat`, after the command name (which may hold spaces) in brackets.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The record at `key`, with its ETag; `None` when there is none, or it cannot be read as one
/// (it is then ignored, and replaced when the copy writes its own).
pub async fn read<S: ObjectStore>(
    store: &S,
    key: &str,
) -> Result<Option<(CopyRecord, String)>, StoreError> {
    let Some((body, etag)) = store.get_object(key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&body) {
        Ok(record) => Ok(Some((record, etag))),
        Err(e) => {
            tracing::warn!(key, error = %e, "a copy record that cannot be read; ignoring it");
            Ok(None)
        }
    }
}

/// The records of every request's copy of `object_key`: key, record and ETag (those that cannot
/// be read are left out).
pub async fn list<S: ObjectStore>(
    store: &S,
    object_key: &str,
) -> Result<Vec<(String, CopyRecord, String)>, StoreError> {
    let mut found = Vec::new();
    for key in store.list_keys(&copy_records_prefix(object_key)).await? {
        if !key.ends_with(".copy.json") {
            continue;
        }
        if let Some((record, etag)) = read(store, &key).await? {
            found.push((key, record, etag));
        }
    }
    Ok(found)
}

/// Writes the record; its ETag, to remove it later only if it is still this one.
pub async fn write<S: ObjectStore>(
    store: &S,
    key: &str,
    record: &CopyRecord,
) -> Result<String, StoreError> {
    let body = serde_json::to_vec(record).unwrap_or_default();
    store
        .put_expiring_object(key, Bytes::from(body), "application/json")
        .await
}

/// Removes the record this copy wrote (`If-Match` its ETag: another run's is left alone).
pub(crate) async fn remove<S: ObjectStore>(store: &S, key: &str, etag: &str) {
    if let Err(e) = store.delete_object_if_match(key, etag).await {
        tracing::warn!(key, error = %e, "could not remove the copy record; the next copy of this window replaces it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn a_record_is_stored_for_the_lifecycle_rule_to_expire() {
        let store = MemoryStore::default();
        let record = CopyRecord {
            upload_id: "u".into(),
            request_id: "r".into(),
            file_size: 1,
            part_size: 8 << 20,
            owner: Owner::this_process(),
            checkpoint: None,
            past_mark: None,
            file: None,
        };
        write(&store, "_w.copy.json", &record).await.unwrap();
        assert!(
            store
                .state
                .lock()
                .unwrap()
                .expiring
                .contains("_w.copy.json")
        );
        assert_eq!(
            read(&store, "_w.copy.json").await.unwrap().unwrap().0,
            record
        );
    }

    #[test]
    fn this_process_is_running_and_a_dead_one_is_gone() {
        let me = Owner::this_process();
        assert!(!me.is_gone(), "{me:?}");
        assert!(me.started > 0 && !me.boot_id.is_empty(), "{me:?}");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = process_start(pid);
        child.wait().unwrap();
        let dead = Owner {
            pid,
            started: started.unwrap_or(1),
            ..me.clone()
        };
        assert!(dead.is_gone());
        let elsewhere = Owner {
            boot_id: "another machine".into(),
            pid: 1,
            started: 0,
        };
        assert!(
            !elsewhere.is_gone(),
            "a process of another machine is not known to be gone"
        );
    }
}
