//! The gzip framing (RFC 1952) around raw inflate, and the synchronous verifier core,
//! [`GzipLines`]: headers and trailers parsed here, bytes fed in pieces of any size, multi-member
//! files, checkpoints at deflate block boundaries and between members.

use std::collections::VecDeque;

use super::checkpoint::{Checkpoint, MAX_CHECKPOINT_PARTIAL, MemberState};
use super::inflate::Inflater;
#[cfg(feature = "isal")]
use super::inflate::WINDOW;
#[cfg(feature = "isal")]
use super::inflate_isal::{Boundary, FastInflater};
use super::line_summary::Records;
use super::{CorruptLog, LogSummary};

/// The decompressed bytes handed to the line counter at a time. (ISA-L saves its 32 KiB of
/// history on every call, so fewer, larger calls are faster.)
pub const OUTPUT_BUFFER: usize = 256 << 10;

/// Which raw inflate a verifier uses for the deflate data of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateWith {
    /// zlib-rs (pure Rust): always available.
    ZlibRs,
    /// ISA-L's igzip, when built with the `isal` feature (the default).
    Isal,
}

impl InflateWith {
    /// Every way this build can inflate.
    pub const AVAILABLE: &[InflateWith] = &[
        InflateWith::ZlibRs,
        #[cfg(feature = "isal")]
        InflateWith::Isal,
    ];

    /// The fastest this build has.
    pub const fn fastest() -> InflateWith {
        if cfg!(feature = "isal") {
            InflateWith::Isal
        } else {
            InflateWith::ZlibRs
        }
    }
}

/// Once a checkpoint is wanted at an offset, ISA-L is fed one byte at a time from this many
/// bytes past it (more than it can hold unused: 8 bytes of bits and a 328-byte header), so that
/// the first block boundary it stops at is at or after the offset.
#[cfg(feature = "isal")]
const SEEK_FROM: u64 = 512;

/// The longest gzip header accepted: the extra field (at most 64 KiB) and a name and comment.
pub const MAX_HEADER: usize = 128 << 10;

const FTEXT: u8 = 1;
const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;
const RESERVED: u8 = !(FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT);

/// Verifies a gzip JSON Lines file fed in pieces: the synchronous core of [`super::Verifier`].
///
/// ```
/// use fauna_logs_verify::GzipLines;
/// let mut v = GzipLines::new();
/// v.feed(b"not gzip").unwrap_err();
/// ```
pub struct GzipLines {
    stage: Stage,
    /// The file offset of the next byte to be fed.
    offset: u64,
    /// Members complete so far.
    members: u64,
    /// The way members are inflated: with `inflater` (zlib-rs) or `fast` (ISA-L); only that
    /// one is ever made.
    with: InflateWith,
    inflater: Option<Inflater>,
    #[cfg(feature = "isal")]
    fast: Option<FastInflater>,
    /// With ISA-L: the member's last output bytes, at most 32 KiB, for a checkpoint.
    window: VecDeque<u8>,
    /// Input taken past a member's deflate data (ISA-L reads ahead), fed again.
    replay: Vec<u8>,
    /// The CRC-32 and length of the current member's output.
    crc: crc32fast::Hasher,
    size: u64,
    /// The last (up to 8) input bytes inflate took, the latest in the low byte.
    tail: u64,
    /// The current deflate block's header, as far as known.
    block: BlockHeader,
    /// Where the inflater stands, if that is a point to checkpoint.
    at: Option<At>,
    out: Box<[u8]>,
    records: Records,
    /// A checkpoint is wanted at the first point at or after this offset.
    request: Option<u64>,
    ready: Option<Checkpoint>,
    failed: Option<CorruptLog>,
}

enum Stage {
    /// At the start of the file or after a member's trailer.
    Between,
    Header(Header),
    Deflate,
    Trailer {
        bytes: [u8; 8],
        have: usize,
    },
}

impl Default for GzipLines {
    fn default() -> Self {
        Self::new()
    }
}

