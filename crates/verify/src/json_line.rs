//! Whether a line of a JSON Lines file is exactly one JSON object, checked as the line streams
//! past in pieces of any size, without keeping the line or building a value: [`LineValidator`].
//!
//! It reads JSON as serde_json reads a line into a `Map<String, Value>`: RFC 8259 with
//! serde_json's limits, which RFC 8259 allows (at most 127 nested arrays and objects, `\u`
//! surrogates in pairs only, numbers within `f64`'s range as serde_json computes it). One
//! serde_json quirk is not followed: with its `raw_value` feature, a nested object whose first
//! key is `$serde_json::private::RawValue` must hold a string of JSON there.
//!
//! Between pieces it keeps a state machine's state and a few counters, so a checkpoint can carry
//! it: its JSON is under 200 bytes. Strings, most of a log line, are scanned 8 bytes at a time.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The deepest nesting serde_json reads: its recursion limit (128) refuses the 128th open
/// bracket of a line read as a map.
const MAX_DEPTH: u8 = 127;

/// A streaming validator of one JSON-Lines line at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineValidator {
    state: State,
    /// Bytes of the line fed so far; once the line is refused, the refused byte's offset.
    #[serde(default, skip_serializing_if = "is_default")]
    at: u64,
    /// Open arrays and objects.
    #[serde(default, skip_serializing_if = "is_default")]
    depth: u8,
    /// Bit `n` (of 128): whether the container at depth `n + 1` is an array.
    #[serde(default, skip_serializing_if = "is_default")]
    arrays: [u64; 2],
    /// In a string: whether it is a key.
    #[serde(default, skip_serializing_if = "is_default")]
    key: bool,
    /// In a multi-byte UTF-8 sequence: the bytes it still needs.
    #[serde(default, skip_serializing_if = "is_default")]
    utf8: Utf8Due,
    /// In a `\u` escape: its hex digits so far, and their value.
    #[serde(default, skip_serializing_if = "is_default")]
    hex_digits: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    code_unit: u16,
    /// In `true`, `false` or `null`: the index in LITERAL_TAILS of the byte due next.
    #[serde(default, skip_serializing_if = "is_default")]
    literal: u8,
    /// In a number, as serde_json reads it: its value is `digits` × 10^(`scale` ± `exponent`).
    #[serde(default, skip_serializing_if = "is_default")]
    digits: u64,
    #[serde(default, skip_serializing_if = "is_default")]
    scale: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    exponent: i32,
}

/// Why a line is not one JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject {
    /// The byte offset in the line.
    pub at: u64,
    pub reason: String,
}

impl fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.at, self.reason)
    }
}

impl std::error::Error for NotAnObject {}

/// Where in the line the validator stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum State {
    /// Only whitespace so far.
    #[default]
    Blank,
    /// After `{`: a key or `}`.
    ObjectStart,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After `[`: a value or `]`.
    ArrayStart,
    /// After `:`, or `,` in an array: a value.
    Value,
    /// After a value: `,` or a closing bracket.
    AfterValue,
    /// After the line's object: whitespace only.
    Done,
    /// The line was refused (at `at`).
    Refused,
    /// In a string.
    String,
    /// After `\` in a string.
    Escape,
    /// In a `\u` escape's hex digits.
    Hex,
    /// After the `\u` escape of a high surrogate, which a low one's must follow: its `\`...
    LowBackslash,
    /// ...its `u`...
    LowU,
    /// ...and its hex digits.
    LowHex,
    /// In a multi-byte UTF-8 sequence.
    Utf8,
    /// In `true`, `false` or `null`.
    Literal,
    /// After a number's `-`.
    Minus,
    /// After a number's leading `0`.
    Zero,
    /// In the integer part, all of whose digits are in `digits`.
    Integer,
    /// In the integer part, past what `digits` holds: the further digits count in `scale`.
    LongInteger,
    /// After the decimal point.
    Point,
    /// In the fraction, all of whose digits are in `digits`.
    Fraction,
    /// In the fraction, past what `digits` holds: the further digits are dropped.
    LongFraction,
    /// After `e` or `E`.
    ExponentMark,
    /// After the exponent's `+` or `-`.
    ExponentPlus,
    ExponentMinus,
    /// In the exponent's digits, after no sign or `+`, or after `-`.
    Exponent,
    NegativeExponent,
}

/// The continuation bytes a UTF-8 sequence still needs: `left` of them, the next in `min..=max`,
/// the others in 0x80..=0xBF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Utf8Due {
    left: u8,
    min: u8,
    max: u8,
}

/// Why the bytes fed stop being a JSON object, and where in them.
struct Stop {
    index: usize,
    reason: String,
}

/// The bytes of `true`, `false` and `null` after their first, each followed by a 0.
const LITERAL_TAILS: &[u8] = b"rue\0alse\0ull\0";

