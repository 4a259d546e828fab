//! The download loop of a copy: bytes from the file host to the verifier, the checksum and the
//! part writer, and what keeps it honest whatever the host does.
//!
//! - **One version.** Every answer is compared with the pinned version ([`Copy::pin`]); a `Range`
//!   request continues a file only when its version is pinned by an ETag or Last-Modified, else the
//!   file is read again from byte 0 and each stored part checked against it.
//! - **Every step yields.** A download must keep a minimum pace ([`MIN_WINDOW_BYTES`] per
//!   [`RATE_WINDOW`]) or it is reopened; past `pause_after` the copy asks the verifier for a
//!   checkpoint and pauses when it comes, or at `pause_after + PAST_DEADLINE_READ` with the last
//!   checkpoint it had, whatever the host does.
//! - **Verified bytes only.** Bytes between the stored parts and a checkpoint past them are
//!   uploaded after the pause, from another download: their checksum must equal the one taken
//!   when they were verified.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::copy_record::{CopyRecord, PastMark};
use super::part_writer::PartWriter;
use super::{
    Copy, CopyError, CopyPlan, MAX_RECONNECTS, MIN_WINDOW_BYTES, PAST_DEADLINE_READ, RATE_WINDOW,
};
use crate::fauna::{DownloadError, LogFile};
use crate::store::ObjectStore;
use crate::verify::{Checkpoint, CorruptLog, InflateWith, LogSummary, Verifier};

/// Where a paused copy continues: the verifier's checkpoint and, when it lies past the stored
/// parts, the checksum of the bytes between.
#[derive(Debug, Clone)]
pub(super) struct ResumePoint {
    pub checkpoint: Checkpoint,
    pub past_mark: Option<PastMark>,
}

impl ResumePoint {
    pub(super) fn of(rec: &CopyRecord) -> Option<ResumePoint> {
        Some(ResumePoint {
            checkpoint: rec.checkpoint.clone()?,
            past_mark: rec.past_mark,
        })
    }
}

/// Where a copy reads from, and what each byte it reads goes to.
pub(super) struct Reading {
    verifier: Verifier,
    /// The first file byte the verifier needs (0, or a checkpoint's offset).
    verify_from: u64,
    /// The full-object CRC32C of the bytes below `crc_from`.
    crc: u32,
    crc_from: u64,
    /// Where the download starts.
    from: u64,
    /// Bytes read again between the stored parts and the checkpoint: their range, the checksum
    /// they must have, and theirs so far.
    past_mark: Option<(PastMark, u64, u32)>,
}

impl Reading {
    /// From a checkpoint, when the writer continues an upload whose parts' checksums are known
    /// and the file's version is pinned: the file is read from the checkpoint (or the mark, if
    /// that is lower), each byte once. Otherwise from byte 0, bytes below the mark checked
    /// against the stored parts.
    pub(super) fn start<S: ObjectStore>(
        writer: &mut PartWriter<S>,
        point: Option<ResumePoint>,
        pinned: bool,
        inflate: InflateWith,
    ) -> Reading {
        let mark = writer.mark();
        let stored_crc = writer.stored_crc32c();
        let Some((point, crc)) = point.zip(stored_crc) else {
            return Reading::from_byte_0(writer, inflate);
        };
        let cp = point.checkpoint.offset;
        // A checkpoint past the mark is used only with the checksum of the bytes between.
        let past_mark = match point.past_mark {
            _ if cp <= mark => Some(None),
            Some(p) if p.mark == mark => Some(Some((p, cp, 0))),
            _ => None,
        };
        match past_mark {
            Some(past_mark) if writer.is_resumed() && pinned => {
                writer.check_rereads(false);
                let from = cp.min(mark);
                tracing::info!(
                    from,
                    checkpoint = cp,
                    mark,
                    "continuing the copy from its checkpoint"
                );
                Reading {
                    verify_from: cp,
                    verifier: Verifier::resume_with(point.checkpoint, inflate),
                    crc,
                    crc_from: mark,
                    from,
                    past_mark,
                }
            }
            _ => Reading::from_byte_0(writer, inflate),
        }
    }

    fn from_byte_0<S: ObjectStore>(writer: &mut PartWriter<S>, inflate: InflateWith) -> Reading {
        writer.check_rereads(true);
        Reading {
            verifier: Verifier::spawn_with(inflate),
            verify_from: 0,
            crc: 0,
            crc_from: 0,
            from: 0,
            past_mark: None,
        }
    }

