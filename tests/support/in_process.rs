//! Exports in the test's own process: the command line's loop (`cli::run_to_end`) with the real
//! Fauna client, against the simulator served in this runtime ([`Sim::in_process`]), into any
//! bucket (the in-memory one, or it behind `store::faulty::FaultyStore`). In a runtime whose
//! clock is paused, the waits between steps (retries' backoff, polls) pass at once; inside a copy
//! step the clock stands still while the verifier works (a blocking task).
//!
//! Everything the export says is kept: its log lines (through the redacting writer `main.rs`
//! installs) and its progress lines (what `run` prints on stderr), so a test can read them and
//! check that no secret is in either. The log is captured by a subscriber of this thread: run it
//! on the current-thread runtime (`#[tokio::test]`'s default).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fauna_logs_export::cli::{StepLines, run_to_end};
use fauna_logs_export::clients::Deps;
use fauna_logs_export::config::Config;
use fauna_logs_export::fauna::{AccountKey, FaunaClient};
use fauna_logs_export::input::{Event, parse};
use fauna_logs_export::job::Job;
use fauna_logs_export::redact::RedactingWriter;
use fauna_logs_export::retry::RetryPolicy;
use fauna_logs_export::store::ObjectStore;
use fauna_logs_export::store::memory::MemoryStore;
use serde_json::json;

use super::{ACCOUNT_KEY, Sim, WINDOW};

/// Bytes written by several writers, kept for the test to read.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How one export in this process ended, and what it said.
pub struct InProcessRun {
    pub job: Job,
    /// Transitions and retries, as `fauna-logs-export run` prints them on stderr.
    pub progress: String,
    /// The log lines, redacted as the process writes them.
    pub log: String,
}

impl InProcessRun {
    /// Times the loop ran a step again after a retryable failure.
    pub fn step_retries(&self) -> u64 {
        self.progress.matches("; trying again in ").count() as u64
    }

    /// Neither the account key nor any presigned URL's signature is in the job, the progress
    /// lines or the log.
    pub fn assert_no_secrets(&self) {
        let job = serde_json::to_string(&self.job).unwrap_or_default();
        super::assert_no_secrets(&[&job, &self.progress, &self.log]);
    }
}

/// Exports [`WINDOW`] from `sim` into `store` as `fauna-logs-export run` does, with the settings
/// of `env` over those the process tests get (`POLL_INTERVAL_SECONDS=0`).
pub async fn export<S: ObjectStore>(sim: &Sim, store: S, env: &[(&str, &str)]) -> InProcessRun {
    let log = Lines::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || RedactingWriter(writer.clone()))
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let config = Config::from_lookup(|name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| match name {
                "FAUNA_ACCOUNT_URL" => Some(sim.url.clone()),
                "FAUNA_ACCOUNT_KEY" => Some(ACCOUNT_KEY.to_owned()),
                "LOGS_BUCKET" => Some(store.bucket().to_owned()),
                "POLL_INTERVAL_SECONDS" => Some("0".to_owned()),
                _ => None,
            })
    })
    .expect("the configuration");
    let api = FaunaClient::new(
        config.fauna_url.clone(),
        AccountKey::new(ACCOUNT_KEY.to_owned()),
        None,
        RetryPolicy::default(),
        config.timeouts,
    )
    .expect("the Fauna client");
    let manual = json!({"database": WINDOW[1], "time_start": WINDOW[3], "time_end": WINDOW[5]});
    let Ok(Event::Job(job)) = parse(manual, &config.rules, chrono::Utc::now()) else {
        panic!("the manual request is a job");
    };
    let deps = Deps { api, store, config };
    let progress = Lines::default();
    let job = run_to_end(job, &deps, StepLines::Print, progress.clone()).await;
    InProcessRun {
        job,
        progress: progress.text(),
        log: log.text(),
    }
}

/// The in-memory bucket's keys, its object at `key`, and how many uploads it holds open.
pub fn memory_contents(store: &MemoryStore, key: &str) -> (Vec<String>, Option<Vec<u8>>, usize) {
    let state = store.state.lock().unwrap_or_else(PoisonError::into_inner);
    (
        state.objects.keys().cloned().collect(),
        state.objects.get(key).cloned(),
        state.uploads.len(),
    )
}

/// A directory for simulators' log files (`--data-dir`), removed on drop.
pub struct FilesDir(pub PathBuf);

impl FilesDir {
    pub fn new() -> FilesDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        FilesDir(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "sim-files-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for FilesDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A simulator in this runtime with `args` whose log file is made before it serves the export
/// (by a first simulator with the same flags, into `files`): the export's first download does
/// not wait for it, which on a loaded machine can outlast a short step limit. Its counters count
/// the export's calls alone.
pub async fn sim_with_file_ready(args: &[&str], files: &FilesDir) -> Sim {
    let dir = files.0.display().to_string();
    let mut flags = args.to_vec();
    flags.extend(["--data-dir", dir.as_str()]);
    let first = Sim::in_process(&flags).await;
    super::make_file(&first).await;
    drop(first);
    Sim::in_process(&flags).await
}
