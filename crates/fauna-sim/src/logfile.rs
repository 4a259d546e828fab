//! Log file generation.
//!
//! Owns a file's identity ([`FileSpec`]: seed, window, scope, size), the spacing of records in
//! time order inside the request window and near the target size, and the writing of one gzip
//! JSON Lines file to disk, with the corrupt/truncate faults applied to the stored bytes. The
//! records themselves come from `record_gen.rs`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::record_gen::RecordGen;

/// Bump when the generated content changes, so kept data dirs do not serve stale files.
const FORMAT_VERSION: u64 = 2;
/// Bytes of lines handed to the gzip encoder at a time.
const BATCH: usize = 64 * 1024;
/// Records compressed up front to estimate the size of one compressed record.
const CALIBRATION_RECORDS: u64 = 2_000;

/// Everything that decides a file's bytes.
#[derive(Clone, Debug)]
pub struct FileSpec {
    pub seed: u64,
    pub time_start: DateTime<Utc>,
    pub time_end: DateTime<Utc>,
    pub region_group: String,
    /// Database path without the region group; `None` for region-group requests.
    pub database: Option<Vec<String>>,
    pub target_size: u64,
    pub corrupt: bool,
    pub truncate: bool,
}

/// A file on disk, ready to serve.
#[derive(Clone, Debug)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub len: u64,
    pub etag: String,
}

/// 64-bit FNV-1a: small, stable across Rust releases (unlike `DefaultHasher`).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) -> &mut Self {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.write(&v.to_le_bytes())
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).write(s.as_bytes())
    }
}

impl FileSpec {
    /// Hash of what decides the records (not the faults).
    pub fn content_hash(&self) -> u64 {
        let mut h = Fnv::new();
        h.u64(FORMAT_VERSION).u64(self.seed);
        for t in [self.time_start, self.time_end] {
            h.u64(t.timestamp() as u64)
                .u64(u64::from(t.timestamp_subsec_nanos()));
        }
        h.str(&self.region_group);
        match &self.database {
            Some(segments) => {
                h.u64(segments.len() as u64 + 1);
                for s in segments {
                    h.str(s);
                }
            }
            None => {
                h.u64(0);
            }
        }
        h.u64(self.target_size);
        h.0
    }

    /// File name stem: the content hash plus fault markers.
    pub fn key(&self) -> String {
        format!(
            "{:016x}{}{}",
            self.content_hash(),
            if self.corrupt { "-corrupt" } else { "" },
            if self.truncate { "-truncated" } else { "" }
        )
    }
}

