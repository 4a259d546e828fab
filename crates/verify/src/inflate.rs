//! Raw inflate (no zlib or gzip wrapper) through zlib's C API, as implemented in Rust by
//! zlib-rs. This is the one place with `unsafe`: a small owner of a boxed `z_stream`.
//!
//! It is driven with `Z_BLOCK`, so every call returns at the end of a deflate block, which is
//! where the stream can be checkpointed: [`Inflater::window`] then gives the last 32 KiB of
//! output, and a new inflater continues from there with [`Inflater::prime`] (the unused bits of
//! the last byte taken) and [`Inflater::set_window`].

use std::ffi::{CStr, c_int, c_uint};
use std::ptr::NonNull;

use libz_rs_sys as z;

/// The window of raw deflate with `windowBits` 15: the most `inflateGetDictionary` returns.
pub const WINDOW: usize = 1 << 15;

/// What one call of [`Inflater::inflate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Input bytes taken.
    pub consumed: usize,
    /// Output bytes written.
    pub produced: usize,
    /// The deflate stream's last block has ended: the bytes after it are not deflate data.
    pub end: bool,
    /// The inflater stands just after a block's end-of-block code, all its output written (and
    /// before the next block's header).
    pub block_end: bool,
    /// The block it is in, or has just ended, is the stream's last.
    pub last_block: bool,
    /// The bits taken from the input but not used yet: the high bits of the last bytes taken.
    /// Below 8 at a block end.
    pub bits: u8,
}

/// A raw inflate stream. Boxed, so the `z_stream` never moves after `inflateInit2_`.
pub struct Inflater {
    strm: Box<z::z_stream>,
}

impl Inflater {
    /// A raw inflater with a 32 KiB window (`windowBits` -15).
    pub fn new() -> Result<Inflater, String> {
        // `Default` sets zalloc/zfree to the Rust allocator (feature `rust-allocator`).
        let mut strm = Box::new(z::z_stream::default());
        let size = c_int::try_from(size_of::<z::z_stream>()).unwrap_or(c_int::MAX);
        // SAFETY: `strm` points to a valid, default-initialised z_stream (null buffers, allocator
        // set) that lives on the heap and is not moved afterwards; `zlibVersion()` is a static
        // NUL-terminated string and `size` the size of the very struct passed.
        let ret = unsafe { z::inflateInit2_(&mut *strm, -15, z::zlibVersion(), size) };
        if ret != z::Z_OK {
            // Not initialised: drop the box without `inflateEnd`.
            return Err(format!("inflateInit2 failed ({ret})"));
        }
        Ok(Inflater { strm })
    }

    /// Forgets the stream: the next input is the start of a new deflate stream.
    pub fn reset(&mut self) -> Result<(), String> {
        // SAFETY: the stream was initialised by `inflateInit2_` in `new` and is ended only in
        // `drop`.
        let ret = unsafe { z::inflateReset(&mut *self.strm) };
        self.check(ret, "inflateReset")
    }

    /// Puts the `bits` (1 to 7) low bits of `value` in front of the next input: the unused high
    /// bits of the last byte a checkpointed inflater took. Only before the first `inflate`.
    pub fn prime(&mut self, bits: u8, value: u8) -> Result<(), String> {
        // SAFETY: the stream was initialised by `inflateInit2_` and is not ended.
        let ret =
            unsafe { z::inflatePrime(&mut *self.strm, c_int::from(bits), c_int::from(value)) };
        self.check(ret, "inflatePrime")
    }

    /// Sets the window (the last output bytes, at most [`WINDOW`]) that the next blocks may
    /// refer back to.
    pub fn set_window(&mut self, window: &[u8]) -> Result<(), String> {
        if window.len() > WINDOW {
            return Err(format!("a window of {} bytes is too long", window.len()));
        }
        if window.is_empty() {
            return Ok(());
        }
        let len = c_uint::try_from(window.len()).unwrap_or(c_uint::MAX);
        // SAFETY: the stream was initialised and is not ended; `window` is readable for `len`
        // bytes for the duration of the call, which copies them into the stream's own window.
        let ret = unsafe { z::inflateSetDictionary(&mut *self.strm, window.as_ptr(), len) };
        self.check(ret, "inflateSetDictionary")
    }