impl GzipLines {
    /// A verifier of a file from its first byte, inflating with the fastest way built in.
    pub fn new() -> GzipLines {
        GzipLines::with(InflateWith::fastest())
    }

    /// A verifier of a file from its first byte, inflating with `with`.
    pub fn with(with: InflateWith) -> GzipLines {
        GzipLines {
            stage: Stage::Between,
            offset: 0,
            members: 0,
            with,
            inflater: None,
            #[cfg(feature = "isal")]
            fast: None,
            window: VecDeque::new(),
            replay: Vec::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            tail: 0,
            block: BlockHeader::Unknown,
            at: None,
            out: vec![0; OUTPUT_BUFFER].into_boxed_slice(),
            records: Records::default(),
            request: None,
            ready: None,
            failed: None,
        }
    }

    /// A verifier that continues from `checkpoint`: the next byte fed is the file's byte
    /// `checkpoint.offset`. Fails if the checkpoint is not one a verifier could have made.
    pub fn resume(checkpoint: Checkpoint) -> Result<GzipLines, CorruptLog> {
        GzipLines::resume_with(checkpoint, InflateWith::fastest())
    }

    /// [`GzipLines::resume`], inflating with `with`.
    pub fn resume_with(checkpoint: Checkpoint, with: InflateWith) -> Result<GzipLines, CorruptLog> {
        let invalid = |e: String| CorruptLog(format!("the checkpoint is not valid: {e}"));
        checkpoint.check().map_err(invalid)?;
        let mut v = GzipLines::with(with);
        v.offset = checkpoint.offset;
        v.members = checkpoint.members;
        v.records = Records::restore(checkpoint.lines).map_err(invalid)?;
        if let Some(m) = checkpoint.member {
            v.crc = crc32fast::Hasher::new_with_initial_len(m.crc32, m.size);
            v.size = m.size;
            v.stage = Stage::Deflate;
            #[cfg(feature = "isal")]
            if with == InflateWith::Isal {
                let fast = FastInflater::resume(m.bits, m.byte, m.in_fixed_block, &m.window);
                v.fast = Some(fast.map_err(invalid)?);
                v.window = m.window.into();
                return Ok(v);
            }
            let mut inflater = Inflater::new().map_err(invalid)?;
            if let Some(last) = m.in_fixed_block {
                // The block's header again: BFINAL, then BTYPE 01 (fixed Huffman codes).
                inflater.prime(3, u8::from(last) | 0b010).map_err(invalid)?;
                v.block = BlockHeader::Known { fixed: true, last };
            } else {
                v.block = BlockHeader::Pending {
                    value: m.byte.checked_shr(8 - u32::from(m.bits)).unwrap_or(0),
                    bits: m.bits,
                }
                .resolved();
                v.at = Some(At::BlockEnd { bits: m.bits });
            }
            if m.bits > 0 {
                inflater
                    .prime(m.bits, m.byte >> (8 - m.bits))
                    .map_err(invalid)?;
            }
            inflater.set_window(&m.window).map_err(invalid)?;
            v.inflater = Some(inflater);
            v.tail = u64::from(m.byte);
        }
        Ok(v)
    }

    /// The inflater that has been made, once a member's deflate data began.
    #[cfg(test)]
    pub(super) fn inflater_made(&self) -> Option<InflateWith> {
        #[cfg(feature = "isal")]
        if self.fast.is_some() {
            return self.inflater.is_none().then_some(InflateWith::Isal);
        }
        self.inflater.as_ref().map(|_| InflateWith::ZlibRs)
    }

