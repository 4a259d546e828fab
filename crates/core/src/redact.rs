//! The one redaction of upstream text. Whatever Fauna, a proxy or a file host sends back (error
//! reasons, HTML error pages, echoed headers, parse errors quoting their input) goes through
//! [`redact`] before it reaches a log line, an error message, the job JSON or the terminal.
//!
//! This module owns the process's list of secrets ([`register_secret`]) and what counts as a
//! credential in text: a registered secret (as is, percent-encoded or JSON-escaped), the token of
//! a `Bearer`/`Basic` credential, an `Authorization` value, a URL's query string and the
//! presigned-URL parameters. Each is replaced by [`MARKER`]; redacted text redacts to itself.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{PoisonError, RwLock};

use memchr::memmem;
use secrecy::{ExposeSecret, SecretString};

/// What replaces each credential.
pub const MARKER: &str = "<redacted>";

/// Shorter secrets are not registered: they would redact ordinary words.
pub const MIN_SECRET_BYTES: usize = 8;

/// How many secrets the process keeps, the newest: the key in use and those it rotated from.
const MAX_SECRETS: usize = 4;

/// The authorization schemes (lowercase) whose token is a credential.
const SCHEMES: [&[u8]; 2] = [b"bearer", b"basic"];

/// The names (lowercase, matched as a suffix: `X-Amz-Signature` ends with `signature`) whose
/// value after `=` or `:` is a credential, each with where its value ends.
const CREDENTIAL_NAMES: [(&[u8], ValueEnd); 5] = [
    (b"authorization", ValueEnd::Line),
    (b"signature", ValueEnd::Parameter),
    (b"credential", ValueEnd::Parameter),
    (b"security-token", ValueEnd::Parameter),
    (b"awsaccesskeyid", ValueEnd::Parameter),
];

static REGISTERED: RwLock<SecretList> = RwLock::new(SecretList(Vec::new()));

/// Registers a secret this process holds (the Fauna account key, once read from the environment
/// or Secrets Manager), so that [`redact`] removes it from every output without being handed it.
/// Secrets shorter than [`MIN_SECRET_BYTES`] are ignored; registering again changes nothing; the
/// last four registered are kept.
pub fn register_secret(secret: &str) {
    REGISTERED
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .register(secret);
}

/// `text` with every registered secret, every bearer/basic credential, every `Authorization`
/// value and every URL query string or presigned-URL parameter replaced by [`MARKER`].
/// Borrowed when nothing was found.
pub fn redact(text: &str) -> Cow<'_, str> {
    let registered = REGISTERED.read().unwrap_or_else(PoisonError::into_inner);
    redact_patterns(text, &registered.0)
}

/// [`redact`] with `secrets` in place of the registered ones.
pub fn redact_with<'a>(text: &'a str, secrets: &[&str]) -> Cow<'a, str> {
    let patterns: Vec<SecretPattern> = secrets
        .iter()
        .filter_map(|s| SecretPattern::new(s))
        .collect();
    redact_patterns(text, &patterns)
}

fn redact_patterns<'a>(text: &'a str, secrets: &[SecretPattern]) -> Cow<'a, str> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for secret in secrets {
        secret.find_all(bytes, &mut found);
    }
    find_scheme_tokens(bytes, &mut found);
    find_named_values_and_queries(bytes, &mut found);
    replace(text, found)
}

/// The registered secrets, oldest first.
#[derive(Debug)]
struct SecretList(Vec<SecretPattern>);

impl SecretList {
    fn register(&mut self, secret: &str) {
        let Some(pattern) = SecretPattern::new(secret) else {
            return;
        };
        self.0
            .retain(|known| known.secret.expose_secret() != secret);
        if self.0.len() >= MAX_SECRETS {
            self.0.remove(0);
        }
        self.0.push(pattern);
    }
}

/// A secret and how to find it in any of its encodings.
struct SecretPattern {
    secret: SecretString,
    /// The secret's longest run of unreserved bytes (`A-Za-z0-9-._~`), which no encoding changes:
    /// every occurrence holds it, so a search for it finds them all (and, empty, tries everywhere).
    anchor: Range<usize>,
    finder: memmem::Finder<'static>,
}