/// The first and last whole millisecond (Unix ms) inside `[start, end)`, if any. Records
/// carry millisecond timestamps, so a window without one can hold no record.
pub fn millisecond_slots(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<(i64, i64)> {
    let floor_ms = |t: DateTime<Utc>| t.timestamp_millis();
    let on_boundary = |t: DateTime<Utc>| t.timestamp_subsec_nanos().is_multiple_of(1_000_000);
    let first = floor_ms(start) + i64::from(!on_boundary(start));
    let last = floor_ms(end) - i64::from(on_boundary(end));
    (first <= last).then_some((first, last))
}

/// Counts the compressed bytes the encoder has handed down.
struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compressed bytes per record and compression ratio, measured on a sample.
fn calibrate(spec: &FileSpec) -> io::Result<(f64, f64)> {
    let mut generator = RecordGen::new(spec, 0x5eed_ca1b);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut line = Vec::with_capacity(1024);
    let mut raw = 0u64;
    for i in 0..CALIBRATION_RECORDS {
        line.clear();
        generator.write_record(1_700_000_000_000 + i as i64, &mut line);
        line.push(b'\n');
        gz.write_all(&line)?;
        raw += line.len() as u64;
    }
    let compressed = gz.finish()?.len().max(1) as f64;
    Ok((
        compressed / CALIBRATION_RECORDS as f64,
        raw as f64 / compressed,
    ))
}

/// Writes the file for `spec` into `dir` (or reuses one a previous run left there) and
/// returns it. Blocking; run it off the async workers. `cancel` stops it early.
pub fn generate(spec: &FileSpec, dir: &Path, cancel: &AtomicBool) -> io::Result<GeneratedFile> {
    let key = spec.key();
    let path = dir.join(format!("{key}.jsonl.gz"));
    let etag = format!("\"{key}\"");
    if let Ok(meta) = fs::metadata(&path)
        && meta.is_file()
    {
        return Ok(GeneratedFile {
            path,
            len: meta.len(),
            etag,
        });
    }
    let (first_ms, last_ms) = millisecond_slots(spec.time_start, spec.time_end)
        .ok_or_else(|| io::Error::other("the request window holds no millisecond"))?;
    let span = (last_ms - first_ms + 1) as f64;
    let (per_record, ratio) = calibrate(spec)?;
    let expected_records = (spec.target_size as f64 / per_record).max(1.0);
    let mean_step_ms = span / expected_records;

    let tmp = dir.join(format!(
        "{key}.{}.{}.tmp",
        std::process::id(),
        fastrand::u32(..)
    ));
    let result = (|| -> io::Result<()> {
        let file = File::create(&tmp)?;
        let counting = CountingWriter {
            inner: BufWriter::with_capacity(256 * 1024, file),
            count: 0,
        };
        let mut gz = GzEncoder::new(counting, Compression::fast());
        let mut generator = RecordGen::new(spec, 0);
        // Lines go to the encoder in batches: one deflate call per line is slow.
        let mut batch = Vec::with_capacity(BATCH + 4096);
        let mut offset_ms = 0f64;
        let mut raw = 0u64;
        let mut raw_at_last_output = 0u64;
        let mut last_count = 0u64;
        let mut records = 0u64;
        loop {
            if records % 4096 == 4095 && cancel.load(Ordering::Relaxed) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "shutting down"));
            }
            let ts_ms = first_ms + (offset_ms as i64).min(last_ms - first_ms);
            let before = batch.len();
            generator.write_record(ts_ms, &mut batch);
            batch.push(b'\n');
            raw += (batch.len() - before) as u64;
            if batch.len() >= BATCH {
                gz.write_all(&batch)?;
                batch.clear();
            }
            records += 1;
            offset_ms += generator.rng.f64() * 2.0 * mean_step_ms;
            // The encoder holds back some output; estimate it from the input since its
            // last output so small files stop near their target too.
            let count = gz.get_ref().count;
            if count != last_count {
                last_count = count;
                raw_at_last_output = raw;
            }
            let pending = (raw - raw_at_last_output) as f64 / ratio;
            if count as f64 + pending >= spec.target_size as f64 {
                break;
            }
        }
        gz.write_all(&batch)?;
        let mut buffered = gz.finish()?.inner;
        buffered.flush()?;
        drop(buffered);
        if spec.truncate {
            truncate_file(&tmp)?;
        }
        if spec.corrupt {
            corrupt_file(&tmp)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &path)?;
    let len = fs::metadata(&path)?.len();
    Ok(GeneratedFile { path, len, etag })
}

/// Cuts the file to half its size: a valid gzip header and the start of the deflate data.
fn truncate_file(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    let len = file.metadata()?.len();
    file.set_len((len / 2).max(len.min(12)))
}