    /// The file offset of the next byte to feed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Feeds the next bytes of the file. An error is final: the file is corrupt, and every later
    /// call says so again.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), CorruptLog> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Err(e) = self.take(input) {
            self.failed = Some(e.clone());
            self.request = None;
            self.ready = None;
            return Err(e);
        }
        Ok(())
    }

    /// Takes all of `input`, and any input given back to be fed again.
    fn take(&mut self, mut input: &[u8]) -> Result<(), CorruptLog> {
        loop {
            if !self.replay.is_empty() {
                // At most a few hundred bytes, once per member.
                let replay = std::mem::take(&mut self.replay);
                self.take(&replay)?;
            }
            if input.is_empty() {
                return Ok(());
            }
            let used = self.step(input)?;
            input = &input[used..];
        }
    }

    /// Asks for a checkpoint at the first point, at or after file offset `offset`, where this
    /// verifier can be checkpointed; [`GzipLines::take_checkpoint`] hands it over once taken.
    /// Replaces an earlier request.
    pub fn request_checkpoint(&mut self, offset: u64) {
        self.ready = None;
        if self.failed.is_none() {
            self.request = Some(offset);
            self.maybe_checkpoint();
        }
    }

    /// The checkpoint requested, once taken.
    pub fn take_checkpoint(&mut self) -> Option<Checkpoint> {
        self.ready.take()
    }

    /// Whether a checkpoint request waits.
    pub fn checkpoint_pending(&self) -> bool {
        self.request.is_some()
    }

    /// Ends the stream and says whether it was a complete, valid log file.
    pub fn finish(self) -> Result<LogSummary, CorruptLog> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let member = self.members + 1;
        let inside = match self.stage {
            Stage::Between if self.members > 0 => return self.records.summary(),
            Stage::Between => "the file is empty".to_owned(),
            Stage::Header(_) => format!("it ends inside the header of member {member}"),
            Stage::Deflate => format!("it ends inside the compressed data of member {member}"),
            Stage::Trailer { .. } => format!("it ends inside the trailer of member {member}"),
        };
        Err(CorruptLog(format!(
            "the gzip stream is incomplete: {inside}"
        )))
    }

    /// Takes what it can from `input` in the current stage; takes nothing only when it moves to
    /// another stage.
    fn step(&mut self, input: &[u8]) -> Result<usize, CorruptLog> {
        let member = self.members + 1;
        let invalid = |e: String| CorruptLog(format!("the file is not valid gzip: {e}"));
        match &mut self.stage {
            Stage::Between => {
                if input[0] != 0x1f {
                    return Err(self.not_a_member());
                }
                self.stage = Stage::Header(Header::default());
                Ok(0)
            }
            Stage::Header(header) => {
                let used = match header.parse(input) {
                    Ok(used) => used,
                    Err(HeaderError::NotGzip) => return Err(self.not_a_member()),
                    Err(HeaderError::Invalid(e)) => {
                        return Err(invalid(format!("the header of member {member} {e}")));
                    }
                };
                self.offset += used as u64;
                if header.done() {
                    self.start_member().map_err(invalid)?;
                }
                Ok(used)
            }
            Stage::Deflate => {
                let taken = match self.with {
                    #[cfg(feature = "isal")]
                    InflateWith::Isal => self.inflate_fast(input),
                    _ => self.inflate(input),
                };
                taken.map_err(|e| e.unwrap_or_else(|e| invalid(format!("member {member}: {e}"))))
            }
            Stage::Trailer { bytes, have } => {
                let used = input.len().min(8 - *have);
                bytes[*have..*have + used].copy_from_slice(&input[..used]);
                *have += used;
                self.offset += used as u64;
                if *have == 8 {
                    let bytes = *bytes;
                    self.end_member(bytes).map_err(invalid)?;
                }
                Ok(used)
            }
        }
    }

    fn not_a_member(&self) -> CorruptLog {
        if self.members == 0 {
            CorruptLog("the file is not gzip: it does not start with a gzip header".into())
        } else {
            CorruptLog(format!(
                "the file is not valid gzip: at byte {} after member {} comes data that is not a gzip member",
                self.offset, self.members
            ))
        }
    }

    fn start_member(&mut self) -> Result<(), String> {
        match (self.with, &mut self.inflater) {
            #[cfg(feature = "isal")]
            (InflateWith::Isal, _) => self.fast.get_or_insert_with(FastInflater::new).reset(),
            (_, Some(inflater)) => inflater.reset()?,
            (_, None) => self.inflater = Some(Inflater::new()?),
        }
        self.window.clear();
        self.crc = crc32fast::Hasher::new();
        self.size = 0;
        self.block = BlockHeader::Pending { value: 0, bits: 0 };
        self.at = None;
        self.stage = Stage::Deflate;
        Ok(())
    }

    fn end_member(&mut self, trailer: [u8; 8]) -> Result<(), String> {
        let member = self.members + 1;
        let [c0, c1, c2, c3, s0, s1, s2, s3] = trailer;
        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
        let isize = u32::from_le_bytes([s0, s1, s2, s3]);
        let actual = self.crc.clone().finalize();
        if crc != actual {
            return Err(format!(
                "the CRC-32 of member {member} is {actual:08x}, its trailer says {crc:08x}"
            ));
        }
        if isize != self.size as u32 {
            return Err(format!(
                "member {member} holds {} bytes, its trailer says {isize} (modulo 2^32)",
                self.size
            ));
        }
        self.members += 1;
        self.stage = Stage::Between;
        if self.request.is_some() {
            self.maybe_checkpoint();
        }
        Ok(())
    }

    /// Inflates from `input` until it is used up or the deflate stream ends. An `Err(Ok(_))` is
    /// the line counter's verdict, an `Err(Err(_))` inflate's.
    fn inflate(&mut self, input: &[u8]) -> Result<usize, Result<CorruptLog, String>> {
        let mut used = 0;
        let mut stall = Stall::default();
        loop {
            if let (BlockHeader::Pending { value, bits }, Some(&next)) =
                (self.block, input.get(used))
            {
                self.block = BlockHeader::read(u32::from(value) | u32::from(next) << bits);
            }
            let Some(inflater) = &mut self.inflater else {
                return Err(Err("no inflater".into()));
            };
            let step = inflater
                .inflate(&input[used..], &mut self.out)
                .map_err(Err)?;
            if step.consumed > 0 {
                used += step.consumed;
                for &byte in &input[used - step.consumed.min(8)..used] {
                    self.tail = self.tail << 8 | u64::from(byte);
                }
                self.offset += step.consumed as u64;
            }
            if step.produced > 0 {
                let out = &self.out[..step.produced];
                self.crc.update(out);
                self.size += out.len() as u64;
                self.records.push(out).map_err(Ok)?;
            }
            if step.end {
                self.at = None;
                self.block = BlockHeader::Unknown;
                self.stage = Stage::Trailer {
                    bytes: [0; 8],
                    have: 0,
                };
                return Ok(used);
            }
            let out_full = step.produced == self.out.len();
            let wants_input = used == input.len() && !out_full;
            self.at = None;
            if step.block_end {
                // The next block's header starts with the unused bits of the last byte.
                self.block = if step.last_block || step.bits > 7 {
                    BlockHeader::Unknown
                } else {
                    let bits = step.bits;
                    let value = (self.tail as u8)
                        .checked_shr(8 - u32::from(bits))
                        .unwrap_or(0);
                    BlockHeader::Pending { value, bits }.resolved()
                };
                if !step.last_block && step.bits < 8 {
                    self.at = Some(At::BlockEnd { bits: step.bits });
                }
            } else if let (true, BlockHeader::Known { fixed: true, last }) =
                (wants_input, self.block)
            {
                // Inside a fixed-Huffman block, out of input: perhaps between two codes.
                self.at = Some(At::InFixedBlock {
                    bits: step.bits,
                    last,
                });
            }
            if self.at.is_some() && self.request.is_some() {
                self.maybe_checkpoint();
            }
            if wants_input {
                return Ok(used);
            }
            // One call may only step over a block boundary; two in a row is no progress.
            stall.check(step.consumed, step.produced).map_err(Err)?;
        }
    }

    /// [`GzipLines::inflate`] on ISA-L. Once a checkpoint is wanted (and the offset reached), it
    /// feeds one byte at a time, so that a call ends at the first block boundary.
    #[cfg(feature = "isal")]
    fn inflate_fast(&mut self, input: &[u8]) -> Result<usize, Result<CorruptLog, String>> {
        let mut used = 0;
        let mut stall = Stall::default();
        loop {
            let seeking = self
                .request
                .is_some_and(|wanted| self.offset >= wanted.saturating_add(SEEK_FROM));
            let end = if seeking {
                (used + 1).min(input.len())
            } else {
                input.len()
            };
            let Some(fast) = &mut self.fast else {
                return Err(Err("no inflater".into()));
            };
            let step = fast
                .inflate(&input[used..end], &mut self.out)
                .map_err(Err)?;
            used += step.consumed;
            self.offset += step.consumed as u64;
            if step.produced > 0 {
                let out = &self.out[..step.produced];
                self.crc.update(out);
                self.size += out.len() as u64;
                keep_window(&mut self.window, out);
                self.records.push(out).map_err(Ok)?;
            }
            if step.end {
                // What it read past the deflate data is the trailer's: fed again.
                self.offset -= step.left_over.len() as u64;
                self.replay = step.left_over;
                self.stage = Stage::Trailer {
                    bytes: [0; 8],
                    have: 0,
                };
                return Ok(used);
            }
            if seeking && let Some(boundary) = fast.boundary() {
                self.checkpoint_at(boundary);
            }
            let out_full = step.produced == self.out.len();
            if used == input.len() && !out_full {
                return Ok(used);
            }
            stall.check(step.consumed, step.produced).map_err(Err)?;
        }
    }

    /// Takes the checkpoint wanted at a block boundary ISA-L stands at, if it is far enough.
    #[cfg(feature = "isal")]
    fn checkpoint_at(&mut self, boundary: Boundary) {
        let Some(wanted) = self.request else { return };
        let Some(offset) = self.offset.checked_sub(boundary.unused_bytes as u64) else {
            return;
        };
        if offset < wanted || self.records.partial_kept() > MAX_CHECKPOINT_PARTIAL {
            return;
        }
        let member = MemberState {
            bits: boundary.bits,
            byte: boundary.byte,
            in_fixed_block: boundary.in_fixed_block,
            window: self.window.iter().copied().collect(),
            crc32: self.crc.clone().finalize(),
            size: self.size,
        };
        self.request = None;
        self.ready = Some(Checkpoint {
            offset,
            members: self.members,
            member: Some(member),
            lines: self.records.saved(),
        });
    }

    /// The checkpoint of where the verifier stands, if it can be taken here.
    fn checkpoint_here(&self) -> Option<Checkpoint> {
        if self.records.partial_kept() > MAX_CHECKPOINT_PARTIAL {
            return None;
        }
        let (offset, member) = match (&self.stage, &self.inflater, self.at) {
            (Stage::Between, _, _) => (self.offset, None),
            (Stage::Deflate, Some(inflater), Some(At::BlockEnd { bits })) => {
                let member = MemberState {
                    bits,
                    byte: if bits > 0 { self.tail as u8 } else { 0 },
                    in_fixed_block: None,
                    window: inflater.window(),
                    crc32: self.crc.clone().finalize(),
                    size: self.size,
                };
                (self.offset, Some(member))
            }
            (Stage::Deflate, Some(inflater), Some(At::InFixedBlock { bits, last })) => {
                // Whole bytes not used yet are given back: the checkpoint is before them.
                let back = u64::from(bits / 8);
                if back >= 8 || back >= self.offset || !inflater.between_codes() {
                    return None;
                }
                let bits = bits % 8;
                let member = MemberState {
                    bits,
                    byte: if bits > 0 {
                        (self.tail >> (8 * back)) as u8
                    } else {
                        0
                    },
                    in_fixed_block: Some(last),
                    window: inflater.window(),
                    crc32: self.crc.clone().finalize(),
                    size: self.size,
                };
                (self.offset - back, Some(member))
            }
            _ => return None,
        };
        Some(Checkpoint {
            offset,
            members: self.members,
            member,
            lines: self.records.saved(),
        })
    }

    fn maybe_checkpoint(&mut self) {
        let Some(wanted) = self.request else { return };
        // (`checkpoint_here` is at most 7 bytes before `offset`.)
        if self.offset < wanted {
            return;
        }
        if let Some(checkpoint) = self.checkpoint_here()
            && checkpoint.offset >= wanted
        {
            self.request = None;
            self.ready = Some(checkpoint);
        }
    }
}

