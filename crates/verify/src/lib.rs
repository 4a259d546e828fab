//! Integrity of a log file as it streams past: gunzip it (multi-member gzip included), check that
//! every line is one JSON object, count its records (JSON Lines) and note the first and last
//! `TS`, so a truncated, corrupt or foreign file is found before it is committed to the bucket.
//!
//! Decompression runs on a blocking thread fed through a bounded channel, so it overlaps the
//! download and the uploads instead of slowing them, and memory stays bounded.
//!
//! The verifier can be checkpointed at deflate block boundaries and between gzip members
//! ([`Checkpoint`], zlib's `zran` technique), so a copy that pauses continues in a later
//! invocation from the checkpoint's offset instead of reading the file again from byte 0. Inside
//! a fixed-Huffman block it can also be checkpointed between two codes (at the end of a fed
//! chunk): zlib-ng's and zlib-rs's level 1 (`deflate_quick`) writes a whole member as one such
//! block, with no boundary to stop at. A dynamic-Huffman block can only be left at its end, so
//! the distance between checkpoints is a block (typically 10–30 KB of compressed bytes).
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | [`Verifier`]: the blocking thread, its channel, checkpoint requests |
//! | `gzip.rs` | [`GzipLines`]: the synchronous core; gzip headers and trailers, members |
//! | `inflate.rs` | raw inflate through zlib's C API (zlib-rs); with `inflate_isal.rs`, the only `unsafe` |
//! | `inflate_isal.rs` | raw inflate through ISA-L's igzip (feature `isal`, the default): faster than zlib-rs (docs/performance.md) |
//! | `line_summary.rs` | counting JSON Lines, the first and last `TS` |
//! | `json_line.rs` | [`json_line::LineValidator`]: each line one JSON object, streaming, checkpointable |
//! | `checkpoint.rs` | [`Checkpoint`] and its JSON form |

mod checkpoint;
mod gzip;
mod inflate;
#[cfg(feature = "isal")]
mod inflate_isal;
mod json_line;
mod line_summary;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use self::checkpoint::{Checkpoint, MAX_CHECKPOINT_PARTIAL};
pub use self::gzip::{GzipLines, InflateWith, MAX_HEADER, OUTPUT_BUFFER};
pub use self::line_summary::MAX_KEPT_LINE;

/// What a complete, valid log file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSummary {
    pub records: u64,
    /// The first and last record's `TS`; `None` when the file has no records, or when that
    /// record is longer than the verifier keeps (see `long_records`).
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub uncompressed_bytes: u64,
    /// Records longer than [`MAX_KEPT_LINE`] (1 MiB): counted, but their `TS` is not read.
    pub long_records: u64,
}

/// Why a file is not a valid gzip JSON Lines log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CorruptLog(pub String);

enum Message {
    Data(Bytes),
    /// The stream starts over from its first byte.
    Restart,
    /// A checkpoint request waits in the slot.
    Wake,
    /// No more bytes come before the stream ends: a request the bytes fed so far did not answer
    /// is answered with `None`.
    Settle,
}

/// A checkpoint request: where, and whom to answer.
struct Request {
    offset: u64,
    reply: oneshot::Sender<Checkpoint>,
}

/// The sending side of a verifier thread.
pub struct Verifier {
    tx: mpsc::Sender<Message>,
    /// The latest checkpoint request, until the worker takes it.
    request: Arc<Mutex<Option<Request>>>,
    worker: JoinHandle<Result<LogSummary, CorruptLog>>,
}

/// Chunks buffered between the download and the decompressor. Kept small: a chunk can pin a
/// larger read buffer of the HTTP client until it is consumed.
pub const QUEUE_CHUNKS: usize = 16;

impl Verifier {
    /// A verifier of a file from its first byte, inflating with the fastest way built in.
    pub fn spawn() -> Verifier {
        Self::start(None, InflateWith::fastest())
    }

    /// A verifier of a file from its first byte, inflating with `with`.
    pub fn spawn_with(with: InflateWith) -> Verifier {
        Self::start(None, with)
    }

    /// A verifier that continues from `checkpoint`: the next byte fed is the file's byte
    /// `checkpoint.offset`. (A checkpoint that no verifier could have made makes `finish` fail.)
    pub fn resume(checkpoint: Checkpoint) -> Verifier {
        Self::start(Some(checkpoint), InflateWith::fastest())
    }

