//! Raw inflate through ISA-L's igzip (Intel's Intelligent Storage Acceleration Library, built
//! from source by `isal-sys`): faster than zlib-rs on query logs (docs/performance.md). With
//! `inflate.rs`, the only `unsafe`: a small owner of a boxed `inflate_state`.
//!
//! ISA-L's streaming inflate does not stop at block ends the way zlib's `Z_BLOCK` does, so a
//! checkpoint is found by feeding it one byte at a time once one is wanted. Between two calls,
//! with every output byte handed over, it can then stand:
//!
//! - at a block boundary, waiting for the next block's header (`ISAL_BLOCK_NEW_HDR`, or
//!   `ISAL_BLOCK_HDR` with the header's first bytes set aside);
//! - inside a block with fixed Huffman codes (its code tables are the fixed ones), between two
//!   codes: out of input, ISA-L gives back the bits of a code it could not finish. Level 1 of
//!   zlib-ng and zlib-rs (the simulator's files) writes a whole member as one such block.
//!
//! Where it stands is read from the state's documented fields: the bits it holds (`read_in`,
//! `read_in_length`) and the bytes it set aside (`tmp_in_buffer`, `tmp_in_size`). The same
//! fields continue a stream from a checkpoint: the unused bits of the last byte (after a fixed
//! block's 3 header bits, replayed) are put back into `read_in`, the window set as the dictionary.

use std::sync::LazyLock;

use isal_sys::igzip_lib as isal;

use super::inflate::WINDOW;

/// What one call of [`FastInflater::inflate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastStep {
    /// Input bytes taken (including any it holds but has not used).
    pub consumed: usize,
    /// Output bytes written.
    pub produced: usize,
    /// The deflate stream has ended and all its output is written: the bytes it took past its
    /// end are in `left_over`.
    pub end: bool,
    /// After the end: the bytes taken past the deflate stream (the start of the gzip trailer).
    pub left_over: Vec<u8>,
}

/// A point the stream can be continued from: where the next header or code starts, counted
/// back from the end of the input taken so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boundary {
    /// Whole input bytes taken but not used: it starts this many bytes before the end of the
    /// input taken (after `bits` bits of the byte before them).
    pub unused_bytes: usize,
    /// The unused bits (0–7) of the byte before them, its high bits.
    pub bits: u8,
    /// That byte, its unused bits in the high bits (meaningful when `bits` > 0).
    pub byte: u8,
    /// Inside a fixed-Huffman block (`Some(BFINAL)`), between two codes, rather than between
    /// two blocks.
    pub in_fixed_block: Option<bool>,
}

/// ISA-L's code tables for fixed Huffman codes, read once from a state that has just read a
/// fixed block's header.
static FIXED_CODES: LazyLock<Option<Box<FixedCodes>>> = LazyLock::new(FixedCodes::read);

struct FixedCodes {
    lit: isal::inflate_huff_code_large,
    dist: isal::inflate_huff_code_small,
}

impl FixedCodes {
    fn read() -> Option<Box<FixedCodes>> {
        let mut inflater = FastInflater::new();
        // BFINAL 1, BTYPE 01: a fixed-Huffman block's header, and no code yet.
        inflater.inflate(&[0b011], &mut [0u8; 16]).ok()?;
        let s = &*inflater.state;
        (s.block_state == isal::isal_block_state_ISAL_BLOCK_CODED).then(|| {
            Box::new(FixedCodes {
                lit: s.lit_huff_code,
                dist: s.dist_huff_code,
            })
        })
    }

    fn in_use(&self, s: &isal::inflate_state) -> bool {
        s.lit_huff_code.short_code_lookup == self.lit.short_code_lookup
            && s.lit_huff_code.long_code_lookup == self.lit.long_code_lookup
            && s.dist_huff_code.short_code_lookup == self.dist.short_code_lookup
            && s.dist_huff_code.long_code_lookup == self.dist.long_code_lookup
    }
}

/// A raw inflate stream on ISA-L. Boxed: the state is large (about 23 KB) and its buffers are
/// addressed from inside it.
pub struct FastInflater {
    state: Box<isal::inflate_state>,
}

impl FastInflater {
    /// A raw inflater (no gzip or zlib wrapper, 32 KiB window).
    pub fn new() -> FastInflater {
        // SAFETY: `inflate_state` is a plain C struct of integers, pointers and arrays, for which
        // all-zero bytes are a valid value; `isal_inflate_init` then sets every field it reads.
        let mut state: Box<isal::inflate_state> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `state` points to a valid, writable `inflate_state` that outlives the call.
        unsafe { isal::isal_inflate_init(&mut *state) };
        state.crc_flag = isal::ISAL_DEFLATE;
        FastInflater { state }
    }

    /// An inflater that continues a stream where a [`Boundary`] was: `bits` (0–7) unused high
    /// bits of `byte` come first, then the next input, after the header of the fixed-Huffman
    /// block it was inside (`in_fixed_block`: `Some(BFINAL)`), replayed; `window` is the
    /// stream's last output (at most 32 KiB), which the next codes may refer back to.
    pub fn resume(
        bits: u8,
        byte: u8,
        in_fixed_block: Option<bool>,
        window: &[u8],
    ) -> Result<FastInflater, String> {
        if bits > 7 {
            return Err(format!("{bits} unused bits in a byte"));
        }
        if window.len() > WINDOW {
            return Err(format!("a window of {} bytes is too long", window.len()));
        }
        let mut inflater = FastInflater::new();
        if !window.is_empty() {
            let len = u32::try_from(window.len()).unwrap_or(u32::MAX);
            // SAFETY: the state was initialised by `new` and stands at a new header; `window` is
            // readable for `len` bytes during the call, which copies them (ISA-L takes a `*mut`
            // but only reads the dictionary).
            let ret = unsafe {
                isal::isal_inflate_set_dict(&mut *inflater.state, window.as_ptr().cast_mut(), len)
            };
            if ret != 0 {
                return Err(format!("isal_inflate_set_dict failed ({ret})"));
            }
        }
        let value = if bits > 0 { byte >> (8 - bits) } else { 0 };
        let (read_in, length) = match in_fixed_block {
            // BFINAL, then BTYPE 01, then the unused bits.
            Some(last) => (
                u64::from(last) | 0b010 | u64::from(value) << 3,
                3 + i32::from(bits),
            ),
            None => (u64::from(value), i32::from(bits)),
        };
        inflater.state.read_in = read_in;
        inflater.state.read_in_length = length;
        Ok(inflater)
    }

