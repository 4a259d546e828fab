//! The synthetic query-log records.
//!
//! Owns [`RecordGen`], the deterministic source of one file's records: every documented field
//! with its documented JSON type, and data worth querying: a catalogue of query shapes with
//! skewed weights and costs (a few heavy shapes dominate `COMPUTE_OPS` and `BYTE_READ_OPS`),
//! 4xx/5xx answers and 429s with `RATE_LIMITS_HIT`, both `TS` forms, nested database paths for
//! region-group requests, and a pool of clients (user agent, `x_forwarded_for`). Lines are
//! written straight into a byte buffer from pre-serialised fragments: benchmarks generate GiB
//! files, so this is the hot loop of file generation.

use chrono::{TimeZone, Utc};

use crate::logfile::FileSpec;

/// One query shape of the catalogue.
struct Shape {
    fql: &'static str,
    api_version: &'static str,
    /// Relative frequency.
    weight: u32,
    /// Ranges (log-uniform) of the query's costs.
    compute: (u64, u64),
    read: (u64, u64),
    write: (u64, u64),
    time_ms: (u64, u64),
    /// A write that may be contended (`409`, `TXN_RETRIES`).
    contended: bool,
    /// Answered `201` (the query created a collection).
    creates_collection: bool,
}

const fn shape(
    fql: &'static str,
    weight: u32,
    compute: (u64, u64),
    read: (u64, u64),
    write: (u64, u64),
    time_ms: (u64, u64),
) -> Shape {
    Shape {
        fql,
        api_version: "10",
        weight,
        compute,
        read,
        write,
        time_ms,
        contended: write.1 > 0,
        creates_collection: false,
    }
}

const fn v4(shape: Shape) -> Shape {
    Shape {
        api_version: "4",
        ..shape
    }
}

/// The catalogue: many cheap point reads and writes, a few heavy scans that dominate the
/// costs. Literals are redacted, as in Fauna's `FQL_SHAPE`.
const SHAPES: &[Shape] = &[
    shape(
        "Product.byId(<redacted>)",
        300,
        (1, 2),
        (1, 8),
        (0, 0),
        (2, 20),
    ),
    shape(
        "Customer.byId(<redacted>)",
        180,
        (1, 2),
        (1, 8),
        (0, 0),
        (2, 20),
    ),
    shape(
        "Order.byId(<redacted>)!.update({ status: <redacted> })",
        90,
        (1, 3),
        (2, 10),
        (1, 4),
        (5, 40),
    ),
    shape(
        "Cart.where(.customer == <redacted>).first()",
        80,
        (2, 6),
        (2, 20),
        (0, 0),
        (3, 30),
    ),
    shape(
        "Session.create({ customer: <redacted>, expiresAt: <redacted> })",
        70,
        (1, 2),
        (1, 2),
        (1, 3),
        (4, 30),
    ),
    shape(
        "Product.byCategory(<redacted>).pageSize(<redacted>)",
        60,
        (3, 15),
        (10, 200),
        (0, 0),
        (5, 80),
    ),
    shape(
        "Review.byProduct(<redacted>).take(<redacted>) { rating, body }",
        40,
        (2, 12),
        (5, 120),
        (0, 0),
        (4, 60),
    ),
    shape(
        "Inventory.bySku(<redacted>)!.update({ quantity: <redacted> })",
        35,
        (1, 4),
        (2, 10),
        (1, 4),
        (5, 60),
    ),
    shape(
        "Set.paginate(<redacted>)",
        30,
        (2, 10),
        (10, 300),
        (0, 0),
        (4, 80),
    ),
    shape(
        "Customer.byEmail(<redacted>).first()",
        25,
        (1, 4),
        (1, 10),
        (0, 0),
        (3, 25),
    ),
    shape(
        "Order.byCustomer(<redacted>).order(desc(.createdAt)).take(<redacted>)",
        25,
        (5, 40),
        (20, 400),
        (0, 0),
        (8, 150),
    ),
    shape(
        "Shipment.byOrder(<redacted>).first()",
        20,
        (1, 4),
        (1, 10),
        (0, 0),
        (3, 25),
    ),
    shape(
        "Account.byId(<redacted>) { id, plan, usage }",
        15,
        (1, 3),
        (1, 6),
        (0, 0),
        (2, 20),
    ),
    // The heavy few: full scans.
    shape(
        "Order.all().where(.total > <redacted>).order(desc(.createdAt))",
        20,
        (300, 3_000),
        (5_000, 80_000),
        (0, 0),
        (200, 4_000),
    ),
    shape(
        "Product.all().map(p => p { name, price, reviews: Review.byProduct(p).count() })",
        12,
        (500, 5_000),
        (2_000, 60_000),
        (0, 0),
        (300, 4_500),
    ),
    shape(
        "Invoice.all().where(.status == <redacted>).count()",
        8,
        (200, 2_000),
        (3_000, 40_000),
        (0, 0),
        (150, 3_000),
    ),
    Shape {
        creates_collection: true,
        contended: false,
        ..shape(
            "Collection.create({ name: <redacted> })",
            1,
            (5, 20),
            (5, 20),
            (5, 20),
            (20, 200),
        )
    },
    v4(shape(
        "Get(Ref(Collection(<redacted>), <redacted>))",
        25,
        (1, 2),
        (1, 8),
        (0, 0),
        (2, 20),
    )),
    v4(shape(
        "Paginate(Match(Index(<redacted>), <redacted>))",
        15,
        (2, 10),
        (10, 200),
        (0, 0),
        (4, 60),
    )),
    v4(shape(
        "Map(Paginate(Documents(Collection(<redacted>))), Lambda(<redacted>, Get(Var(<redacted>))))",
        5,
        (100, 1_000),
        (1_000, 20_000),
        (0, 0),
        (100, 2_000),
    )),
];

