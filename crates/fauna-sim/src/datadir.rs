//! The directory that holds generated log files.
//!
//! Owns choosing it (`--data-dir`, or a fresh `fauna-sim-<pid>-<hex>` dir under the system temp
//! dir), removing a fresh dir on exit, and sweeping fresh dirs left behind by simulators that
//! were killed (SIGKILL skips cleanup): each fresh dir holds a lock file its owner keeps
//! locked, so a dir whose lock can be taken has no live owner.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

const PREFIX: &str = "fauna-sim-";
const LOCK_FILE: &str = ".owner.lock";

pub struct DataDir {
    pub path: PathBuf,
    /// Held (locked) for the life of the process when the dir is ours to remove.
    owner_lock: Option<File>,
}

impl DataDir {
    pub fn prepare(requested: Option<PathBuf>) -> io::Result<Self> {
        if let Some(path) = requested {
            fs::create_dir_all(&path)?;
            return Ok(Self {
                path,
                owner_lock: None,
            });
        }
        let temp = std::env::temp_dir();
        sweep_stale(&temp);
        let path = temp.join(format!(
            "{PREFIX}{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        fs::create_dir(&path)?;
        // Lock under a temporary name, then rename: a sweeper never sees an unlocked lock file
        // of a live simulator.
        let pending = path.join(".owner.lock.new");
        let lock = File::create(&pending)?;
        lock.lock()?;
        fs::rename(&pending, path.join(LOCK_FILE))?;
        Ok(Self {
            path,
            owner_lock: Some(lock),
        })
    }

    /// Removes the dir if we created it.
    pub fn cleanup(self) {
        if let Some(lock) = self.owner_lock {
            if let Err(e) = fs::remove_dir_all(&self.path) {
                warn!(dir = %self.path.display(), "cannot remove the data directory: {e}");
            }
            drop(lock);
        }
    }
}

/// Removes `fauna-sim-*` dirs under `temp` whose lock file nobody holds.
fn sweep_stale(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX));
        if !is_ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        // No lock file: not made by this version (or still being set up); leave it alone.
        let Ok(lock) = File::open(dir.join(LOCK_FILE)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {
                    info!(dir = %dir.display(), "removed a data directory left by a killed simulator")
                }
                Err(e) => warn!(dir = %dir.display(), "cannot remove a stale data directory: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_unlocked_dirs() -> io::Result<()> {
        let temp =
            std::env::temp_dir().join(format!("fauna-sim-sweep-test-{:016x}", fastrand::u64(..)));
        fs::create_dir(&temp)?;
        let live = temp.join("fauna-sim-1-aaaaaaaa");
        let dead = temp.join("fauna-sim-2-bbbbbbbb");
        let foreign = temp.join("fauna-sim-3-cccccccc");
        for d in [&live, &dead, &foreign] {
            fs::create_dir(d)?;
        }
        let held = File::create(live.join(LOCK_FILE))?;
        held.lock()?;
        File::create(dead.join(LOCK_FILE))?;
        sweep_stale(&temp);
        assert!(live.exists());
        assert!(!dead.exists());
        assert!(foreign.exists(), "dirs without a lock file are left alone");
        drop(held);
        fs::remove_dir_all(&temp)
    }
}
