//! Integrity of a log file as it streams past: gunzip it (multi-member gzip included), count its
//! records (JSON Lines) and note the first and last `TS`, so a truncated or corrupt file is found
//! before it is committed to the bucket.
//!
//! Decompression runs on a blocking thread fed through a bounded channel, so it overlaps the
//! download and the uploads instead of slowing them, and memory stays bounded.

use std::io::Write;

use bytes::Bytes;
use flate2::write::MultiGzDecoder;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a complete, valid log file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSummary {
    pub records: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub uncompressed_bytes: u64,
}

/// Why a file is not a valid gzip JSON Lines log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CorruptLog(pub String);

enum Message {
    Data(Bytes),
    /// The stream starts over from its first byte.
    Restart,
}

/// The sending side of a verifier thread.
pub struct Verifier {
    tx: mpsc::Sender<Message>,
    worker: JoinHandle<Result<LogSummary, CorruptLog>>,
}

/// Chunks buffered between the download and the decompressor. Kept small: a chunk can pin a
/// larger read buffer of the HTTP client until it is consumed.
const QUEUE_CHUNKS: usize = 16;

impl Verifier {
    pub fn spawn() -> Verifier {
        let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
        let worker = tokio::task::spawn_blocking(move || run(rx));
        Verifier { tx, worker }
    }

    /// Feeds the next bytes of the file.
    pub async fn feed(&self, bytes: Bytes) {
        // A send fails only if the worker has ended, which `finish` reports.
        let _ = self.tx.send(Message::Data(bytes)).await;
    }

    /// Forgets everything fed so far: the file is streamed again from its start.
    pub async fn restart(&self) {
        let _ = self.tx.send(Message::Restart).await;
    }

    /// Ends the stream and says whether it was a complete, valid log file.
    pub async fn finish(self) -> Result<LogSummary, CorruptLog> {
        drop(self.tx);
        match self.worker.await {
            Ok(result) => result,
            Err(e) => Err(CorruptLog(format!("the verifier stopped abnormally: {e}"))),
        }
    }
}

fn run(mut rx: mpsc::Receiver<Message>) -> Result<LogSummary, CorruptLog> {
    let mut decoder = MultiGzDecoder::new(Records::default());
    let mut failure: Option<String> = None;
    while let Some(message) = rx.blocking_recv() {
        match message {
            Message::Restart => {
                decoder = MultiGzDecoder::new(Records::default());
                failure = None;
            }
            Message::Data(bytes) if failure.is_none() => {
                if let Err(e) = decoder.write_all(&bytes) {
                    failure = Some(e.to_string());
                }
            }
            Message::Data(_) => {}
        }
    }
    if let Some(reason) = failure {
        return Err(CorruptLog(format!("the file is not valid gzip: {reason}")));
    }
    decoder
        .try_finish()
        .map_err(|e| CorruptLog(format!("the gzip stream is incomplete: {e}")))?;
    decoder.get_ref().summary()
}

/// Counts JSON Lines and keeps the first and the last line, as the decompressed bytes pass.
/// Lines are not copied, except the first, the last of each write, and a line split across
/// writes.
#[derive(Default)]
struct Records {
    /// Complete, non-blank lines so far.
    records: u64,
    bytes: u64,
    first: Option<Vec<u8>>,
    /// The last complete, non-blank line.
    last: Vec<u8>,
    /// The start of a line that continues in the next write.
    partial: Vec<u8>,
}

