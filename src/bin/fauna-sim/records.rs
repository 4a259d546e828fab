//! The synthetic query-log records.
//!
//! Owns [`RecordGen`], the deterministic source of one file's records: every documented field
//! with its documented JSON type.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use serde::Serialize;

use crate::logfile::FileSpec;
use crate::timefmt::fauna_ts;

/// One query-log line. Field names and JSON types follow Fauna's log schema.
#[derive(Debug, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct LogRecord<'a> {
    pub api_version: &'static str,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub byte_read_ops: u64,
    pub byte_write_ops: u64,
    pub compute_ops: u64,
    pub database: &'a [String],
    pub fql_shape: String,
    pub query_time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits_hit: Option<Vec<&'static str>>,
    pub region_group: &'a str,
    /// A string that holds JSON, as in Fauna's files.
    pub request_headers: String,
    pub request_method: &'static str,
    /// A string, as in Fauna's files.
    pub response_code: &'static str,
    pub tags: BTreeMap<&'static str, String>,
    pub traceparent: String,
    pub ts: String,
    pub txn_retries: u64,
}

#[derive(Serialize)]
struct RequestHeaders<'a> {
    user_agent: &'a str,
    x_forwarded_for: String,
}

const COLLECTIONS: &[&str] = &[
    "Product",
    "Customer",
    "Order",
    "Cart",
    "Review",
    "Inventory",
    "Shipment",
    "Account",
    "Invoice",
    "Session",
];
const FIELDS: &[&str] = &[
    "name",
    "price",
    "email",
    "status",
    "createdAt",
    "total",
    "quantity",
    "sku",
    "rating",
    "address",
    "category",
    "updatedAt",
];
const USER_AGENTS: &[&str] = &[
    "fauna-js/2.4.1 (node 20.11.0; linux)",
    "fauna-js/2.3.0 (browser; Chrome 124)",
    "fauna-python/2.3.0 (CPython 3.12.2; Linux)",
    "fauna-go/v3.0.1 (go1.22.1; linux/amd64)",
    "fauna-jvm/1.0.0 (Java 21.0.2; Linux)",
    "fauna-shell/3.0.0 (node 22.2.0)",
    "curl/8.5.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Fauna-Dashboard",
];
const GENERATED_DATABASES: &[&[&str]] = &[
    &["ECommerce"],
    &["ECommerce", "staging"],
    &["Inventory"],
    &["Analytics"],
    &["Billing", "eu-tenants"],
];

/// Deterministic record source for one file.
pub struct RecordGen<'a> {
    pub rng: fastrand::Rng,
    region_group: &'a str,
    databases: Vec<Vec<String>>,
}

impl<'a> RecordGen<'a> {
    pub fn new(spec: &'a FileSpec, salt: u64) -> Self {
        let databases = match &spec.database {
            Some(segments) => vec![segments.clone()],
            None => GENERATED_DATABASES
                .iter()
                .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
        };
        Self {
            rng: fastrand::Rng::with_seed(spec.content_hash() ^ salt),
            region_group: &spec.region_group,
            databases,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.usize(..items.len())]
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut out = String::with_capacity(digits + 16);
        while out.len() < digits {
            out.push_str(&format!("{:016x}", self.rng.u64(..)));
        }
        out.truncate(digits);
        out
    }

