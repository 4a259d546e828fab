"""The SQL files as Athena reads them, and the template as their one copy: no engine run here
(test_end_to_end.py runs them).

- Every saved query and the view parse as Athena SQL (sqlglot, dialect athena: Trino's for
  queries and views), one statement each, and every function they call is one the dialect
  knows (an unknown name would parse as an anonymous function and fail only in Athena).
- Every saved query names the injected partition scope_database with static equalities, as
  Athena requires (else CONSTRAINT_VIOLATION), and the day, so it reads only those objects.
- Each file's header lists its `?` parameters, as many as the query has, and every one sits in
  a WHERE clause, the only place Athena takes them (local_athena refuses the others).
- infra/template.yaml's generated block is what the files render to, and reads back (YAML) as
  the files' exact text; the stored view decodes to the view's query and columns.
- local_athena's projection and hidden-file rules on keys of each kind, and the DuckDB reading
  that the table's partition names exist to avoid: Hive partitions named after the keys'
  folders collide with DATABASE and REGION_GROUP.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import tempfile
import unittest
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

import athena_template
import local_athena


def parse(sql: str, dialect: str = "athena") -> exp.Expression:
    statements = sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE)
    if len(statements) != 1:
        raise AssertionError(f"{len(statements)} statements")
    return statements[0]


def conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    if isinstance(node, exp.And):
        return conjuncts(node.left) + conjuncts(node.right)
    if isinstance(node, exp.Paren):
        return conjuncts(node.this)
    return [node]


def is_static(node: exp.Expression) -> bool:
    """A value known before any data is read: a literal, a parameter, or a cast of one."""
    if isinstance(node, exp.Cast):
        return is_static(node.this)
    return isinstance(node, (exp.Literal, exp.Placeholder))


class TheFilesParse(unittest.TestCase):
    def test_every_saved_query_is_one_athena_select(self):
        queries = local_athena.saved_queries()
        self.assertGreaterEqual(len(queries), 6)
        for query in queries:
            for dialect in ("athena", "trino"):
                tree = parse(query.sql, dialect)
                self.assertIsInstance(tree, exp.Query, f"{query.name} ({dialect})")
                self.assertEqual([], [a.sql() for a in tree.find_all(exp.Anonymous)], f"{query.name}: functions {dialect} does not know")

    def test_the_view_is_one_athena_create_view(self):
        for dialect in ("athena", "trino"):
            tree = parse(local_athena.VIEW_FILE.read_text(), dialect)
            self.assertIsInstance(tree, exp.Create)
            self.assertEqual("VIEW", tree.args["kind"])
            self.assertEqual(local_athena.VIEW, tree.this.name)
            self.assertEqual([], [a.sql() for a in tree.find_all(exp.Anonymous)])
            self.assertIsInstance(parse(local_athena.view_select(), dialect), exp.Select)
        # It reads the table, and every column of the table comes through.
        select = parse(local_athena.view_select())
        self.assertEqual([local_athena.TABLE], [t.name for t in select.find_all(exp.Table)])
        out = {e.alias_or_name for e in select.expressions}
        for column in local_athena.data_columns() + local_athena.partition_columns():
            self.assertIn(column.name, out)

    def test_a_misspelt_function_would_be_caught(self):
        tree = parse("SELECT aprox_percentile(query_time_ms, 0.5) FROM query_logs")
        self.assertTrue(list(tree.find_all(exp.Anonymous)))


class AthenaWouldRunThem(unittest.TestCase):
    def reads_of_the_table(self, tree: exp.Expression):
        for select in tree.find_all(exp.Select):
            tables = [t.name for t in select.args["from_"].find_all(exp.Table)] if select.args.get("from_") else []
            if set(tables) & {local_athena.TABLE, local_athena.VIEW}:
                yield select

    def test_every_query_names_the_injected_partition_and_the_day(self):
        for query in local_athena.saved_queries():
            tree = parse(query.sql)
            reads = list(self.reads_of_the_table(tree))
            self.assertTrue(reads, query.name)
            for select in reads:
                where = conjuncts(select.args["where"].this if select.args.get("where") else None)
                on_database = [
                    c for c in where
                    if isinstance(c, exp.EQ) and isinstance(c.left, exp.Column) and c.left.name == "scope_database" and is_static(c.right)
                    or isinstance(c, exp.In) and c.this.name == "scope_database" and all(is_static(e) for e in c.expressions)
                ]
                self.assertEqual(1, len(on_database), f"{query.name}: Athena needs scope_database = <value> (injected projection)")
                other = [c for c in where if c not in on_database and "scope_database" in {col.name for col in c.find_all(exp.Column)}]
                self.assertEqual([], other, f"{query.name}: only static equalities on scope_database")
                on_day = [c for c in where if "window_day" in {col.name for col in c.find_all(exp.Column)}]
                self.assertTrue(on_day, f"{query.name}: no filter on window_day reads every day since 2020")
                for condition in on_day:
                    self.assertIsInstance(condition, (exp.EQ, exp.Between), query.name)

    def test_parameters_sit_only_in_where_clauses(self):
        for query in local_athena.saved_queries():
            self.assertEqual([], local_athena.parameters_outside_where(parse(query.sql)), query.name)

    # "Is every window there?" as it was: its days came from the parameters, in FROM.
    OLD_WINDOWS_PRESENT_DAYS = """WITH days AS (
  SELECT day
  FROM UNNEST(sequence(CAST(? AS date), CAST(? AS date), INTERVAL '1' DAY)) AS t (day)
)
SELECT d.day FROM days AS d
"""

    def test_a_parameter_outside_a_where_clause_is_refused(self):
        """DuckDB runs `?` anywhere; Athena only in a WHERE clause. The local check refuses the
        rest, whatever the clause, before DuckDB sees the SQL."""
        refused = {
            self.OLD_WINDOWS_PRESENT_DAYS: 2,
            "SELECT ? AS day FROM query_logs WHERE scope_database = 'a'": 1,
            "SELECT fql_shape FROM query_logs WHERE scope_database = 'a' LIMIT ?": 1,
            "SELECT fql_shape, count(*) FROM query_logs WHERE scope_database = 'a' GROUP BY fql_shape HAVING count(*) > ?": 1,
            "SELECT a.fql_shape FROM query_logs AS a JOIN query_logs AS b ON a.ts = b.ts AND b.scope_database = ? WHERE a.scope_database = 'a'": 1,
            "SELECT fql_shape FROM query_logs WHERE scope_database IN (SELECT ? FROM query_logs)": 1,
            "SELECT count(*) FILTER (WHERE fql_shape = ?) FROM query_logs WHERE scope_database = 'a'": 1,
            "SELECT fql_shape FROM (VALUES (?)) AS t (fql_shape)": 1,
        }
        accepted = [
            "SELECT fql_shape FROM query_logs WHERE scope_database = ? AND window_day BETWEEN CAST(? AS date) AND CAST(? AS date)",
            "SELECT fql_shape FROM query_logs WHERE scope_database IN (SELECT scope_database FROM query_logs WHERE fql_shape = ?)",
            "SELECT * FROM (SELECT fql_shape FROM query_logs WHERE scope_database = ?) AS s",
        ]
        for sql, count in refused.items():
            self.assertEqual(count, len(local_athena.parameters_outside_where(parse(sql))), sql)
            with self.assertRaisesRegex(AssertionError, "only in a WHERE clause"):
                local_athena.to_duckdb(sql)
        for sql in accepted:
            self.assertEqual([], local_athena.parameters_outside_where(parse(sql)), sql)
            local_athena.to_duckdb(sql)
        # Run, not only transpiled: the old text never reaches DuckDB (which would answer it).
        with self.assertRaisesRegex(AssertionError, "only in a WHERE clause"):
            local_athena.run(local_athena.empty_connection(), self.OLD_WINDOWS_PRESENT_DAYS, ["2026-11-24", "2026-11-25"])

    def test_windows_present_lists_every_day_of_a_long_range_up_to_today(self):
        """Its days are the last 10,000 to today, filtered by the range: every day of a range of
        years is listed (here, with no windows: each day once, a NULL window), none after today."""
        con = local_athena.empty_connection()
        sql = local_athena.saved_query("windows_present").sql
        today = con.execute("SELECT current_date").fetchone()[0]
        for first, last in ((dt.date(2020, 1, 1), today), (today - dt.timedelta(days=9999), today - dt.timedelta(days=9000)),
                            (today - dt.timedelta(days=2), today)):
            _, rows = local_athena.run(con, sql, [first.isoformat(), last.isoformat(), "ECommerce", first.isoformat(), last.isoformat()])
            days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
            self.assertEqual([(d, None, None, None, None, 0, None) for d in days], rows, (first, last))
        _, rows = local_athena.run(con, sql, [today.isoformat(), (today + dt.timedelta(days=3)).isoformat(), "ECommerce",
                                               today.isoformat(), (today + dt.timedelta(days=3)).isoformat()])
        self.assertEqual([today], [r[0] for r in rows], "no day after today")

    def test_each_header_lists_the_parameters(self):
        for query in local_athena.saved_queries():
            listed = [line for line in query.header if re.match(r"\d+\. ", line)]
            self.assertEqual(query.parameter_count, len(listed), query.name)
            self.assertIn("Parameters", " ".join(query.header), query.name)
            self.assertTrue(query.title and query.description, query.name)


class TheTemplateHoldsTheFiles(unittest.TestCase):
    def test_the_generated_block_is_current(self):
        self.assertEqual(0, athena_template.main(["--check"]), "run `make athena-template`")

    def test_each_saved_query_reads_back_as_its_file(self):
        resources = local_athena.template()["Resources"]
        saved = {n: r for n, r in resources.items() if r["Type"] == "AWS::Athena::NamedQuery"}
        files = local_athena.saved_queries()
        self.assertEqual({athena_template.logical_id(q.name) for q in files}, set(saved))
        for query in files:
            props = saved[athena_template.logical_id(query.name)]["Properties"]
            self.assertEqual(query.sql, props["QueryString"], query.name)
            self.assertEqual(query.title, props["Name"])
            self.assertEqual(query.description, props["Description"])

    def test_the_stored_view_is_the_views_file(self):
        view = local_athena.template()["Resources"]["QueryLogsTypedView"]["Properties"]["TableInput"]
        _, (prefix, encoded, suffix) = view["ViewOriginalText"]["Fn::Join"]
        self.assertEqual(("/* Presto View: ", " */"), (prefix, suffix))
        presto = json.loads(encoded["Fn::Base64"]["Fn::Sub"])
        self.assertEqual(local_athena.view_select(), presto["originalSql"])
        self.assertEqual("${QueryLogsDatabase}", presto["schema"])
        described = local_athena.empty_connection().execute(f"DESCRIBE {local_athena.VIEW}").fetchall()
        self.assertEqual([(name, athena_template.TYPES[t][1]) for name, t, *_ in described],
                         [(c["name"], c["type"]) for c in presto["columns"]])
        self.assertEqual([(name, athena_template.TYPES[t][0]) for name, t, *_ in described],
                         [(c["Name"], c["Type"]) for c in view["StorageDescriptor"]["Columns"]])
        self.assertIn(("ts", "TIMESTAMP_MS"), [(n, t) for n, t, *_ in described])
        self.assertIn(("http_status", "INTEGER"), [(n, t) for n, t, *_ in described])


class TheLocalTable(unittest.TestCase):
    """local_athena's reading of keys, on keys of each kind the exporter writes (crates/core/src/keys.rs)
    and others Athena would not read."""

    def setUp(self):
        self.local = local_athena.LocalBucket(Path("/nonexistent"), "logs", "fauna-logs", today=dt.date(2026, 11, 30))

    def test_keys_are_read_hidden_outside_or_not_projected(self):
        p = "fauna-logs/region_group=us-std/database="
        cases = {
            f"{p}ECommerce/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz": "read",
            f"{p}ECommerce%2Fprod/date=2026-11-24/20261124T010000Z_20261124T020000Z.jsonl.gz": "read",
            "fauna-logs/region_group=eu-std/database=__all__/date=2026-11-24/20261124T000000Z_20261125T000000Z.jsonl.gz": "read",
            f"{p}ECommerce/date=2026-11-24/_20261124T000000Z_20261125T000000Z.manifest.json": "hidden",
            f"{p}ECommerce/date=2026-11-24/_20261124T000000Z_20261125T000000Z.copy.json": "hidden",
            f"{p}ECommerce/date=2026-11-24/.hidden/x.jsonl.gz": "hidden",
            "fauna-logs/_reports/backfill-20261130T000000Z-0000abcd.json": "outside",
            "other/region_group=us-std/database=A/date=2026-11-24/x.jsonl.gz": "outside",
            "fauna-logs/region_group=xx-std/database=A/date=2026-11-24/x.jsonl.gz": "not projected",
            f"{p}A/date=2019-12-31/x.jsonl.gz": "not projected",
            f"{p}A/date=2026-12-01/x.jsonl.gz": "not projected",
            f"{p}A/date=2026-13-01/x.jsonl.gz": "not projected",
            f"{p}A/date=2026-11-1/x.jsonl.gz": "not projected",
        }
        for key, verdict in cases.items():
            self.assertEqual(verdict, self.local.classify(key)[0], key)

    def test_rendering_the_template(self):
        template = local_athena.location_template("logs", "a/b")
        self.assertEqual("s3://logs/a/b/region_group=${scope_region_group}/database=${scope_database}/date=${window_day}/", template)
        self.assertEqual(
            "s3://logs/a/b/region_group=us-std/database=ECommerce%2Fprod/date=2026-11-24/",
            local_athena.render_location(template, {"scope_region_group": "us-std", "scope_database": "ECommerce%2Fprod", "window_day": "2026-11-24"}),
        )
        with self.assertRaises(AssertionError):
            local_athena.render_location(template, {"scope_region_group": "us-std"})

    def test_partitions_named_after_the_folders_collide_with_the_records(self):
        """Why the partitions have their own names: read as Hive partitions named after the
        keys' folders, `database` and `region_group` come from the path and the records'
        DATABASE and REGION_GROUP are lost (DuckDB, like Athena, compares names
        case-insensitively)."""
        import duckdb

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp, "fauna-logs", "region_group=us-std", "database=ECommerce%2Fprod", "date=2026-11-24")
            folder.mkdir(parents=True)
            record = {"DATABASE": ["ECommerce", "prod", "tenants"], "REGION_GROUP": "us-std", "TS": "2026-11-24 00:00:00.000 Z"}
            (folder / "20261124T000000Z_20261125T000000Z.jsonl.gz").write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
            con = duckdb.connect()
            naive = con.execute(f"SELECT database, region_group FROM read_json('{tmp}/*/*/*/*/*.jsonl.gz', hive_partitioning = true)").fetchall()
            self.assertEqual([("ECommerce/prod", "us-std")], naive, "the folder's value replaced the records' DATABASE")
            table = local_athena.LocalBucket(Path(tmp), "logs", "fauna-logs", today=dt.date(2026, 11, 30)).connect()
            self.assertEqual(
                [(record["DATABASE"], "us-std", "us-std", "ECommerce%2Fprod")],
                table.execute("SELECT database, region_group, scope_region_group, scope_database FROM query_logs").fetchall(),
            )


if __name__ == "__main__":
    unittest.main()
