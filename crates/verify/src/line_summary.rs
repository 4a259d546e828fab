//! Counting JSON Lines as the decompressed bytes pass, checking that every non-blank line is one
//! JSON object ([`LineValidator`], streaming, whatever the line's length), and keeping what the
//! summary needs: the first record's `TS` (read as soon as that record is complete), the last
//! complete record, and the line still being written.
//!
//! Lines are not copied, except the last complete one of each write and a line split across
//! writes, and no kept line grows past [`MAX_KEPT_LINE`]: a longer record is counted (and in
//! `long_records`) and validated, but its `TS` is not read.

use serde::{Deserialize, Serialize};

use super::json_line::{LineValidator, NotAnObject};
use super::{CorruptLog, LogSummary};

/// The longest line kept whole for its `TS`; longer lines are still counted.
pub const MAX_KEPT_LINE: usize = 1 << 20;

/// The line counter's state.
#[derive(Debug, Default)]
pub struct Records {
    /// Complete, non-blank lines so far.
    records: u64,
    /// Of those, the ones longer than MAX_KEPT_LINE.
    long_records: u64,
    bytes: u64,
    /// The first record, once complete.
    first: Option<First>,
    /// The last complete record.
    last: Option<Last>,
    /// The line that the next write continues.
    partial: Partial,
    /// Whether that line is one JSON object so far.
    line: LineValidator,
}

/// The first record's `TS` (`None` when it has none, or is too long to read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct First {
    ts: Option<String>,
}

/// The last complete record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Last {
    /// As it is in the file, until something needs its `TS`.
    Line(Vec<u8>),
    /// Read: its `TS`, or why it is not a JSON record.
    Read(Result<Option<String>, String>),
}

/// The start of a line that continues in the next write.
#[derive(Debug, Clone)]
struct Partial {
    /// Its bytes, while it is at most MAX_KEPT_LINE long; dropped (empty) past that.
    kept: Vec<u8>,
    len: u64,
    /// Whitespace only, so far.
    blank: bool,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            kept: Vec::new(),
            len: 0,
            blank: true,
        }
    }
}

impl Partial {
    fn too_long(&self) -> bool {
        self.len > MAX_KEPT_LINE as u64
    }

    fn extend(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len() as u64;
        if self.blank && !is_blank(bytes) {
            self.blank = false;
        }
        if self.too_long() {
            if self.kept.capacity() > 0 {
                self.kept = Vec::new();
            }
        } else {
            self.kept.extend_from_slice(bytes);
        }
    }

    fn clear(&mut self) {
        self.kept.clear();
        self.len = 0;
        self.blank = true;
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The `TS` of a record line.
fn timestamp(line: &[u8]) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Ts {
        #[serde(rename = "TS")]
        ts: Option<String>,
    }
    serde_json::from_slice::<Ts>(line)
        .map(|r| r.ts)
        .map_err(|e| e.to_string())
}

fn not_a_record(which: &str, error: &str) -> CorruptLog {
    CorruptLog(format!("the {which} line is not a JSON record: {error}"))
}

/// The line after `records` records is not one JSON object.
fn not_an_object(records: u64, e: &NotAnObject) -> CorruptLog {
    CorruptLog(format!(
        "the line after record {records} is not one JSON object ({e}): the file is not a query log"
    ))
}

/// The first record's `TS`, or the file is corrupt.
fn first_ts(line: &[u8]) -> Result<First, CorruptLog> {
    if line.len() > MAX_KEPT_LINE {
        return Ok(First { ts: None });
    }
    match timestamp(line) {
        Ok(ts) => Ok(First { ts }),
        Err(e) => Err(not_a_record("first", &e)),
    }
}

impl Records {
    /// The next decompressed bytes. Fails at the first line that is not one JSON object.
    pub fn push(&mut self, buf: &[u8]) -> Result<(), CorruptLog> {
        self.bytes += buf.len() as u64;
        let Some(newline) = memchr::memchr(b'\n', buf) else {
            self.partial.extend(buf);
            return self.validate(buf);
        };
        // The line that started in an earlier write ends here.
        self.partial.extend(&buf[..newline]);
        self.validate(&buf[..newline])?;
        self.end_partial()?;
        let rest = &buf[newline + 1..];
        let mut start = 0;
        let mut last_in_buf: Option<&[u8]> = None;
        for end in memchr::memchr_iter(b'\n', rest) {
            let line = &rest[start..end];
            start = end + 1;
            self.validate(line)?;
            if !self.end_line()? {
                continue;
            }
            self.records += 1;
            if line.len() > MAX_KEPT_LINE {
                self.long_records += 1;
            }
            if self.first.is_none() {
                self.first = Some(first_ts(line)?);
            }
            last_in_buf = Some(line);
        }
        if let Some(line) = last_in_buf {
            self.set_last(line);
        }
        self.partial.extend(&rest[start..]);
        self.validate(&rest[start..])
    }