impl fmt::Debug for SecretPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretPattern(<redacted>)")
    }
}

impl SecretPattern {
    /// `None` for a secret too short to redact, or one that the marker itself holds.
    fn new(secret: &str) -> Option<SecretPattern> {
        if secret.len() < MIN_SECRET_BYTES || MARKER.contains(secret) {
            return None;
        }
        let anchor = longest_unreserved_run(secret.as_bytes());
        let finder = memmem::Finder::new(secret.as_bytes().get(anchor.clone())?).into_owned();
        let secret = SecretString::from(secret);
        Some(SecretPattern {
            secret,
            anchor,
            finder,
        })
    }

    /// Pushes the byte range of every occurrence of the secret in `text` onto `found`.
    fn find_all(&self, text: &[u8], found: &mut Vec<Range<usize>>) {
        let secret = self.secret.expose_secret().as_bytes();
        let (Some(before), Some(after)) = (
            secret.get(..self.anchor.start),
            secret.get(self.anchor.end..),
        ) else {
            return;
        };
        let mut from = 0;
        // Overlapping hits: an anchor like `aaaa` may start anywhere in a run of `a`s.
        while let Some(hit) = text.get(from..).and_then(|rest| self.finder.find(rest)) {
            let at = from + hit;
            let start = reach(text, at, before, Direction::Backward);
            let end = reach(text, at + self.anchor.len(), after, Direction::Forward);
            if let (Some(start), Some(end)) = (start, end) {
                found.push(start..end);
            }
            from = at + 1;
        }
    }
}

fn longest_unreserved_run(bytes: &[u8]) -> Range<usize> {
    let (mut best, mut start) = (0..0, 0);
    for (i, &byte) in bytes.iter().enumerate() {
        if !is_unreserved(byte) {
            start = i + 1;
        } else if i + 1 - start > best.len() {
            best = start..i + 1;
        }
    }
    best
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Backward,
}