/// Databases of a region-group request, with weights: top-level ones and their children, down
/// to four levels; `[]` is the Dashboard's (its queries carry no database).
const DATABASES: &[(&[&str], u32)] = &[
    (&["ECommerce"], 25),
    (&["ECommerce", "prod"], 20),
    (&["ECommerce", "prod", "tenants", "acme"], 10),
    (&["ECommerce", "prod", "tenants", "globex"], 6),
    (&["ECommerce", "staging"], 5),
    (&["Inventory"], 8),
    (&["Inventory", "warehouse-eu"], 4),
    (&["Inventory", "warehouse-eu", "cold-storage"], 2),
    (&["Analytics", "reports", "2099"], 4),
    (&["Billing"], 6),
    (&["Billing", "eu-tenants", "initech"], 3),
    (&[], 1),
];

/// User agents of the client pool, with weights.
const USER_AGENTS: &[(&str, u32)] = &[
    ("fauna-js/2.4.1 (node 20.11.0; linux)", 40),
    ("fauna-js/2.3.0 (browser; Chrome 124)", 10),
    ("fauna-python/2.3.0 (CPython 3.12.2; Linux)", 15),
    ("fauna-go/v3.0.1 (go1.22.1; linux/amd64)", 12),
    ("fauna-jvm/1.0.0 (Java 21.0.2; Linux)", 8),
    ("fauna-shell/3.0.0 (node 22.2.0)", 5),
    ("curl/8.5.0", 3),
];
const DASHBOARD_AGENT: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Fauna-Dashboard";
/// Clients (address, user agent, proxy) in a file's pool.
const CLIENTS: usize = 64;
const PROXIES: &[&str] = &["10.0.3.17", "10.0.3.18", "172.16.40.2"];

/// `RESPONSE_CODE` out of 10 000, for queries that do not create a collection (the rest is 200).
const ERROR_CODES: &[(&str, u32)] = &[
    ("503", 10),
    ("500", 30),
    ("429", 100),
    ("400", 200),
    ("401", 50),
    ("403", 30),
    ("440", 50),
    ("409", 50),
];
/// `RATE_LIMITS_HIT` lists of a 429 (and of the few answers that came close to a limit).
const RATE_LIMITS: &[(&str, u32)] = &[
    ("[\"read\"]", 40),
    ("[\"compute\"]", 30),
    ("[\"write\"]", 15),
    ("[\"read\",\"compute\"]", 10),
    ("[\"read\",\"write\",\"compute\"]", 5),
];

/// A weighted choice among `n` items: cumulative weights.
struct Weighted(Vec<u32>);

impl Weighted {
    fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0;
        Weighted(
            weights
                .into_iter()
                .map(|w| {
                    total += w;
                    total
                })
                .collect(),
        )
    }
    fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        let total = self.0.last().copied().unwrap_or(1).max(1);
        let x = rng.u32(..total);
        self.0.partition_point(|&c| c <= x)
    }
}

