//! The log files the hostile host serves, and the test's own judgement of them.
//!
//! [`make`] writes a gzip JSON Lines file of a few hundred KB (one to four gzip members) in one
//! of the [`Shape`]s the grammar draws: valid, or wrong in a way the copy must refuse (cut
//! short, an HTML 502 page or a JSON array among the records, a gzip member cut). [`judge`]
//! decides, independently of the exporter's verifier, whether bytes are a valid log file: every
//! gzip member whole and every non-blank line one JSON object.

use std::io::{Read, Write};

use fastrand::Rng;

/// What a file is like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Good,
    /// Cut short in its middle.
    Truncated,
    /// A proxy's HTML 502 page among the records, inside valid gzip.
    HtmlLine,
    /// A JSON array line among the records.
    ArrayLine,
    /// A gzip member without its end, followed by the next member.
    CutMember,
}

/// The records of a file: JSON Lines, hard to compress.
fn records(rng: &mut Rng, count: usize, day: &str) -> Vec<String> {
    (0..count)
        .map(|i| {
            let noise: String = (0..3).map(|_| format!("{:016x}", rng.u64(..))).collect();
            format!(
                "{{\"TS\":\"{day} {:02}:{:02}:{:02}.{:03} Z\",\"DATABASE\":[\"ECommerce\"],\"REGION_GROUP\":\"us-std\",\"QUERY_TIME_MS\":{},\"FQL_SHAPE\":\"Product.byId({noise})\",\"TXN_RETRIES\":0}}",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60,
                i % 1000,
                rng.u32(1..900)
            )
        })
        .collect()
}

/// One gzip member holding `lines`, each ended by a newline.
fn member(lines: &[String], fast: bool) -> Vec<u8> {
    let level = if fast {
        flate2::Compression::fast()
    } else {
        flate2::Compression::default()
    };
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    for line in lines {
        enc.write_all(line.as_bytes()).expect("in memory");
        enc.write_all(b"\n").expect("in memory");
    }
    enc.finish().expect("in memory")
}

const HTML_502: &[&str] = &[
    "<html>",
    "<head><title>502 Bad Gateway</title></head>",
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>",
    "</html>",
];

/// A file of `count` records of `day` in `members` gzip members, shaped as `shape`.
pub fn make(
    rng: &mut Rng,
    shape: Shape,
    count: usize,
    members: usize,
    fast: bool,
    day: &str,
) -> Vec<u8> {
    let mut lines = records(rng, count.max(8), day);
    let middle = lines.len() / 2 + rng.usize(..lines.len() / 4);
    match shape {
        Shape::HtmlLine => {
            for (n, line) in HTML_502.iter().enumerate() {
                lines.insert(middle + n, (*line).to_owned());
            }
        }
        Shape::ArrayLine => lines.insert(middle, format!("[{},{}]", lines[0], lines[1])),
        _ => {}
    }
    let members = if shape == Shape::CutMember {
        members.max(2)
    } else {
        members
    };
    let per = lines.len().div_ceil(members);
    let parts: Vec<Vec<u8>> = lines.chunks(per).map(|c| member(c, fast)).collect();
    let mut bytes = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        if shape == Shape::CutMember && n == 0 {
            let cut = rng.usize(8..part.len().min(4096));
            bytes.extend_from_slice(&part[..part.len() - cut]);
        } else {
            bytes.extend_from_slice(part);
        }
    }
    if shape == Shape::Truncated {
        let at = bytes.len() / 4 + rng.usize(..bytes.len() / 2);
        bytes.truncate(at);
    }
    bytes
}

/// `base` with another gzip member of fresh records after it.
pub fn grown(rng: &mut Rng, base: &[u8], day: &str) -> Vec<u8> {
    let mut bytes = base.to_vec();
    bytes.extend_from_slice(&member(&records(rng, 50, day), true));
    bytes
}

/// `base` with a few bytes changed at `at` (clamped into the file): the same size.
pub fn mutated(rng: &mut Rng, base: &[u8], at: u64) -> Vec<u8> {
    let mut bytes = base.to_vec();
    let at = usize::try_from(at)
        .unwrap_or(usize::MAX)
        .min(bytes.len() - 1);
    for b in bytes.iter_mut().skip(at).take(rng.usize(1..4)) {
        *b ^= rng.u8(1..);
    }
    bytes
}

/// The records of a valid log file, or why the bytes are not one: not whole gzip, or a
/// non-blank line that is not one JSON object.
pub fn judge(bytes: &[u8]) -> Result<u64, String> {
    if bytes.is_empty() {
        return Err("empty".into());
    }
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut text)
        .map_err(|e| format!("not whole gzip: {e}"))?;
    let mut count = 0;
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line).is_err() {
            let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
            return Err(format!("line {} is not a JSON object: {shown}", n + 1));
        }
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_judged_as_they_are() {
        let mut rng = Rng::with_seed(1);
        for (shape, valid) in [
            (Shape::Good, true),
            (Shape::Truncated, false),
            (Shape::HtmlLine, false),
            (Shape::ArrayLine, false),
            (Shape::CutMember, false),
        ] {
            for members in 1..=3 {
                let bytes = make(&mut rng, shape, 300, members, members == 2, "2026-01-10");
                assert_eq!(judge(&bytes).is_ok(), valid, "{shape:?} in {members}");
            }
        }
        let good = make(&mut rng, Shape::Good, 300, 2, true, "2026-01-10");
        assert_eq!(judge(&good), Ok(300));
        assert_eq!(judge(&grown(&mut rng, &good, "2026-01-10")), Ok(350));
        assert!(judge(&mutated(&mut rng, &good, 100)).is_err());
    }
}
