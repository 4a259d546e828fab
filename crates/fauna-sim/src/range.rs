//! HTTP `Range` requests against a file of known size.
//!
//! Owns [`RangeRequest`] and the parsing of a `Range` header (`bytes=a-`, `a-b`, `-n`) into
//! the bytes to send, the whole file, or a 416.

/// What a `Range` header asks for, against a file of a known size.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) range: send the whole file with 200.
    Full,
    /// Inclusive byte range, already clamped to the file: 206.
    Partial { start: u64, end: u64 },
    /// 416.
    Unsatisfiable,
}

/// Reads `bytes=START-`, `bytes=START-END` and `bytes=-SUFFIX`. Invalid or multi-range headers
/// are ignored (whole file), as RFC 9110 allows and S3 does.
pub fn parse_range(header: Option<&str>, total: u64) -> RangeRequest {
    let Some(value) = header.map(str::trim) else {
        return RangeRequest::Full;
    };
    let Some(unit) = value.get(..6) else {
        return RangeRequest::Full;
    };
    if !unit.eq_ignore_ascii_case("bytes=") {
        return RangeRequest::Full;
    }
    let spec = value[6..].trim();
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Some(suffix) = number(last) else {
            return RangeRequest::Full;
        };
        if suffix == 0 || total == 0 {
            return RangeRequest::Unsatisfiable;
        }
        return RangeRequest::Partial {
            start: total - suffix.min(total),
            end: total - 1,
        };
    }
    let Some(start) = number(first) else {
        return RangeRequest::Full;
    };
    let end = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(end) if end >= start => Some(end),
            _ => return RangeRequest::Full,
        }
    };
    if start >= total {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial {
        start,
        end: end.map_or(total - 1, |e| e.min(total - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn ranges() {
        let p = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), Full);
        assert_eq!(p("bytes=0-"), Partial { start: 0, end: 999 });
        assert_eq!(
            p("bytes=100-"),
            Partial {
                start: 100,
                end: 999
            }
        );
        assert_eq!(
            p("bytes=100-199"),
            Partial {
                start: 100,
                end: 199
            }
        );
        assert_eq!(
            p("bytes=999-999"),
            Partial {
                start: 999,
                end: 999
            }
        );
        assert_eq!(
            p("bytes=100-5000"),
            Partial {
                start: 100,
                end: 999
            }
        );
        assert_eq!(
            p("Bytes = 5-9"),
            Full,
            "unit must be directly followed by ="
        );
        assert_eq!(p("BYTES=5-9"), Partial { start: 5, end: 9 });
        assert_eq!(
            p("bytes=-100"),
            Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(p("bytes=-5000"), Partial { start: 0, end: 999 });
        assert_eq!(p("bytes=1000-"), Unsatisfiable);
        assert_eq!(p("bytes=1000-2000"), Unsatisfiable);
        assert_eq!(p("bytes=-0"), Unsatisfiable);
        assert_eq!(
            p("bytes=200-100"),
            Full,
            "last < first is invalid, so ignored"
        );
        assert_eq!(p("bytes=0-1,5-6"), Full);
        assert_eq!(p("items=0-1"), Full);
        assert_eq!(p("bytes=abc-"), Full);
        assert_eq!(p("bytes=+5-"), Full);
        assert_eq!(p("bytes="), Full);
        assert_eq!(p("bytes=5"), Full);
    }
}
