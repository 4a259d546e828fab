//! Test data shared by the unit tests of several modules.

use std::io::Write;

/// A gzip JSON Lines file of roughly `records` × 60 bytes, hard to compress.
pub fn log_file(records: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut x: u64 = 7;
    for i in 0..records {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(
            enc,
            "{{\"TS\":\"2026-11-24 00:00:{:02}.{:03} Z\",\"N\":{x}}}",
            i / 1000 % 60,
            i % 1000
        )
        .unwrap();
    }
    enc.finish().unwrap()
}