    /// The last output bytes of this deflate stream, at most [`WINDOW`] of them.
    pub fn window(&self) -> Vec<u8> {
        let mut window = vec![0u8; WINDOW];
        let mut len: c_uint = 0;
        // SAFETY: the stream was initialised and is not ended; `window` is writable for WINDOW
        // bytes, which is always enough with windowBits 15; `len` is a valid place to write.
        let ret = unsafe { z::inflateGetDictionary(&*self.strm, window.as_mut_ptr(), &mut len) };
        if ret != z::Z_OK {
            len = 0;
        }
        window.truncate((len as usize).min(WINDOW));
        window
    }

    /// Inflates from `input` into `output` until the end of the current block, the end of the
    /// input, or a full `output`, whichever comes first.
    pub fn inflate(&mut self, input: &[u8], output: &mut [u8]) -> Result<Step, String> {
        let avail_in = c_uint::try_from(input.len()).unwrap_or(c_uint::MAX);
        let avail_out = c_uint::try_from(output.len()).unwrap_or(c_uint::MAX);
        self.strm.next_in = input.as_ptr();
        self.strm.avail_in = avail_in;
        self.strm.next_out = output.as_mut_ptr();
        self.strm.avail_out = avail_out;
        // SAFETY: the stream was initialised and is not ended, and it has not moved (boxed).
        // `next_in`/`avail_in` describe `input`, readable, and `next_out`/`avail_out` describe
        // `output`, writable, both borrowed for the whole call; the pointers are replaced by
        // empty ones below, so none outlives the borrows.
        let ret = unsafe { z::inflate(&mut *self.strm, z::Z_BLOCK) };
        let consumed = (avail_in - self.strm.avail_in) as usize;
        let produced = (avail_out - self.strm.avail_out) as usize;
        // Empty and non-null (as `inflateMark` wants), never dangling into the borrows.
        self.strm.next_in = NonNull::<u8>::dangling().as_ptr();
        self.strm.avail_in = 0;
        self.strm.next_out = NonNull::<u8>::dangling().as_ptr();
        self.strm.avail_out = 0;
        let data_type = self.strm.data_type;
        // `data_type`: the unused bits (+64 in the last block, +128 just after an end-of-block
        // code).
        let step = Step {
            consumed,
            produced,
            end: ret == z::Z_STREAM_END,
            block_end: data_type & 128 != 0,
            last_block: data_type & 64 != 0,
            bits: (data_type & 63) as u8,
        };
        match ret {
            z::Z_OK | z::Z_BUF_ERROR | z::Z_STREAM_END => Ok(step),
            _ => Err(self.message(ret)),
        }
    }

    /// Whether the inflater stands between two codes inside a block, all output of the codes
    /// before written (`inflateMark` is 0: no code begun, no match pending).
    pub fn between_codes(&self) -> bool {
        // SAFETY: the stream was initialised and is not ended; `inflateMark` only reads it (its
        // buffer pointers are non-null, empty, as `inflate` leaves them).
        unsafe { z::inflateMark(&*self.strm) == 0 }
    }

    fn check(&self, ret: c_int, call: &str) -> Result<(), String> {
        if ret == z::Z_OK {
            Ok(())
        } else {
            Err(format!("{call}: {}", self.message(ret)))
        }
    }

    /// zlib's message for the last error, or the return code.
    fn message(&self, ret: c_int) -> String {
        if self.strm.msg.is_null() {
            return format!("zlib error {ret}");
        }
        // SAFETY: a non-null `msg` points to one of zlib-rs's static, NUL-terminated messages.
        let msg = unsafe { CStr::from_ptr(self.strm.msg) };
        msg.to_string_lossy().into_owned()
    }
}

// SAFETY: the z_stream and the state it points to are owned by this value alone (allocated by
// `inflateInit2_`, freed in `drop`), hold no thread-bound data, and point into the caller's
// buffers only during `inflate`; moving it to another thread is sound (it is not `Sync`).
unsafe impl Send for Inflater {}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by `inflateInit2_` (an `Inflater` exists only
        // then) and is ended exactly once, here.
        unsafe { z::inflateEnd(&mut *self.strm) };
    }
}
