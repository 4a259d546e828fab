use std::io::Write;

use super::*;
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};
use proptest::prelude::*;

fn gzip_level(text: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), level);
    enc.write_all(text).unwrap();
    enc.finish().unwrap()
}

/// Level 2, the fastest of zlib's classic block-by-block levels. (Level 1 of zlib-ng and zlib-rs,
/// `deflate_quick`, writes one fixed-Huffman block per member.)
const FAST: Compression = Compression::new(2);

fn gzip(text: &str) -> Vec<u8> {
    gzip_level(text.as_bytes(), Compression::fast())
}

/// One gzip member per (text, level).
fn members(parts: &[(&[u8], Compression)]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|(text, level)| gzip_level(text, *level))
        .collect()
}

/// The verifier thread over `chunks`; the synchronous core of each way of inflating must agree
/// with it.
async fn verify(chunks: &[&[u8]]) -> Result<LogSummary, CorruptLog> {
    let v = Verifier::spawn();
    for chunk in chunks {
        v.feed(Bytes::copy_from_slice(chunk)).await;
    }
    let verdict = v.finish().await;
    let file = chunks.concat();
    let chunk = chunks.iter().map(|c| c.len()).max().unwrap_or(1).max(1);
    match (&verdict, verify_sync(&file, chunk)) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("the verifier: {a:?}; its core: {b:?}"),
    }
    verdict
}

/// The synchronous core over `file` in chunks of `chunk` bytes, with each way of inflating this
/// build has: they must agree (the same summary, or both refuse the file); the zlib-rs verdict
/// is returned.
fn verify_sync(file: &[u8], chunk: usize) -> Result<LogSummary, CorruptLog> {
    let verdicts: Vec<_> = InflateWith::AVAILABLE
        .iter()
        .map(|&with| verify_sync_with(file, chunk, with))
        .collect();
    for (with, verdict) in InflateWith::AVAILABLE.iter().zip(&verdicts) {
        match (&verdicts[0], verdict) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{with:?} disagrees"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("zlib-rs: {a:?}; {with:?}: {b:?}"),
        }
    }
    verdicts.into_iter().next().unwrap()
}

fn verify_sync_with(
    file: &[u8],
    chunk: usize,
    with: InflateWith,
) -> Result<LogSummary, CorruptLog> {
    let mut v = GzipLines::with(with);
    for piece in file.chunks(chunk) {
        v.feed(piece)?;
    }
    v.finish()
}

const LOG: &str = "{\"TS\":\"2026-11-24 00:00:00.001 Z\",\"A\":1}\n{\"TS\":\"2026-11-24 00:00:01.000 Z\"}\n{\"TS\":\"2026-11-24 23:59:59.999 Z\"}\n";

/// JSON Lines shaped like Fauna query logs (about 350 bytes a line, ~5× compressible).
fn log_lines(records: usize, seed: u64) -> Vec<u8> {
    const SHAPES: &[&str] = &[
        "Product.byId(<redacted>)",
        "Customer.where(.email == <redacted>).first()",
        "Order.byId(<redacted>)!.update({ status: <redacted> })",
        "Product.all().where(.stock < <redacted>).order(desc(.price)).take(<redacted>)",
        "Collection.create({ name: <redacted> })",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(records * 360);
    for i in 0..records {
        let ms = i as u64 * 37 + rng.u64(0..37);
        writeln!(
            out,
            "{{\"API_VERSION\":\"10\",\"BYTES_IN\":{},\"BYTES_OUT\":{},\"BYTE_READ_OPS\":{},\"COMPUTE_OPS\":{},\"DATABASE\":[\"db{}\"],\"FQL_SHAPE\":\"{}\",\"QUERY_TIME_MS\":{},\"REQUEST_HEADERS\":\"{{\\\"user_agent\\\":\\\"fauna-js/2.{}\\\",\\\"x_forwarded_for\\\":\\\"10.{}.{}.{}\\\"}}\",\"RESPONSE_CODE\":\"{}\",\"TRACEPARENT\":\"00-{:016x}{:016x}-{:016x}-01\",\"TS\":\"2026-11-24 {:02}:{:02}:{:02}.{:03} Z\",\"TXN_RETRIES\":{}}}",
            rng.u32(10..5000),
            rng.u32(10..90000),
            rng.u32(1..40),
            rng.u32(1..9),
            rng.u8(0..4),
            SHAPES[rng.usize(0..SHAPES.len())],
            rng.u32(1..400),
            rng.u8(0..9),
            rng.u8(..),
            rng.u8(..),
            rng.u8(..),
            [200, 200, 200, 400, 429][rng.usize(0..5)],
            rng.u64(..),
            rng.u64(..),
            rng.u64(..),
            ms / 3_600_000 % 24,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            rng.u8(0..2),
        )
        .unwrap();
    }
    out
}

/// The `TS` of the first and last line of `text`.
fn ts_of(text: &[u8]) -> (String, String) {
    let ts = |line: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        v["TS"].as_str().unwrap().to_owned()
    };
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    (ts(lines[0]), ts(lines[lines.len() - 1]))
}

/// One pass over `file` in chunks of `chunk` bytes, asking for a checkpoint every `every`
/// bytes: the summary and the checkpoints, in order.
fn pass_with_checkpoints(
    file: &[u8],
    chunk: usize,
    every: u64,
    with: InflateWith,
) -> (Result<LogSummary, CorruptLog>, Vec<Checkpoint>) {
    let mut v = GzipLines::with(with);
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    v.request_checkpoint(every);
    for piece in file.chunks(chunk) {
        if let Err(e) = v.feed(piece) {
            return (Err(e), checkpoints);
        }
        if let Some(cp) = v.take_checkpoint() {
            let asked = (checkpoints.len() as u64 + 1) * every;
            assert!(cp.offset >= asked, "{} < {asked}", cp.offset);
            v.request_checkpoint((cp.offset / every + 1) * every);
            checkpoints.push(cp);
        }
    }
    (v.finish(), checkpoints)
}