    /// More bytes of the line being read, checked.
    fn validate(&mut self, bytes: &[u8]) -> Result<(), CorruptLog> {
        self.line
            .feed(bytes)
            .map_err(|e| not_an_object(self.records, &e))
    }

    /// The line being read ends: whether it was a record (`false`: blank), or why it is not one
    /// JSON object.
    fn end_line(&mut self) -> Result<bool, CorruptLog> {
        self.line
            .end_line()
            .map_err(|e| not_an_object(self.records, &e))
    }

    fn set_last(&mut self, line: &[u8]) {
        if line.len() > MAX_KEPT_LINE {
            self.last = Some(Last::Read(Ok(None)));
        } else if let Some(Last::Line(kept)) = &mut self.last {
            kept.clear();
            kept.extend_from_slice(line);
        } else {
            self.last = Some(Last::Line(line.to_vec()));
        }
    }

    /// The partial line has ended (a newline came).
    fn end_partial(&mut self) -> Result<(), CorruptLog> {
        if !self.end_line()? {
            self.partial.clear();
            return Ok(());
        }
        self.records += 1;
        if self.partial.too_long() {
            self.long_records += 1;
            if self.first.is_none() {
                self.first = Some(First { ts: None });
            }
            self.last = Some(Last::Read(Ok(None)));
        } else {
            if self.first.is_none() {
                self.first = Some(first_ts(&self.partial.kept)?);
            }
            // The partial line becomes the last one; the old last line's buffer is reused.
            let mut kept = match self.last.take() {
                Some(Last::Line(old)) => old,
                _ => Vec::new(),
            };
            std::mem::swap(&mut kept, &mut self.partial.kept);
            self.last = Some(Last::Line(kept));
        }
        self.partial.clear();
        Ok(())
    }

    /// The summary of a file that ends here.
    pub fn summary(&self) -> Result<LogSummary, CorruptLog> {
        let mut records = self.records;
        let mut long_records = self.long_records;
        let mut first = self.first.as_ref().map(|f| f.ts.clone());
        let mut last = match &self.last {
            None => None,
            Some(Last::Line(line)) => Some(timestamp(line)),
            Some(Last::Read(read)) => Some(read.clone()),
        };
        if !self.line.is_blank() {
            // A last record without a final newline: it must be whole.
            self.line
                .clone()
                .end_line()
                .map_err(|e| not_an_object(self.records, &e))?;
            records += 1;
            let read = if self.partial.too_long() {
                long_records += 1;
                Ok(None)
            } else {
                timestamp(&self.partial.kept)
            };
            if first.is_none() {
                first = Some(read.clone().map_err(|e| not_a_record("first", &e))?);
            }
            last = Some(read);
        }
        let last_ts = match last {
            None => None,
            Some(read) => read.map_err(|e| not_a_record("last", &e))?,
        };
        Ok(LogSummary {
            records,
            first_ts: first.flatten(),
            last_ts,
            uncompressed_bytes: self.bytes,
            long_records,
        })
    }