/// The longest line kept whole for its `TS`; longer lines are still counted.
const MAX_KEPT_LINE: usize = 1 << 20;

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn keep(into: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_KEPT_LINE.saturating_sub(into.len());
    into.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

impl Records {
    /// A complete line (without its newline).
    fn line(&mut self, line: &[u8]) -> bool {
        if is_blank(line) {
            return false;
        }
        self.records += 1;
        if self.first.is_none() {
            let mut first = Vec::new();
            keep(&mut first, line);
            self.first = Some(first);
        }
        true
    }

    fn summary(&self) -> Result<LogSummary, CorruptLog> {
        let mut records = self.records;
        let mut last = &self.last;
        if !is_blank(&self.partial) {
            // A last record without a final newline.
            records += 1;
            last = &self.partial;
        }
        let first = self.first.as_ref().unwrap_or(last);
        Ok(LogSummary {
            records,
            first_ts: timestamp(first, "first")?,
            last_ts: timestamp(last, "last")?,
            uncompressed_bytes: self.bytes,
        })
    }
}

impl Write for Records {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        let mut rest = buf;
        let mut last_in_buf: Option<&[u8]> = None;
        if let Some(i) = memchr::memchr(b'\n', rest) {
            // The line that started in an earlier write ends here.
            let mut line = std::mem::take(&mut self.partial);
            keep(&mut line, &rest[..i]);
            if self.line(&line) {
                self.last = line;
            }
            rest = &rest[i + 1..];
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', rest) {
                let line = &rest[start..end];
                if self.line(line) {
                    last_in_buf = Some(line);
                }
                start = end + 1;
            }
            rest = &rest[start..];
        }
        if let Some(line) = last_in_buf {
            self.last.clear();
            keep(&mut self.last, line);
        }
        keep(&mut self.partial, rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `TS` of a record line, if the file has records at all.
fn timestamp(line: &[u8], which: &str) -> Result<Option<String>, CorruptLog> {
    #[derive(Deserialize)]
    struct Ts {
        #[serde(rename = "TS")]
        ts: Option<String>,
    }
    if line.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice::<Ts>(line)
        .map(|r| r.ts)
        .map_err(|e| CorruptLog(format!("the {which} line is not a JSON record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn gzip(text: &str) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    async fn verify(chunks: &[&[u8]]) -> Result<LogSummary, CorruptLog> {
        let v = Verifier::spawn();
        for chunk in chunks {
            v.feed(Bytes::copy_from_slice(chunk)).await;
        }
        v.finish().await
    }

    const LOG: &str = "{\"TS\":\"2026-11-24 00:00:00.001 Z\",\"A\":1}\n{\"TS\":\"2026-11-24 00:00:01.000 Z\"}\n{\"TS\":\"2026-11-24 23:59:59.999 Z\"}\n";

    #[tokio::test]
    async fn counts_records_across_chunks_and_members() {
        let mut file = gzip(&LOG[..30]);
        file.extend(gzip(&LOG[30..]));
        for size in [1, 7, 100, file.len()] {
            let chunks: Vec<&[u8]> = file.chunks(size).collect();
            let s = verify(&chunks).await.unwrap();
            assert_eq!(s.records, 3, "chunk size {size}");
            assert_eq!(s.first_ts.as_deref(), Some("2026-11-24 00:00:00.001 Z"));
            assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 23:59:59.999 Z"));
            assert_eq!(s.uncompressed_bytes, LOG.len() as u64);
        }
    }

    #[tokio::test]
    async fn a_last_line_without_newline_counts() {
        let s = verify(&[&gzip(LOG.trim_end())]).await.unwrap();
        assert_eq!(s.records, 3);
        assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 23:59:59.999 Z"));
    }

    #[tokio::test]
    async fn an_empty_file_has_no_records() {
        let s = verify(&[&gzip("")]).await.unwrap();
        assert_eq!((s.records, s.first_ts, s.last_ts), (0, None, None));
    }

    #[tokio::test]
    async fn truncated_and_corrupt_files_are_refused() {
        let file = gzip(&LOG.repeat(50));
        let cut = &file[..file.len() / 2];
        assert!(verify(&[cut]).await.is_err(), "truncated");
        assert!(
            verify(&[&file[..file.len() - 4]]).await.is_err(),
            "no trailer size"
        );
        let mut flipped = file.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        flipped[mid + 1] ^= 0x55;
        assert!(verify(&[&flipped]).await.is_err(), "corrupt");
        assert!(verify(&[b"not gzip at all"]).await.is_err(), "not gzip");
        assert!(
            verify(&[&gzip("plain text\n")]).await.is_err(),
            "not JSON lines"
        );
    }

    #[tokio::test]
    async fn restart_forgets_what_was_fed() {
        let file = gzip(LOG);
        let v = Verifier::spawn();
        v.feed(Bytes::copy_from_slice(&file[..file.len() / 2]))
            .await;
        v.restart().await;
        v.feed(Bytes::from(file)).await;
        assert_eq!(v.finish().await.unwrap().records, 3);
    }
}