/// Through JSON and back, as a paused copy keeps it.
fn round_trip(cp: &Checkpoint) -> Checkpoint {
    let json = serde_json::to_string(cp).unwrap();
    let back: Checkpoint = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, cp);
    back
}

/// Resumes from `cp` and feeds the rest of `file` in chunks of `chunk` bytes.
fn resume_sync(file: &[u8], cp: &Checkpoint, chunk: usize) -> Result<LogSummary, CorruptLog> {
    resume_sync_with(file, cp, chunk, InflateWith::fastest())
}

fn resume_sync_with(
    file: &[u8],
    cp: &Checkpoint,
    chunk: usize,
    with: InflateWith,
) -> Result<LogSummary, CorruptLog> {
    let mut v = GzipLines::resume_with(round_trip(cp), with)?;
    let rest = file.get(cp.offset as usize..).unwrap();
    for piece in rest.chunks(chunk) {
        v.feed(piece)?;
    }
    v.finish()
}

/// Checkpoints every `every` bytes, taken by each way of inflating; each, resumed by each way,
/// ends in the uninterrupted pass's summary. Returns zlib-rs's checkpoints.
fn assert_checkpoints_resume(file: &[u8], every: u64, at_least: usize) -> Vec<Checkpoint> {
    let expected = verify_sync(file, file.len()).unwrap();
    let mut zlib_rs = Vec::new();
    for &taken_by in InflateWith::AVAILABLE {
        let (summary, checkpoints) = pass_with_checkpoints(file, 10_000, every, taken_by);
        assert_eq!(
            summary.unwrap(),
            expected,
            "asking for checkpoints changes nothing ({taken_by:?})"
        );
        assert!(
            checkpoints.len() >= at_least,
            "{} checkpoints in {} bytes ({taken_by:?})",
            checkpoints.len(),
            file.len()
        );
        for (i, cp) in checkpoints.iter().enumerate() {
            let chunk = [4096, 65_536, 999][i % 3];
            for &resumed_by in InflateWith::AVAILABLE {
                assert_eq!(
                    resume_sync_with(file, cp, chunk, resumed_by).unwrap(),
                    expected,
                    "taken by {taken_by:?}, resumed by {resumed_by:?} at {cp:?}"
                );
            }
        }
        if taken_by == InflateWith::ZlibRs {
            zlib_rs = checkpoints;
        }
    }
    zlib_rs
}

#[tokio::test]
async fn counts_records_across_chunks_and_members() {
    let mut file = gzip(&LOG[..30]);
    file.extend(gzip(&LOG[30..]));
    for size in [1, 7, 100, file.len()] {
        let chunks: Vec<&[u8]> = file.chunks(size).collect();
        let s = verify(&chunks).await.unwrap();
        assert_eq!(s.records, 3, "chunk size {size}");
        assert_eq!(s.first_ts.as_deref(), Some("2026-11-24 00:00:00.001 Z"));
        assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 23:59:59.999 Z"));
        assert_eq!(s.uncompressed_bytes, LOG.len() as u64);
        assert_eq!(s.long_records, 0);
    }
}

#[tokio::test]
async fn a_last_line_without_newline_counts() {
    let s = verify(&[&gzip(LOG.trim_end())]).await.unwrap();
    assert_eq!(s.records, 3);
    assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 23:59:59.999 Z"));
}

#[test]
fn blank_lines_are_not_records() {
    let text = format!("\n  \n{}\n\t\n", LOG.replace('\n', "\n\n"));
    let s = verify_sync(&gzip(&text), 5).unwrap();
    assert_eq!(s.records, 3);
    assert_eq!(s.first_ts.as_deref(), Some("2026-11-24 00:00:00.001 Z"));
    assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 23:59:59.999 Z"));
}

#[tokio::test]
async fn an_empty_log_has_no_records_but_an_empty_file_is_incomplete() {
    let s = verify(&[&gzip("")]).await.unwrap();
    assert_eq!((s.records, s.first_ts, s.last_ts), (0, None, None));
    let err = verify(&[]).await.unwrap_err();
    assert!(err.0.contains("the gzip stream is incomplete"), "{err}");
}

#[tokio::test]
async fn truncated_and_corrupt_files_are_refused() {
    let file = gzip(&LOG.repeat(50));
    let cut = &file[..file.len() / 2];
    assert!(verify(&[cut]).await.is_err(), "truncated");
    let err = verify(&[&file[..file.len() - 4]]).await.unwrap_err();
    assert!(err.0.contains("incomplete"), "no trailer size: {err}");
    let mut flipped = file.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    flipped[mid + 1] ^= 0x55;
    assert!(verify(&[&flipped]).await.is_err(), "corrupt");
    let err = verify(&[b"not gzip at all"]).await.unwrap_err();
    assert!(err.0.contains("not gzip"), "{err}");
    let err = verify(&[&gzip("plain text\n")]).await.unwrap_err();
    assert!(
        err.0.contains("after record 0 is not one JSON object"),
        "{err}"
    );
    let err = verify(&[&gzip(&format!("{LOG}plain text\n"))])
        .await
        .unwrap_err();
    assert!(err.0.contains("is not one JSON object"), "{err}");
}