    /// Roughly log-uniform integer in `[lo, hi]`.
    fn spread(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo_f, hi_f) = ((lo.max(1)) as f64, hi as f64);
        let v = (lo_f.ln() + self.rng.f64() * (hi_f.ln() - lo_f.ln())).exp();
        (v as u64).clamp(lo, hi)
    }

    fn ipv4(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.rng.u8(1..224),
            self.rng.u8(..),
            self.rng.u8(..),
            self.rng.u8(1..255)
        )
    }

    fn fql_shape(&mut self) -> String {
        let c = self.pick(COLLECTIONS);
        let f = self.pick(FIELDS);
        let g = self.pick(FIELDS);
        match self.rng.u8(..9) {
            0 => format!(
                "{c}.byId(\"{}\")",
                self.rng
                    .u64(100_000_000_000_000_000..999_999_999_999_999_999)
            ),
            1 => format!("{c}.all().take({})", self.rng.u32(1..500)),
            2 => format!("{c}.where(.{f} == \"<redacted>\").first()"),
            3 => format!(
                "{c}.where(.{f} > {}).order(desc(.{g})) {{ id, {f}, {g} }}",
                self.rng.u32(0..100_000)
            ),
            4 => format!(
                "{c}.all().order(asc(.{f})).pageSize({})",
                self.rng.u32(10..1000)
            ),
            5 => format!(
                "let doc = {c}.byId(\"{}\")!\ndoc.update({{ {f}: {} }})",
                self.rng
                    .u64(100_000_000_000_000_000..999_999_999_999_999_999),
                self.rng.u32(0..1_000_000)
            ),
            6 => format!(
                "{c}.create({{ {f}: \"<redacted>\", {g}: {} }})",
                self.rng.u32(0..10_000)
            ),
            7 => format!("Set.paginate(\"{}\")", self.hex(48)),
            _ => format!("{c}.by_{f}(\"<redacted>\").count()"),
        }
    }

    pub fn record(&mut self, ts_ms: i64) -> LogRecord<'_> {
        let db_index = self.rng.usize(..self.databases.len());
        let response_code = match self.rng.u16(..1000) {
            0..=869 => "200",
            870..=929 => "201",
            930..=954 => "400",
            955..=969 => "429",
            970..=984 => "440",
            985..=994 => "404",
            _ => "500",
        };
        let rate_limits_hit = if response_code == "429" || self.rng.u8(..25) == 0 {
            let mut hit = Vec::new();
            for kind in ["read", "write", "compute"] {
                if self.rng.bool() {
                    hit.push(kind);
                }
            }
            if hit.is_empty() {
                hit.push(self.pick(&["read", "write", "compute"]));
            }
            Some(hit)
        } else {
            None
        };
        let mut tags = BTreeMap::new();
        match self.rng.u8(..10) {
            0..=3 => {}
            4..=6 => {
                tags.insert("request_id", self.hex(16));
            }
            7 => {
                tags.insert("route", format!("/api/{}", self.pick(FIELDS)));
                tags.insert("tenant", format!("t-{}", self.rng.u32(1..50_000)));
            }
            8 => {
                tags.insert("job", format!("nightly-{}", self.rng.u16(1..400)));
            }
            _ => {
                tags.insert("customer", format!("cus_{}", self.hex(14)));
                tags.insert("request_id", self.hex(16));
            }
        }
        let client = self.ipv4();
        let x_forwarded_for = if self.rng.bool() {
            format!("{client}, {}", self.ipv4())
        } else {
            client
        };
        let headers = RequestHeaders {
            user_agent: self.pick(USER_AGENTS),
            x_forwarded_for,
        };
        // Serializing a plain struct of strings cannot fail.
        let request_headers = serde_json::to_string(&headers).unwrap_or_default();
        let is_write = self.rng.u8(..4) == 0;
        let fql_shape = self.fql_shape();
        let traceparent = format!(
            "00-{}-{}-0{}",
            self.hex(32),
            self.hex(16),
            self.rng.u8(0..2)
        );
        let ts = Utc
            .timestamp_millis_opt(ts_ms)
            .single()
            .map(fauna_ts)
            .unwrap_or_default();
        let bytes_in = self.spread(40, 20_000);
        let bytes_out = self.spread(60, 500_000);
        let byte_read_ops = self.spread(1, 5_000);
        let byte_write_ops = if is_write { self.spread(1, 200) } else { 0 };
        let compute_ops = self.spread(1, 300);
        let query_time_ms = self.spread(1, 4_000);
        let txn_retries = if is_write && self.rng.u8(..10) == 0 {
            u64::from(self.rng.u8(1..4))
        } else {
            0
        };
        LogRecord {
            api_version: "10",
            bytes_in,
            bytes_out,
            byte_read_ops,
            byte_write_ops,
            compute_ops,
            database: &self.databases[db_index],
            fql_shape,
            query_time_ms,
            rate_limits_hit,
            region_group: self.region_group,
            request_headers,
            request_method: "POST",
            response_code,
            tags,
            traceparent,
            ts,
            txn_retries,
        }
    }
}