    /// Checks the bytes of `chunk` (at file offset `pos`) that lie between the stored parts and
    /// the checkpoint against the checksum they were verified with.
    fn check_past_mark(&mut self, pos: u64, chunk: &[u8], url: &str) -> Result<(), DownloadError> {
        let Some((expected, end, crc)) = &mut self.past_mark else {
            return Ok(());
        };
        let from = pos.max(expected.mark);
        let to = (pos + chunk.len() as u64).min(*end);
        if from < to {
            let (a, b) = ((from - pos) as usize, (to - pos) as usize);
            *crc = crc32c::crc32c_append(*crc, &chunk[a..b]);
        }
        if pos + chunk.len() as u64 >= *end {
            let (expected, got) = (expected.crc32c, *crc);
            self.past_mark = None;
            if got != expected {
                return Err(DownloadError::FileChanged {
                    url: url.to_owned(),
                    pinned: format!(
                        "CRC32C {expected:08x} for the bytes verified before the pause"
                    ),
                    now: format!("CRC32C {got:08x} for the same bytes"),
                });
            }
        }
        Ok(())
    }
}

pub(super) enum Pumped {
    Ended {
        bytes: u64,
        crc32c: u32,
        summary: LogSummary,
    },
    /// Stopped to continue later; where, when the verifier gave a checkpoint.
    Paused(Option<ResumePoint>),
}

/// The verifier's checkpoints as the copy asks for them: one after each part (sent, or read
/// again below the mark), so that a pause always has a recent one, and one when the copy is to
/// pause.
#[derive(Default)]
struct Checkpoints {
    waiting: Option<Pin<Box<dyn Future<Output = Option<Checkpoint>> + Send>>>,
    latest: Option<Checkpoint>,
    /// The copy's time is up: it pauses at the checkpoint it waits for.
    pausing: bool,
}

impl Checkpoints {
    fn ask(&mut self, checkpoint: impl Future<Output = Option<Checkpoint>> + Send + 'static) {
        self.waiting = Some(Box::pin(checkpoint));
    }

    /// The checkpoint asked for, once the verifier gives it (never, while none is asked for).
    async fn reached(&mut self) -> Option<Checkpoint> {
        let got = match self.waiting.as_mut() {
            Some(waiting) => waiting.await,
            None => std::future::pending().await,
        };
        self.waiting = None;
        if let Some(checkpoint) = &got {
            self.latest = Some(checkpoint.clone());
        }
        got
    }

    /// Where to continue from the latest checkpoint, for a pause with `writer` as it is: past
    /// the mark, only if the writer still holds the bytes between, to checksum them.
    fn resume_point<S: ObjectStore>(&self, writer: &PartWriter<S>) -> Option<ResumePoint> {
        let checkpoint = self.latest.clone()?;
        let mark = writer.mark();
        let past_mark = match checkpoint.offset.checked_sub(mark) {
            None | Some(0) => None,
            Some(len) => Some(PastMark {
                mark,
                crc32c: writer.buffered_crc32c(len)?,
            }),
        };
        Some(ResumePoint {
            checkpoint,
            past_mark,
        })
    }

    fn forget(&mut self) {
        *self = Checkpoints {
            pausing: self.pausing,
            ..Checkpoints::default()
        };
    }
}

/// A download's pace: the time since it last brought MIN_WINDOW_BYTES.
struct Pace {
    since: Instant,
    bytes: u64,
}

impl Pace {
    fn new() -> Pace {
        Pace {
            since: Instant::now(),
            bytes: 0,
        }
    }

    fn took(&mut self, n: usize) {
        self.bytes += n as u64;
        if self.bytes >= MIN_WINDOW_BYTES {
            *self = Pace::new();
        }
    }
}

/// Why no chunk came.
enum Stall {
    /// The step must yield now.
    PastDeadline,
    /// Fewer than MIN_WINDOW_BYTES in RATE_WINDOW.
    TooSlow,
}