/// Keeps the last [`WINDOW`] bytes of a member's output in `window`.
#[cfg(feature = "isal")]
fn keep_window(window: &mut VecDeque<u8>, out: &[u8]) {
    if out.len() >= WINDOW {
        window.clear();
        window.extend(&out[out.len() - WINDOW..]);
    } else {
        let excess = (window.len() + out.len()).saturating_sub(WINDOW);
        window.drain(..excess);
        window.extend(out);
    }
}

/// Inflate calls in a row that took no input and gave no output.
#[derive(Default)]
struct Stall(u8);

impl Stall {
    /// Counts a call; the second in a row that did nothing is an error.
    fn check(&mut self, consumed: usize, produced: usize) -> Result<(), String> {
        if consumed > 0 || produced > 0 {
            self.0 = 0;
        } else {
            self.0 += 1;
            if self.0 > 1 {
                return Err("inflate makes no progress".into());
            }
        }
        Ok(())
    }
}

/// A point inside a member where the inflater can be checkpointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Just after a block (not the last) ended: `bits` unused bits of the last byte.
    BlockEnd { bits: u8 },
    /// Inside a fixed-Huffman block, out of input, with `bits` unused bits in hand; a point to
    /// checkpoint if no code is begun (`Inflater::between_codes`).
    InFixedBlock { bits: u8, last: bool },
}