/// Deterministic record source for one file.
pub struct RecordGen {
    pub rng: fastrand::Rng,
    /// `"REGION_GROUP":"…"` fragment.
    region_group: String,
    /// Pre-serialised `DATABASE` arrays and their weights; one entry for a database request.
    databases: Vec<String>,
    database_weights: Weighted,
    dashboard_db: Option<usize>,
    /// Pre-serialised `REQUEST_HEADERS` values (a JSON string holding JSON) of the client pool,
    /// and the weights of the clients.
    clients: Vec<String>,
    client_weights: Weighted,
    dashboard_client: String,
    shape_json: Vec<String>,
    shape_weights: Weighted,
    error_weights: Weighted,
    rate_limit_weights: Weighted,
    /// Last instant written, in microseconds (the ISO form's digits never go back).
    last_us: i64,
    /// Window end, exclusive, in whole microseconds.
    end_us: i64,
    /// `YYYY-MM-DD HH:MM:SS` of the second `cached_second` (the records' `TS` prefix).
    cached_second: i64,
    second_text: [u8; 19],
}

impl RecordGen {
    pub fn new(spec: &FileSpec, salt: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(spec.content_hash() ^ salt);
        let (databases, database_weights, dashboard_db) = match &spec.database {
            Some(segments) => (vec![json(segments)], Weighted::new([1]), None),
            None => (
                DATABASES.iter().map(|(path, _)| json(path)).collect(),
                Weighted::new(DATABASES.iter().map(|(_, w)| *w)),
                DATABASES.iter().position(|(path, _)| path.is_empty()),
            ),
        };
        let agents = Weighted::new(USER_AGENTS.iter().map(|(_, w)| *w));
        let clients: Vec<String> = (0..CLIENTS)
            .map(|i| {
                let agent = USER_AGENTS[agents.pick(&mut rng)].0;
                let address = ipv4(&mut rng);
                // Some clients sit behind one of a few proxies.
                let forwarded = if i % 3 == 0 {
                    format!("{address}, {}", PROXIES[rng.usize(..PROXIES.len())])
                } else {
                    address
                };
                request_headers(agent, &forwarded)
            })
            .collect();
        // A few clients send most queries.
        let client_weights = Weighted::new((0..CLIENTS as u32).map(|i| 1 + 4096 / (i + 1).pow(2)));
        let dashboard_client = request_headers(DASHBOARD_AGENT, &ipv4(&mut rng));
        let end_ns = spec.time_end.timestamp_nanos_opt().unwrap_or(i64::MAX);
        Self {
            rng,
            region_group: format!("\"REGION_GROUP\":{}", json(&spec.region_group)),
            databases,
            database_weights,
            dashboard_db,
            clients,
            client_weights,
            dashboard_client,
            shape_json: SHAPES.iter().map(|s| json(&s.fql)).collect(),
            shape_weights: Weighted::new(SHAPES.iter().map(|s| s.weight)),
            error_weights: Weighted::new(
                ERROR_CODES
                    .iter()
                    .map(|(_, w)| *w)
                    .chain([10_000 - ERROR_CODES.iter().map(|(_, w)| w).sum::<u32>()]),
            ),
            rate_limit_weights: Weighted::new(RATE_LIMITS.iter().map(|(_, w)| *w)),
            last_us: i64::MIN,
            end_us: end_ns.div_euclid(1_000) + i64::from(end_ns.rem_euclid(1_000) != 0),
            cached_second: i64::MIN,
            second_text: [b'0'; 19],
        }
    }

    /// Roughly log-uniform integer in `[lo, hi]` (0 when `hi` is 0).
    fn spread(&mut self, (lo, hi): (u64, u64)) -> u64 {
        if hi == 0 {
            return 0;
        }
        let (lo_f, hi_f) = ((lo.max(1)) as f64, hi as f64);
        let v = (lo_f.ln() + self.rng.f64() * (hi_f.ln() - lo_f.ln())).exp();
        (v as u64).clamp(lo, hi)
    }

    fn hex(&mut self, out: &mut Vec<u8>, digits: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut left = digits;
        while left > 0 {
            let mut bits = self.rng.u64(..);
            for _ in 0..left.min(16) {
                out.push(HEX[(bits & 15) as usize]);
                bits >>= 4;
            }
            left = left.saturating_sub(16);
        }
    }

