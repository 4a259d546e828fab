//! The body of a file answer: bytes streamed from disk, with the download faults applied in
//! time.
//!
//! Owns [`BodyPlan`] (how many bytes to send, where to cut or stall, how fast), the stream that
//! carries it out in bounded chunks (at most [`CHUNK`] bytes in memory per download), and the
//! [`Tracking`] of a download: `bytes_served`, the cut/stall counters, the in-flight gauge (held
//! until the body ends or is dropped) and which bytes of the file a request has served.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tracing::warn;

use crate::app::Sim;
use crate::stats::{add, bump};

/// Bytes read from disk per body chunk.
pub const CHUNK: u64 = 64 * 1024;
/// Pause before a faulted download is cut, so the bytes before the cut reach the client.
const CUT_FLUSH_PAUSE: Duration = Duration::from_millis(200);
/// How long a stalled body stays silent before the connection is finally cut.
const STALL_HOLD: Duration = Duration::from_secs(3600);

/// What one answer's body does, relative to its own first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BodyPlan {
    /// Bytes the body announces (`Content-Length`).
    pub len: u64,
    /// Close the connection after sending this many bytes.
    pub cut_after: Option<u64>,
    /// Stop sending after this many bytes and hold the connection open.
    pub stall_after: Option<u64>,
    /// How long a stall lasts before the connection is cut (`None`: [`STALL_HOLD`]).
    pub stall_for: Option<Duration>,
    /// Pace the body to this many bytes per second.
    pub bytes_per_second: Option<u64>,
    /// The cut is the chaos mode's (counted in its `drop`).
    pub chaos_cut: bool,
    /// The stall is the chaos mode's (counted in its `stall`).
    pub chaos_stall: bool,
}

impl BodyPlan {
    /// Bytes per read: whole chunks, or about an eighth of a second's worth when paced.
    fn chunk(&self) -> u64 {
        match self.bytes_per_second {
            Some(rate) => (rate / 8).clamp(1, CHUNK),
            None => CHUNK,
        }
    }
}

/// When the byte after the first `sent` may go out, for a body paced to `rate` bytes/s that
/// started at `started`.
pub fn paced_deadline(started: Instant, sent: u64, rate: u64) -> Instant {
    let secs = sent as f64 / rate.max(1) as f64;
    started + Duration::from_secs_f64(secs.min(1e9))
}

/// A download's bookkeeping (absent for `/_sim/…` answers, which count nothing).
pub struct Tracking {
    pub sim: Arc<Sim>,
    pub request_id: String,
    /// Offset of the body's first byte in the file, and the file's size.
    pub start: u64,
    pub file_len: u64,
}

/// Holds one unit of `in_flight_downloads` until dropped.
pub struct InFlight(Arc<Sim>);

impl InFlight {
    pub fn enter(sim: &Arc<Sim>) -> InFlight {
        sim.stats.in_flight_downloads.up();
        InFlight(Arc::clone(sim))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.stats.in_flight_downloads.down();
    }
}

struct Reader {
    file: tokio::fs::File,
    plan: BodyPlan,
    sent: u64,
    started: Instant,
    tracking: Option<Tracking>,
    _in_flight: Option<InFlight>,
}

impl Reader {
    fn sim(&self) -> Option<&Sim> {
        self.tracking.as_ref().map(|t| t.sim.as_ref())
    }
}

impl Drop for Reader {
    /// The body ended (sent, cut, stalled out, or dropped because the client went away):
    /// records which bytes it handed out.
    fn drop(&mut self) {
        if let Some(t) = &self.tracking {
            t.sim
                .store
                .served(&t.request_id, t.start, t.start + self.sent, t.file_len);
        }
    }
}

/// The error that makes the server drop the connection mid-body.
fn cut_error(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!("download {what} (fault)"),
    )
}