/// What the verifier knows of the current deflate block's header (BFINAL, BTYPE), read from
/// the compressed bytes alongside inflate: inside a fixed-Huffman block it can checkpoint
/// between any two codes, by replaying the header on resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockHeader {
    /// Not known (a block whose start was not seen).
    Unknown,
    /// The header starts with these `bits` bits (the rest follows in the next input byte).
    Pending {
        value: u8,
        bits: u8,
    },
    Known {
        fixed: bool,
        last: bool,
    },
}

impl BlockHeader {
    /// The header whose first three bits are the low bits of `bits`.
    fn read(bits: u32) -> BlockHeader {
        BlockHeader::Known {
            last: bits & 1 == 1,
            fixed: (bits >> 1) & 3 == 1,
        }
    }

    /// Known already, if the pending bits hold the three header bits.
    fn resolved(self) -> BlockHeader {
        match self {
            BlockHeader::Pending { value, bits } if bits >= 3 => Self::read(u32::from(value)),
            other => other,
        }
    }
}

#[derive(Debug)]
enum HeaderError {
    /// The bytes do not start with the gzip magic.
    NotGzip,
    Invalid(String),
}

/// A gzip member header, parsed as its bytes arrive.
#[derive(Default)]
struct Header {
    part: Part,
    /// The bytes of a fixed-size part so far.
    buf: [u8; 10],
    have: usize,
    flags: u8,
    /// The extra field's bytes still to skip.
    extra_left: usize,
    len: usize,
    /// The CRC-32 of the header so far (for FHCRC).
    crc: crc32fast::Hasher,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Part {
    #[default]
    Fixed,
    ExtraLen,
    Extra,
    Name,
    Comment,
    Crc,
    Done,
}

impl Header {
    fn done(&self) -> bool {
        self.part == Part::Done
    }