/// The next chunk of the download, unless the step must yield first or the download is too slow.
async fn next_chunk(
    file: &mut LogFile,
    pace: &mut Pace,
    yield_by: Option<Instant>,
) -> Result<Option<Result<Bytes, DownloadError>>, Stall> {
    let slow_at = pace.since + RATE_WINDOW;
    let (limit, stall) = match yield_by {
        Some(y) if y <= slow_at => (y, Stall::PastDeadline),
        _ => (slow_at, Stall::TooSlow),
    };
    match tokio::time::timeout_at(limit, file.body.next()).await {
        Ok(next) => {
            if let Some(Ok(bytes)) = &next {
                pace.took(bytes.len());
            }
            Ok(next)
        }
        Err(_) => Err(stall),
    }
}

/// Moves bytes from the source to the verifier, the checksum and the part writer, reopening
/// the download where it broke off, until the file ends or the copy pauses.
pub(super) async fn pump<F: super::FileSource, S: ObjectStore>(
    source: &mut F,
    writer: &mut PartWriter<S>,
    plan: &CopyPlan,
    mut reading: Reading,
    copy: &mut Copy<'_, S>,
) -> Result<Pumped, CopyError> {
    let mut pos = reading.from;
    let step_start = pos;
    let mut total: Option<u64> = None;
    let mut reconnects = 0;
    let pause_after = plan.pause_after.map(Instant::from_std);
    let yield_by = pause_after.map(|t| t + PAST_DEADLINE_READ);
    let mut checkpoints = Checkpoints::default();
    'download: loop {
        if pos > 0 && copy.file.is_some() && !copy.file_pinned() {
            tracing::warn!(
                from = pos,
                "the file host names no version of the file (no ETag or Last-Modified): reading it again from the start rather than continuing it with Range"
            );
            restart(&mut reading, writer, &mut checkpoints, plan.inflate);
            pos = 0;
        }
        let pinned = copy.file.clone().filter(|f| f.is_pinned());
        let mut file = source.open(pos, pinned.as_ref()).await?;
        copy.pin(&file)?;
        if file.start != pos {
            if checkpoints.pausing {
                return Ok(Pumped::Paused(checkpoints.resume_point(writer)));
            }
            tracing::warn!(
                from = pos,
                "the file host ignored Range and sent the whole file; reading it again from the start"
            );
            restart(&mut reading, writer, &mut checkpoints, plan.inflate);
            pos = 0;
        } else if pos > 0 {
            tracing::info!(from = pos, "download resumed with Range");
        }
        if let Some(len) = file.total {
            if len < writer.mark() {
                return Err(CopyError::Corrupt(CorruptLog(format!(
                    "the file is {len} bytes, shorter than the {} bytes of parts already stored: the file changed",
                    writer.mark()
                ))));
            }
            total = Some(len);
            writer.fit_part_size(len);
        }
        let mut pace = Pace::new();
        loop {
            let next = tokio::select! {
                reached = checkpoints.reached(), if checkpoints.waiting.is_some() => {
                    if reached.is_some() && checkpoints.pausing {
                        return Ok(Pumped::Paused(checkpoints.resume_point(writer)));
                    }
                    continue;
                }
                next = next_chunk(&mut file, &mut pace, yield_by) => next,
            };
            let chunk = match next {
                Err(Stall::PastDeadline) => return pause_now(writer, &checkpoints, &file, pos),
                Err(Stall::TooSlow) if reconnects < MAX_RECONNECTS => {
                    reconnects += 1;
                    tracing::warn!(
                        at = pos,
                        "download slower than {MIN_WINDOW_BYTES} bytes in {} s; reopening it",
                        RATE_WINDOW.as_secs()
                    );
                    continue 'download;
                }
                Err(Stall::TooSlow) => return Err(too_slow(&file, pos).into()),
                Ok(None) => break,
                Ok(Some(Err(e))) if reconnects < MAX_RECONNECTS => {
                    reconnects += 1;
                    tracing::warn!(error = %e, at = pos, "download broke off; reopening it at the next byte");
                    continue 'download;
                }
                Ok(Some(Err(e))) => return Err(e.into()),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let end = pos + chunk.len() as u64;
            let crossed_a_part = end / writer.part_size() > pos / writer.part_size();
            reading.check_past_mark(pos, &chunk, &file.url)?;
            if end > reading.verify_from {
                let skip = usize::try_from(reading.verify_from.saturating_sub(pos)).unwrap_or(0);
                reading.verifier.feed(chunk.slice(skip..)).await;
            }
            if end > reading.crc_from {
                let skip = usize::try_from(reading.crc_from.saturating_sub(pos)).unwrap_or(0);
                reading.crc = crc32c::crc32c_append(reading.crc, &chunk[skip..]);
            }
            let sent_part = writer.write_at(pos, chunk).await?;
            pos = end;
            if let Some(upload_id) = writer.take_created() {
                copy.write_record(&upload_id, writer.part_size(), None)
                    .await;
            }
            if checkpoints.pausing {
                continue;
            }
            if sent_part {
                checkpoints.ask(reading.verifier.checkpoint_at_or_after(writer.mark()));
            } else if crossed_a_part && pos <= writer.mark() {
                // Reading the stored parts again (a copy cut short before its first pause): a
                // checkpoint at each of them too, so that a pause need not wait for the mark.
                checkpoints.ask(reading.verifier.checkpoint_at_or_after(pos));
            }
            let time_is_up = pause_after.is_some_and(|t| Instant::now() >= t);
            // A pause is worth it while more than a part is left; less is finished now. And a
            // step pauses only once it read a part's worth, so that every step moves the copy
            // on (a host too slow for that is stopped at `yield_by`).
            let more_than_a_part_left =
                total.is_none_or(|t| t.saturating_sub(pos) > writer.part_size());
            let moved_on = pos.saturating_sub(step_start) >= writer.part_size();
            if time_is_up && more_than_a_part_left && moved_on && writer.upload_id().is_some() {
                checkpoints.pausing = true;
                let at = writer.mark().min(pos);
                checkpoints.ask(reading.verifier.checkpoint_at_or_after(at));
            }
        }
        // The download ended before the verifier reached the checkpoint the pause waits for.
        // Broken off, the copy pauses. A whole file pauses at that checkpoint if its bytes hold
        // it, and is otherwise finished: a pause without a newer checkpoint would send the next
        // step to read the same bytes and wait for the same checkpoint again, for ever.
        if checkpoints.pausing {
            let whole = total.is_none_or(|t| pos == t);
            if !whole {
                return Ok(Pumped::Paused(checkpoints.resume_point(writer)));
            }
            reading.verifier.settle().await;
            if checkpoints.waiting.is_some() && checkpoints.reached().await.is_some() {
                return Ok(Pumped::Paused(checkpoints.resume_point(writer)));
            }
        }
        match total {
            Some(expected) if pos < expected && reconnects < MAX_RECONNECTS => {
                reconnects += 1;
                tracing::warn!(
                    at = pos,
                    expected,
                    "download ended early; reopening it at the next byte"
                );
            }
            Some(expected) if pos != expected => {
                return Err(CopyError::Download(DownloadError::Truncated {
                    url: file.url,
                    received: pos,
                    expected,
                }));
            }
            _ => break,
        }
    }
    let summary = reading.verifier.finish().await?;
    Ok(Pumped::Ended {
        bytes: pos,
        crc32c: reading.crc,
        summary,
    })
}

