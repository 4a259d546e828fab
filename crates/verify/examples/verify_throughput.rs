//! The verifier's throughput, measured by hand (not a test, not a benchmark harness):
//!
//! ```text
//! cargo run --release --example verify_throughput [-- MB [LEVEL]]
//! cargo run --release --example verify_throughput -- --file FILE.jsonl.gz [RUNS]
//! ```
//!
//! With `--file`, only (b) below, on that file, `RUNS` (default 3) runs of each way of
//! inflating; the last line, `cpu-seconds-per-gib <way> <seconds>`, is what `make bench` reads
//! (the verifier thread's CPU time per GiB of compressed file, tests/bench/lambda-cost.py).
//!
//! Generates a gzip file of about `MB` (default 60) MB of realistic JSON lines at compression
//! `LEVEL` (default 6; cached in the temp directory), then verifies it from memory in 64 KiB
//! chunks, five runs of each way, interleaved, and prints the median MB/s of compressed input
//! and of output for:
//!
//! - (a) the verifier before checkpoints: flate2's `MultiGzDecoder` writing into the line
//!   counter of that time (copied here from git, commit 19d3b99, `src/verify.rs`);
//! - (b) [`GzipLines`], no checkpoint requested, with each way of inflating built in (zlib-rs,
//!   and ISA-L with the `isal` feature);
//! - (c) [`GzipLines`] with a checkpoint requested every 8 MiB (each serialised to JSON), the
//!   same.

use std::io::Write;
use std::time::Instant;

use fauna_logs_verify::{GzipLines, InflateWith};
use flate2::Compression;
use flate2::write::{GzEncoder, MultiGzDecoder};

const CHUNK: usize = 64 << 10;
const RUNS: usize = 5;