/// Every line is verified, not the first and the last: a proxy's error page in the middle of
/// valid gzip, a JSON array where a record belongs, two records on one line, a record cut short
/// and a string with a raw control byte are each refused, wherever they sit, however the bytes
/// are split, and with the line's record number in the message.
#[tokio::test]
async fn every_line_is_one_json_object() {
    let records = LOG.repeat(200);
    let n = records.lines().count();
    let bad_lines = [
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        r#"["2099-01-01 00:00:00.000 Z"]"#,
        r#"{"TS":"2026-11-24 00:00:00.000 Z"}{"TS":"x"}"#,
        r#"{"TS":"2026-11-24 00:00:00.000 Z","#,
        "{\"TS\":\"a\u{1}b\"}",
        "null",
    ];
    for bad in bad_lines {
        let text = format!("{records}{bad}\n{records}");
        let file = gzip(&text);
        for chunk in [1 << 20, 4096, 7] {
            let pieces: Vec<&[u8]> = file.chunks(chunk).collect();
            let err = verify(&pieces).await.unwrap_err();
            assert!(
                err.0
                    .contains(&format!("after record {n} is not one JSON object")),
                "{bad:?} in {chunk}-byte pieces: {err}"
            );
        }
    }
    // Blank lines, and whitespace around a record, are not records and not errors.
    let text = format!("\n  \r\n{records}\t\n{}", LOG.replace('\n', " \r\n"));
    let s = verify(&[&gzip(&text)]).await.unwrap();
    assert_eq!(s.records as usize, n + LOG.lines().count());
}

#[test]
fn every_byte_of_a_member_is_checked() {
    // Stored blocks carry no code to break: only the trailer's CRC-32 can tell.
    let text = LOG.repeat(20);
    for level in [Compression::none(), Compression::fast()] {
        let file = gzip_level(text.as_bytes(), level);
        // (Bytes 4 to 9, MTIME, XFL and OS, carry no meaning to check.)
        for i in (0..4).chain(10..file.len()) {
            let mut bad = file.clone();
            // Bit 0: never padding (unlike a stored block header's high bits); in the flags, a
            // reserved bit (bit 0 is FTEXT, a mere hint).
            bad[i] ^= if i == 3 { 0x20 } else { 0x01 };
            assert!(
                verify_sync(&bad, 64).is_err(),
                "a flipped bit at byte {i} of {} passed",
                file.len()
            );
        }
    }
}

#[test]
fn trailer_crc_and_size_are_checked() {
    let file = gzip(LOG);
    let n = file.len();
    let mut crc = file.clone();
    crc[n - 8] ^= 1;
    let err = verify_sync(&crc, 100).unwrap_err();
    assert!(err.0.contains("CRC-32 of member 1"), "{err}");
    let mut size = file.clone();
    size[n - 4] ^= 1;
    let err = verify_sync(&size, 100).unwrap_err();
    assert!(err.0.contains("member 1 holds"), "{err}");
}

/// A gzip member with a hand-made header.
fn member_with_header(flags: u8, fields: &[u8], hcrc: Option<u16>, text: &[u8]) -> Vec<u8> {
    let mut header = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255];
    header.extend_from_slice(fields);
    if flags & 2 != 0 {
        let crc = hcrc.unwrap_or(crc32fast::hash(&header) as u16);
        header.extend_from_slice(&crc.to_le_bytes());
    }
    let mut deflate = DeflateEncoder::new(header, Compression::default());
    deflate.write_all(text).unwrap();
    let mut file = deflate.finish().unwrap();
    file.extend_from_slice(&crc32fast::hash(text).to_le_bytes());
    file.extend_from_slice(&(text.len() as u32).to_le_bytes());
    file
}

#[test]
fn header_fields_are_parsed_in_any_split() {
    let mut fields = vec![5, 0, b'A', b'B', 1, 0, 7];
    fields.extend_from_slice(b"name.json\0a comment\0");
    let file = member_with_header(2 | 4 | 8 | 16, &fields, None, LOG.as_bytes());
    for chunk in [1, 2, 3, 11, 100] {
        let s = verify_sync(&file, chunk).unwrap();
        assert_eq!(s.records, 3, "chunk {chunk}");
    }
    let empty_extra = member_with_header(4 | 2, &[0, 0], None, LOG.as_bytes());
    assert_eq!(verify_sync(&empty_extra, 1).unwrap().records, 3);
}

#[test]
fn bad_headers_are_refused() {
    let text = LOG.as_bytes();
    let bad_hcrc = member_with_header(2, &[], Some(0x1234), text);
    let err = verify_sync(&bad_hcrc, 3).unwrap_err();
    assert!(err.0.contains("CRC-16"), "{err}");
    let reserved = member_with_header(0x20, &[], None, text);
    let err = verify_sync(&reserved, 3).unwrap_err();
    assert!(err.0.contains("reserved flag"), "{err}");
    let mut method = gzip(LOG);
    method[2] = 7;
    let err = verify_sync(&method, 3).unwrap_err();
    assert!(err.0.contains("compression method 7"), "{err}");
    let mut long_name = vec![b'x'; MAX_HEADER];
    long_name.push(0);
    let long = member_with_header(8, &long_name, None, text);
    let err = verify_sync(&long, 4096).unwrap_err();
    assert!(err.0.contains("longer than"), "{err}");
    let cut_header = &gzip(LOG)[..7];
    let err = verify_sync(cut_header, 3).unwrap_err();
    assert!(err.0.contains("inside the header of member 1"), "{err}");
}