    /// How long the kept part of the unfinished line is.
    pub fn partial_kept(&self) -> usize {
        self.partial.kept.len()
    }

    /// The state to continue from, in a form that serialises compactly: the last record is
    /// read now (its `TS` kept, not the line).
    pub fn saved(&self) -> SavedRecords {
        SavedRecords {
            records: self.records,
            long_records: self.long_records,
            uncompressed_bytes: self.bytes,
            first: self.first.clone(),
            last: self.last.as_ref().map(|last| match last {
                Last::Line(line) => SavedLast::from(timestamp(line)),
                Last::Read(read) => SavedLast::from(read.clone()),
            }),
            partial: SavedPartial {
                len: self.partial.len,
                blank: self.partial.blank,
                kept: self.partial.kept.clone(),
            },
            line: Some(self.line.clone()),
        }
    }

    /// The counter as it was when `saved` was made; `Err` says why `saved` is not consistent.
    pub fn restore(saved: SavedRecords) -> Result<Records, String> {
        let SavedPartial { len, blank, kept } = saved.partial;
        let expected = if len > MAX_KEPT_LINE as u64 { 0 } else { len };
        if kept.len() as u64 != expected {
            return Err(format!(
                "the unfinished line is {len} bytes long, but {} are kept",
                kept.len()
            ));
        }
        if blank && !is_blank(&kept) {
            return Err("the unfinished line is said to be blank, and is not".into());
        }
        if saved.long_records > saved.records {
            return Err("more long records than records".into());
        }
        if saved.records > 0 && (saved.first.is_none() || saved.last.is_none()) {
            return Err("records without a first or last one".into());
        }
        // A checkpoint of a release that did not validate every line: its unfinished line is
        // validated again from what it kept, which is all of it unless it is too long to keep.
        let line = match saved.line {
            Some(line) => line,
            None if kept.len() as u64 == len => {
                let mut line = LineValidator::default();
                line.feed(&kept).map_err(|e| e.to_string())?;
                line
            }
            None => return Err("the unfinished line, too long to keep, was not validated".into()),
        };
        Ok(Records {
            line,
            records: saved.records,
            long_records: saved.long_records,
            bytes: saved.uncompressed_bytes,
            first: saved.first,
            last: saved.last.map(|last| {
                Last::Read(match last {
                    SavedLast::Ts(ts) => Ok(ts),
                    SavedLast::NotJson(e) => Err(e),
                })
            }),
            partial: Partial { kept, len, blank },
        })
    }
}

/// [`Records`] in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRecords {
    records: u64,
    long_records: u64,
    uncompressed_bytes: u64,
    first: Option<First>,
    last: Option<SavedLast>,
    partial: SavedPartial,
    /// The unfinished line's validator (absent from checkpoints of earlier releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<LineValidator>,
}

#[cfg(test)]
impl SavedRecords {
    /// The unfinished line's length, and how much of it is kept.
    pub fn partial(&self) -> (u64, usize) {
        (self.partial.len, self.partial.kept.len())
    }
}

/// The last complete record, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SavedLast {
    Ts(Option<String>),
    /// Why it is not a JSON record (which matters only if no record follows).
    NotJson(String),
}

impl From<Result<Option<String>, String>> for SavedLast {
    fn from(read: Result<Option<String>, String>) -> Self {
        match read {
            Ok(ts) => SavedLast::Ts(ts),
            Err(e) => SavedLast::NotJson(e),
        }
    }
}

/// The unfinished line in a checkpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedPartial {
    len: u64,
    blank: bool,
    /// The line's bytes (base64); empty when it is longer than MAX_KEPT_LINE.
    #[serde(with = "super::checkpoint::base64")]
    kept: Vec<u8>,
}

impl std::fmt::Debug for SavedPartial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedPartial")
            .field("len", &self.len)
            .field("blank", &self.blank)
            .field("kept", &format_args!("{} bytes", self.kept.len()))
            .finish()
    }
}