    /// Forgets the stream: the next input is the start of a new deflate stream.
    pub fn reset(&mut self) {
        // SAFETY: the state was initialised by `new`; reset only writes its fields.
        unsafe { isal::isal_inflate_reset(&mut *self.state) };
    }

    /// Inflates from `input` into `output` until the input is used up, `output` is full or the
    /// stream ends.
    pub fn inflate(&mut self, input: &[u8], output: &mut [u8]) -> Result<FastStep, String> {
        let avail_in = u32::try_from(input.len()).unwrap_or(u32::MAX);
        let avail_out = u32::try_from(output.len()).unwrap_or(u32::MAX);
        let s = &mut *self.state;
        s.next_in = input.as_ptr().cast_mut();
        s.avail_in = avail_in;
        s.next_out = output.as_mut_ptr();
        s.avail_out = avail_out;
        // SAFETY: the state was initialised by `new` and is boxed (it does not move);
        // `next_in`/`avail_in` describe `input`, which ISA-L only reads, and
        // `next_out`/`avail_out` describe `output`, writable; both are borrowed for the whole
        // call, and the pointers are cleared below, so none outlives the borrows.
        let ret = unsafe { isal::isal_inflate(s) };
        let (left_in, left_out) = (s.avail_in, s.avail_out);
        s.next_in = std::ptr::null_mut();
        s.avail_in = 0;
        s.next_out = std::ptr::null_mut();
        s.avail_out = 0;
        if ret < 0 {
            // The stream is broken; ISA-L's counts are not to be relied on after an error.
            return Err(message(ret));
        }
        let (Some(consumed), Some(produced)) = (
            avail_in.checked_sub(left_in),
            avail_out.checked_sub(left_out),
        ) else {
            return Err("ISA-L inflate reported more bytes than it was given".into());
        };
        let (consumed, produced) = (consumed as usize, produced as usize);
        let end = s.block_state == isal::isal_block_state_ISAL_BLOCK_FINISH;
        let left_over = if end { self.unused_input() } else { Vec::new() };
        Ok(FastStep {
            consumed,
            produced,
            end,
            left_over,
        })
    }

    /// Where the stream can be continued from, if it stands at such a point: between two
    /// blocks (not after the last), or between two codes of a fixed-Huffman block, with all
    /// output written.
    pub fn boundary(&self) -> Option<Boundary> {
        let s = &*self.state;
        let flushed = s.tmp_out_valid == s.tmp_out_processed
            && s.write_overflow_len == 0
            && s.copy_overflow_length == 0;
        if !flushed {
            return None;
        }
        let in_fixed_block = match s.block_state {
            isal::isal_block_state_ISAL_BLOCK_NEW_HDR | isal::isal_block_state_ISAL_BLOCK_HDR => {
                None
            }
            isal::isal_block_state_ISAL_BLOCK_CODED
                if FIXED_CODES.as_ref().is_some_and(|codes| codes.in_use(s)) =>
            {
                Some(s.bfinal != 0)
            }
            _ => return None,
        };
        let held = u32::try_from(s.read_in_length).ok().filter(|&h| h <= 64)?;
        let set_aside = usize::try_from(s.tmp_in_size).ok()?;
        let bits = (held % 8) as u8;
        let value = if bits == 0 {
            0
        } else {
            (s.read_in & ((1u64 << bits) - 1)) as u8
        };
        Some(Boundary {
            unused_bytes: (held / 8) as usize + set_aside,
            bits,
            byte: value.checked_shl(8 - u32::from(bits)).unwrap_or(0),
            in_fixed_block,
        })
    }

    /// After the end: the whole bytes taken but not used (the padding bits of the last byte
    /// dropped), then any set aside.
    fn unused_input(&self) -> Vec<u8> {
        let s = &*self.state;
        let held = u32::try_from(s.read_in_length).unwrap_or(0).min(64);
        let mut bytes: Vec<u8> = (s.read_in >> (held % 8))
            .to_le_bytes()
            .into_iter()
            .take((held / 8) as usize)
            .collect();
        let set_aside = usize::try_from(s.tmp_in_size).unwrap_or(0);
        bytes.extend_from_slice(&s.tmp_in_buffer[..set_aside.min(s.tmp_in_buffer.len())]);
        bytes
    }
}

impl Default for FastInflater {
    fn default() -> Self {
        Self::new()
    }
}

/// ISA-L's error codes, in words.
fn message(ret: i32) -> String {
    match ret {
        isal::ISAL_INVALID_BLOCK => "invalid block type or header".into(),
        isal::ISAL_INVALID_SYMBOL => "invalid code (literal/length or distance)".into(),
        isal::ISAL_INVALID_LOOKBACK => "invalid distance too far back".into(),
        _ => format!("ISA-L inflate error {ret}"),
    }
}

// SAFETY: the state is owned by this value alone, holds no thread-bound data, and points into
// the caller's buffers only during `inflate`; moving it to another thread is sound.
unsafe impl Send for FastInflater {}