#[test]
fn anything_after_a_member_must_be_a_member() {
    let file = gzip(LOG);
    for tail in [&b"\0\0\0\0"[..], b"junk", b"\x1f\x00", b"\x1f"] {
        let mut bad = file.clone();
        bad.extend_from_slice(tail);
        let err = verify_sync(&bad, 5).unwrap_err();
        assert!(
            err.0.contains("not a gzip member") || err.0.contains("incomplete"),
            "{tail:?}: {err}"
        );
    }
    let mut two = file.clone();
    two.extend(gzip(LOG));
    assert_eq!(verify_sync(&two, 5).unwrap().records, 6);
}

#[tokio::test]
async fn restart_forgets_what_was_fed() {
    let file = gzip(LOG);
    let v = Verifier::spawn();
    v.feed(Bytes::copy_from_slice(&file[..file.len() / 2]))
        .await;
    v.restart().await;
    v.feed(Bytes::from(file)).await;
    assert_eq!(v.finish().await.unwrap().records, 3);
}

#[test]
fn checkpoints_resume_to_the_same_summary_fast_single_member() {
    let text = log_lines(20_000, 1);
    let file = gzip_level(&text, FAST);
    assert!(file.len() > 1_000_000, "{}", file.len());
    let cps = assert_checkpoints_resume(&file, 100_000, 13);
    assert!(
        cps.iter()
            .any(|cp| cp.member.as_ref().is_some_and(|m| m.bits > 0)),
        "some checkpoint stands mid-byte (inflatePrime)"
    );
    assert!(
        cps.iter()
            .all(|cp| cp.member.as_ref().is_some_and(|m| m.window.len() == 32768)),
        "a full window in each"
    );
}

#[test]
fn checkpoints_resume_to_the_same_summary_default_multi_member() {
    let text = log_lines(24_000, 2);
    let (a, rest) = text.split_at(3_000_000);
    let (b, c) = rest.split_at(2_500_001);
    let file = members(&[
        (a, Compression::default()),
        (b, Compression::default()),
        (c, Compression::best()),
    ]);
    assert_checkpoints_resume(&file, 100_000, 12);
}

#[test]
fn checkpoints_resume_to_the_same_summary_with_stored_blocks() {
    let text = log_lines(12_000, 3);
    let (a, rest) = text.split_at(1_500_000);
    let (b, c) = rest.split_at(1_000_000);
    let file = members(&[
        (a, Compression::none()),
        (b, FAST),
        (c, Compression::none()),
    ]);
    let cps = assert_checkpoints_resume(&file, 150_000, 24);
    assert!(
        cps.iter()
            .any(|cp| cp.member.as_ref().is_some_and(|m| m.bits == 0)),
        "stored blocks end on a byte"
    );
}

#[test]
fn checkpoints_resume_to_the_same_summary_inside_fixed_huffman_blocks() {
    // Level 1 of zlib-rs (as the simulator writes its files) is one fixed-Huffman block per
    // member: no block boundary to stop at, so checkpoints fall between two codes.
    let text = log_lines(16_000, 13);
    let (a, b) = text.split_at(4_000_000);
    let file = members(&[(a, Compression::fast()), (b, Compression::fast())]);
    let (_, all) = pass_with_checkpoints(&file, 1000, 1, InflateWith::fastest());
    let block_ends = all
        .iter()
        .filter(|cp| {
            cp.member
                .as_ref()
                .is_some_and(|m| m.in_fixed_block.is_none())
        })
        .count();
    assert!(
        block_ends <= 2 && all.len() > 1000,
        "{block_ends} block ends (one per member: before the last block) in {} points",
        all.len()
    );
    let cps = assert_checkpoints_resume(&file, 100_000, 15);
    assert!(
        cps.iter()
            .filter(|cp| cp
                .member
                .as_ref()
                .is_some_and(|m| m.in_fixed_block.is_some()))
            .count()
            >= 14,
        "{cps:?}"
    );
    assert!(
        cps.iter()
            .any(|cp| cp.member.as_ref().is_some_and(|m| m.bits > 0)),
        "some checkpoint stands mid-byte"
    );
}

/// A gzip member deflated in one call with `Finish`: at level 1 of zlib-rs, one fixed-Huffman
/// block, the last.
fn gzip_one_call(text: &[u8], level: Compression) -> Vec<u8> {
    let mut deflate = flate2::Compress::new(level, false);
    let mut out = Vec::with_capacity(text.len() + 1024);
    let status = deflate
        .compress_vec(text, &mut out, flate2::FlushCompress::Finish)
        .unwrap();
    assert_eq!(status, flate2::Status::StreamEnd);
    let mut file = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    file.extend_from_slice(&out);
    file.extend_from_slice(&crc32fast::hash(text).to_le_bytes());
    file.extend_from_slice(&(text.len() as u32).to_le_bytes());
    file
}

#[test]
fn checkpoints_resume_inside_a_last_fixed_huffman_block() {
    let text = log_lines(5000, 15);
    let file = gzip_one_call(&text, Compression::fast());
    let cps = assert_checkpoints_resume(&file, 30_000, 10);
    assert!(
        cps.iter().all(|cp| cp
            .member
            .as_ref()
            .is_some_and(|m| m.in_fixed_block == Some(true))),
        "{cps:?}"
    );
}