/// Streams `plan.len` bytes from `file` (already at the body's first byte).
pub fn file_body(
    file: tokio::fs::File,
    plan: BodyPlan,
    tracking: Option<Tracking>,
    in_flight: Option<InFlight>,
) -> Body {
    let reader = Reader {
        file,
        plan,
        sent: 0,
        started: Instant::now(),
        tracking,
        _in_flight: in_flight,
    };
    let stream = futures_util::stream::unfold(Some(reader), |state| async move {
        let mut r = state?;
        if r.sent >= r.plan.len {
            return None;
        }
        if r.plan.cut_after.is_some_and(|cut| r.sent >= cut) {
            // Pausing first lets the server flush what was sent before the cut.
            tokio::time::sleep(CUT_FLUSH_PAUSE).await;
            warn!(
                bytes_sent = r.sent,
                "fault: cutting the download connection"
            );
            if let Some(sim) = r.sim() {
                bump(&sim.stats.cut_downloads);
                if r.plan.chaos_cut {
                    bump(&sim.stats.chaos.drop);
                }
            }
            return Some((Err(cut_error("cut")), None));
        }
        if r.plan.stall_after.is_some_and(|stall| r.sent >= stall) {
            warn!(bytes_sent = r.sent, "fault: stalling the download");
            if let Some(sim) = r.sim() {
                bump(&sim.stats.stalled_downloads);
                if r.plan.chaos_stall {
                    bump(&sim.stats.chaos.stall);
                }
            }
            tokio::time::sleep(r.plan.stall_for.unwrap_or(STALL_HOLD)).await;
            return Some((Err(cut_error("stalled out")), None));
        }
        let mut want = (r.plan.len - r.sent).min(r.plan.chunk());
        for limit in [r.plan.cut_after, r.plan.stall_after].into_iter().flatten() {
            want = want.min(limit - r.sent);
        }
        if let Some(rate) = r.plan.bytes_per_second {
            tokio::time::sleep_until(paced_deadline(r.started, r.sent, rate)).await;
        }
        let mut buf = vec![0u8; want as usize];
        match r.file.read(&mut buf).await {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "log file shrank");
                Some((Err(e), None))
            }
            Ok(n) => {
                buf.truncate(n);
                r.sent += n as u64;
                if let Some(sim) = r.sim() {
                    add(&sim.stats.bytes_served, n as u64);
                }
                Some((Ok(Bytes::from(buf)), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("fauna-sim-body-{:016x}", fastrand::u64(..)));
        let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        f.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    /// Collects the body: the bytes before an error, and whether it ended in one.
    async fn collect(plan: BodyPlan, data: &[u8]) -> (Vec<u8>, bool) {
        let path = temp_file(data);
        let file = tokio::fs::File::open(&path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut stream = file_body(file, plan, None, None).into_data_stream();
        let mut got = Vec::new();
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => got.extend_from_slice(&b),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let _ = std::fs::remove_file(&path);
        (got, failed)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn a_plain_body_sends_everything() {
        let d = data(200_000);
        let plan = BodyPlan {
            len: d.len() as u64,
            ..BodyPlan::default()
        };
        assert_eq!(collect(plan, &d).await, (d, false));
    }

    #[tokio::test]
    async fn a_cut_body_sends_its_prefix_then_fails() {
        let d = data(200_000);
        let plan = BodyPlan {
            len: d.len() as u64,
            cut_after: Some(70_000),
            ..BodyPlan::default()
        };
        let (got, failed) = collect(plan, &d).await;
        assert!(failed);
        assert_eq!(got, d[..70_000]);
        let at_once = BodyPlan {
            len: 10,
            cut_after: Some(0),
            ..BodyPlan::default()
        };
        assert_eq!(collect(at_once, &d[..10]).await, (Vec::new(), true));
    }

    /// Reads the body until it ends or nothing arrives for `quiet`.
    async fn read_until_quiet(plan: BodyPlan, d: &[u8], quiet: Duration) -> (usize, bool) {
        let path = temp_file(d);
        let file = tokio::fs::File::open(&path)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut stream = file_body(file, plan, None, None).into_data_stream();
        let mut got = 0;
        let ended = loop {
            match tokio::time::timeout(quiet, stream.next()).await {
                Ok(Some(Ok(b))) => got += b.len(),
                Ok(Some(Err(_)) | None) => break true,
                Err(_) => break false,
            }
        };
        let _ = std::fs::remove_file(&path);
        (got, ended)
    }

    #[tokio::test]
    async fn a_stalled_body_goes_silent_without_ending() {
        let d = data(100_000);
        let plan = BodyPlan {
            len: d.len() as u64,
            stall_after: Some(1_000),
            ..BodyPlan::default()
        };
        let (got, ended) = read_until_quiet(plan, &d, Duration::from_millis(300)).await;
        assert_eq!((got, ended), (1_000, false));
    }

    #[tokio::test]
    async fn a_bounded_stall_ends_in_a_cut() {
        let d = data(100_000);
        let plan = BodyPlan {
            len: d.len() as u64,
            stall_after: Some(1_000),
            stall_for: Some(Duration::from_millis(100)),
            ..BodyPlan::default()
        };
        let started = std::time::Instant::now();
        let (got, ended) = read_until_quiet(plan, &d, Duration::from_secs(20)).await;
        assert_eq!((got, ended), (1_000, true), "a prefix, then the cut");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_paced_body_does_not_send_everything_at_once() {
        let d = data(100_000);
        let paced = BodyPlan {
            len: d.len() as u64,
            bytes_per_second: Some(10_000),
            ..BodyPlan::default()
        };
        // At 10 kB/s, 100 kB take 10 s; within 200 ms of its first byte far less arrives.
        // (Unpaced, the whole file arrives at once: that is what this can catch.)
        let read = async {
            let path = temp_file(&d);
            let file = tokio::fs::File::open(&path)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut stream = file_body(file, paced, None, None).into_data_stream();
            let mut got = 0;
            let window = tokio::time::sleep(Duration::from_millis(200));
            tokio::pin!(window);
            loop {
                tokio::select! {
                    _ = &mut window => break,
                    next = stream.next() => match next {
                        Some(Ok(b)) => got += b.len(),
                        _ => break,
                    },
                }
            }
            let _ = std::fs::remove_file(&path);
            got
        };
        let got = read.await;
        assert!(got > 0 && got < d.len() / 2, "{got} bytes");
    }

    #[test]
    fn pacing_deadlines() {
        let t0 = Instant::now();
        assert_eq!(paced_deadline(t0, 0, 100), t0);
        assert_eq!(
            paced_deadline(t0, 250, 100),
            t0 + Duration::from_millis(2_500)
        );
        let plan = BodyPlan {
            bytes_per_second: Some(4),
            ..BodyPlan::default()
        };
        assert_eq!(plan.chunk(), 1);
        assert_eq!(BodyPlan::default().chunk(), CHUNK);
    }
}