/// The stream starts over from byte 0: a new verifier, nothing buffered, no checkpoint.
fn restart<S: ObjectStore>(
    reading: &mut Reading,
    writer: &mut PartWriter<S>,
    checkpoints: &mut Checkpoints,
    inflate: InflateWith,
) {
    *reading = Reading::from_byte_0(writer, inflate);
    writer.discard_buffer();
    checkpoints.forget();
}

/// The step must yield now: pause with the last checkpoint if there is an upload to continue,
/// else stop as a download that was too slow.
fn pause_now<S: ObjectStore>(
    writer: &PartWriter<S>,
    checkpoints: &Checkpoints,
    file: &LogFile,
    pos: u64,
) -> Result<Pumped, CopyError> {
    if writer.upload_id().is_none() {
        return Err(DownloadError::Interrupted {
            url: file.url.clone(),
            received: pos,
            cause: format!(
                "the step's time is up, and {} s past the step's time limit no part of the file was stored yet",
                PAST_DEADLINE_READ.as_secs()
            ),
        }
        .into());
    }
    tracing::warn!(
        at = pos,
        "the step's time is up and the download is slow: pausing with the last checkpoint"
    );
    Ok(Pumped::Paused(checkpoints.resume_point(writer)))
}

fn too_slow(file: &LogFile, pos: u64) -> DownloadError {
    DownloadError::Interrupted {
        url: file.url.clone(),
        received: pos,
        cause: format!(
            "fewer than {MIN_WINDOW_BYTES} bytes came in {} s, {} times",
            RATE_WINDOW.as_secs(),
            MAX_RECONNECTS + 1
        ),
    }
}