#[test]
fn a_checkpoint_between_codes_gives_back_whole_unused_bytes() {
    // Non-ASCII bytes are 9-bit literals in fixed Huffman codes: inflate, out of input, can hold
    // a whole unused byte, which the checkpoint gives back (its offset is one byte earlier).
    let text: Vec<u8> = log_lines(2000, 14)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .flat_map(|(i, l)| {
            // Random, so that they stay literals rather than matches.
            let mut rng = fastrand::Rng::with_seed(i as u64);
            let chars: Vec<char> = "äöüßéèçñåøæœłżźćńśąęő東京都大阪".chars().collect();
            let city: String = (0..24).map(|_| chars[rng.usize(0..chars.len())]).collect();
            let line = String::from_utf8_lossy(l).replace(
                "\"API_VERSION\"",
                &format!("\"CITY\":\"{city}\",\"API_VERSION\""),
            );
            [line.into_bytes(), b"\n".to_vec()].concat()
        })
        .collect();
    let file = gzip_level(&text, Compression::fast());
    let expected = verify_sync(&file, file.len()).unwrap();
    let chunk = 101;
    // ISA-L holds up to 8 bytes it has not used (its bit buffer is 64 bits wide): its
    // checkpoints inside the block give back up to 8, and resume.
    #[cfg(feature = "isal")]
    {
        let (summary, cps) = pass_with_checkpoints(&file, chunk, 1, InflateWith::Isal);
        assert_eq!(summary.unwrap(), expected);
        let inside: Vec<&Checkpoint> = cps
            .iter()
            .filter(|cp| {
                cp.member
                    .as_ref()
                    .is_some_and(|m| m.in_fixed_block.is_some())
            })
            .collect();
        assert!(inside.len() > 100, "{} of {}", inside.len(), cps.len());
        for cp in inside.iter().step_by(inside.len() / 20) {
            for &with in InflateWith::AVAILABLE {
                assert_eq!(resume_sync_with(&file, cp, 4096, with).unwrap(), expected);
            }
        }
    }
    // zlib-rs holds less than a byte and a code: taken at the end of a chunk, inside the block,
    // its offset is a multiple of `chunk`, or one less.
    let (summary, cps) = pass_with_checkpoints(&file, chunk, 1, InflateWith::ZlibRs);
    assert_eq!(summary.unwrap(), expected);
    let given_back: Vec<&Checkpoint> = cps
        .iter()
        .filter(|cp| {
            cp.member
                .as_ref()
                .is_some_and(|m| m.in_fixed_block.is_some())
        })
        .filter(|cp| cp.offset % chunk as u64 != 0)
        .collect();
    assert!(
        given_back.len() >= 5
            && given_back
                .iter()
                .all(|cp| cp.offset % chunk as u64 == chunk as u64 - 1),
        "{} of {} checkpoints give bytes back",
        given_back.len(),
        cps.len()
    );
    for cp in given_back.iter().take(20) {
        assert_eq!(resume_sync(&file, cp, 4096).unwrap(), expected, "{cp:?}");
    }
}

#[test]
fn members_are_inflated_the_way_asked() {
    let text = log_lines(2000, 21);
    let expected = verify_sync(&gzip_level(&text, FAST), 1 << 20).unwrap();
    // Level 2: dynamic-Huffman blocks. Level 1 of zlib-rs: one fixed-Huffman block.
    for level in [FAST, Compression::fast()] {
        let file = gzip_level(&text, level);
        for &with in InflateWith::AVAILABLE {
            let mut v = GzipLines::with(with);
            v.feed(&file[..file.len() / 2]).unwrap();
            assert_eq!(v.inflater_made(), Some(with), "{with:?}, level {level:?}");
            v.feed(&file[file.len() / 2..]).unwrap();
            assert_eq!(v.finish().unwrap(), expected);
        }
    }
}

#[test]
fn a_checkpoint_between_members_resumes() {
    let text = log_lines(3000, 4);
    let (a, b) = text.split_at(500_001);
    let first = gzip_level(a, FAST);
    let file = members(&[(a, FAST), (b, FAST)]);
    // Asked inside the first member's trailer: the next point is the end of that member.
    let mut v = GzipLines::new();
    v.request_checkpoint(first.len() as u64 - 3);
    v.feed(&file).unwrap();
    let cp = v.take_checkpoint().unwrap();
    assert_eq!(cp.offset, first.len() as u64);
    assert_eq!((cp.members, cp.member.is_none()), (1, true));
    let expected = v.finish().unwrap();
    assert_eq!(resume_sync(&file, &cp, 1000).unwrap(), expected);
    // At the start of the file: nothing to carry.
    let mut v = GzipLines::new();
    v.request_checkpoint(0);
    let start = v.take_checkpoint().unwrap();
    assert_eq!((start.offset, start.members), (0, 0));
    assert_eq!(resume_sync(&file, &start, 1000).unwrap(), expected);
}

#[test]
fn the_checkpoint_json_is_bounded() {
    let text = log_lines(6000, 5);
    let file = gzip_level(&text, Compression::default());
    for &with in InflateWith::AVAILABLE {
        let (_, cps) = pass_with_checkpoints(&file, 65_536, 50_000, with);
        assert!(cps.len() >= 5);
        let sizes: Vec<usize> = cps
            .iter()
            .map(|cp| serde_json::to_vec(cp).unwrap().len())
            .collect();
        eprintln!("checkpoint JSON sizes ({with:?}): {sizes:?}");
        for size in sizes {
            // The window, 32 KiB in base64, is most of it.
            assert!((43_000..48_000).contains(&size), "{size}");
        }
    }
}

#[test]
fn a_resumed_verifier_refuses_wrong_and_missing_bytes() {
    let text = log_lines(8000, 6);
    let file = gzip_level(&text, FAST);
    for &with in InflateWith::AVAILABLE {
        let (summary, cps) = pass_with_checkpoints(&file, 8192, 200_000, with);
        summary.unwrap();
        assert!(cps.len() >= 2);
        for cp in &cps {
            let at = cp.offset as usize;
            for delta in [0, 1, 1000, 50_000] {
                let mut bad = file.clone();
                bad[at + delta] ^= 0x04;
                assert!(
                    resume_sync_with(&bad, cp, 4096, with).is_err(),
                    "{with:?}: a flipped byte {delta} after {at}"
                );
            }
            let truncated = &file[..file.len() - 100];
            let err = resume_sync_with(truncated, cp, 4096, with).unwrap_err();
            assert!(err.0.contains("incomplete"), "{with:?}: {err}");
            // Fed from the wrong offset.
            let mut v = GzipLines::resume_with(cp.clone(), with).unwrap();
            let wrong = v
                .feed(&file[at + 1..])
                .and_then(|()| v.finish().map(|_| ()));
            assert!(wrong.is_err(), "{with:?}: fed from one byte too late");
        }
    }
}

