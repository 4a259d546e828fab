"""The table, the view and every saved query on a real engine, over real exports.

The project's binaries export windows into moto (behind the strict S3 front) from the Fauna
simulator, on loopback: two databases over two days (backfill, daily windows), a region
group's day (run), a nested child database in hourly windows (backfill), a window Fauna has no
logs for (a manifest and no object), a failed backfill window whose report the command line
and the function's Lambda mode each write under _reports/, and a copy killed mid-way (its copy record stays). The
bucket's objects are copied with their keys into a directory, and DuckDB reads them as Athena
reads the stack's table (local_athena: the template's schema, storage.location.template,
partition projection, the hidden-file rule). Each saved query, transpiled by sqlglot, must give
the answer this file computes on its own from the simulator's files (Python, no SQL): the
expected values are never written down here.

    .venv/bin/python -m unittest discover -s tests/athena    (make test runs it; needs the debug build)
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import re
import shutil
import tempfile
import time
import unittest
from collections import Counter, defaultdict
from pathlib import Path

import exports
import local_athena

BUCKET = "athena-e2e"
LOGS_PREFIX = "exports/fauna-logs"  # not the default: the template's LogsPrefix is what decides


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


class Window:
    """One exported scope and window, as the test asked for it."""

    def __init__(self, field: str, value: str, start: str, end: str):
        self.field, self.value, self.start, self.end = field, value, at(start), at(end)

    @property
    def region_group(self) -> str:
        return self.value.split("/")[0]

    @property
    def partition(self) -> dict:
        """The partition values a query names for this window: the README's rule, written
        here again (not the exporter's code): the database path below its region group,
        Hive-escaped, or __all__; the day the window starts."""
        if self.field == "region_group":
            database = "__all__"
        else:
            database = "".join(
                c if c.isascii() and (c.isalnum() or c in "-_.") else "".join(f"%{b:02X}" for b in c.encode())
                for c in self.value.split("/", 1)[1]
            )
        return {"scope_region_group": self.region_group, "scope_database": database, "window_day": self.start.strftime("%Y-%m-%d")}

    @property
    def stem(self) -> str:
        return f"{self.start:%Y%m%dT%H%M%SZ}_{self.end:%Y%m%dT%H%M%SZ}"

    def args(self) -> list[str]:
        return [f"--{self.field.replace('_', '-')}", self.value, "--start", f"{self.start:%Y-%m-%dT%H:%M:%SZ}", "--end", f"{self.end:%Y-%m-%dT%H:%M:%SZ}"]


def days(first: str, last: str):
    day = dt.date.fromisoformat(first)
    while day <= dt.date.fromisoformat(last):
        yield day
        day += dt.timedelta(days=1)


DAILY = [Window("database", db, f"2026-11-{d}T00:00:00Z", f"2026-11-{d + 1}T00:00:00Z")
         for db in ("us-std/ECommerce", "us-std/Inventory") for d in (24, 25)]
REGION_GROUP = [Window("region_group", "eu-std", "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z")]
NESTED_HOURLY = [Window("database", "us-std/ECommerce/prod/tenants", f"2026-11-24T{h:02}:00:00Z", f"2026-11-24T{h + 1:02}:00:00Z")
                 for h in range(4)]
EXPORTED = DAILY + REGION_GROUP + NESTED_HOURLY
NO_LOGS = Window("database", "us-std/Inventory", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z")
FAILED = Window("database", "us-std/Billing", "2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z")
CUT_SHORT = Window("database", "us-std/Analytics", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z")

TS = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))? ?Z")


def parse_ts(text: str) -> dt.datetime | None:
    """TS in either documented form, to the millisecond (extra digits dropped, as Athena's
    timestamp(3) from from_iso8601_timestamp keeps milliseconds)."""
    match = TS.fullmatch(text)
    if not match:
        return None
    *parts, fraction = match.groups()
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return dt.datetime(*map(int, parts), millis * 1000)


class Exported:
    """Everything the exports left: the bucket copied locally, the manifests, and the source
    records (the simulator's files) of each exported window."""

    def __init__(self):
        self.work = Path(tempfile.mkdtemp(prefix="athena-e2e-"))
        self.started = time.monotonic()
        moto = exports.Moto()
        sims = []
        try:
            s3 = moto.s3()
            s3.create_bucket(Bucket=BUCKET)
            sim = exports.Sim()
            sims.append(sim)
            env = exports.exporter_env(sim, moto, BUCKET, LOGS_PREFIX)
            self.runs = [
                exports.export("backfill", ["--database", "us-std/ECommerce", "us-std/Inventory", "--from", "2026-11-24T00:00:00Z",
                                            "--to", "2026-11-26T00:00:00Z", "--window", "1d"], env),
                exports.export("run", REGION_GROUP[0].args(), env),
                exports.export("backfill", ["--database", "us-std/ECommerce/prod/tenants", "--from", "2026-11-24T00:00:00Z",
                                            "--to", "2026-11-24T04:00:00Z", "--window", "1h"], env),
            ]
            for run in self.runs:
                assert run.status == 0, run.stderr
            # Fauna has no logs for this window: a manifest, no object.
            empty = exports.Sim("--does-not-exist")
            sims.append(empty)
            run = exports.export("run", NO_LOGS.args(), exports.exporter_env(empty, moto, BUCKET, LOGS_PREFIX))
            assert run.status == 0 and run.job.get("bytes") == 0, run.stderr
            # A failed backfill window, summarized by the function as the backfill state machine
            # does: the report of every window goes under _reports/.
            failing = exports.Sim("--fail-requests", "1", "--fail-state", "Failed")
            sims.append(failing)
            failing_env = exports.exporter_env(failing, moto, BUCKET, LOGS_PREFIX, {"MAX_REQUEST_ATTEMPTS": "1"})
            run = exports.export("backfill", ["--database", FAILED.value, "--from", "2026-11-24T00:00:00Z", "--to", "2026-11-25T00:00:00Z"], failing_env)
            assert run.status == 1 and "ExportFailed" in run.stdout, run.stdout
            failed_key = f"{LOGS_PREFIX}/region_group=us-std/database=Billing/date=2026-11-24/{FAILED.stem}.jsonl.gz"
            self.summary = exports.invoke_function(
                {"summarize": {"outcomes": [{"outcome": "failed", "key": failed_key, "error_type": "ExportFailed"}], "skipped": 0}},
                failing_env,
            )
            # A copy killed mid-way (a multipart upload, 2 MiB/s): its copy record stays.
            slow = exports.Sim("--file-size", "12MiB", "--download-bytes-per-second", "2MiB")
            sims.append(slow)
            copying = exports.start_export("run", CUT_SHORT.args(), exports.exporter_env(slow, moto, BUCKET, LOGS_PREFIX))
            deadline = time.monotonic() + 180
            while not any(k.endswith(".copy.json") for k in exports.keys(s3, BUCKET)):
                assert copying.poll() is None, "the slow copy ended before its copy record was seen"
                assert time.monotonic() < deadline, "no copy record after 180 s"
                time.sleep(0.1)
            copying.kill()
            copying.wait()

            self.copy = self.work / "bucket"
            self.keys = exports.copy_bucket(s3, BUCKET, self.copy)
            self.manifests = {
                key: json.loads((self.copy / key).read_text()) for key in self.keys if key.endswith(".manifest.json")
            }
            # The source: the simulator's own files, by the request each manifest names.
            self.records: dict[str, list[dict]] = {}  # object key -> records
            self.raw_lines: dict[str, int] = {}
            for manifest in self.manifests.values():
                if manifest["key"] is None:
                    continue
                source = sim.file(manifest["request_id"])
                assert source == (self.copy / manifest["key"]).read_bytes(), f"{manifest['key']} differs from the simulator's file"
                lines = gzip.decompress(source).splitlines()
                self.raw_lines[manifest["key"]] = len(lines)
                self.records[manifest["key"]] = [json.loads(line) for line in lines]
        finally:
            for s in sims:
                s.stop()
            moto.stop()
        self.seconds = time.monotonic() - self.started

    def object_key(self, window: Window) -> str:
        return f"{LOGS_PREFIX}/region_group={window.region_group}/database={window.partition['scope_database']}/date={window.partition['window_day']}/{window.stem}.jsonl.gz"

    def rows(self, scope_database: str, first_day: str, last_day: str | None = None) -> list[dict]:
        """Source records of the windows in that partition and days, each with its window."""
        last_day = last_day or first_day
        out = []
        for window in EXPORTED:
            p = window.partition
            if p["scope_database"] == scope_database and first_day <= p["window_day"] <= last_day:
                for record in self.records[self.object_key(window)]:
                    out.append(dict(record, _window=window))
        return out

    def remove(self):
        shutil.rmtree(self.work, ignore_errors=True)


STATE: dict = {}


def setUpModule():
    STATE["exported"] = Exported()
    exported = STATE["exported"]
    STATE["local"] = local_athena.LocalBucket(exported.copy, BUCKET, LOGS_PREFIX)
    STATE["con"] = STATE["local"].connect()


def tearDownModule():
    if "exported" in STATE:
        STATE["exported"].remove()


def query(name: str, params: list) -> list[dict]:
    columns, rows = local_athena.run(STATE["con"], local_athena.saved_query(name).sql, params)
    return [dict(zip(columns, row)) for row in rows]


# Partitions and days the saved queries are asked about: a database's day, the region group's
# day, the nested hourly windows' day, a database over its days (one of them without logs).
ON_A_DAY = [("ECommerce", "2026-11-24"), ("__all__", "2026-11-24"), ("ECommerce%2Fprod%2Ftenants", "2026-11-24"), ("Inventory", "2026-11-25")]
OVER_DAYS = [("ECommerce", "2026-11-24", "2026-11-25"), ("__all__", "2026-11-24", "2026-11-24"),
             ("ECommerce%2Fprod%2Ftenants", "2026-11-24", "2026-11-25"), ("Inventory", "2026-11-24", "2026-11-26")]


def status(record: dict) -> int | None:
    try:
        return int(record["RESPONSE_CODE"])
    except (KeyError, TypeError, ValueError):
        return None


def headers(record: dict) -> dict:
    return json.loads(record["REQUEST_HEADERS"])


class TheLayout(unittest.TestCase):
    """storage.location.template gives the exact folder the exporter wrote each kind of key
    into, and only the log objects become rows."""

    def test_the_location_template_renders_the_exporters_prefixes(self):
        exported = STATE["exported"]
        template = local_athena.location_template(BUCKET, LOGS_PREFIX)
        expected = set()
        kinds = set()
        for window in EXPORTED + [NO_LOGS, CUT_SHORT]:
            folder = local_athena.render_location(template, window.partition)
            self.assertTrue(folder.startswith(f"s3://{BUCKET}/") and folder.endswith("/"), folder)
            folder = folder[len(f"s3://{BUCKET}/"):]
            if window in EXPORTED:
                expected |= {f"{folder}{window.stem}.jsonl.gz", f"{folder}_{window.stem}.manifest.json"}
            elif window is NO_LOGS:
                expected.add(f"{folder}_{window.stem}.manifest.json")
            else:
                records = [k for k in exported.keys if k.startswith(f"{folder}_{window.stem}.") and k.endswith(".copy.json")]
                self.assertEqual(1, len(records), exported.keys)
                expected.add(records[0])
            kinds.add((window.field, "/" in window.value.split("/", 1)[-1], window.end - window.start))
        # database, nested database path, region group; hourly and daily windows
        self.assertEqual(
            {("database", False, dt.timedelta(days=1)), ("region_group", False, dt.timedelta(days=1)),
             ("database", True, dt.timedelta(hours=1))},
            kinds,
        )
        reports = [k for k in exported.keys if k.startswith(f"{LOGS_PREFIX}/_reports/")]
        # The failed backfill's, written by the command line, and the function's summary's.
        self.assertEqual(2, len(reports), exported.keys)
        self.assertIn(exported.summary["report"], [f"s3://{BUCKET}/{r}" for r in reports])
        self.assertEqual(expected, set(exported.keys) - set(reports))

    def test_manifests_copy_records_and_reports_never_become_rows(self):
        exported, local, con = STATE["exported"], STATE["local"], STATE["con"]
        verdicts = {key: local.classify(key)[0] for key in exported.keys}
        for key, verdict in verdicts.items():
            name = key.rsplit("/", 1)[-1]
            if key.endswith(".jsonl.gz"):
                self.assertEqual("read", verdict, key)
            elif name.startswith("_") and (name.endswith(".manifest.json") or name.endswith(".copy.json")):
                self.assertEqual("hidden", verdict, key)
            else:
                self.assertTrue(key.startswith(f"{LOGS_PREFIX}/_reports/"), key)
                self.assertEqual("outside", verdict, key)
        self.assertEqual(Counter({"read": 9, "hidden": 11, "outside": 2}), Counter(verdicts.values()))
        # Rows per object: the manifest's count, the lines of the simulator's file.
        per_object = dict(con.execute('SELECT "$path", count(*) FROM query_logs GROUP BY 1').fetchall())
        expected = {
            f"s3://{BUCKET}/{m['key']}": m["records"] for m in exported.manifests.values() if m["key"] is not None
        }
        self.assertEqual(expected, per_object)
        for key, lines in exported.raw_lines.items():
            self.assertEqual(lines, per_object[f"s3://{BUCKET}/{key}"], key)
        # Without the hidden-file rule the same engine and schema would read the manifests and
        # the copy record: it fails on the manifests (not one JSON object per line) ...
        import duckdb

        everything = [
            local_athena.DataFile(str(local.copy_path(key)), f"s3://{BUCKET}/{key}", local.classify(key)[1])
            for key, verdict in verdicts.items() if verdict in ("read", "hidden")
        ]
        with self.assertRaises(duckdb.Error):
            local.connect(files=everything)
        # ... and the copy record alone, one JSON object on one line, would be a row of NULLs.
        copy_record = [f for f in everything if f.s3_uri.endswith(".copy.json")]
        self.assertEqual(1, len(copy_record))
        with_it = local.connect(files=local.data_files() + copy_record)
        total = sum(expected.values())
        self.assertEqual(total + 1, with_it.execute("SELECT count(*) FROM query_logs").fetchone()[0])
        self.assertEqual(total, con.execute("SELECT count(*) FROM query_logs").fetchone()[0])
        self.assertEqual(0, con.execute("SELECT count(*) FROM query_logs WHERE ts IS NULL").fetchone()[0])

    def test_the_data_has_something_to_find(self):
        records = [r for rs in STATE["exported"].records.values() for r in rs]
        self.assertGreater(len(records), 50_000)
        for field in ("API_VERSION", "BYTES_IN", "BYTES_OUT", "BYTE_READ_OPS", "BYTE_WRITE_OPS", "COMPUTE_OPS", "DATABASE",
                      "FQL_SHAPE", "QUERY_TIME_MS", "REGION_GROUP", "REQUEST_HEADERS", "REQUEST_METHOD", "RESPONSE_CODE",
                      "TAGS", "TRACEPARENT", "TS", "TXN_RETRIES"):
            self.assertTrue(all(field in r for r in records), field)
        self.assertTrue(any("RATE_LIMITS_HIT" in r for r in records) and not all("RATE_LIMITS_HIT" in r for r in records))
        codes = Counter(r["RESPONSE_CODE"] for r in records)
        self.assertTrue({"200", "429"} <= set(codes) and any(c.startswith("4") and c != "429" for c in codes) and any(c.startswith("5") for c in codes), codes)
        self.assertTrue(all(r.get("RATE_LIMITS_HIT") for r in records if r["RESPONSE_CODE"] == "429"))
        forms = Counter("iso" if "T" in r["TS"] else "fauna" for r in records)
        self.assertGreater(min(forms["iso"], forms["fauna"]), 1000, forms)
        self.assertGreater(len({tuple(r["DATABASE"]) for r in records if len(r["DATABASE"]) >= 3}), 2)
        self.assertGreaterEqual(len({headers(r)["user_agent"] for r in records}), 5)
        compute = Counter()
        for r in records:
            compute[r["FQL_SHAPE"]] += r["COMPUTE_OPS"]
        shapes = Counter(r["FQL_SHAPE"] for r in records)
        top3 = [s for s, _ in compute.most_common(3)]
        self.assertGreater(sum(compute[s] for s in top3), 0.5 * sum(compute.values()), "a few shapes dominate compute")
        self.assertLess(sum(shapes[s] for s in top3), 0.1 * len(records), "... and they are rare")


class TheView(unittest.TestCase):
    def test_typed_columns_match_the_records(self):
        exported, con = STATE["exported"], STATE["con"]
        got = {
            (path, traceparent): rest
            for path, traceparent, *rest in con.execute(
                'SELECT t."$path", v.traceparent, v.ts, v.ts_text, v.http_status, v.user_agent, v.forwarded_for, v.client_address, '
                "v.database_path FROM query_logs_typed AS v JOIN query_logs AS t USING (traceparent)"
            ).fetchall()
        }
        expected = {}
        for key, records in exported.records.items():
            for r in records:
                forwarded = headers(r)["x_forwarded_for"]
                expected[(f"s3://{BUCKET}/{key}", r["TRACEPARENT"])] = [
                    parse_ts(r["TS"]), r["TS"], status(r), headers(r)["user_agent"], forwarded,
                    forwarded.split(",")[0].strip(), "/".join(r["DATABASE"]),
                ]
        self.assertEqual(len(expected), len(got))
        for k, v in expected.items():
            self.assertEqual(v, got[k], k)
        self.assertTrue(any(" Z" in v[1] for v in expected.values()) and any("T" in v[1] for v in expected.values()))


class SavedQueries(unittest.TestCase):
    """Each saved query's answer equals what Python computes from the simulator's files."""

    def test_costliest_query_shapes(self):
        for database, day in ON_A_DAY:
            rows = STATE["exported"].rows(database, day)
            self.assertTrue(rows)
            by_shape = defaultdict(lambda: [0, 0, 0, 0])
            for r in rows:
                agg = by_shape[r["FQL_SHAPE"]]
                agg[0] += 1
                agg[1] += r["COMPUTE_OPS"]
                agg[2] += r["BYTE_READ_OPS"]
                agg[3] += r["BYTE_WRITE_OPS"]
            total = sum(a[1] for a in by_shape.values())
            expected = sorted(by_shape.items(), key=lambda kv: (-kv[1][1], kv[0]))[:20]
            got = query("costliest_query_shapes", [database, day])
            self.assertEqual(
                [(shape, *agg) for shape, agg in expected],
                [(g["fql_shape"], g["queries"], g["compute_ops"], g["byte_read_ops"], g["byte_write_ops"]) for g in got],
                (database, day),
            )
            for (_, agg), g in zip(expected, got):
                self.assertAlmostEqual(100 * agg[1] / total, g["pct_of_compute"], delta=0.05 + 1e-9)

    def test_latency_by_query_shape(self):
        epsilon = 0.01  # rank error allowed to an approximate percentile
        for database, first, last in OVER_DAYS:
            times = defaultdict(list)
            for r in STATE["exported"].rows(database, first, last):
                times[r["FQL_SHAPE"]].append(r["QUERY_TIME_MS"])
            got = {g["fql_shape"]: g for g in query("latency_by_query_shape", [database, first, last])}
            self.assertEqual(set(times), set(got), (database, first, last))
            for shape, values in times.items():
                values.sort()
                n = len(values)
                self.assertEqual((n, values[-1]), (got[shape]["queries"], got[shape]["max_ms"]), shape)
                for q, column in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")):
                    low = values[max(0, math.floor((q - epsilon) * (n - 1)))]
                    high = values[min(n - 1, math.ceil((q + epsilon) * (n - 1)))]
                    self.assertTrue(low <= got[shape][column] <= high,
                                    f"{database} {shape} {column}={got[shape][column]} outside [{low}, {high}] (n={n})")

    def test_errors_and_rate_limits_per_hour(self):
        for database, day in ON_A_DAY:
            counts = defaultdict(lambda: [0, 0, 0, 0])
            for r in STATE["exported"].rows(database, day):
                code, limits = status(r), r.get("RATE_LIMITS_HIT") or []
                if not ((code is not None and code >= 400) or limits):
                    continue
                agg = counts[(parse_ts(r["TS"]).replace(minute=0, second=0, microsecond=0), code)]
                agg[0] += 1
                for i, kind in enumerate(("read", "write", "compute"), 1):
                    agg[i] += kind in limits
            got = query("errors_and_rate_limits_per_hour", [database, day])
            self.assertEqual(
                [(hour, code, *agg) for (hour, code), agg in sorted(counts.items())],
                [(g["hour"], g["http_status"], g["queries"], g["read_limit_hits"], g["write_limit_hits"], g["compute_limit_hits"]) for g in got],
                (database, day),
            )
            self.assertTrue(any(g["http_status"] == 429 for g in got) and any(g["http_status"] >= 500 for g in got))

    def test_usage_per_database_per_day(self):
        for database, first, last in OVER_DAYS:
            sums = defaultdict(lambda: [0] * 6)
            for r in STATE["exported"].rows(database, first, last):
                # The day from TS itself: the partition's day must be the records' day.
                agg = sums[(parse_ts(r["TS"]).date(), r["REGION_GROUP"], "/".join(r["DATABASE"]))]
                for i, field in enumerate((None, "COMPUTE_OPS", "BYTE_READ_OPS", "BYTE_WRITE_OPS", "BYTES_IN", "BYTES_OUT")):
                    agg[i] += 1 if field is None else r[field]
            expected = sorted(((day, rg, db, *agg) for (day, rg, db), agg in sums.items()), key=lambda t: (t[0], -t[4], t[1], t[2]))
            got = query("usage_per_database_per_day", [database, first, last])
            self.assertEqual(
                expected,
                [(g["day"], g["region_group"], g["database_path"], g["queries"], g["compute_ops"], g["byte_read_ops"],
                  g["byte_write_ops"], g["bytes_in"], g["bytes_out"]) for g in got],
                (database, first, last),
            )
        all_day = query("usage_per_database_per_day", ["__all__", "2026-11-24", "2026-11-24"])
        self.assertGreater(len({g["database_path"] for g in all_day}), 5, "a region group breaks down into its databases")

    def test_top_callers(self):
        for database, day in ON_A_DAY:
            callers = defaultdict(lambda: [0, 0, 0])
            for r in STATE["exported"].rows(database, day):
                h = headers(r)
                agg = callers[(h["user_agent"], h["x_forwarded_for"])]
                agg[0] += 1
                agg[1] += r["COMPUTE_OPS"]
                agg[2] += (status(r) or 0) >= 400
            expected = sorted(((ua, ff, *agg) for (ua, ff), agg in callers.items()), key=lambda t: (-t[2], t[0], t[1]))[:25]
            got = query("top_callers", [database, day])
            self.assertEqual(expected, [(g["user_agent"], g["forwarded_for"], g["queries"], g["compute_ops"], g["errors"]) for g in got])

    def test_windows_present(self):
        exported = STATE["exported"]
        for database, first, last in OVER_DAYS:
            expected = []
            for day in days(first, last):
                windows = sorted(
                    (w for w in EXPORTED if w.partition["scope_database"] == database and w.start.date() == day),
                    key=lambda w: (w.region_group, w.start),
                )
                covered = defaultdict(int)
                for w in windows:
                    covered[w.region_group] += int((w.end - w.start).total_seconds())
                if not windows:
                    expected.append((day, None, None, None, None, 0, None))
                for w in windows:
                    key = exported.object_key(w)
                    expected.append((day, w.region_group, w.start, w.end, len(exported.records[key]), covered[w.region_group], f"s3://{BUCKET}/{key}"))
            got = query("windows_present", [first, last, database, first, last])
            for g in got:
                # sqlglot writes Trino's sequence() of dates as DuckDB's generate_series, which
                # gives timestamps: the days must still be whole days.
                self.assertEqual(dt.time(0), g["day"].time() if isinstance(g["day"], dt.datetime) else dt.time(0))
            self.assertEqual(
                expected,
                [(g["day"].date() if isinstance(g["day"], dt.datetime) else g["day"], g["scope_region_group"], g["window_start"],
                  g["window_end"], g["records"], g["day_seconds_covered"], g["object"]) for g in got],
                (database, first, last),
            )
            # Outside SQL: each window's records equal its manifest's; a missing day's manifest
            # says Fauna had no logs.
            for g in got:
                if g["object"] is None:
                    continue
                manifest_key = g["object"][len(f"s3://{BUCKET}/"):].replace(".jsonl.gz", ".manifest.json")
                folder, name = manifest_key.rsplit("/", 1)
                self.assertEqual(exported.manifests[f"{folder}/_{name}"]["records"], g["records"])
        gap = [g for g in query("windows_present", ["2026-11-26", "2026-11-26", "Inventory", "2026-11-26", "2026-11-26"])]
        self.assertEqual([None], [g["object"] for g in gap])
        no_logs = [m for m in exported.manifests.values() if m["key"] is None]
        self.assertEqual([(NO_LOGS.value, "2026-11-26T00:00:00Z", 0)], [(m["database"], m["time_start"], m["records"]) for m in no_logs])


if __name__ == "__main__":
    unittest.main()
