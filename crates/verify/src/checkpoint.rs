//! Where a verifier stands, in a form that outlives the invocation: zlib's `zran` technique.
//!
//! At a deflate block boundary the inflater needs, to go on without the bytes before it: the
//! unused bits of the last byte it took (and that byte), and the last 32 KiB of the member's
//! output (the window later blocks may copy from). The gzip member's running CRC-32 and size, and
//! the line counter, complete the picture.

use serde::{Deserialize, Serialize};

use super::inflate::WINDOW;
use super::line_summary::SavedRecords;

/// Where the verifier stands at a point it can continue from without the bytes before it:
/// a deflate block boundary inside a gzip member, or between two members. (Also between two
/// codes inside a fixed-Huffman block: zlib-ng's and zlib-rs's level 1 writes a member as one
/// such block, which has no boundary to stop at.)
///
/// Its JSON holds the window in base64: about 45 KB inside a member, a few hundred bytes
/// between members; with the unfinished line kept at most [`MAX_CHECKPOINT_PARTIAL`] long, it
/// stays under ~135 KB (plus the length of two `TS` strings).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The file offset of the next compressed byte the verifier needs.
    pub offset: u64,
    /// Gzip members complete before `offset`.
    pub(super) members: u64,
    /// Inside a member: where its deflate stream stands. `None` between members (or at the
    /// start of the file).
    pub(super) member: Option<MemberState>,
    pub(super) lines: SavedRecords,
}

/// The longest unfinished line a checkpoint carries: a checkpoint is taken at a block boundary
/// where the line being written is at most this long so far (or is already too long to keep,
/// past MAX_KEPT_LINE), which bounds the checkpoint's size.
pub const MAX_CHECKPOINT_PARTIAL: usize = 64 << 10;

/// A deflate stream at a block boundary.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct MemberState {
    /// The unused bits (0–7) of the last byte taken, `byte`'s high bits.
    pub bits: u8,
    /// The last byte taken (meaningful when `bits` > 0).
    pub byte: u8,
    /// Inside a fixed-Huffman block, between two codes (`Some(BFINAL)`), rather than at a
    /// block's end: the block's header is replayed on resume.
    pub in_fixed_block: Option<bool>,
    /// The member's last output bytes, at most 32 KiB (base64).
    #[serde(with = "base64")]
    pub window: Vec<u8>,
    /// The CRC-32 and length of the member's output so far.
    pub crc32: u32,
    pub size: u64,
}

impl Checkpoint {
    /// Whether the checkpoint is one a verifier could have made; `Err` says why not.
    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(m) = &self.member {
            if m.bits > 7 {
                return Err(format!("{} unused bits in a byte", m.bits));
            }
            if m.window.len() > WINDOW {
                return Err(format!("a window of {} bytes", m.window.len()));
            }
            if (m.window.len() as u64) > m.size {
                return Err("a window longer than the member's output".into());
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("offset", &self.offset)
            .field("members", &self.members)
            .field("member", &self.member)
            .field("lines", &self.lines)
            .finish()
    }
}

impl std::fmt::Debug for MemberState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberState")
            .field("bits", &self.bits)
            .field("byte", &self.byte)
            .field("in_fixed_block", &self.in_fixed_block)
            .field("window", &format_args!("{} bytes", self.window.len()))
            .field("crc32", &format_args!("{:08x}", self.crc32))
            .field("size", &self.size)
            .finish()
    }
}

/// Bytes as a base64 string in JSON.
pub(super) mod base64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_ref())
            .map_err(serde::de::Error::custom)
    }
}