    /// `"TS":"…"` for millisecond `ts_ms`: mostly Fauna's `2099-05-10 18:05:42.871 Z`, one
    /// record in eight the ISO-8601 `2099-05-10T18:05:42.871406Z` form (microseconds).
    fn write_ts(&mut self, ts_ms: i64, out: &mut Vec<u8>) {
        let second = ts_ms.div_euclid(1000);
        if second != self.cached_second {
            self.cached_second = second;
            let text = Utc
                .timestamp_opt(second, 0)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            if text.len() == 19 {
                self.second_text.copy_from_slice(text.as_bytes());
            }
        }
        let iso = self.rng.u8(..8) == 0;
        let ms_us = ts_ms * 1000;
        let us = if iso {
            (ms_us + i64::from(self.rng.u16(..1000)))
                .max(self.last_us)
                .min(self.end_us - 1)
                .max(ms_us)
        } else {
            ms_us
        };
        self.last_us = self.last_us.max(us);
        out.extend_from_slice(b"\"TS\":\"");
        let mut prefix = self.second_text;
        if iso {
            prefix[10] = b'T';
        }
        out.extend_from_slice(&prefix);
        out.push(b'.');
        if iso {
            push_padded(out, us.rem_euclid(1_000_000) as u64, 6);
            out.extend_from_slice(b"Z\"");
        } else {
            push_padded(out, ts_ms.rem_euclid(1000) as u64, 3);
            out.extend_from_slice(b" Z\"");
        }
    }

    /// Appends one record at millisecond `ts_ms` (a JSON object, no newline) to `out`.
    pub fn write_record(&mut self, ts_ms: i64, out: &mut Vec<u8>) {
        let shape_index = self.shape_weights.pick(&mut self.rng);
        let shape = &SHAPES[shape_index];
        let db = self.database_weights.pick(&mut self.rng);
        let dashboard = Some(db) == self.dashboard_db;
        let code = ERROR_CODES
            .get(self.error_weights.pick(&mut self.rng))
            .map_or(
                if shape.creates_collection {
                    "201"
                } else {
                    "200"
                },
                |c| c.0,
            );
        let failed_early = matches!(code, "400" | "401" | "403");
        let mut compute = self.spread(shape.compute);
        let mut read = self.spread(shape.read);
        let mut write = self.spread(shape.write);
        let mut time_ms = self.spread(shape.time_ms);
        if failed_early {
            compute = compute.min(1);
            read = 0;
            write = 0;
            time_ms = time_ms.min(5);
        } else if code == "440" {
            time_ms = self.spread((5_000, 30_000));
        } else if code == "429" {
            write = 0;
        }
        let retries = if code == "409" || (shape.contended && self.rng.u8(..20) == 0) {
            u64::from(self.rng.u8(1..4))
        } else {
            0
        };
        let bytes_in = self.spread((40, 2_000)) + shape.fql.len() as u64;
        let bytes_out = if failed_early {
            self.spread((60, 400))
        } else {
            self.spread((60, 500)) + read * self.rng.u64(20..200)
        };
        let rate_limits = code == "429" || (code == "200" && self.rng.u8(..100) == 0);

        out.extend_from_slice(b"{\"API_VERSION\":\"");
        out.extend_from_slice(shape.api_version.as_bytes());
        out.extend_from_slice(b"\",\"BYTES_IN\":");
        push_u64(out, bytes_in);
        out.extend_from_slice(b",\"BYTES_OUT\":");
        push_u64(out, bytes_out);
        out.extend_from_slice(b",\"BYTE_READ_OPS\":");
        push_u64(out, read);
        out.extend_from_slice(b",\"BYTE_WRITE_OPS\":");
        push_u64(out, write);
        out.extend_from_slice(b",\"COMPUTE_OPS\":");
        push_u64(out, compute);
        out.extend_from_slice(b",\"DATABASE\":");
        out.extend_from_slice(self.databases[db].as_bytes());
        out.extend_from_slice(b",\"FQL_SHAPE\":");
        out.extend_from_slice(self.shape_json[shape_index].as_bytes());
        out.extend_from_slice(b",\"QUERY_TIME_MS\":");
        push_u64(out, time_ms);
        if rate_limits {
            let i = self.rate_limit_weights.pick(&mut self.rng);
            out.extend_from_slice(b",\"RATE_LIMITS_HIT\":");
            out.extend_from_slice(RATE_LIMITS[i].0.as_bytes());
        }
        out.push(b',');
        out.extend_from_slice(self.region_group.as_bytes());
        out.extend_from_slice(b",\"REQUEST_HEADERS\":");
        if dashboard {
            out.extend_from_slice(self.dashboard_client.as_bytes());
        } else {
            let client = self.client_weights.pick(&mut self.rng);
            out.extend_from_slice(self.clients[client].as_bytes());
        }
        out.extend_from_slice(b",\"REQUEST_METHOD\":\"POST\",\"RESPONSE_CODE\":\"");
        out.extend_from_slice(code.as_bytes());
        out.extend_from_slice(b"\",\"TAGS\":");
        self.write_tags(out);
        out.extend_from_slice(b",\"TRACEPARENT\":\"00-");
        self.hex(out, 32);
        out.push(b'-');
        self.hex(out, 16);
        out.extend_from_slice(if self.rng.bool() {
            b"-01\","
        } else {
            b"-00\","
        });
        self.write_ts(ts_ms, out);
        out.extend_from_slice(b",\"TXN_RETRIES\":");
        push_u64(out, retries);
        out.push(b'}');
    }