#[test]
fn a_checkpoint_no_verifier_could_make_is_refused() {
    use base64::Engine;
    let file = gzip_level(&log_lines(2000, 7), FAST);
    let (_, cps) = pass_with_checkpoints(&file, 8192, 100_000, InflateWith::fastest());
    let cp = &cps[0];
    // Each way a checkpoint can be impossible, refused for that reason.
    let refusal = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut json: serde_json::Value = serde_json::to_value(cp).unwrap();
        change(&mut json);
        let bad: Checkpoint = serde_json::from_value(json).unwrap();
        let err = GzipLines::resume(bad).err().expect("refused").0;
        assert!(err.contains("the checkpoint is not valid"), "{err}");
        err
    };
    let err = refusal(&|json| json["member"]["bits"] = 9.into());
    assert!(err.contains("9 unused bits in a byte"), "{err}");
    let window = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; inflate::WINDOW + 1]);
    let err = refusal(&|json| json["member"]["window"] = window.clone().into());
    assert!(
        err.contains(&format!("a window of {} bytes", inflate::WINDOW + 1)),
        "{err}"
    );
    let err = refusal(&|json| json["member"]["size"] = 1.into());
    assert!(
        err.contains("a window longer than the member's output"),
        "{err}"
    );
    let err = refusal(&|json| json["lines"]["partial"]["len"] = 5.into());
    assert!(err.contains("the unfinished line is 5 bytes long"), "{err}");
    // An unfinished line said to be blank whose bytes are not.
    let inside = cps
        .iter()
        .find(|cp| cp.lines.partial().1 > 0)
        .expect("a checkpoint inside a line");
    let mut json: serde_json::Value = serde_json::to_value(inside).unwrap();
    json["lines"]["partial"]["blank"] = true.into();
    let bad: Checkpoint = serde_json::from_value(json).unwrap();
    let err = GzipLines::resume(bad).err().expect("refused").0;
    assert!(err.contains("said to be blank, and is not"), "{err}");
    let err = refusal(&|json| json["lines"]["first"] = serde_json::Value::Null);
    assert!(err.contains("records without a first or last one"), "{err}");
    let err = refusal(&|json| json["lines"]["long_records"] = 1_000_000.into());
    assert!(err.contains("more long records than records"), "{err}");
}

/// A checkpoint of a release that did not validate every line has no validator state: its
/// unfinished line is validated again from the bytes it kept, and it resumes to the same summary;
/// one whose unfinished line was too long to keep cannot be, and is refused.
#[test]
fn a_checkpoint_without_a_line_validator_revalidates_what_it_kept() {
    let short = log_lines(300, 9);
    let long = long_record("2026-11-24 12:00:00.000 Z", 2 << 20);
    let text = [&short[..], &long, b"\n", &short].concat();
    let file = gzip_level(&text, FAST);
    let with = InflateWith::fastest();
    let (whole, cps) = pass_with_checkpoints(&file, 4096, 20_000, with);
    let whole = whole.unwrap();
    let without_line = |cp: &Checkpoint| {
        let mut json: serde_json::Value = serde_json::to_value(cp).unwrap();
        json["lines"].as_object_mut().unwrap().remove("line");
        serde_json::from_value::<Checkpoint>(json).unwrap()
    };
    let kept = cps
        .iter()
        .find(|cp| cp.lines.partial().1 > 0)
        .expect("a checkpoint inside a kept line");
    let resumed = resume_sync_with(&file, &without_line(kept), 4096, with).unwrap();
    assert_eq!(resumed, whole);
    let too_long = cps
        .iter()
        .find(|cp| cp.lines.partial().0 > MAX_KEPT_LINE as u64)
        .expect("a checkpoint inside the long line");
    let err = GzipLines::resume(without_line(too_long))
        .err()
        .expect("refused")
        .0;
    assert!(err.contains("too long to keep, was not validated"), "{err}");
}

/// A checkpoint in a log line names its window's size, not its bytes (32 KiB of them).
#[test]
fn a_checkpoint_prints_the_size_of_its_window_not_the_window() {
    let file = gzip_level(&log_lines(2000, 7), FAST);
    let (_, cps) = pass_with_checkpoints(&file, 8192, 100_000, InflateWith::fastest());
    let cp = cps
        .iter()
        .find(|cp| cp.member.is_some())
        .expect("one inside a member");
    let window = cp.member.as_ref().map_or(0, |m| m.window.len());
    let printed = format!("{cp:?}");
    assert!(
        printed.contains(&format!("window: {window} bytes")),
        "{printed}"
    );
    assert!(
        printed.contains("crc32") && printed.contains("offset"),
        "{printed}"
    );
    assert!(printed.len() < 1000, "{} bytes: {printed}", printed.len());
}