/// Flips 16 bytes in the middle of the compressed data, so inflating or the CRC check fails.
fn corrupt_file(path: &Path) -> io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let at = (len / 2).max(10.min(len - 1));
    let n = 16.min(len - at) as usize;
    let mut buf = vec![0u8; n];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut buf)?;
    for b in &mut buf {
        *b ^= 0xA5;
    }
    file.seek(SeekFrom::Start(at))?;
    file.write_all(&buf)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn spec(db: Option<&[&str]>, size: u64) -> FileSpec {
        FileSpec {
            seed: 7,
            time_start: at("2099-07-10T07:46:05.5Z"),
            time_end: at("2099-07-10T08:46:05Z"),
            region_group: "us-std".into(),
            database: db.map(|d| d.iter().map(|s| (*s).to_owned()).collect()),
            target_size: size,
            corrupt: false,
            truncate: false,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "fauna-sim-test-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    fn read_lines(path: &Path) -> io::Result<Vec<serde_json::Value>> {
        let mut text = String::new();
        GzDecoder::new(File::open(path)?).read_to_string(&mut text)?;
        text.lines()
            .map(|l| serde_json::from_str(l).map_err(io::Error::other))
            .collect()
    }

    #[test]
    fn millisecond_slots_respect_half_open_windows() {
        let ms = |s: &str| at(s).timestamp_millis();
        assert_eq!(
            millisecond_slots(at("2099-01-01T00:00:00Z"), at("2099-01-01T00:00:01Z")),
            Some((ms("2099-01-01T00:00:00Z"), ms("2099-01-01T00:00:00.999Z")))
        );
        assert_eq!(
            millisecond_slots(
                at("2099-01-01T00:00:00.0001Z"),
                at("2099-01-01T00:00:00.0015Z")
            ),
            Some((
                ms("2099-01-01T00:00:00.001Z"),
                ms("2099-01-01T00:00:00.001Z")
            ))
        );
        assert_eq!(
            millisecond_slots(
                at("2099-01-01T00:00:00.0001Z"),
                at("2099-01-01T00:00:00.0009Z")
            ),
            None
        );
        assert_eq!(
            millisecond_slots(
                at("2099-01-01T00:00:00.0001Z"),
                at("2099-01-01T00:00:00.001Z")
            ),
            None
        );
    }

    /// A record's `TS` in either documented form, as an instant.
    fn parse_ts(ts: &str) -> Option<DateTime<Utc>> {
        let iso = match ts.strip_suffix(" Z") {
            Some(space_form) if ts.len() == 25 => format!("{}Z", space_form.replacen(' ', "T", 1)),
            Some(_) => return None,
            None if ts.len() == 27 && ts.as_bytes()[10] == b'T' => ts.to_owned(),
            None => return None,
        };
        DateTime::parse_from_rfc3339(&iso)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn field<'a>(r: &'a serde_json::Value, k: &str) -> io::Result<&'a str> {
        r[k].as_str()
            .ok_or_else(|| io::Error::other(format!("{k} is not a string: {r}")))
    }

    #[test]
    fn records_have_documented_types_and_time_order() -> io::Result<()> {
        let dir = temp_dir("types");
        let s = spec(None, 64 * 1024);
        let file = generate(&s, &dir, &AtomicBool::new(false))?;
        let lines = read_lines(&file.path)?;
        assert!(lines.len() > 50);
        let mut last_ms = i64::MIN;
        for r in &lines {
            let obj = r
                .as_object()
                .ok_or_else(|| io::Error::other("not an object"))?;
            assert!(["10", "4"].contains(&field(r, "API_VERSION")?), "{r}");
            for k in [
                "BYTES_IN",
                "BYTES_OUT",
                "BYTE_READ_OPS",
                "BYTE_WRITE_OPS",
                "COMPUTE_OPS",
                "QUERY_TIME_MS",
                "TXN_RETRIES",
            ] {
                assert!(r[k].is_u64(), "{k}: {r}");
            }
            let db = r["DATABASE"]
                .as_array()
                .ok_or_else(|| io::Error::other("DATABASE"))?;
            assert!(db.iter().all(|d| d.is_string()));
            assert!(!field(r, "FQL_SHAPE")?.is_empty());
            assert_eq!(r["REGION_GROUP"], "us-std");
            let headers: serde_json::Value = serde_json::from_str(field(r, "REQUEST_HEADERS")?)?;
            assert!(headers["user_agent"].is_string() && headers["x_forwarded_for"].is_string());
            if db.is_empty() {
                assert!(
                    headers["user_agent"]
                        .as_str()
                        .is_some_and(|a| a.contains("Dashboard"))
                );
            }
            assert_eq!(r["REQUEST_METHOD"], "POST");
            assert!(field(r, "RESPONSE_CODE")?.parse::<u16>().is_ok());
            let tags = r["TAGS"]
                .as_object()
                .ok_or_else(|| io::Error::other("TAGS"))?;
            assert!(tags.values().all(|v| v.is_string()));
            let tp = field(r, "TRACEPARENT")?;
            assert_eq!(tp.len(), 55);
            assert!(tp.starts_with("00-"));
            if let Some(hit) = obj.get("RATE_LIMITS_HIT") {
                let hit = hit.as_array().ok_or_else(|| io::Error::other("hit"))?;
                assert!(!hit.is_empty());
                assert!(
                    hit.iter()
                        .all(|h| ["read", "write", "compute"].contains(&h.as_str().unwrap_or("")))
                );
            }
            let ts = field(r, "TS")?;
            let at = parse_ts(ts).ok_or_else(|| io::Error::other(format!("TS {ts}")))?;
            assert!(at >= s.time_start && at < s.time_end, "{ts}");
            assert!(at.timestamp_millis() >= last_ms, "in time order: {ts}");
            last_ms = at.timestamp_millis();
        }
        fs::remove_dir_all(&dir)
    }

    /// Share of `total` held by the 3 largest values of `sums`.
    fn top3_share(sums: &std::collections::HashMap<String, u64>) -> f64 {
        let mut v: Vec<u64> = sums.values().copied().collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.iter().take(3).sum::<u64>() as f64 / v.iter().sum::<u64>().max(1) as f64
    }

    #[test]
    fn records_are_varied_enough_for_analytics() -> io::Result<()> {
        use std::collections::{HashMap, HashSet};
        let dir = temp_dir("variety");
        let file = generate(&spec(None, 512 * 1024), &dir, &AtomicBool::new(false))?;
        let lines = read_lines(&file.path)?;
        let n = lines.len();
        assert!(n > 2_000, "{n} records");
        let mut compute: HashMap<String, u64> = HashMap::new();
        let mut reads: HashMap<String, u64> = HashMap::new();
        let mut shape_count: HashMap<String, usize> = HashMap::new();
        let (mut agents, mut forwarded, mut paths) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        let (mut proxied, mut deep, mut iso, mut space) = (0, 0, 0, 0);
        let (mut client_errors, mut server_errors, mut throttled) = (0, 0, 0);
        let mut limit_lists = HashSet::new();
        for r in &lines {
            let shape = field(r, "FQL_SHAPE")?.to_owned();
            *compute.entry(shape.clone()).or_default() += r["COMPUTE_OPS"].as_u64().unwrap_or(0);
            *reads.entry(shape.clone()).or_default() += r["BYTE_READ_OPS"].as_u64().unwrap_or(0);
            *shape_count.entry(shape).or_default() += 1;
            let headers: serde_json::Value = serde_json::from_str(field(r, "REQUEST_HEADERS")?)?;
            agents.insert(headers["user_agent"].to_string());
            let xff = headers["x_forwarded_for"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            proxied += usize::from(xff.contains(", "));
            forwarded.insert(xff);
            let db = r["DATABASE"].to_string();
            deep += usize::from(r["DATABASE"].as_array().is_some_and(|d| d.len() >= 3));
            paths.insert(db);
            let ts = field(r, "TS")?;
            iso += usize::from(ts.ends_with('Z') && !ts.ends_with(" Z"));
            space += usize::from(ts.ends_with(" Z"));
            let code: u16 = field(r, "RESPONSE_CODE")?.parse().unwrap_or(0);
            client_errors += usize::from((400..500).contains(&code) && code != 429);
            server_errors += usize::from(code >= 500);
            if code == 429 {
                throttled += 1;
                let hit = r.get("RATE_LIMITS_HIT").map(|h| h.to_string());
                assert!(hit.is_some(), "a 429 names the limits it hit: {r}");
                limit_lists.extend(hit);
            }
        }
        assert!(shape_count.len() >= 15, "{} shapes", shape_count.len());
        let (c, b) = (top3_share(&compute), top3_share(&reads));
        assert!(
            c > 0.6 && b > 0.6,
            "top 3 shapes hold {c:.2} of compute, {b:.2} of reads"
        );
        let mut by_compute: Vec<_> = compute.iter().collect();
        by_compute.sort_unstable_by(|x, y| y.1.cmp(x.1));
        let heavy_queries: usize = by_compute
            .iter()
            .take(3)
            .map(|(s, _)| shape_count[*s])
            .sum();
        assert!(
            heavy_queries * 10 < n,
            "the heavy shapes are rare: {heavy_queries} of {n}"
        );
        assert!(client_errors > 0 && server_errors > 0 && throttled > 0);
        assert!(limit_lists.contains("[\"read\"]") && limit_lists.contains("[\"compute\"]"));
        assert!(
            iso * 20 > n && space * 2 > n,
            "TS forms: {iso} ISO, {space} space"
        );
        assert!(
            paths.len() >= 8 && deep * 20 > n,
            "{} paths, {deep} deep",
            paths.len()
        );
        assert!(agents.len() >= 5 && forwarded.len() >= 20 && proxied > 0);
        fs::remove_dir_all(&dir)
    }

    #[test]
    fn deterministic_sized_and_database_scoped() -> io::Result<()> {
        let (a, b) = (temp_dir("det-a"), temp_dir("det-b"));
        let s = spec(Some(&["ECommerce", "prod"]), 200 * 1024);
        let fa = generate(&s, &a, &AtomicBool::new(false))?;
        let fb = generate(&s, &b, &AtomicBool::new(false))?;
        assert_eq!(fs::read(&fa.path)?, fs::read(&fb.path)?);
        assert!(
            fa.len > 150 * 1024 && fa.len < 260 * 1024,
            "size {}",
            fa.len
        );
        let lines = read_lines(&fa.path)?;
        assert!(
            lines
                .iter()
                .all(|r| r["DATABASE"] == serde_json::json!(["ECommerce", "prod"]))
        );
        let raw: usize = lines.iter().map(|l| l.to_string().len() + 1).sum();
        let ratio = raw as f64 / fa.len as f64;
        assert!((2.5..6.0).contains(&ratio), "compression ratio {ratio}");
        let mut other = s.clone();
        other.seed = 8;
        assert_ne!(other.key(), s.key());
        fs::remove_dir_all(&a)?;
        fs::remove_dir_all(&b)
    }

    #[test]
    fn tiny_target_still_writes_one_record() -> io::Result<()> {
        let dir = temp_dir("tiny");
        let file = generate(&spec(None, 0), &dir, &AtomicBool::new(false))?;
        assert_eq!(read_lines(&file.path)?.len(), 1);
        let small = generate(&spec(None, 2_000), &dir, &AtomicBool::new(false))?;
        assert!(small.len < 6_000, "size {}", small.len);
        fs::remove_dir_all(&dir)
    }

    #[test]
    fn faults_break_the_gzip() -> io::Result<()> {
        let dir = temp_dir("faults");
        let mut s = spec(None, 32 * 1024);
        let good = generate(&s, &dir, &AtomicBool::new(false))?;
        s.corrupt = true;
        let corrupt = generate(&s, &dir, &AtomicBool::new(false))?;
        assert_eq!(corrupt.len, good.len);
        assert!(read_lines(&corrupt.path).is_err());
        s.corrupt = false;
        s.truncate = true;
        let truncated = generate(&s, &dir, &AtomicBool::new(false))?;
        assert!(truncated.len < good.len);
        assert_eq!(
            fs::read(&truncated.path)?[..],
            fs::read(&good.path)?[..truncated.len as usize]
        );
        assert!(read_lines(&truncated.path).is_err());
        fs::remove_dir_all(&dir)
    }
}