fn main() {
    let mut args = std::env::args().skip(1);
    if let Some(flag) = std::env::args().nth(1)
        && flag == "--file"
    {
        let path = std::env::args().nth(2).expect("--file FILE");
        let runs: usize = std::env::args()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or(3);
        return file_mode(&std::fs::read(&path).expect("a readable file"), runs);
    }
    let mb: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let level: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(6);
    let file = test_file(mb * 1_000_000, level);
    let expected = new_path(&file, None, InflateWith::ZlibRs).0;
    println!(
        "file: {} bytes gzip (level {level}), {} bytes of {} JSON lines ({:.2}×)",
        file.len(),
        expected.uncompressed_bytes,
        expected.records,
        expected.uncompressed_bytes as f64 / file.len() as f64
    );

    let mut names = vec!["(a) flate2 MultiGzDecoder (before)".to_owned()];
    for with in InflateWith::AVAILABLE {
        names.push(format!("(b) GzipLines ({with:?}), no checkpoint"));
        names.push(format!(
            "(c) GzipLines ({with:?}), a checkpoint every 8 MiB"
        ));
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut checkpoint_sizes = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let records = old_path(&file);
        times[0].push(t.elapsed().as_secs_f64());
        assert_eq!(records, expected.records);

        for (i, &with) in InflateWith::AVAILABLE.iter().enumerate() {
            let t = Instant::now();
            let (summary, _) = new_path(&file, None, with);
            times[1 + 2 * i].push(t.elapsed().as_secs_f64());
            assert_eq!(summary, expected);

            let t = Instant::now();
            let (summary, sizes) = new_path(&file, Some(8 << 20), with);
            times[2 + 2 * i].push(t.elapsed().as_secs_f64());
            assert_eq!(summary, expected);
            checkpoint_sizes = sizes;
        }
    }
    println!(
        "| way | median s | compressed MB/s | output MB/s | runs (s) |\n|---|---:|---:|---:|---|"
    );
    for (name, runs) in names.iter().zip(&times) {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[RUNS / 2];
        println!(
            "| {name} | {median:.3} | {:.1} | {:.1} | {} |",
            file.len() as f64 / median / 1e6,
            expected.uncompressed_bytes as f64 / median / 1e6,
            runs.iter()
                .map(|t| format!("{t:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "checkpoints: {} taken, JSON sizes {:?} bytes",
        checkpoint_sizes.len(),
        checkpoint_sizes
    );
}

/// `--file`: each way of inflating on `file`, `runs` times; the median per way.
fn file_mode(file: &[u8], runs: usize) {
    for &with in InflateWith::AVAILABLE {
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let t = Instant::now();
                new_path(file, None, with);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let summary = new_path(file, None, with).0;
        println!(
            "{with:?}: {} bytes, {:.1} MB/s compressed, {:.1} MB/s output ({:.2}×), median of {}",
            file.len(),
            file.len() as f64 / median / 1e6,
            summary.uncompressed_bytes as f64 / median / 1e6,
            summary.uncompressed_bytes as f64 / file.len() as f64,
            times.len()
        );
        println!(
            "cpu-seconds-per-gib {} {:.3}",
            match with {
                InflateWith::Isal => "isal",
                InflateWith::ZlibRs => "zlib-rs",
            },
            median * (1u64 << 30) as f64 / file.len() as f64
        );
    }
}

/// The new verifier; with `every`, a checkpoint requested every `every` bytes.
fn new_path(
    file: &[u8],
    every: Option<u64>,
    with: InflateWith,
) -> (fauna_logs_verify::LogSummary, Vec<usize>) {
    let mut v = GzipLines::with(with);
    let mut sizes = Vec::new();
    if let Some(every) = every {
        v.request_checkpoint(every);
    }
    for chunk in file.chunks(CHUNK) {
        v.feed(chunk).expect("a valid file");
        if let Some(cp) = v.take_checkpoint() {
            sizes.push(serde_json::to_vec(&cp).expect("serialises").len());
            if let Some(every) = every {
                v.request_checkpoint((cp.offset / every + 1) * every);
            }
        }
    }
    (v.finish().expect("a valid file"), sizes)
}

/// The verifier before checkpoints: flate2 and the line counter of that time.
fn old_path(file: &[u8]) -> u64 {
    let mut decoder = MultiGzDecoder::new(OldRecords::default());
    for chunk in file.chunks(CHUNK) {
        decoder.write_all(chunk).expect("a valid file");
    }
    decoder.try_finish().expect("a complete file");
    let records = decoder.get_ref();
    let last = if records.partial.iter().all(u8::is_ascii_whitespace) {
        &records.last
    } else {
        &records.partial
    };
    // As then: the first and last line parsed at the end.
    let first = records.first.as_deref().unwrap_or(last);
    for line in [first, last] {
        serde_json::from_slice::<serde_json::Value>(line).expect("a JSON record");
    }
    records.records + u64::from(!records.partial.iter().all(u8::is_ascii_whitespace))
}

/// The line counter of commit 19d3b99 (`src/verify.rs`), as it was.
#[derive(Default)]
struct OldRecords {
    records: u64,
    bytes: u64,
    first: Option<Vec<u8>>,
    last: Vec<u8>,
    partial: Vec<u8>,
}

const MAX_KEPT_LINE: usize = 1 << 20;

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn keep(into: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_KEPT_LINE.saturating_sub(into.len());
    into.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

impl OldRecords {
    fn line(&mut self, line: &[u8]) -> bool {
        if is_blank(line) {
            return false;
        }
        self.records += 1;
        if self.first.is_none() {
            let mut first = Vec::new();
            keep(&mut first, line);
            self.first = Some(first);
        }
        true
    }
}

impl Write for OldRecords {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        let mut rest = buf;
        let mut last_in_buf: Option<&[u8]> = None;
        if let Some(i) = memchr::memchr(b'\n', rest) {
            let mut line = std::mem::take(&mut self.partial);
            keep(&mut line, &rest[..i]);
            if self.line(&line) {
                self.last = line;
            }
            rest = &rest[i + 1..];
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', rest) {
                let line = &rest[start..end];
                if self.line(line) {
                    last_in_buf = Some(line);
                }
                start = end + 1;
            }
            rest = &rest[start..];
        }
        if let Some(line) = last_in_buf {
            self.last.clear();
            keep(&mut self.last, line);
        }
        keep(&mut self.partial, rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A gzip file of about `size` compressed bytes, cached in the temp directory.
fn test_file(size: u64, level: u32) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("verify_throughput_{size}_{level}.jsonl.gz"));
    if let Ok(bytes) = std::fs::read(&path) {
        return bytes;
    }
    eprintln!("generating {} …", path.display());
    let mut enc = GzEncoder::new(Vec::new(), Compression::new(level));
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut batch = Vec::with_capacity(1 << 20);
    let mut i = 0u64;
    loop {
        batch.clear();
        while batch.len() < (1 << 20) - 2048 {
            log_line(&mut rng, i, &mut batch);
            i += 1;
        }
        enc.write_all(&batch).expect("in memory");
        if enc.get_ref().len() as u64 >= size {
            break;
        }
    }
    let bytes = enc.finish().expect("in memory");
    let _ = std::fs::write(&path, &bytes);
    bytes
}

/// One line shaped like a Fauna query log record.
fn log_line(rng: &mut fastrand::Rng, i: u64, out: &mut Vec<u8>) {
    const SHAPES: &[&str] = &[
        "Product.byId(<redacted>)",
        "Customer.where(.email == <redacted>).first()",
        "Order.byId(<redacted>)!.update({ status: <redacted> })",
        "Product.all().where(.stock < <redacted>).order(desc(.price)).take(<redacted>)",
        "Collection.create({ name: <redacted> })",
        "Order.where(.customer == Customer.byId(<redacted>)).pageSize(<redacted>)",
    ];
    const AGENTS: &[&str] = &[
        "fauna-js/2.4.1",
        "fauna-python/2.1.0",
        "fauna-go/v3.0.0",
        "fauna-shell/3.0.1",
        "Mozilla/5.0 (X11; Linux x86_64)",
    ];
    let ms = i * 7 + rng.u64(0..7);
    let tags = match rng.u8(0..4) {
        0 => "{}".to_owned(),
        1 => format!("{{\"request_id\":\"{:032x}\"}}", rng.u128(..)),
        2 => format!(
            "{{\"route\":\"/api/v{}/items\",\"tenant\":\"t-{}\"}}",
            rng.u8(1..4),
            rng.u16(..)
        ),
        _ => format!(
            "{{\"customer\":\"cus_{:016x}\",\"request_id\":\"{:032x}\"}}",
            rng.u64(..),
            rng.u128(..)
        ),
    };
    let _ = writeln!(
        out,
        "{{\"API_VERSION\":\"10\",\"BYTES_IN\":{},\"BYTES_OUT\":{},\"BYTE_READ_OPS\":{},\"BYTE_WRITE_OPS\":{},\"COMPUTE_OPS\":{},\"DATABASE\":[\"prod\",\"db{}\"],\"FQL_SHAPE\":\"{}\",\"QUERY_TIME_MS\":{},\"REQUEST_HEADERS\":\"{{\\\"user_agent\\\":\\\"{}\\\",\\\"x_forwarded_for\\\":\\\"{}.{}.{}.{}\\\"}}\",\"REQUEST_METHOD\":\"POST\",\"RESPONSE_CODE\":\"{}\",\"TAGS\":{},\"TRACEPARENT\":\"00-{:032x}-{:016x}-01\",\"TS\":\"2026-11-24T{:02}:{:02}:{:02}.{:03}Z\",\"TXN_RETRIES\":{}}}",
        rng.u32(10..5000),
        rng.u32(10..90000),
        rng.u32(1..40),
        rng.u32(0..8),
        rng.u32(1..9),
        rng.u8(0..16),
        SHAPES[rng.usize(0..SHAPES.len())],
        rng.u32(1..400),
        AGENTS[rng.usize(0..AGENTS.len())],
        rng.u8(..),
        rng.u8(..),
        rng.u8(..),
        rng.u8(..),
        [200, 200, 200, 200, 201, 400, 409, 429][rng.usize(0..8)],
        tags,
        rng.u128(..),
        rng.u64(..),
        ms / 3_600_000 % 24,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000,
        rng.u8(0..2),
    );
}