/// `settle` answers a checkpoint request that the bytes fed cannot answer: with `None`, at once,
/// before `finish` (a copy that has read its whole file finishes instead of waiting).
#[tokio::test]
async fn settling_answers_a_request_the_file_cannot() {
    let file = gzip_level(&log_lines(500, 3), FAST);
    let v = Verifier::spawn();
    let answer = v.checkpoint_at_or_after(file.len() as u64 + 1);
    v.feed(Bytes::copy_from_slice(&file)).await;
    v.settle().await;
    // The timeout only keeps a broken `settle` from hanging the test.
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), answer).await;
    assert!(matches!(answered, Ok(None)), "{answered:?}");
    assert_eq!(v.finish().await.unwrap().records, 500);
}

/// The counter's contract does not depend on how much the gzip reader pushes at once (at most
/// OUTPUT_BUFFER, less than a kept line): a record of exactly MAX_KEPT_LINE bytes inside one
/// pushed buffer is read, one byte more is a long record, first or not.
#[test]
fn records_at_the_kept_length_inside_one_buffer_count_as_in_pieces() {
    let edge = long_record("2026-11-24 13:00:00.000 Z", MAX_KEPT_LINE);
    let over = long_record("2026-11-24 14:00:00.000 Z", MAX_KEPT_LINE + 1);
    let text = [&b"\n"[..], &edge, b"\n", &over, b"\n", &edge, b"\n"].concat();
    let mut records = line_summary::Records::default();
    records.push(&text).unwrap();
    let s = records.summary().unwrap();
    assert_eq!((s.records, s.long_records), (3, 1));
    assert_eq!(s.first_ts.as_deref(), Some("2026-11-24 13:00:00.000 Z"));
    assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 13:00:00.000 Z"));
    assert_eq!(s.uncompressed_bytes, text.len() as u64);
}

/// A JSON record of `len` bytes (newline excluded) with `TS` `ts`.
fn long_record(ts: &str, len: usize) -> Vec<u8> {
    let head = format!("{{\"TS\":\"{ts}\",\"QUERY\":\"");
    let mut line = head.into_bytes();
    let mut rng = fastrand::Rng::with_seed(len as u64);
    while line.len() < len - 2 {
        line.push(rng.alphanumeric() as u8);
        if rng.u8(..) < 40 {
            line.push(b' ');
        }
    }
    line.truncate(len - 2);
    line.extend_from_slice(b"\"}");
    line
}

#[test]
fn records_of_any_length_count() {
    let long = long_record("2026-11-24 12:00:00.000 Z", 2 << 20);
    let short = log_lines(100, 8);
    let (short_first, short_last) = ts_of(&short);
    let join = |parts: &[&[u8]]| parts.concat();
    /// Name, text, the first and last `TS` expected.
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "first",
            join(&[&long, b"\n", &short]),
            None,
            Some(&short_last),
        ),
        (
            "middle",
            join(&[&short, &long, b"\n", &short]),
            Some(&short_first),
            Some(&short_last),
        ),
        (
            "last",
            join(&[&short, &long, b"\n"]),
            Some(&short_first),
            None,
        ),
        (
            "last, no newline",
            join(&[&short, &long]),
            Some(&short_first),
            None,
        ),
        ("alone", long.clone(), None, None),
    ];
    for (name, text, first, last) in cases {
        let file = gzip_level(&text, Compression::fast());
        let s = verify_sync(&file, 50_000).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lines = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(s.records, lines as u64, "{name}");
        assert_eq!(s.long_records, 1, "{name}");
        assert_eq!(s.first_ts.as_deref(), first, "{name}");
        assert_eq!(s.last_ts.as_deref(), last, "{name}");
        assert_eq!(s.uncompressed_bytes, text.len() as u64, "{name}");
    }
    // Exactly MAX_KEPT_LINE is still read; a blank line of any length is no record.
    let edge = long_record("2026-11-24 13:00:00.000 Z", MAX_KEPT_LINE);
    let blank = vec![b' '; MAX_KEPT_LINE + 10];
    let text = [&edge[..], b"\n", &blank, b"\n"].concat();
    let s = verify_sync(&gzip_level(&text, Compression::fast()), 1 << 16).unwrap();
    assert_eq!((s.records, s.long_records), (1, 0));
    assert_eq!(s.last_ts.as_deref(), Some("2026-11-24 13:00:00.000 Z"));
}

#[test]
fn a_checkpoint_inside_a_long_line_resumes() {
    let short = log_lines(300, 9);
    let long = long_record("2026-11-24 12:00:00.000 Z", 2 << 20);
    let medium = long_record("2026-11-24 12:30:00.000 Z", 300_000);
    let text = [&short[..], &long, b"\n", &medium, b"\n", &short, &long].concat();
    let file = gzip_level(&text, FAST);
    let cps = assert_checkpoints_resume(&file, 20_000, 40);
    let partials: Vec<(u64, usize)> = cps.iter().map(|cp| cp.lines.partial()).collect();
    assert!(
        partials
            .iter()
            .any(|&(len, kept)| len > MAX_KEPT_LINE as u64 && kept == 0),
        "a checkpoint past the kept length of a long line: {partials:?}"
    );
    assert!(
        partials.iter().any(|&(len, kept)| len > 0 && kept > 0),
        "a checkpoint inside a line that is kept"
    );
    assert!(
        partials
            .iter()
            .all(|&(_, kept)| kept <= MAX_CHECKPOINT_PARTIAL),
        "the unfinished line a checkpoint carries is bounded: {partials:?}"
    );
    let largest = cps
        .iter()
        .map(|cp| serde_json::to_vec(cp).unwrap().len())
        .max()
        .unwrap();
    eprintln!("the largest checkpoint JSON: {largest} bytes");
    assert!(largest > 60_000 && largest <= 136_000, "{largest}");
    let s = verify_sync(&file, 1 << 16).unwrap();
    assert_eq!((s.long_records, s.last_ts), (2, None));
}