    /// `TAGS`: an object of strings, `{}` for most queries.
    fn write_tags(&mut self, out: &mut Vec<u8>) {
        match self.rng.u8(..10) {
            0..=3 => out.extend_from_slice(b"{}"),
            4..=6 => {
                out.extend_from_slice(b"{\"request_id\":\"");
                self.hex(out, 16);
                out.extend_from_slice(b"\"}");
            }
            7 => {
                out.extend_from_slice(b"{\"route\":\"/api/");
                out.extend_from_slice(
                    ["cart", "checkout", "search", "orders", "profile"][self.rng.usize(..5)]
                        .as_bytes(),
                );
                out.extend_from_slice(b"\",\"tenant\":\"t-");
                push_u64(out, u64::from(self.rng.u16(1..500)));
                out.extend_from_slice(b"\"}");
            }
            8 => {
                out.extend_from_slice(b"{\"job\":\"nightly-");
                push_u64(out, u64::from(self.rng.u16(1..400)));
                out.extend_from_slice(b"\"}");
            }
            _ => {
                out.extend_from_slice(b"{\"customer\":\"cus_");
                self.hex(out, 14);
                out.extend_from_slice(b"\",\"request_id\":\"");
                self.hex(out, 16);
                out.extend_from_slice(b"\"}");
            }
        }
    }
}

/// A fragment serialised once, up front (strings and arrays of strings always serialise).
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The `REQUEST_HEADERS` value: a JSON string that holds a JSON object.
fn request_headers(user_agent: &str, forwarded: &str) -> String {
    let inner = serde_json::json!({"user_agent": user_agent, "x_forwarded_for": forwarded});
    serde_json::to_string(&inner.to_string()).unwrap_or_default()
}

fn ipv4(rng: &mut fastrand::Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.u8(1..224),
        rng.u8(..),
        rng.u8(..),
        rng.u8(1..255)
    )
}

/// Decimal digits of `v`.
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `v` in exactly `width` digits, zero-padded.
fn push_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_writers() {
        let mut out = Vec::new();
        for v in [0, 7, 10, 999, u64::MAX] {
            out.clear();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
        out.clear();
        push_padded(&mut out, 42, 6);
        assert_eq!(out, b"000042");
    }

    #[test]
    fn ts_forms_match_the_reference_formatters() {
        use crate::timefmt::{fauna_ts, rfc3339_micros};
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let spec = FileSpec {
            seed: 1,
            time_start: at("2099-05-10T18:00:00Z"),
            time_end: at("2099-05-10T18:05:43Z"),
            region_group: "us-std".into(),
            database: None,
            target_size: 0,
            corrupt: false,
            truncate: false,
        };
        let mut g = RecordGen::new(&spec, 0);
        let ms = at("2099-05-10T18:05:42.871Z").timestamp_millis();
        let (mut space, mut iso) = (0, 0);
        for _ in 0..200 {
            let mut out = Vec::new();
            g.write_ts(ms, &mut out);
            let text = String::from_utf8(out).unwrap_or_default();
            let ts = text
                .strip_prefix("\"TS\":\"")
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{text}"));
            if ts.ends_with(" Z") {
                space += 1;
                assert_eq!(ts, fauna_ts(at("2099-05-10T18:05:42.871Z")));
            } else {
                iso += 1;
                let t = at(ts);
                assert_eq!(rfc3339_micros(t), ts);
                assert_eq!(t.timestamp_millis(), ms, "{ts}");
            }
        }
        assert!(space > 0 && iso > 0);
    }

    #[test]
    fn weighted_choice_follows_weights() {
        let w = Weighted::new([1, 0, 3]);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut seen = [0u32; 3];
        for _ in 0..4000 {
            seen[w.pick(&mut rng)] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > 2 * seen[0], "{seen:?}");
    }

    #[test]
    fn the_heavy_shapes_are_few_and_rare() {
        let total: u32 = SHAPES.iter().map(|s| s.weight).sum();
        let heavy: u32 = SHAPES
            .iter()
            .filter(|s| s.compute.0 >= 100)
            .map(|s| s.weight)
            .sum();
        assert!(heavy * 20 < total, "heavy shapes are under 5 % of queries");
    }
}
