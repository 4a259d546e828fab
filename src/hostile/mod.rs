//! A hostile Fauna, and the property test that runs exports against it.
//!
//! The hostile server ([`server`], [`world`]) serves the Account API and the file host behind
//! its presigned URLs on a real loopback socket, honestly but for what a seeded [`grammar`] of
//! misbehaviour draws ([`faults`], [`files`]), run by run and answer by answer. Each seed runs
//! one export ([`exercise`]) with the real `FaunaClient` and an in-memory bucket ([`store`]),
//! through `cli::run_to_end` or step by step with deadlines, on tokio's paused clock kept by
//! [`clock`]; then [`invariants`] judges what the run left.
//!
//! A failure prints the seed and the plan. `HOSTILE_SEED=<n>` runs that seed alone;
//! `HOSTILE_SEEDS=<count>` (or `PROPTEST_CASES`) runs seeds 1 to count instead of 64, from
//! `HOSTILE_FIRST_SEED`; `HOSTILE_VERBOSE=1` prints how each run ended (`=answers`: and its
//! answers); `HOSTILE_LOG_DIR=<dir>` keeps each run's log lines.

mod clock;
mod exercise;
mod faults;
mod files;
mod grammar;
mod invariants;
mod server;
mod store;
mod world;

use std::io::Write;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use self::grammar::Plan;
use crate::fauna::Timeouts;
use crate::retry::RetryPolicy;

/// What differs between the trees this test runs on (an older one has no redaction, and its
/// copy no pace limit).
mod compat {
    pub use crate::copy::RATE_WINDOW;

    /// The log writer, as `main.rs` installs it.
    pub fn log_writer<W: std::io::Write>(w: W) -> impl std::io::Write {
        crate::redact::RedactingWriter(w)
    }
}

/// The client's retries: small delays, `Retry-After` waited out up to 2 s.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(20),
    max_delay: Duration::from_millis(200),
    max_retry_after: Duration::from_secs(2),
};

const TIMEOUTS: Timeouts = Timeouts {
    api: Duration::from_secs(2),
    download_read: Duration::from_secs(5),
};

/// Parts of 32 KiB: a file of a few hundred KB has several.
const PART_SIZE: usize = 32 << 10;

/// Poll intervals (`POLL_INTERVAL_SECONDS`, `POLL_INTERVAL_MAX_SECONDS`) and request attempts.
const POLL_INTERVAL: u64 = 2;
const POLL_INTERVAL_MAX: u64 = 10;
const MAX_REQUEST_ATTEMPTS: u32 = 3;

/// Real time a seed may take before it counts as stuck.
const STUCK_AFTER: Duration = Duration::from_secs(180);

/// Seeds running at once (the machine has two cores).
const AT_ONCE: usize = 2;

/// The log lines of a run, as its writer wrote them.
#[derive(Clone, Default)]
pub struct LogLines(pub Arc<Mutex<Vec<u8>>>);

impl Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One seed's run and its judgement: a line on how it ended, or the violations with what
/// reproduces them.
fn run_seed(seed: u64) -> Result<String, String> {
    let plan = Plan::draw(seed);
    let logs = LogLines::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(move || compat::log_writer(writer.clone()))
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    fastrand::seed(seed);
    let blocking = format!("hv-{seed}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .thread_name(&blocking)
        .build()
        .expect("a runtime");
    let report = runtime.block_on(exercise::exercise(seed, plan.clone(), logs, &blocking));
    runtime.shutdown_background();
    report.map_err(|report| format!("HOSTILE_SEED={seed}\n{plan}{report}"))
}

/// The seeds to run: `HOSTILE_SEED` alone, or 1 to `HOSTILE_SEEDS` (or `PROPTEST_CASES`, 64).
fn seeds() -> Vec<u64> {
    let var = |name| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(seed) = var("HOSTILE_SEED") {
        return vec![seed];
    }
    let count = var("HOSTILE_SEEDS")
        .or_else(|| var("PROPTEST_CASES"))
        .unwrap_or(64);
    let first = var("HOSTILE_FIRST_SEED").unwrap_or(1);
    (first..first + count).collect()
}

/// Runs `seeds`, AT_ONCE at a time, each on its own thread; a seed that takes longer than
/// STUCK_AFTER of real time is reported as stuck (and its thread left behind).
fn run_seeds(seeds: &[u64], verbose: bool) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let mut queue = seeds.iter().copied();
    let mut running: Vec<(u64, std::time::Instant)> = Vec::new();
    let mut failures = Vec::new();
    loop {
        while running.len() < AT_ONCE
            && let Some(seed) = queue.next()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let result = std::panic::catch_unwind(|| run_seed(seed))
                    .unwrap_or_else(|_| Err(format!("HOSTILE_SEED={seed}: the run panicked")));
                let _ = tx.send((seed, result));
            });
            running.push((seed, std::time::Instant::now()));
        }
        if running.is_empty() {
            return failures;
        }
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok((seed, result)) => {
                running.retain(|(s, _)| *s != seed);
                match result {
                    Ok(line) if verbose => eprintln!("{line}"),
                    Ok(_) => {}
                    Err(report) => failures.push(report),
                }
            }
            Err(_) => running.retain(|(seed, since)| {
                let stuck = since.elapsed() > STUCK_AFTER;
                if stuck {
                    failures.push(format!(
                        "HOSTILE_SEED={seed}\n{}  BROKEN 4: stuck: no end after {STUCK_AFTER:?} of real time\n",
                        Plan::draw(*seed)
                    ));
                }
                !stuck
            }),
        }
    }
}

/// The property: whatever the hostile Fauna does, no run breaks an invariant.
#[test]
fn a_hostile_fauna_breaks_no_invariant() {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let verbose = std::env::var_os("HOSTILE_VERBOSE").is_some();
    let failures = run_seeds(&seeds, verbose);
    eprintln!(
        "hostile Fauna: {} seeds in {:.1} s, {} failed",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if seeds.len() == 1 {
        eprintln!("{}", Plan::draw(seeds[0]));
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    let failed: Vec<&str> = failures.iter().filter_map(|f| f.lines().next()).collect();
    assert!(
        failures.is_empty(),
        "invariants broken; reproduce with {failed:?}"
    );
}