    /// The part that follows `part`, given the header's flags.
    fn next(&self, part: Part) -> Part {
        let has = |flag: u8| self.flags & flag != 0;
        let order = [
            (Part::ExtraLen, has(FEXTRA)),
            (Part::Name, has(FNAME)),
            (Part::Comment, has(FCOMMENT)),
            (Part::Crc, has(FHCRC)),
        ];
        let after = match part {
            Part::Fixed => 0,
            Part::ExtraLen | Part::Extra => 1,
            Part::Name => 2,
            Part::Comment => 3,
            Part::Crc | Part::Done => 4,
        };
        order[after.min(order.len())..]
            .iter()
            .find(|(_, present)| *present)
            .map_or(Part::Done, |(part, _)| *part)
    }

    /// Takes header bytes from `input`; returns how many. Stops at the end of the header.
    fn parse(&mut self, input: &[u8]) -> Result<usize, HeaderError> {
        let mut used = 0;
        while used < input.len() && self.part != Part::Done {
            let rest = &input[used..];
            let (took, next) = match self.part {
                Part::Fixed | Part::ExtraLen | Part::Crc => {
                    let want = match self.part {
                        Part::Fixed => 10,
                        _ => 2,
                    };
                    let took = rest.len().min(want - self.have);
                    self.buf[self.have..self.have + took].copy_from_slice(&rest[..took]);
                    self.have += took;
                    if self.part == Part::Fixed {
                        self.check_fixed()?;
                    }
                    if self.have < want {
                        (took, self.part)
                    } else {
                        self.have = 0;
                        (took, self.complete_part()?)
                    }
                }
                Part::Extra => {
                    let took = rest.len().min(self.extra_left);
                    self.extra_left -= took;
                    let next = if self.extra_left == 0 {
                        self.next(Part::Extra)
                    } else {
                        Part::Extra
                    };
                    (took, next)
                }
                Part::Name | Part::Comment => match memchr::memchr(0, rest) {
                    Some(zero) => (zero + 1, self.next(self.part)),
                    None => (rest.len(), self.part),
                },
                Part::Done => (0, Part::Done),
            };
            if self.part != Part::Crc {
                self.crc.update(&rest[..took]);
            }
            used += took;
            self.len += took;
            if self.len > MAX_HEADER {
                return Err(HeaderError::Invalid(format!(
                    "is longer than {MAX_HEADER} bytes"
                )));
            }
            self.part = next;
        }
        Ok(used)
    }