/// 10^289..=10^308, as serde_json's table has them: below 10^289, no u64 can overflow an f64.
const POWERS_OF_TEN_FROM_289: [f64; 20] = [
    1e289, 1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299, 1e300, 1e301,
    1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308,
];

impl LineValidator {
    /// More bytes of the current line (never containing b'\n'). Err at the first byte that
    /// cannot continue a JSON object; the line stays refused until [`Self::end_line`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), NotAnObject> {
        if self.state == State::Refused {
            return Err(self.refused_before());
        }
        match self.run(bytes) {
            Ok(()) => {
                self.at += bytes.len() as u64;
                Ok(())
            }
            Err(Stop { index, reason }) => {
                self.at += index as u64;
                self.state = State::Refused;
                Err(NotAnObject {
                    at: self.at,
                    reason,
                })
            }
        }
    }

    /// The line ended (a '\n' came, or the file ended). Ok(true): it was one JSON object;
    /// Ok(false): blank (only whitespace); Err otherwise (incomplete object, trailing garbage...).
    /// Resets for the next line.
    pub fn end_line(&mut self) -> Result<bool, NotAnObject> {
        let ended = std::mem::take(self);
        let reason = match ended.state {
            State::Blank => return Ok(false),
            State::Done => return Ok(true),
            State::Refused => return Err(ended.refused_before()),
            State::String
            | State::Escape
            | State::Hex
            | State::LowBackslash
            | State::LowU
            | State::LowHex
            | State::Utf8 => "the line ends in a string",
            _ => "the line ends before its object does",
        };
        Err(NotAnObject {
            at: ended.at,
            reason: reason.into(),
        })
    }

    /// Whether no non-whitespace byte of the current line was fed yet.
    pub fn is_blank(&self) -> bool {
        self.state == State::Blank
    }

    fn refused_before(&self) -> NotAnObject {
        NotAnObject {
            at: self.at,
            reason: "the line was refused at this byte".into(),
        }
    }

    /// Reads `bytes` on from the current state, up to their end or the first byte refused.
    fn run(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let mut i = 0;
        let mut state = self.state;
        'bytes: loop {
            match state {
                State::String => loop {
                    i = plain_run_end(bytes, i);
                    let Some(&byte) = bytes.get(i) else {
                        break 'bytes;
                    };
                    i += 1;
                    match byte {
                        // The string ends. Most keys are followed by ':' at once, most
                        // string members by `,"` and the next key (read on in this loop).
                        b'"' if std::mem::take(&mut self.key) => {
                            state = match bytes.get(i) {
                                Some(b':') => {
                                    i += 1;
                                    State::Value
                                }
                                _ => State::Colon,
                            };
                            break;
                        }
                        b'"' => match bytes.get(i..i + 2) {
                            Some(b",\"") if !self.in_array() => {
                                i += 2;
                                self.key = true;
                            }
                            _ => {
                                state = State::AfterValue;
                                break;
                            }
                        },
                        b'\\' => match bytes.get(i) {
                            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 1,
                            _ => {
                                state = State::Escape;
                                break;
                            }
                        },
                        0x80.. => {
                            let Some(due) = utf8_lead(byte) else {
                                return Err(unexpected(i - 1, "invalid UTF-8 in a string", byte));
                            };
                            let (next, due) = due.take(bytes, i)?;
                            i = next;
                            if due.left > 0 {
                                self.utf8 = due;
                                state = State::Utf8;
                                break 'bytes;
                            }
                        }
                        _ => return Err(unexpected(i - 1, "a control byte in a string", byte)),
                    }
                },
                State::Utf8 => {
                    let (next, due) = self.utf8.take(bytes, i)?;
                    i = next;
                    if due.left > 0 {
                        self.utf8 = due;
                        break;
                    }
                    self.utf8 = Utf8Due::default();
                    state = State::String;
                }
                State::Escape => {
                    let Some(&byte) = bytes.get(i) else { break };
                    state = match byte {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => State::String,
                        b'u' => State::Hex,
                        _ => return Err(unexpected(i, "an invalid escape", byte)),
                    };
                    i += 1;
                }
                State::Hex | State::LowHex => {
                    while self.hex_digits < 4 {
                        let Some(&byte) = bytes.get(i) else {
                            break 'bytes;
                        };
                        let Some(value) = hex_value(byte) else {
                            return Err(unexpected(
                                i,
                                "expected a hex digit in a \\u escape",
                                byte,
                            ));
                        };
                        self.code_unit = (self.code_unit << 4) | u16::from(value);
                        self.hex_digits += 1;
                        i += 1;
                    }
                    let (unit, last) = (self.code_unit, i.saturating_sub(1));
                    (self.code_unit, self.hex_digits) = (0, 0);
                    state = match (state, unit) {
                        (State::LowHex, 0xDC00..=0xDFFF) => State::String,
                        (State::LowHex, _) => return Err(stop(last, "a lone high surrogate")),
                        (_, 0xD800..=0xDBFF) => State::LowBackslash,
                        (_, 0xDC00..=0xDFFF) => return Err(stop(last, "a lone low surrogate")),
                        _ => State::String,
                    };
                }
                State::LowBackslash | State::LowU => {
                    let Some(&byte) = bytes.get(i) else { break };
                    state = match (state, byte) {
                        (State::LowBackslash, b'\\') => State::LowU,
                        (State::LowU, b'u') => State::LowHex,
                        _ => return Err(unexpected(i, "a lone high surrogate", byte)),
                    };
                    i += 1;
                }
                State::Literal => loop {
                    let at = usize::from(self.literal);
                    let Some(&due @ 1..) = LITERAL_TAILS.get(at) else {
                        self.literal = 0;
                        state = State::AfterValue;
                        break;
                    };
                    let Some(&byte) = bytes.get(i) else {
                        break 'bytes;
                    };
                    if byte != due {
                        let word =
                            ["true", "false", "null"][usize::from(at >= 4) + usize::from(at >= 9)];
                        return Err(unexpected(i, &format!("expected `{word}`"), byte));
                    }
                    self.literal += 1;
                    i += 1;
                },
                State::Minus
                | State::Zero
                | State::Integer
                | State::LongInteger
                | State::Point
                | State::Fraction
                | State::LongFraction
                | State::ExponentMark
                | State::ExponentPlus
                | State::ExponentMinus
                | State::Exponent
                | State::NegativeExponent => {
                    (state, i) = self.number(state, bytes, i)?;
                    if i == bytes.len() {
                        break;
                    }
                }
                State::Blank | State::Done => {
                    i = skip_whitespace(bytes, i);
                    let Some(&byte) = bytes.get(i) else { break };
                    if state == State::Done {
                        return Err(unexpected(
                            i,
                            "expected the line to end after its object",
                            byte,
                        ));
                    }
                    if byte != b'{' {
                        return Err(unexpected(i, "expected '{' (a record is an object)", byte));
                    }
                    state = self.open(false, i)?;
                    i += 1;
                }
                State::ObjectStart | State::Key => {
                    i = skip_whitespace(bytes, i);
                    let Some(&byte) = bytes.get(i) else { break };
                    state = match byte {
                        b'"' => {
                            self.key = true;
                            State::String
                        }
                        b'}' if state == State::ObjectStart => self.close(),
                        _ if state == State::ObjectStart => {
                            return Err(unexpected(i, "expected a key or '}'", byte));
                        }
                        _ => return Err(unexpected(i, "expected a key after ','", byte)),
                    };
                    i += 1;
                }
                State::Colon => {
                    i = skip_whitespace(bytes, i);
                    let Some(&byte) = bytes.get(i) else { break };
                    if byte != b':' {
                        return Err(unexpected(i, "expected ':' after a key", byte));
                    }
                    state = State::Value;
                    i += 1;
                }
                State::Value | State::ArrayStart => {
                    i = skip_whitespace(bytes, i);
                    let Some(&byte) = bytes.get(i) else { break };
                    state = match byte {
                        b']' if state == State::ArrayStart => self.close(),
                        _ => self.start_value(byte, i)?,
                    };
                    i += 1;
                }
                State::AfterValue => {
                    i = skip_whitespace(bytes, i);
                    let Some(&byte) = bytes.get(i) else { break };
                    let in_array = self.in_array();
                    state = match byte {
                        b',' if in_array => State::Value,
                        b',' if bytes.get(i + 1) == Some(&b'"') => {
                            i += 1;
                            self.key = true;
                            State::String
                        }
                        b',' => State::Key,
                        b']' if in_array => self.close(),
                        b'}' if !in_array => self.close(),
                        _ if in_array => {
                            return Err(unexpected(
                                i,
                                "expected ',' or ']' after an element",
                                byte,
                            ));
                        }
                        _ => return Err(unexpected(i, "expected ',' or '}' after a member", byte)),
                    };
                    i += 1;
                }
                State::Refused => return Err(stop(i, "the line was refused before")),
            }
        }
        self.state = state;
        Ok(())
    }

    /// The state after the first byte of a value.
    fn start_value(&mut self, byte: u8, i: usize) -> Result<State, Stop> {
        Ok(match byte {
            b'"' => State::String,
            b'{' => self.open(false, i)?,
            b'[' => self.open(true, i)?,
            b'-' => State::Minus,
            b'0' => State::Zero,
            b'1'..=b'9' => {
                self.digits = u64::from(byte - b'0');
                State::Integer
            }
            b't' | b'f' | b'n' => {
                self.literal = match byte {
                    b't' => 0,
                    b'f' => 4,
                    _ => 9,
                };
                State::Literal
            }
            _ => return Err(unexpected(i, "expected a value", byte)),
        })
    }

    /// Reads a number on from `state` at `i`: the state where the bytes ran out, or
    /// `AfterValue` and the index of the first byte after the number.
    fn number(
        &mut self,
        mut state: State,
        bytes: &[u8],
        mut i: usize,
    ) -> Result<(State, usize), Stop> {
        while let Some(&byte) = bytes.get(i) {
            let digit = byte.wrapping_sub(b'0');
            let is_digit = digit < 10;
            state = match state {
                State::Integer if is_digit => match append_digit(self.digits, digit) {
                    Some(digits) => {
                        self.digits = digits;
                        State::Integer
                    }
                    None => {
                        self.scale = 1;
                        State::LongInteger
                    }
                },
                State::LongInteger if is_digit => {
                    self.scale = self.scale.saturating_add(1);
                    State::LongInteger
                }
                State::Fraction | State::Point if is_digit => {
                    match append_digit(self.digits, digit) {
                        Some(digits) => {
                            self.digits = digits;
                            self.scale = self.scale.saturating_sub(1);
                            State::Fraction
                        }
                        None => State::LongFraction,
                    }
                }
                State::LongFraction if is_digit => State::LongFraction,
                State::ExponentMark
                | State::ExponentPlus
                | State::Exponent
                | State::ExponentMinus
                | State::NegativeExponent
                    if is_digit =>
                {
                    // Saturated, as serde_json refuses any exponent past i32::MAX for a
                    // non-zero positive number and reads 0 otherwise.
                    self.exponent = (self.exponent.checked_mul(10))
                        .and_then(|e| e.checked_add(i32::from(digit)))
                        .unwrap_or(i32::MAX);
                    match state {
                        State::ExponentMinus | State::NegativeExponent => State::NegativeExponent,
                        _ => State::Exponent,
                    }
                }
                State::Minus if byte == b'0' => State::Zero,
                State::Minus if is_digit => {
                    self.digits = u64::from(digit);
                    State::Integer
                }
                State::Zero if is_digit => return Err(unexpected(i, "a leading zero", byte)),
                State::Zero | State::Integer | State::LongInteger if byte == b'.' => State::Point,
                State::Zero
                | State::Integer
                | State::LongInteger
                | State::Fraction
                | State::LongFraction
                    if (byte | 0x20) == b'e' =>
                {
                    State::ExponentMark
                }
                State::ExponentMark if byte == b'+' => State::ExponentPlus,
                State::ExponentMark if byte == b'-' => State::ExponentMinus,
                State::Minus
                | State::Point
                | State::ExponentMark
                | State::ExponentPlus
                | State::ExponentMinus => {
                    return Err(unexpected(i, "expected a digit in a number", byte));
                }
                _ => {
                    self.end_number(state, i)?;
                    return Ok((State::AfterValue, i));
                }
            };
            i += 1;
        }
        Ok((state, i))
    }

    /// A number ended (before byte `i`): refused if serde_json would read it as infinite.
    fn end_number(&mut self, state: State, i: usize) -> Result<(), Stop> {
        let power = match state {
            State::Exponent => self.scale.saturating_add(self.exponent),
            State::NegativeExponent => self.scale.saturating_sub(self.exponent),
            _ => self.scale,
        };
        let fits = fits_f64(self.digits, power);
        (self.digits, self.scale, self.exponent) = (0, 0, 0);
        if fits {
            Ok(())
        } else {
            Err(stop(i, "a number out of f64's range"))
        }
    }

    /// Opens an array or object (its bracket at `i`).
    fn open(&mut self, array: bool, i: usize) -> Result<State, Stop> {
        if self.depth >= MAX_DEPTH {
            return Err(stop(i, "arrays and objects nested more than 127 deep"));
        }
        let bit = 1u64 << (self.depth % 64);
        if let Some(word) = self.arrays.get_mut(usize::from(self.depth / 64)) {
            *word = if array { *word | bit } else { *word & !bit };
        }
        self.depth += 1;
        Ok(if array {
            State::ArrayStart
        } else {
            State::ObjectStart
        })
    }

    /// Closes the innermost array or object.
    fn close(&mut self) -> State {
        self.depth = self.depth.saturating_sub(1);
        if self.depth == 0 {
            State::Done
        } else {
            State::AfterValue
        }
    }

    /// Whether the innermost open container is an array.
    fn in_array(&self) -> bool {
        let level = self.depth.wrapping_sub(1);
        (self.arrays.get(usize::from(level / 64)))
            .is_some_and(|word| (word >> (level % 64)) & 1 == 1)
    }
}