/// How far `secret` reaches in `text` from `from`, each of its bytes in any encoding: the
/// furthest end going forward, the earliest start going backward; `None` if it does not match.
/// It follows every way of matching at once (a set of positions), so it never backtracks.
fn reach(text: &[u8], from: usize, secret: &[u8], direction: Direction) -> Option<usize> {
    let (mut positions, mut next) = (vec![from], Vec::new());
    let mut step = |byte: u8| {
        next.clear();
        for &at in &positions {
            for len in 1..=3 {
                let window = match direction {
                    Direction::Forward => text.get(at..at + len).map(|w| (w, at + len)),
                    Direction::Backward => at
                        .checked_sub(len)
                        .and_then(|s| Some((text.get(s..at)?, s))),
                };
                if let Some((window, to)) = window
                    && encodes(byte, window)
                {
                    next.push(to);
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        std::mem::swap(&mut positions, &mut next);
        !positions.is_empty()
    };
    let matched = match direction {
        Direction::Forward => secret.iter().all(|&b| step(b)),
        Direction::Backward => secret.iter().rev().all(|&b| step(b)),
    };
    match direction {
        _ if !matched => None,
        Direction::Forward => positions.last().copied(),
        Direction::Backward => positions.first().copied(),
    }
}

/// Whether `window` is `byte` as an echo may carry it: as is, percent-encoded (`%2F`, `%2f`)
/// unless unreserved, or JSON-escaped (`\/`, `\"`, `\\`).
fn encodes(byte: u8, window: &[u8]) -> bool {
    let hex = |digit: u8| char::from(digit).to_digit(16);
    match *window {
        [only] => only == byte,
        [b'\\', escaped] => escaped == byte && matches!(byte, b'/' | b'"' | b'\\'),
        [b'%', high, low] => {
            !is_unreserved(byte)
                && hex(high)
                    .zip(hex(low))
                    .is_some_and(|(h, l)| (h << 4) | l == u32::from(byte))
        }
        _ => false,
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_token68(byte: u8) -> bool {
    is_unreserved(byte) || byte == b'+' || byte == b'/'
}

/// The token after every `Bearer` or `Basic` (any case) and one or more spaces or tabs.
fn find_scheme_tokens(text: &[u8], found: &mut Vec<Range<usize>>) {
    for at in memchr::memchr2_iter(b'b', b'B', text) {
        let rest = text.get(at..).unwrap_or_default();
        let Some(scheme) = SCHEMES.iter().find(|s| starts_with_ignore_case(rest, s)) else {
            continue;
        };
        let scheme_end = at + scheme.len();
        let token_start = skip(text, scheme_end, |b| b == b' ' || b == b'\t');
        let chars_end = skip(text, token_start, is_token68);
        if token_start > scheme_end && chars_end > token_start {
            found.push(token_start..skip(text, chars_end, |b| b == b'='));
        }
    }
}

/// At each `:` or `=`: a URL's query string, or the value after a credential's name.
fn find_named_values_and_queries(text: &[u8], found: &mut Vec<Range<usize>>) {
    for at in memchr::memchr2_iter(b':', b'=', text) {
        if let Some(query) = url_query(text, at) {
            found.push(query);
        } else if let Some(value_end) = credential_name_before(text, at)
            && let Some(value) = value_after(text, at, value_end)
        {
            found.push(value);
        }
    }
}

/// The query string of the `http://` or `https://` URL (also JSON-escaped, `https:\/\/`)
/// whose scheme ends at `colon`, from after its `?` to the URL's end.
fn url_query(text: &[u8], colon: usize) -> Option<Range<usize>> {
    let after = text.get(colon + 1..)?;
    let slashes = match () {
        _ if text.get(colon) != Some(&b':') => return None,
        _ if after.starts_with(b"//") => 2,
        _ if after.starts_with(br"\/\/") => 4,
        _ => return None,
    };
    let scheme = text.get(..colon)?;
    if !(ends_with_ignore_case(scheme, b"http") || ends_with_ignore_case(scheme, b"https")) {
        return None;
    }
    let host = colon + 1 + slashes;
    let end = value_end(text, host, ValueEnd::Url);
    let query = host + memchr::memchr(b'?', text.get(host..end)?)? + 1;
    (query < end).then_some(query..end)
}

/// Where the value of the credential named just before `separator` ends, if one is named there:
/// `Name=`, `Name: `, `"name":` or `\"name\":`.
fn credential_name_before(text: &[u8], separator: usize) -> Option<ValueEnd> {
    let mut before = text.get(..separator)?;
    while let [rest @ .., b' ' | b'\t'] = before {
        before = rest;
    }
    if let [rest @ .., b'"' | b'\''] = before {
        before = rest.strip_suffix(b"\\").unwrap_or(rest);
    }
    // Most separators follow no name: their last letter alone tells.
    let last = before.last()?.to_ascii_lowercase();
    let named = CREDENTIAL_NAMES
        .iter()
        .find(|(name, _)| name.last() == Some(&last) && ends_with_ignore_case(before, name));
    named.map(|&(_, end)| end)
}

/// The value after `separator`, past spaces and an opening `[`, quote or escaped quote; `None`
/// when it is empty or already redacted.
fn value_after(text: &[u8], separator: usize, end: ValueEnd) -> Option<Range<usize>> {
    let mut start = skip(text, separator + 1, |b| b == b' ' || b == b'\t');
    start += usize::from(text.get(start) == Some(&b'['));
    start += match text.get(start..)? {
        [b'\\', b'"' | b'\'', ..] => 2,
        [b'"' | b'\'', ..] => 1,
        _ => 0,
    };
    if text.get(start..)?.starts_with(MARKER.as_bytes()) {
        return None;
    }
    let end = value_end(text, start, end);
    (start < end).then_some(start..end)
}

/// Where a value ends, besides at a quote or a JSON-escaped quote, newline or tab.
#[derive(Clone, Copy)]
enum ValueEnd {
    /// A header's: the end of the line.
    Line,
    /// A query parameter's: `&`, whitespace or `<`.
    Parameter,
    /// A URL's: whitespace, `<` or `>`.
    Url,
}

fn value_end(text: &[u8], from: usize, end: ValueEnd) -> usize {
    let mut at = from;
    while let Some(&byte) = text.get(at) {
        let stops = match byte {
            b'"' | b'\'' => true,
            // An escape ends it, and so does a `\` whose escape a secret's marker replaced.
            b'\\' => {
                matches!(text.get(at + 1), Some(b'"' | b'\'' | b'n' | b'r' | b't'))
                    || text
                        .get(at + 1..)
                        .is_some_and(|rest| rest.starts_with(MARKER.as_bytes()))
            }
            _ => match end {
                ValueEnd::Line => byte == b'\n' || byte == b'\r',
                ValueEnd::Parameter => byte == b'&' || byte == b'<' || byte.is_ascii_whitespace(),
                ValueEnd::Url => byte == b'<' || byte == b'>' || byte.is_ascii_whitespace(),
            },
        };
        if stops {
            break;
        }
        at += 1;
    }
    at
}

/// The first position from `from` on whose byte is not in `class`.
fn skip(text: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    let rest = text.get(from..).unwrap_or_default();
    from + rest.iter().position(|&b| !class(b)).unwrap_or(rest.len())
}

fn starts_with_ignore_case(text: &[u8], lowercase: &[u8]) -> bool {
    text.get(..lowercase.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(lowercase))
}

fn ends_with_ignore_case(text: &[u8], lowercase: &[u8]) -> bool {
    let tail = text
        .len()
        .checked_sub(lowercase.len())
        .and_then(|start| text.get(start..));
    tail.is_some_and(|tail| tail.eq_ignore_ascii_case(lowercase))
}

/// `text` with each of the `found` ranges (overlapping or adjacent ones merged, each widened to
/// whole characters) replaced by one marker.
fn replace(text: &str, mut found: Vec<Range<usize>>) -> Cow<'_, str> {
    found.retain(|range| range.start < range.end);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    for range in &mut found {
        let (mut start, mut end) = (range.start.min(text.len()), range.end.min(text.len()));
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        *range = start..end;
    }
    found.sort_unstable_by_key(|range| range.start);
    let mut out = String::with_capacity(text.len());
    let mut kept_from = 0;
    let mut ranges = found.into_iter().peekable();
    while let Some(range) = ranges.next() {
        let mut end = range.end;
        while let Some(next) = ranges.next_if(|next| next.start <= end) {
            end = end.max(next.end);
        }
        out.push_str(text.get(kept_from..range.start).unwrap_or_default());
        out.push_str(MARKER);
        kept_from = end;
    }
    out.push_str(text.get(kept_from..).unwrap_or_default());
    Cow::Owned(out)
}

/// A writer whose every write goes out through [`redact`]: the log subscriber writes each event
/// in one write, so no log line can carry a credential, whatever a field holds.
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "fnAE3kQ+ab/cd==";

    /// Upstream texts and what redacting them (with the secret `KEY`) gives.
    const REDACTED: &[(&str, &str)] = &[
        // The gateway's echo that printed the key; the same in JSON, and JSON in JSON.
        (
            r#"{"code":"bad_request","reason":"bad header Authorization: Bearer fnAE_secret..."}"#,
            r#"{"code":"bad_request","reason":"bad header Authorization: <redacted>"}"#,
        ),
        (
            r#"{"headers":{"authorization":"Basic dXNlcjpwYXNz","Accept":"*/*"}}"#,
            r#"{"headers":{"authorization":"<redacted>","Accept":"*/*"}}"#,
        ),
        (
            r#"{\"Authorization\": [\"Bearer fnAB\/x\"]}"#,
            r#"{\"Authorization\": [\"<redacted>\"]}"#,
        ),
        // Any case; the token alone; to the end of the line.
        ("authorization: bearer xyz", "authorization: <redacted>"),
        (
            "use bearer  xyz.a-b~c+d/e== now",
            "use bearer  <redacted> now",
        ),
        ("BASIC\tdXNlcjpw", "BASIC\t<redacted>"),
        (
            "Proxy-Authorization: Negotiate a\r\nHost: x",
            "Proxy-Authorization: <redacted>\r\nHost: x",
        ),
        // An HTML error page quoting a presigned URL.
        (
            concat!(
                "<html><body><h1>502 Bad Gateway</h1><p>GET https://logs.s3.amazonaws.com/a.gz",
                "?X-Amz-Algorithm=AWS4-HMAC-SHA256&amp;X-Amz-Credential=ASIAX%2F20250101%2F",
                "us-east-1%2Fs3%2Faws4_request&amp;X-Amz-Security-Token=IQoJb3Jp%2Bx&amp;",
                "X-Amz-Signature=0a1b2c3d</p>\n<a href='https://logs.s3.amazonaws.com/a.gz",
                "?X-Amz-Signature=0a1b2c3d'>retry</a></body></html>",
            ),
            concat!(
                "<html><body><h1>502 Bad Gateway</h1><p>GET https://logs.s3.amazonaws.com/a.gz",
                "?<redacted></p>\n<a href='https://logs.s3.amazonaws.com/a.gz?<redacted>'>retry",
                "</a></body></html>",
            ),
        ),
        // serde_json's error quoting a URL; a JSON-escaped URL.
        (
            r#"invalid type: string "https://f.example/a.gz?X-Amz-Signature=a1", expected u64"#,
            r#"invalid type: string "https://f.example/a.gz?<redacted>", expected u64"#,
        ),
        (
            r#"{"url":"https:\/\/f.example\/a.gz?sig=1\"}"#,
            r#"{"url":"https:\/\/f.example\/a.gz?<redacted>\"}"#,
        ),
        // Presigned parameters without their URL.
        (
            "X-Amz-Credential=AKIA%2F2025&x-amz-security-token=IQo%3D&signature=ff x",
            "X-Amz-Credential=<redacted>&x-amz-security-token=<redacted>&signature=<redacted> x",
        ),
        (
            "\"AWSAccessKeyId\": \"AKIAEXAMPLE\" X-Amz-Security-Token: IQoJ<br>",
            "\"AWSAccessKeyId\": \"<redacted>\" X-Amz-Security-Token: <redacted><br>",
        ),
        // The secret as is, percent-encoded (either case; `/` left as Python's `quote` leaves
        // it) and JSON-escaped; neighbours share one marker.
        ("key=fnAE3kQ+ab/cd==.", "key=<redacted>."),
        ("key=fnAE3kQ%2Bab%2Fcd%3D%3D.", "key=<redacted>."),
        ("key=fnAE3kQ%2bab%2fcd%3d%3d.", "key=<redacted>."),
        ("key=fnAE3kQ%2Bab/cd%3D%3D.", "key=<redacted>."),
        (r"key:fnAE3kQ+ab\/cd==.", "key:<redacted>."),
        ("xfnAE3kQ+ab/cd==fnAE3kQ+ab/cd==y", "x<redacted>y"),
        ("Bearer fnAE3kQ+ab/cd==", "Bearer <redacted>"),
        // Unicode around matches.
        (
            "éfnAE3kQ+ab/cd==中 ü Bearer ✓tok 日https://h/ü?ä=ö 末",
            "é<redacted>中 ü Bearer ✓tok 日https://h/ü?<redacted> 末",
        ),
    ];

    /// Texts with nothing to redact: given back, not copied.
    const KEPT: &[&str] = &[
        "the export of 2025-01-01 failed: 503 Service Unavailable (retrying in 10 s)",
        "token_type=Bearer; Bearer <redacted>; missing Authorization header; Bearer тест",
        "https://host/path, https://host/path? next, http://h/p?<redacted>, Signature=",
        "authorization: <redacted>, fnAE3kQ+ab/cd=, fnshort, <redacted>",
    ];

    #[test]
    fn upstream_texts_lose_their_credentials() {
        for (text, expected) in REDACTED {
            assert_eq!(redact_with(text, &[KEY]), *expected, "{text}");
        }
        for text in KEPT {
            let Cow::Borrowed(same) = redact_with(text, &[KEY, "fnshort", "redacted"]) else {
                panic!("{text} is copied");
            };
            assert!(std::ptr::eq(same, *text));
        }
    }

    #[test]
    fn secrets_in_every_encoding_and_no_anchor() {
        let secret = "fnÆ秘密key-123";
        let text = format!("é{secret}中{}ü", "fn%C3%86%E7%A7%98%E5%AF%86key-123");
        assert_eq!(redact_with(&text, &[secret]), "é<redacted>中<redacted>ü");
        // The anchor (`aaaaaaaa`) is found where it overlaps an earlier find.
        assert_eq!(redact_with("baaaaaaaaa+", &["aaaaaaaa+"]), "ba<redacted>");
        // No unreserved byte to search for: every position is tried.
        assert_eq!(
            redact_with("a+/%2B/+/+%2F=b", &["+/+/+/+/="]),
            "a<redacted>b"
        );
    }

    #[test]
    fn a_redacted_escape_does_not_move_where_a_value_ends() {
        // `\r` ends the value (nothing to redact) and begins the secret; once the secret is a
        // marker, the `\` must still end the value, or redacting again finds more (fuzz).
        let text = r"Credential=\redentia5l=x";
        let out = redact_with(text, &["redentia5"]);
        assert_eq!(out, r"Credential=\<redacted>l=x");
        assert!(matches!(
            redact_with(&out, &["redentia5"]),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_list_keeps_the_last_four_and_never_prints_them() {
        let mut list = SecretList(Vec::new());
        for secret in [
            "fnsecret1",
            "fnsecret2",
            "fnsecret1",
            "short",
            "fnsecret3",
            "fnsecret4",
        ] {
            list.register(secret);
        }
        list.register("fnsecret5");
        let kept: Vec<&str> = list.0.iter().map(|p| p.secret.expose_secret()).collect();
        assert_eq!(kept, ["fnsecret1", "fnsecret3", "fnsecret4", "fnsecret5"]);
        let printed = format!("{list:?}");
        assert!(!printed.contains("fnsecret"), "{printed}");
        assert!(printed.contains("SecretPattern(<redacted>)"), "{printed}");
    }

    /// Text that only looks like a credential is kept: a word that starts like a scheme, and a
    /// JSON escape that is not an encoding of the secret's byte.
    #[test]
    fn lookalikes_are_kept() {
        for text in [
            "basically fine",
            "Bearerish: no token",
            "BASICALLY",
            "http=//host?q=1",
            "see http:host?yz",
        ] {
            assert!(matches!(redact_with(text, &[]), Cow::Borrowed(_)), "{text}");
        }
        let text = r"a\nabcdefgh";
        assert!(matches!(
            redact_with(text, &["/abcdefgh"]),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            redact_with("a%ZZabcdefgh", &["/abcdefgh"]),
            Cow::Borrowed(_)
        ));
        assert_eq!(redact_with(r"a\/abcdefgh", &["/abcdefgh"]), "a<redacted>");
        assert_eq!(redact_with("a%2Fabcdefgh", &["/abcdefgh"]), "a<redacted>");
    }

    /// A range that starts or ends inside a character grows to the whole character.
    #[test]
    fn a_range_inside_a_character_takes_all_of_it() {
        let one = |range: Range<usize>| replace("aéb", std::iter::once(range).collect());
        assert_eq!(one(2..3), "a<redacted>b");
        assert_eq!(one(1..2), "a<redacted>b");
        assert_eq!(one(3..3), "aéb");
    }

    /// The log writer redacts each write whole and passes flushes on.
    #[test]
    fn the_log_writer_redacts_and_flushes() {
        use std::io::Write;
        let mut writer = RedactingWriter(std::io::BufWriter::new(Vec::new()));
        writer
            .write_all(b"GET https://files.example/f?X-Amz-Signature=abc HTTP/1.1\n")
            .unwrap();
        assert!(writer.0.get_ref().is_empty(), "buffered until flushed");
        writer.flush().unwrap();
        assert_eq!(
            String::from_utf8_lossy(writer.0.get_ref()),
            "GET https://files.example/f?<redacted> HTTP/1.1\n"
        );
    }

    #[test]
    fn a_registered_secret_is_redacted_everywhere() {
        // The only test that touches the process's registry; its secret is its own.
        let secret = "fnRegistryTest/only+here=";
        register_secret(secret);
        register_secret(secret);
        let echo = format!("echo {secret} and fnRegistryTest%2Fonly%2Bhere%3D");
        assert_eq!(redact(&echo), "echo <redacted> and <redacted>");
    }

    #[test]
    #[ignore = "a measurement: cargo test --release -- --ignored --nocapture"]
    fn time_a_message_without_secrets() {
        register_secret("fnAETimingKeyThatIsNeverInTheText");
        let message = concat!(
            r#"{"code":"invalid_request","reason":"The log request could not be created: "#,
            "time_end must be after time_start and the window may not exceed 90 days; see ",
            "https://docs.fauna.com/fauna/current/reference/http/reference/account-api for ",
            r#"the request format. Retry after fixing the body (a=b)."}"#,
        );
        let rounds = 1_000_000;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            let out = redact(std::hint::black_box(message));
            assert!(matches!(out, Cow::Borrowed(_)));
        }
        let each = started.elapsed() / rounds;
        eprintln!("redact: {} bytes, no secret, in {each:?}", message.len());
    }

    /// A piece of generated input: text, or a credential that must not survive.
    #[derive(Debug, Clone)]
    enum Piece {
        Text(String),
        Credential(String),
    }

    /// One of `words`, each ASCII letter in either case (a `(?i)` pattern would also give the
    /// Unicode letters that fold to them, such as `ſ` for `s`).
    fn any_case(words: &'static [&'static str]) -> impl Strategy<Value = String> {
        (proptest::sample::select(words), any::<u64>()).prop_map(|(word, cases)| {
            let upper = |i: usize| (cases >> (i % 64)) & 1 == 1;
            let case = |(i, c): (usize, char)| if upper(i) { c.to_ascii_uppercase() } else { c };
            word.chars().enumerate().map(case).collect()
        })
    }

    fn secret() -> impl Strategy<Value = String> {
        "fn[A-Za-z0-9+/=_%\"\\\\Ωé中-]{8,30}"
    }

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._~+/-]{1,30}={0,2}"
    }

    /// Each encoding an echo may give a secret: as is, percent-encoded (upper and lower case, and
    /// leaving `/` as Python's `quote` does), JSON-escaped.
    fn encodings(secret: &str) -> [String; 5] {
        let percent = |upper: bool, keep: &[u8]| {
            let encode = |byte: u8| match () {
                _ if is_unreserved(byte) || keep.contains(&byte) => char::from(byte).to_string(),
                _ if upper => format!("%{byte:02X}"),
                _ => format!("%{byte:02x}"),
            };
            secret.bytes().map(encode).collect()
        };
        let json = secret.replace('\\', r"\\").replace('"', r#"\""#);
        let json = json.replace('/', r"\/");
        let as_is = secret.to_owned();
        [
            as_is,
            percent(true, b""),
            percent(false, b""),
            percent(true, b"/"),
            json,
        ]
    }

    /// The pieces of one fragment of input: words, punctuation or any text; a credential after a
    /// scheme, in a URL's query, after a parameter's or a header's name; a secret, encoded.
    fn fragment(secrets: Vec<String>) -> impl Strategy<Value = Vec<Piece>> {
        let text = |s: &str| Piece::Text(s.to_owned());
        let value = "[A-Za-z0-9%._~+/=-]{0,40}";
        let parameter = any_case(&[
            "x-amz-signature=",
            "x-amz-credential=",
            "x-amz-security-token: ",
            "\"awsaccesskeyid\":\"",
            "signature='",
        ]);
        let header = any_case(&[
            "authorization: ",
            "\"authorization\": \"",
            "\\\"authorization\\\":\\\"",
            "authorization: bearer ",
        ]);
        let url = (
            any_case(&["http://", "https://", r"https:\/\/"]),
            "[a-z0-9.]{1,12}(/[a-z0-9.-]{0,8}){0,3}\\?",
            proptest::collection::vec(("[a-z_-]{1,8}", value), 1..4),
        );
        let count = secrets.len();
        prop_oneof![
            "[a-zA-Z]{1,10}|\\PC{1,6}|(?s).{0,8}".prop_map(move |s| vec![text(&s)]),
            "[ \n\t\"':=&?/<>\\\\\\[]|Bearer|Authorization: |https://|\\?"
                .prop_map(move |s| vec![text(&s)]),
            (any_case(&["bearer", "basic"]), "[ \t]{1,3}", token()).prop_map(
                move |(scheme, gap, token)| vec![text(&(scheme + &gap)), Piece::Credential(token)]
            ),
            url.prop_map(move |(scheme, rest, pairs)| {
                let mut pieces = vec![text(&(scheme + &rest))];
                for (i, (name, value)) in pairs.into_iter().enumerate() {
                    let amp = if i == 0 { "" } else { "&" };
                    pieces.extend([text(&format!("{amp}{name}=")), Piece::Credential(value)]);
                }
                pieces
            }),
            (parameter, value).prop_map(move |(name, v)| vec![text(&name), Piece::Credential(v)]),
            (header, token()).prop_map(move |(name, v)| vec![text(&name), Piece::Credential(v)]),
            (0..count, 0..5usize).prop_map(move |(secret, encoding)| {
                vec![Piece::Credential(
                    encodings(&secrets[secret])[encoding].clone(),
                )]
            }),
        ]
    }

    /// Any text, or text made of what the rules look for.
    fn any_text() -> impl Strategy<Value = String> {
        let tricky = concat!(
            "((?i)bearer|basic|authorization|signature|https?|:|=|//|\\\\/|<redacted>|",
            r#"[ \n\t"'<>&?%\\\[\]a-c0-9é]){0,40}"#,
        );
        prop_oneof!["(?s).{0,200}", tricky]
    }

    fn input() -> impl Strategy<Value = (Vec<String>, Vec<Piece>)> {
        proptest::collection::vec(secret(), 1..4).prop_flat_map(|secrets| {
            let fragments = proptest::collection::vec(fragment(secrets.clone()), 0..12);
            (
                Just(secrets),
                fragments.prop_map(|f| f.into_iter().flatten().collect()),
            )
        })
    }

    proptest! {
        // A failure prints its minimal input; none is written beside the sources.
        #![proptest_config(ProptestConfig {
            cases: 2048,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// It is fuzzed: no secret, query value or token of the input survives, nor 8 bytes of
        /// one unless the input's other text holds them too; redacted text redacts to itself.
        #[test]
        fn nothing_secret_survives((secrets, pieces) in input()) {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            // The input, and its other text: each credential replaced by a NUL, which none holds.
            let (mut text, mut background) = (String::new(), String::new());
            for piece in &pieces {
                let (Piece::Text(s) | Piece::Credential(s)) = piece;
                text.push_str(s);
                match piece {
                    Piece::Text(s) => background.push_str(s),
                    Piece::Credential(_) => background.push('\0'),
                }
            }
            let out = redact_with(&text, &secrets);
            for encoded in secrets.iter().flat_map(|secret| encodings(secret)) {
                prop_assert!(!out.contains(&encoded), "{} survives in {}", encoded, out);
            }
            for piece in &pieces {
                let Piece::Credential(credential) = piece else { continue };
                for start in 0..credential.len() {
                    let mut ends = start + MIN_SECRET_BYTES..=credential.len();
                    let end = ends.find(|&end| credential.is_char_boundary(end));
                    let Some(part) = end.and_then(|end| credential.get(start..end)) else {
                        continue;
                    };
                    if !background.contains(part) {
                        prop_assert!(!out.contains(part), "{} of {} in {}", part, credential, out);
                    }
                }
            }
            let again = redact_with(&out, &secrets);
            prop_assert!(matches!(again, Cow::Borrowed(_)), "{} redacts to {}", out, again);
            if let Cow::Owned(copy) = &out {
                prop_assert_ne!(copy, &text);
            }
        }

        #[test]
        fn any_text_redacts_to_a_fixed_point(text in any_text(), secret in secret()) {
            let out = redact_with(&text, &[&secret]);
            prop_assert!(matches!(redact_with(&out, &[&secret]), Cow::Borrowed(_)), "{}", out);
            prop_assert!(!out.contains(&secret));
        }
    }
}