    /// Checks the fixed part's bytes so far: the magic, the method, the flags.
    fn check_fixed(&mut self) -> Result<(), HeaderError> {
        let b = &self.buf[..self.have];
        if b.first().is_some_and(|&b| b != 0x1f) || b.get(1).is_some_and(|&b| b != 0x8b) {
            return Err(HeaderError::NotGzip);
        }
        if let Some(&method) = b.get(2)
            && method != 8
        {
            return Err(HeaderError::Invalid(format!(
                "names compression method {method}, not deflate (8)"
            )));
        }
        if let Some(&flags) = b.get(3) {
            if flags & RESERVED != 0 {
                return Err(HeaderError::Invalid(format!(
                    "has reserved flag bits set ({flags:#04x})"
                )));
            }
            self.flags = flags;
        }
        Ok(())
    }

    /// A fixed-size part is complete in `buf`: the part that follows.
    fn complete_part(&mut self) -> Result<Part, HeaderError> {
        match self.part {
            Part::Fixed => Ok(self.next(Part::Fixed)),
            Part::ExtraLen => {
                self.extra_left = usize::from(u16::from_le_bytes([self.buf[0], self.buf[1]]));
                Ok(if self.extra_left > 0 {
                    Part::Extra
                } else {
                    self.next(Part::Extra)
                })
            }
            Part::Crc => {
                let given = u16::from_le_bytes([self.buf[0], self.buf[1]]);
                let actual = self.crc.clone().finalize() as u16;
                if given != actual {
                    return Err(HeaderError::Invalid(format!(
                        "has CRC-16 {given:04x}, its bytes have {actual:04x}"
                    )));
                }
                Ok(self.next(Part::Crc))
            }
            other => Ok(other),
        }
    }
}