impl Utf8Due {
    /// Takes what it can of the sequence's continuation bytes from `bytes[i..]`: where it
    /// stopped, and what is still due (at the end of `bytes`).
    fn take(mut self, bytes: &[u8], mut i: usize) -> Result<(usize, Utf8Due), Stop> {
        while self.left > 0 {
            let Some(&byte) = bytes.get(i) else { break };
            if byte < self.min || byte > self.max {
                return Err(unexpected(i, "invalid UTF-8 in a string", byte));
            }
            self = Utf8Due {
                left: self.left - 1,
                min: 0x80,
                max: 0xBF,
            };
            i += 1;
        }
        Ok((i, self))
    }
}

/// What a UTF-8 sequence that starts with `lead` (0x80 or more) needs after it, or `None` if
/// no valid sequence starts so (no overlong forms, surrogates, or code points past U+10FFFF).
fn utf8_lead(lead: u8) -> Option<Utf8Due> {
    let (left, min, max) = match lead {
        0xC2..=0xDF => (1, 0x80, 0xBF),
        0xE0 => (2, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
        0xED => (2, 0x80, 0x9F),
        0xF0 => (3, 0x90, 0xBF),
        0xF1..=0xF3 => (3, 0x80, 0xBF),
        0xF4 => (3, 0x80, 0x8F),
        _ => return None,
    };
    Some(Utf8Due { left, min, max })
}

/// Each byte of a u64 set to 1, to `"`, to `\`, to 0x20 and to 0x80.
const ONES: u64 = u64::from_ne_bytes([1; 8]);
const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
const SPACES: u64 = u64::from_ne_bytes([0x20; 8]);
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The index of the first byte at or after `i` that ends a string's run of plain ASCII: `"`,
/// `\`, a control byte or a non-ASCII byte; `bytes.len()` if none does.
fn plain_run_end(bytes: &[u8], i: usize) -> usize {
    let Some(rest) = bytes.get(i..) else {
        return bytes.len();
    };
    let (words, tail) = rest.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        // A byte's high bit is set in `ends` if it ends the run (`^` makes `"` and `\` zero,
        // which borrows; a control byte borrows 0x20), or if a byte below it does, by a borrow:
        // the lowest one set is exact.
        let ends = ((word ^ QUOTES).wrapping_sub(ONES)
            | (word ^ BACKSLASHES).wrapping_sub(ONES)
            | word.wrapping_sub(SPACES)
            | word)
            & HIGH_BITS;
        if ends != 0 {
            return i + n * 8 + (ends.trailing_zeros() / 8) as usize;
        }
    }
    let tail_start = bytes.len() - tail.len();
    let is_plain = |byte: &u8| matches!(byte, 0x20..0x80) && !matches!(byte, b'"' | b'\\');
    tail_start + tail.iter().take_while(|byte| is_plain(byte)).count()
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = bytes.get(i) {
        i += 1;
    }
    i
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// `digits` with `digit` appended, if that fits a u64.
fn append_digit(digits: u64, digit: u8) -> Option<u64> {
    digits.checked_mul(10)?.checked_add(u64::from(digit))
}

/// Whether serde_json (without its `float_roundtrip` feature) reads `digits` × 10^`power` as a
/// finite `f64`: it multiplies `digits as f64` by its table's power of ten, and refuses infinity.
fn fits_f64(digits: u64, power: i32) -> bool {
    if digits == 0 || power < 289 {
        return true;
    }
    let index = usize::try_from(power - 289).unwrap_or(usize::MAX);
    POWERS_OF_TEN_FROM_289
        .get(index)
        .is_some_and(|ten_to_the| (digits as f64 * ten_to_the).is_finite())
}

#[cold]
fn unexpected(index: usize, what: &str, found: u8) -> Stop {
    let found = match found {
        0x20..0x7F => format!("'{}'", char::from(found)),
        _ => format!("byte 0x{found:02X}"),
    };
    Stop {
        index,
        reason: format!("{what}, found {found}"),
    }
}

#[cold]
fn stop(index: usize, reason: &str) -> Stop {
    Stop {
        index,
        reason: reason.into(),
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use serde_json::{Map, Value};

    /// The reference: whether serde_json reads the line as a record.
    fn serde_json_reads(line: &[u8]) -> bool {
        serde_json::from_slice::<Map<String, Value>>(line).is_ok()
    }

    fn all_whitespace(line: &[u8]) -> bool {
        line.iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    }

    fn validate(line: &[u8]) -> Result<bool, NotAnObject> {
        let mut validator = LineValidator::default();
        validator.feed(line)?;
        validator.end_line()
    }

    /// Feeds `line` cut at `cuts`; with `through_json`, the validator goes through its JSON form
    /// (and a `serde_json::Value`, as a job's input carries it) between two pieces.
    fn validate_in_pieces(
        line: &[u8],
        cuts: &[Index],
        through_json: bool,
    ) -> Result<bool, NotAnObject> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(line.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(line.len());
        let mut validator = LineValidator::default();
        let mut start = 0;
        for cut in cuts {
            validator.feed(&line[start..cut])?;
            start = cut;
            if through_json {
                let json = serde_json::to_string(&validator).unwrap();
                let back: LineValidator = serde_json::from_str(&json).unwrap();
                assert_eq!(back, validator, "{json}");
                let value = serde_json::to_value(&validator).unwrap();
                assert_eq!(
                    serde_json::from_value::<LineValidator>(value).unwrap(),
                    back
                );
                validator = back;
            }
        }
        validator.end_line()
    }

    fn agrees_with_serde_json(line: &[u8]) -> Result<(), TestCaseError> {
        let shown = String::from_utf8_lossy(line);
        match validate(line) {
            Ok(true) => prop_assert!(serde_json_reads(line), "accepted: {shown}"),
            Ok(false) => prop_assert!(all_whitespace(line), "blank: {shown}"),
            Err(e) => prop_assert!(
                !serde_json_reads(line) && !all_whitespace(line),
                "refused ({e}): {shown}"
            ),
        }
        Ok(())
    }

    /// Strings, good and bad: escapes, surrogates, UTF-8 at the edges of its ranges.
    #[rustfmt::skip]
    const STRINGS: &[&[u8]] = &[
        b"\"k\"", b"\"\"", br#""\"\\\/\b\f\n\r\t""#, br#""\u00e9""#, br#""\ud83d\ude00""#,
        br#""\uDBFF\uDFFF""#, br#""\ud800""#, br#""\udc00""#, br#""\ud800\u0041""#,
        br#""\ud800\n""#, br#""\uD800\uDBFF""#, br#""\uDBFF\uE000""#, br#""\x""#, br#""\u12""#,
        br#""\u12G4""#, b"\"\x7f\"", b"\"\x1f\"", b"\"\xc1\xbf\"", b"\"\xc2\x80\"",
        b"\"\xdf\xbf\"", b"\"\xe0\x9f\xbf\"", b"\"\xe0\xa0\x80\"", b"\"\xed\x9f\xbf\"",
        b"\"\xed\xa0\x80\"", b"\"\xef\xbf\xbf\"", b"\"\xf0\x8f\xbf\xbf\"", b"\"\xf0\x90\x80\x80\"",
        b"\"\xf4\x8f\xbf\xbf\"", b"\"\xf4\x90\x80\x80\"", b"\"\xf5\x80\x80\x80\"", b"\"\xff\"",
        b"\"\xc3\"", b"\"\xe2\x82\"", b"\"\x80\"", "\"é😀\"".as_bytes(),
    ];

    /// Other values and pieces of values, good and bad.
    #[rustfmt::skip]
    const SCALARS: &[&[u8]] = &[
        b"0", b"-0", b"12", b"-1.5e3", b"1e400", b"1E-400", b"1.7976931348623157e308",
        b"18446744073709551616", b"01", b"1.", b".5", b"-", b"1e", b"1e+", b"+1", b"true",
        b"false", b"null", b"nul", b"tru", b"True", b"[]", b"{}", b"[1,\"x\"]", b"[1,]",
        b"{\"a\":[]}",
    ];

    /// Structure, whitespace and stray bytes.
    #[rustfmt::skip]
    const STRUCTURE: &[&[u8]] = &[
        b"{", b"}", b"[", b"]", b":", b",", b" ", b"\t", b"\r", b"\"", b"\\", b"\xc3\xa9",
        b"\xef\xbb\xbf",
    ];

    /// Random sequences of pieces of JSON: near-misses of all kinds.
    fn soup() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            1 => prop::sample::select(STRINGS),
            1 => prop::sample::select(SCALARS),
            2 => prop::sample::select(STRUCTURE),
        ];
        let pieces = prop::collection::vec(piece, 0..40);
        (pieces, any::<bool>()).prop_map(|(pieces, in_object)| {
            let inner = pieces.concat();
            match in_object {
                true => [&b"{\"k\":"[..], &inner, b"}"].concat(),
                false => inner,
            }
        })
    }

    /// Well-formed objects whose keys and values are drawn from STRINGS and SCALARS: each bad
    /// one alone decides.
    fn members() -> impl Strategy<Value = Vec<u8>> {
        let value = prop_oneof![prop::sample::select(STRINGS), prop::sample::select(SCALARS)];
        let member = (
            prop::sample::select(STRINGS),
            value,
            prop::sample::select(&[" ", ""][..]),
        );
        prop::collection::vec(member, 0..4).prop_map(|members| {
            let members: Vec<Vec<u8>> = (members.into_iter())
                .map(|(key, value, space)| [key, b":", space.as_bytes(), value].concat())
                .collect();
            [&b"{"[..], &members.join(&b","[..]), b"}"].concat()
        })
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-z\"\\\\\u{0}-\u{1f}é😀]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..8)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// A JSON document: an object (mostly) or any value, compact or pretty on one line, maybe
    /// truncated, with a byte flipped or a byte inserted.
    fn document() -> impl Strategy<Value = Vec<u8>> {
        let root = prop_oneof![
            3 => prop::collection::vec(("[a-zA-Z_]{0,10}", value()), 0..10)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
            1 => value(),
        ];
        let mutation = (0..4u8, any::<Index>(), 1..=255u8);
        (root, any::<bool>(), mutation).prop_map(|(root, pretty, (kind, at, byte))| {
            let mut line = match pretty {
                true => serde_json::to_vec_pretty(&root).unwrap(),
                false => serde_json::to_vec(&root).unwrap(),
            };
            line.iter_mut()
                .filter(|b| **b == b'\n')
                .for_each(|b| *b = b' ');
            let at = at.index(line.len() + 1);
            match kind {
                1 => line.truncate(at),
                2 if at < line.len() => line[at] ^= byte,
                3 => line.insert(at, byte),
                _ => {}
            }
            line.iter_mut()
                .filter(|b| **b == b'\n')
                .for_each(|b| *b = b' ');
            line
        })
    }

    /// A number as a member's value, often near the edges of what serde_json reads.
    fn number() -> impl Strategy<Value = Vec<u8>> {
        let text = prop_oneof![
            "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?",
            "[1-9][0-9]{0,22}(\\.[0-9]{1,22})?[eE]\\+?(2[89][0-9]|30[0-9]|31[0-9])",
            "1\\.79769313486231[0-9]{1,8}e308|17976931348623[0-9]{1,10}e29[0-9]",
            "0\\.0{0,30}[0-9]{0,30}e[+-]?[0-9]{8,12}|[0-9]{1,3}e-?[0-9]{9,12}",
            "[1-9][0-9]{280,330}(\\.[0-9]{0,5})?(e-?[0-9]{1,2})?",
            "18446744073709551[0-9]{3}(\\.[0-9]{1,3})?(e[0-9]{3})?",
        ];
        text.prop_map(|n| format!("{{\"n\":{n}}}").into_bytes())
    }

    fn any_line() -> impl Strategy<Value = Vec<u8>> {
        let bytes = prop::collection::vec(any::<u8>().prop_map(|b| b.max(11)), 0..64);
        prop_oneof![bytes, soup(), members(), document(), number()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_serde_json_on_bytes(line in prop::collection::vec(any::<u8>(), 0..64)) {
            let line: Vec<u8> = line.into_iter().filter(|&b| b != b'\n').collect();
            agrees_with_serde_json(&line)?;
        }

        #[test]
        fn agrees_with_serde_json_on_soup(line in soup()) {
            agrees_with_serde_json(&line)?;
        }

        #[test]
        fn agrees_with_serde_json_on_members(line in members()) {
            agrees_with_serde_json(&line)?;
        }

        #[test]
        fn agrees_with_serde_json_on_documents(line in document()) {
            agrees_with_serde_json(&line)?;
        }

        #[test]
        fn agrees_with_serde_json_on_numbers(line in number()) {
            agrees_with_serde_json(&line)?;
        }

        #[test]
        fn pieces_and_checkpoints_change_nothing(
            line in any_line(),
            cuts in prop::collection::vec(any::<Index>(), 0..8),
        ) {
            let whole = validate(&line);
            prop_assert_eq!(&validate_in_pieces(&line, &cuts, false), &whole);
            prop_assert_eq!(&validate_in_pieces(&line, &cuts, true), &whole);
        }
    }

    fn refused_at(line: &[u8]) -> u64 {
        match validate(line) {
            Err(e) => e.at,
            Ok(blank_or_not) => panic!("accepted ({blank_or_not}): {line:?}"),
        }
    }

    #[test]
    fn what_is_not_a_record() {
        assert_eq!(refused_at(b"<html><body>502 Bad Gateway</body></html>"), 0);
        assert_eq!(refused_at(br#"["2099-01-01"]"#), 0);
        assert_eq!(refused_at(br#"  "2099-01-01""#), 2);
        assert_eq!(refused_at(b"null"), 0);
        assert_eq!(refused_at(br#"{"a":1}{"b":2}"#), 7);
        assert_eq!(refused_at(br#"{"a":1} x"#), 8);
        assert_eq!(refused_at(br#"{"a":01}"#), 6);
        assert_eq!(refused_at(br#"{"a":1.}"#), 7);
        assert_eq!(refused_at(br#"{"a":1,}"#), 7);
        assert_eq!(refused_at(br#"{"a":[1,]}"#), 8);
        assert_eq!(refused_at(br#"{"a":1]"#), 6);
        assert_eq!(refused_at(br#"{1:1}"#), 1);
        assert_eq!(refused_at(br#"{"a":1e400}"#), 10);
        assert_eq!(refused_at(b"{\"a\":\"\xc3(\"}"), 7);
        assert_eq!(refused_at(b"{\"a\":\"\xff\"}"), 6);
        assert_eq!(refused_at(b"{\"a\":\"\xed\xa0\x80\"}"), 7);
        assert_eq!(refused_at(b"{\"a\":\"\t\"}"), 6);
        assert_eq!(refused_at(br#"{"a":"\ud800"}"#), 12);
        assert_eq!(refused_at(br#"{"a":"\udc00"}"#), 11);
        assert_eq!(refused_at(br#"{"a":tru}"#), 8);
        assert_eq!(refused_at(br#"{"a":1"#), 6);
        assert_eq!(refused_at(br#"{"a":"1"#), 7);
    }

    #[test]
    fn what_is_a_record() {
        assert_eq!(validate(br#"{"a":"\u00e9"}"#), Ok(true));
        assert_eq!(
            validate(r#"{"a":"\ud83d\ude00","b":"é😀"}"#.as_bytes()),
            Ok(true)
        );
        assert_eq!(
            validate(b" \t{ \"a\" : [ 1 , -0.5e-3 , true , null , { } ] }\r "),
            Ok(true)
        );
        assert_eq!(validate(br#"{"a":1,"a":2}"#), Ok(true));
        assert_eq!(
            validate(br#"{"a":1.7976931348623157e308,"b":1e-400}"#),
            Ok(true)
        );
        assert_eq!(validate(b""), Ok(false));
        assert_eq!(validate(b" \t\r "), Ok(false));
    }

    #[test]
    fn errors_say_where_and_why() {
        let error = validate(br#"{"a":1,"bb":"ccc"x}"#).unwrap_err();
        let expected = "byte 17: expected ',' or '}' after a member, found 'x'";
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_refused_line_stays_refused_until_it_ends() {
        let mut validator = LineValidator::default();
        assert!(validator.is_blank());
        validator.feed(b" ").unwrap();
        assert!(validator.is_blank());
        let first = validator.feed(b"{\"a\"x").unwrap_err();
        assert_eq!(first.at, 5);
        assert!(!validator.is_blank());
        assert_eq!(validator.feed(b"}").unwrap_err().at, 5);
        assert_eq!(validator.end_line().unwrap_err().at, 5);
        validator.feed(b"{}").unwrap();
        assert_eq!(validator.end_line(), Ok(true));
        assert_eq!(validator, LineValidator::default());
    }

    fn nested(depth: usize) -> Vec<u8> {
        let open = ["{\"k\":", "["];
        let close = ["}", "]"];
        let mut line = String::from("{\"k\":");
        for level in 1..depth {
            line += open[level % 2];
        }
        line += "0";
        for level in (1..depth).rev() {
            line += close[level % 2];
        }
        line += "}";
        line.into_bytes()
    }

    /// serde_json's recursion limit of 128 refuses the 128th open bracket of a line read as a
    /// map (the map itself counts): 127 levels are read, 128 and 129 are not.
    #[test]
    fn nesting_is_bounded_where_serde_json_bounds_it() {
        for depth in [126, 127, 128, 129] {
            let line = nested(depth);
            assert_eq!(validate(&line).is_ok(), depth <= 127, "depth {depth}");
            assert_eq!(serde_json_reads(&line), depth <= 127, "depth {depth}");
        }
        let error = validate(&nested(129)).unwrap_err();
        assert_eq!(error.reason, "arrays and objects nested more than 127 deep");
    }

    #[test]
    fn a_3_mib_line_in_1_byte_and_64_kib_pieces() {
        let text = r#"plain ASCII, \"escaped\" \\ \/ \u00e9 \ud83d\ude00 é 😀 ÿ "#;
        let mut line = String::from(r#"{"big":""#);
        while line.len() < 3 << 20 {
            line += text;
        }
        line += r#"","numbers":[0,-1.5e3,123456789012345678901234567890],"ok":true}"#;
        let line = line.as_bytes();
        assert!(serde_json_reads(line));
        for piece in [1, 64 << 10] {
            let mut validator = LineValidator::default();
            for chunk in line.chunks(piece) {
                validator.feed(chunk).unwrap();
            }
            assert_eq!(validator.end_line(), Ok(true), "pieces of {piece}");
        }
        let mut broken = line.to_vec();
        broken[2 << 20] = 0xFF;
        let mut validator = LineValidator::default();
        let error = broken.chunks(1).find_map(|byte| validator.feed(byte).err());
        assert_eq!(error.map(|e| e.at), Some(2 << 20));
    }

    #[test]
    fn the_state_s_json_is_under_200_bytes() {
        let line = nested(127);
        let middle = line.iter().rposition(|&b| b == b'0').unwrap();
        let mut validator = LineValidator::default();
        validator.feed(&line[..middle]).unwrap();
        validator
            .feed(b"-1234567890123456789012345.123456789e-12")
            .unwrap();
        let json = serde_json::to_string(&validator).unwrap();
        assert!(json.len() < 200, "{} bytes: {json}", json.len());

        // The longest a validator's state can be: every field that can be set at once, at its
        // longest.
        let longest = LineValidator {
            state: State::NegativeExponent,
            at: u64::MAX,
            depth: MAX_DEPTH,
            arrays: [u64::MAX, u64::MAX >> 1],
            digits: u64::MAX,
            scale: i32::MIN,
            exponent: i32::MAX,
            ..LineValidator::default()
        };
        let json = serde_json::to_string(&longest).unwrap();
        assert!(json.len() < 200, "{} bytes: {json}", json.len());
    }
}