#[tokio::test]
async fn checkpoint_at_or_after_resolves_past_the_offset_or_with_none() {
    let text = log_lines(6000, 10);
    let file = gzip_level(&text, Compression::default());
    let expected = verify_sync(&file, file.len()).unwrap();
    for asked in [0, 1, 123_456, file.len() as u64 / 2] {
        let v = Verifier::spawn();
        let answer = v.checkpoint_at_or_after(asked);
        for piece in file.chunks(16_384) {
            v.feed(Bytes::copy_from_slice(piece)).await;
        }
        let cp = answer.await.expect("the file goes on past the offset");
        assert!(cp.offset >= asked, "{} < {asked}", cp.offset);
        assert!(cp.offset < asked + 200_000, "{} for {asked}", cp.offset);
        assert_eq!(v.finish().await.unwrap(), expected);
        // The async resume, from the JSON form.
        let v = Verifier::resume(round_trip(&cp));
        for piece in file[cp.offset as usize..].chunks(10_000) {
            v.feed(Bytes::copy_from_slice(piece)).await;
        }
        assert_eq!(v.finish().await.unwrap(), expected, "resumed at {asked}");
    }
    // The file ends first.
    let v = Verifier::spawn();
    let answer = v.checkpoint_at_or_after(file.len() as u64 + 1);
    v.feed(Bytes::copy_from_slice(&file)).await;
    assert_eq!(v.finish().await.unwrap(), expected);
    assert_eq!(answer.await, None);
    // The file turns out corrupt first.
    let v = Verifier::spawn();
    let answer = v.checkpoint_at_or_after(file.len() as u64 / 2);
    v.feed(Bytes::from_static(b"not gzip")).await;
    assert_eq!(answer.await, None);
    assert!(v.finish().await.is_err());
    // A later request replaces an earlier one.
    let v = Verifier::spawn();
    let first = v.checkpoint_at_or_after(100_000);
    let second = v.checkpoint_at_or_after(200_000);
    v.feed(Bytes::copy_from_slice(&file)).await;
    assert_eq!(first.await, None);
    assert!(second.await.is_some_and(|cp| cp.offset >= 200_000));
    v.finish().await.unwrap();
}

#[test]
fn the_verifier_moves_between_threads() {
    fn send<T: Send + 'static>(_: &T) {}
    let v = GzipLines::new();
    send(&v);
    std::thread::spawn(move || v.finish())
        .join()
        .unwrap()
        .unwrap_err();
}

#[tokio::test]
async fn an_idle_verifier_answers_a_request_at_once() {
    let file = gzip(LOG);
    let v = Verifier::spawn();
    v.feed(Bytes::copy_from_slice(&file)).await;
    let cp = v.checkpoint_at_or_after(5).await.unwrap();
    assert_eq!((cp.offset, cp.members), (file.len() as u64, 1));
    v.finish().await.unwrap();
}

#[tokio::test]
async fn restart_after_resume_starts_from_byte_0() {
    let text = log_lines(3000, 11);
    let file = gzip_level(&text, FAST);
    let expected = verify_sync(&file, file.len()).unwrap();
    let (_, cps) = pass_with_checkpoints(&file, 8192, 100_000, InflateWith::fastest());
    let cp = &cps[0];
    let v = Verifier::resume(cp.clone());
    v.feed(Bytes::copy_from_slice(&file[cp.offset as usize..][..5000]))
        .await;
    v.restart().await;
    v.feed(Bytes::copy_from_slice(&file)).await;
    assert_eq!(v.finish().await.unwrap(), expected);
    // A restart also recovers from an invalid checkpoint.
    let mut json = serde_json::to_value(cp).unwrap();
    json["member"]["window"] = "AAAA".repeat(20_000).into();
    let v = Verifier::resume(serde_json::from_value(json).unwrap());
    v.restart().await;
    v.feed(Bytes::copy_from_slice(&file)).await;
    assert_eq!(v.finish().await.unwrap(), expected);
}

/// A small file for the property tests: a member of dynamic blocks, one of stored blocks, one
/// fixed-Huffman block.
fn small_file() -> &'static (Vec<u8>, LogSummary) {
    static FILE: std::sync::OnceLock<(Vec<u8>, LogSummary)> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let text = log_lines(2500, 12);
        let (a, rest) = text.split_at(300_000);
        let (b, c) = rest.split_at(200_000);
        let file = members(&[
            (a, FAST),
            (b, Compression::none()),
            (c, Compression::fast()),
        ]);
        let summary = verify_sync(&file, file.len()).unwrap();
        (file, summary)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Split anywhere, fed in any chunk sizes: a checkpoint taken at or after the split and
    /// resumed gives the uninterrupted pass's summary.
    #[test]
    fn split_and_resumed_anywhere(
        split in 0usize..1_000_000,
        before in 1usize..20_000,
        after in 1usize..20_000,
    ) {
        let (file, expected) = small_file();
        let split = split % file.len();
        let mut v = GzipLines::new();
        v.request_checkpoint(split as u64);
        let mut cp = None;
        for piece in file.chunks(before) {
            v.feed(piece).unwrap();
            if let Some(c) = v.take_checkpoint() {
                cp = Some(c);
                break;
            }
        }
        let Some(cp) = cp else {
            // Only past the last block boundary: the file ends first.
            prop_assert!(split > file.len() - 70_000, "no checkpoint for {split}");
            return Ok(());
        };
        prop_assert!(cp.offset >= split as u64);
        prop_assert_eq!(&resume_sync(file, &cp, after).unwrap(), expected);
        prop_assert_eq!(&verify_sync(file, after).unwrap(), expected);
    }
}