    /// [`Verifier::resume`], inflating with `with`.
    pub fn resume_with(checkpoint: Checkpoint, with: InflateWith) -> Verifier {
        Self::start(Some(checkpoint), with)
    }

    fn start(from: Option<Checkpoint>, with: InflateWith) -> Verifier {
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        let request = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&request);
        let worker = tokio::task::spawn_blocking(move || run(rx, from, with, &slot));
        Verifier {
            tx,
            request,
            worker,
        }
    }

    /// Feeds the next bytes of the file.
    pub async fn feed(&self, bytes: Bytes) {
        // A send fails only if the worker has ended, which `finish` reports.
        let _ = self.tx.send(Message::Data(bytes)).await;
    }

    /// Forgets everything: the file is streamed again from its first byte. (A checkpoint
    /// request still waiting is answered from the new stream.)
    pub async fn restart(&self) {
        let _ = self.tx.send(Message::Restart).await;
    }

    /// Asks for a checkpoint at the first point, at or after file offset `offset`, where the
    /// verifier can be checkpointed. The caller keeps feeding; the returned future resolves with
    /// the checkpoint once the verifier gets there, or with `None` if the stream ends (or turns
    /// out corrupt) first. Only one request at a time: a new one ends the previous one's future
    /// with `None`.
    ///
    /// The verifier sees the request between two fed chunks (or at once when idle); the
    /// checkpoint is the first point at or after both `offset` and where it then stands.
    pub fn checkpoint_at_or_after(
        &self,
        offset: u64,
    ) -> impl Future<Output = Option<Checkpoint>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        *lock(&self.request) = Some(Request { offset, reply });
        // Wakes an idle worker; a full queue means it is busy and will look soon anyway.
        let _ = self.tx.try_send(Message::Wake);
        async move { answer.await.ok() }
    }

    /// Says that every byte of the file is fed: a checkpoint request that those bytes do not
    /// answer then resolves with `None` (the copy finishes instead of waiting for it), rather
    /// than waiting for bytes that will not come.
    pub async fn settle(&self) {
        let _ = self.tx.send(Message::Settle).await;
    }

    /// Ends the stream and says whether it was a complete, valid log file.
    pub async fn finish(self) -> Result<LogSummary, CorruptLog> {
        let Verifier {
            tx,
            request,
            worker,
        } = self;
        drop(tx);
        drop(request);
        match worker.await {
            Ok(result) => result,
            Err(e) => Err(CorruptLog(format!("the verifier stopped abnormally: {e}"))),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The verifier thread: feeds the core until the channel closes, answering checkpoint requests.
fn run(
    mut rx: mpsc::Receiver<Message>,
    from: Option<Checkpoint>,
    with: InflateWith,
    slot: &Mutex<Option<Request>>,
) -> Result<LogSummary, CorruptLog> {
    let mut core = match from {
        None => Ok(GzipLines::with(with)),
        Some(checkpoint) => GzipLines::resume_with(checkpoint, with),
    };
    let mut pending: Option<Request> = None;
    while let Some(message) = rx.blocking_recv() {
        let settle = matches!(message, Message::Settle);
        if let Some(request) = lock(slot).take() {
            if let Ok(core) = &mut core {
                core.request_checkpoint(request.offset);
            }
            pending = Some(request);
        }
        match message {
            Message::Restart => {
                let mut fresh = GzipLines::with(with);
                if let Some(request) = &pending {
                    fresh.request_checkpoint(request.offset);
                }
                core = Ok(fresh);
            }
            Message::Data(bytes) => {
                if let Ok(c) = &mut core
                    && let Err(e) = c.feed(&bytes)
                {
                    core = Err(e);
                }
            }
            Message::Wake | Message::Settle => {}
        }
        match &mut core {
            Ok(core) => {
                if let Some(checkpoint) = core.take_checkpoint()
                    && let Some(request) = pending.take()
                {
                    let _ = request.reply.send(checkpoint);
                }
            }
            // Corrupt: no checkpoint will come.
            Err(_) => pending = None,
        }
        if settle {
            pending = None;
        }
    }
    drop(pending);
    core?.finish()
}

#[cfg(test)]
mod tests;
