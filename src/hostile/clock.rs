//! The test's clock: tokio's paused clock, moved on only while someone waits on it.
//!
//! Tokio advances a paused clock by itself when the runtime is idle, but not while a blocking
//! task runs, and the copy's verifier runs on one for the whole copy. So the hostile server
//! says when the client is waiting on the clock ([`ClockWaits`]): while it is silent on
//! purpose (a trickle, a stall), and for a while after an answer that makes the client back off.
//! [`keep_time`] runs the export and advances the clock in small steps only then, and only
//! while the run's blocking threads (the verifier's) are asleep: time must not pass while the
//! client works, or a slow debug-build verifier would look like a slow host (the team's
//! `copy_on_test_clock` pattern, made general).

use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How far the clock moves in one step: small enough that the client's and the server's timers
/// fire in their order (a second of slack in every bound covers it).
pub const TICK: Duration = Duration::from_millis(100);

/// Who waits on the clock, as the server knows it.
#[derive(Default)]
pub struct ClockWaits {
    state: Mutex<Waits>,
    wanted: Notify,
}

#[derive(Default)]
struct Waits {
    /// Server tasks silent on purpose.
    silent: usize,
    /// The client may be backing off until then, or until its next request.
    backing_off_until: Option<Instant>,
}

impl ClockWaits {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waits> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the clock is to move now.
    pub fn waited_on(&self) -> bool {
        let waits = self.lock();
        waits.silent > 0 || waits.backing_off_until.is_some_and(|t| Instant::now() < t)
    }

    /// The server is silent for `silence` (`None`: until `gone` ends, the client hanging up);
    /// `true` if it waited it out, `false` if the client hung up first.
    pub async fn silent(&self, silence: Option<Duration>, gone: impl Future<Output = ()>) -> bool {
        self.lock().silent += 1;
        self.wanted.notify_one();
        let waited = match silence {
            Some(d) => tokio::select! {
                () = tokio::time::sleep(d) => true,
                () = gone => false,
            },
            None => {
                gone.await;
                false
            }
        };
        self.lock().silent -= 1;
        waited
    }

    /// After an answer that makes the client wait (a retryable error, a broken answer): it may
    /// back off for up to `up_to`.
    pub fn client_backs_off(&self, up_to: Duration) {
        let until = Instant::now() + up_to + TICK;
        let mut waits = self.lock();
        waits.backing_off_until = Some(waits.backing_off_until.map_or(until, |t| t.max(until)));
        drop(waits);
        self.wanted.notify_one();
    }

    /// A request arrived: the client is not backing off any more.
    pub fn request_arrived(&self) {
        self.lock().backing_off_until = None;
    }
}

/// Whether every thread of this process named `name` (the run's blocking threads: the runtime
/// is built with that thread name) is asleep, by its state in `/proc/self/task`.
fn asleep(name: &str) -> bool {
    let Ok(threads) = std::fs::read_dir("/proc/self/task") else {
        return true;
    };
    threads.flatten().all(|thread| {
        let path = thread.path();
        let named = std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim_end() == name);
        let running = || {
            std::fs::read_to_string(path.join("stat")).is_ok_and(|stat| {
                // The state follows the command name, which is in parentheses.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.trim_start().chars().next())
                    == Some('R')
            })
        };
        !(named && running())
    })
}

/// Runs `run` to its end, moving the clock on by [`TICK`] whenever `waits` says the clock is
/// waited on and the threads named `blocking` are asleep, and otherwise leaving it to tokio
/// (which advances it when nothing else can run and no blocking task is alive).
pub async fn keep_time<F: Future>(waits: &ClockWaits, blocking: &str, run: F) -> F::Output {
    let mut run = pin!(run);
    loop {
        let tick = async {
            if !waits.waited_on() {
                waits.wanted.notified().await;
            } else if asleep(blocking) {
                tokio::time::advance(TICK).await;
            } else {
                // The verifier is at work: let it have the core.
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            out = &mut run => return out,
            () = tick => {}
        }
    }
}
