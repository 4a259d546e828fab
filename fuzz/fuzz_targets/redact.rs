//! Fuzz target `redact`: arbitrary bytes as a secret and an upstream text.
//!
//! The first byte says how many of the next bytes are the secret; the rest is the text. Both
//! must be UTF-8 (as every text that reaches `redact` is). Whatever the two are, redaction never
//! panics, and:
//! - the secret (as is, percent-encoded or JSON-escaped) is in no stretch of the output that
//!   redaction kept, i.e. between two markers. Checking the stretches, not the whole output, keeps
//!   the assertion honest: a secret holding `<` or `>` may be spelled anew by kept text and a
//!   marker, and that is no leak. Secrets that `redact_with` ignores (shorter than
//!   `MIN_SECRET_BYTES`, or part of the marker itself) are not checked;
//! - redacted text redacts to itself, borrowed, unless the secret holds `<` or `>`;
//! - a copy is made only when something was redacted.

#![no_main]

use std::borrow::Cow;

use fauna_logs_core::redact::{MARKER, MIN_SECRET_BYTES, redact_with};
use libfuzzer_sys::fuzz_target;

/// The secret percent-encoded as `encodeURIComponent` would, and JSON-escaped with `\/`.
fn encodings(secret: &str) -> [String; 3] {
    let mut percent = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            percent.push(char::from(byte));
        } else {
            percent.push_str(&format!("%{byte:02X}"));
        }
    }
    let json = secret
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('/', r"\/");
    [secret.to_owned(), percent, json]
}

fuzz_target!(|data: &[u8]| {
    let Some((&secret_len, rest)) = data.split_first() else {
        return;
    };
    let (secret, text) = rest.split_at(usize::from(secret_len).min(rest.len()));
    let (Ok(secret), Ok(text)) = (std::str::from_utf8(secret), std::str::from_utf8(text)) else {
        return;
    };
    let redacted = redact_with(text, &[secret]);
    if let Cow::Owned(copy) = &redacted {
        assert_ne!(copy, text, "a copy of text with nothing redacted");
    }
    if secret.len() >= MIN_SECRET_BYTES && !MARKER.contains(secret) {
        for encoded in encodings(secret) {
            for kept in redacted.split(MARKER) {
                assert!(
                    !kept.contains(&encoded),
                    "{encoded:?} survives in {redacted:?}"
                );
            }
        }
    }
    if !secret.contains(['<', '>']) {
        let again = redact_with(&redacted, &[secret]);
        assert!(
            matches!(again, Cow::Borrowed(_)),
            "{redacted:?} redacts again to {again:?}"
        );
    }
});
