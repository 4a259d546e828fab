"""Local Athena: the stack's query-logs table, its view and its saved queries, run by DuckDB over a
local copy of the logs bucket.

Owns what this project reproduces of Athena on a machine without AWS, and nothing else:

- the table as the stack defines it (infra/template.yaml, resource QueryLogsTable): its columns
  and types, its partition columns, and where each partition lives, from the
  `storage.location.template` the template builds from the same LogsPrefix the function uses;
- partition projection: a file is read only if its key renders from that template with values
  the projection admits (region group in the enum, day a date in the range, any database);
- the hidden-file rule of Athena's engine (Trino's Hive connector, `HiveFileIterator`): below a
  partition's location, an object whose key has a path segment starting with `_` or `.` is not
  read. That is the rule that keeps `_*.manifest.json`, `_*.copy.json` and `_reports/` out of
  the rows;
- the Hive JSON SerDe's mapping of Fauna's upper-case keys onto the table's lower-case columns
  (Hive matches names case-insensitively; DuckDB's reader matches exact names, so the local
  table reads the upper-case keys Fauna writes and names the columns as the template does);
- the view and the saved queries (infra/athena/), transpiled from Athena's dialect to DuckDB's
  by sqlglot, with their `?` parameters bound as Athena's execution parameters would be, and
  refused where Athena refuses them: outside a WHERE clause (DuckDB takes them anywhere).

Used by the tests in this directory, by `make athena-template` (the view's column types) and by
`make demo` (run_saved_query.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
ATHENA_SQL = ROOT / "infra" / "athena"
QUERIES = ATHENA_SQL / "queries"
VIEW_FILE = ATHENA_SQL / "query_logs_typed.sql"

TABLE_RESOURCE = "QueryLogsTable"
TABLE = "query_logs"
VIEW = "query_logs_typed"


# ---------------------------------------------------------------------------------------------
# The template's table
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def template() -> dict:
    """infra/template.yaml as data (CloudFormation's short tags read as their long forms)."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def table_input() -> dict:
    return template()["Resources"][TABLE_RESOURCE]["Properties"]["TableInput"]


@dataclass(frozen=True)
class Column:
    name: str
    hive_type: str


def data_columns() -> list[Column]:
    return [Column(c["Name"], c["Type"]) for c in table_input()["StorageDescriptor"]["Columns"]]


def partition_columns() -> list[Column]:
    return [Column(c["Name"], c["Type"]) for c in table_input()["PartitionKeys"]]


def location_template(bucket: str, logs_prefix: str) -> str:
    """`storage.location.template` as Athena gets it for this bucket and LogsPrefix: the
    template's Fn::Sub resolved, each partition left as `${column}`."""
    node = table_input()["Parameters"]["storage.location.template"]
    text, variables = node["Fn::Sub"]
    values = {"LogsPrefix": logs_prefix}
    for name, value in variables.items():
        if value != {"Fn::If": ["CreateBucket", {"Ref": "LogsBucket"}, {"Ref": "ExistingBucketName"}]}:
            raise AssertionError(f"storage.location.template: unexpected variable {name}: {value}")
        values[name] = bucket

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name not in values:
            raise AssertionError(f"storage.location.template names ${{{name}}}, which is not resolved here")
        return values[name]

    return re.sub(r"\$\{([^}]+)\}", one, text)


def render_location(template_text: str, partition: dict[str, str]) -> str:
    """The location Athena reads for one partition: the template with its values put in, as
    partition projection does."""
    names = set(re.findall(r"\$\{([^}]+)\}", template_text))
    if names != set(partition):
        raise AssertionError(f"the template names {sorted(names)}, the partition gives {sorted(partition)}")
    return re.sub(r"\$\{([^}]+)\}", lambda m: partition[m.group(1)], template_text)


def location_pattern(template_text: str) -> re.Pattern:
    """A regex matching a key under some partition's location: each `${column}` one path
    segment, the rest of the key after the location in group `rest`."""
    out, pos = [], 0
    for match in re.finditer(r"\$\{([^}]+)\}", template_text):
        out.append(re.escape(template_text[pos : match.start()]))
        out.append(f"(?P<{match.group(1)}>[^/]+)")
        pos = match.end()
    out.append(re.escape(template_text[pos:]))
    return re.compile("".join(out) + "(?P<rest>.+)")


def java_date_format(fmt: str) -> str:
    """The projection's date format (Java DateTimeFormatter letters) as strftime's; only the
    letters this table uses."""
    table = {"yyyy": "%Y", "MM": "%m", "dd": "%d"}
    out = fmt
    for java, c in table.items():
        out = out.replace(java, c)
    if re.search(r"[A-Za-z]", out.replace("%Y", "").replace("%m", "").replace("%d", "")):
        raise AssertionError(f"date format {fmt!r} has letters this reproduction does not handle")
    return out


class Projection:
    """The table's partition projection (`projection.*` parameters): which partition values
    Athena computes, and so which locations it reads."""

    def __init__(self, parameters: dict, today: dt.date | None = None):
        if str(parameters.get("projection.enabled")).lower() != "true":
            raise AssertionError("the table does not use partition projection")
        self.parameters = parameters
        self.today = today or dt.datetime.now(dt.timezone.utc).date()

    def kind(self, column: str) -> str:
        return str(self.parameters[f"projection.{column}.type"]).strip().lower()

    def admits(self, column: str, value: str) -> bool:
        kind = self.kind(column)
        if kind == "enum":
            return value in str(self.parameters[f"projection.{column}.values"]).split(",")
        if kind == "injected":
            return True  # any value the query names
        if kind == "date":
            fmt = java_date_format(str(self.parameters[f"projection.{column}.format"]))
            try:
                day = dt.datetime.strptime(value, fmt).date()
            except ValueError:
                return False
            if day.strftime(fmt) != value:
                return False
            low, high = (x.strip() for x in str(self.parameters[f"projection.{column}.range"]).split(","))
            low_day = dt.datetime.strptime(low, fmt).date()
            high_day = self.today if high == "NOW" else dt.datetime.strptime(high, fmt).date()
            if str(self.parameters.get(f"projection.{column}.interval", "1")) != "1":
                raise AssertionError("only a projected day every day is reproduced")
            return low_day <= day <= high_day
        raise AssertionError(f"projection type {kind} of {column} is not reproduced")


def is_hidden(rest_of_key: str) -> bool:
    """Athena's engine skips an object below a partition's location when any segment of the
    key after the location starts with '_' or '.' (Trino HiveFileIterator, recursive listing)."""
    return any(part[:1] in ("_", ".") for part in rest_of_key.split("/"))


# ---------------------------------------------------------------------------------------------
# The SQL files
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedQuery:
    """One saved query: infra/athena/queries/<name>.sql. Its first comment line is the title
    (the NamedQuery's Name), the rest of the opening comment its description."""

    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def header(self) -> list[str]:
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        return lines

    @property
    def title(self) -> str:
        return self.header[0]

    @property
    def description(self) -> str:
        # The paragraph after the title, up to the parameter list.
        text = []
        for line in self.header[2:]:
            if not line or line.startswith("Parameters"):
                break
            text.append(line)
        return " ".join(text)

    @property
    def parameter_count(self) -> int:
        import sqlglot
        from sqlglot import exp

        return len(list(sqlglot.parse_one(self.sql, read="athena").find_all(exp.Placeholder)))


def saved_queries() -> list[SavedQuery]:
    return [SavedQuery(p.stem, p) for p in sorted(QUERIES.glob("*.sql"))]


def saved_query(name: str) -> SavedQuery:
    for query in saved_queries():
        if query.name == name:
            return query
    raise KeyError(f"no saved query {name} in {QUERIES}")


VIEW_HEAD = re.compile(rf"^CREATE OR REPLACE VIEW {VIEW} AS\n", re.MULTILINE)


def view_select() -> str:
    """The view's query: what follows `CREATE OR REPLACE VIEW query_logs_typed AS` in its file
    (what Athena keeps as the view's original SQL)."""
    text = VIEW_FILE.read_text()
    match = VIEW_HEAD.search(text)
    if not match:
        raise AssertionError(f"{VIEW_FILE} does not hold 'CREATE OR REPLACE VIEW {VIEW} AS' on a line")
    return text[match.end() :].rstrip("\n")


def _is_date(node) -> bool:
    """A date in Trino: CAST(... AS date), DATE '...', current_date, or one of them plus or
    minus a day interval."""
    from sqlglot import exp

    if isinstance(node, exp.Cast):
        return node.to.is_type(exp.DataType.Type.DATE)
    if isinstance(node, exp.CurrentDate):
        return True
    if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
        return _is_date(node.this) and node.expression.unit is not None and node.expression.unit.name.upper() == "DAY"
    return False


# Where sqlglot's Athena-to-DuckDB output means something else than the Athena SQL did, the
# expression is rewritten, before DuckDB's SQL is written, to what Athena computes:
#
# - count_if(x): Trino counts the rows where x is true, 0 when there are none; sqlglot writes
#   DuckDB's COUNT_IF, which is NULL when every x is NULL. Written COUNT_IF(COALESCE(x, FALSE)).
# - approx_percentile(x, q): sqlglot writes DuckDB's APPROX_QUANTILE (a t-digest), which on a
#   small, heavy-tailed group interpolates far from any rank (p95 of 26 query times: 423 ms,
#   where the values at ranks 94 to 96 % are 158 to 200 ms); Athena's answer is within about 1 %
#   of rank of the true percentile. Written QUANTILE_DISC(x, q), the exact nearest-rank value;
#   the tests allow it the rank error an approximate percentile has.
# - sequence(date, date, INTERVAL '1' DAY): Trino gives dates; sqlglot writes DuckDB's
#   GENERATE_SERIES, which gives timestamps. Cast back to DATE[].
def _athena_semantics(node):
    from sqlglot import exp

    if isinstance(node, exp.CountIf) and not getattr(node, "_athena_rewritten", False):
        rewritten = exp.CountIf(this=exp.Coalesce(this=node.this, expressions=[exp.false()]))
        rewritten._athena_rewritten = True
        return rewritten
    if isinstance(node, exp.ApproxQuantile):
        return exp.Anonymous(this="QUANTILE_DISC", expressions=[node.this, node.args["quantile"]])
    if isinstance(node, exp.GenerateSeries) and _is_date(node.args.get("start")):
        if not isinstance(node.parent, exp.Cast):
            return exp.Cast(this=node, to=exp.DataType.build("DATE[]", dialect="duckdb"))
    return node


def parameters_outside_where(tree) -> list[str]:
    """The `?` parameters Athena refuses: "`?` parameters can be placed only in the WHERE
    clause" (Athena's parameterized queries). A parameter is accepted when the nearest clause
    around it is a WHERE: in the SELECT list, FROM (UNNEST, VALUES), a JOIN's ON, GROUP BY,
    HAVING, ORDER BY or LIMIT it is not, nor in a subquery's SELECT list inside a WHERE. Each
    refused one is named by the clause it sits in."""
    from sqlglot import exp

    refused = []
    for placeholder in tree.find_all(exp.Placeholder):
        node, clause = placeholder, None
        while node.parent is not None:
            key, node = node.arg_key, node.parent
            if isinstance(node, exp.Where) and isinstance(node.parent, exp.Select):
                break
            if isinstance(node, exp.Where):
                clause = f"a WHERE in {type(node.parent).__name__.upper()}"
                break
            if isinstance(node, exp.Query) or node.parent is None:
                clause = f"{type(node).__name__.upper()} {key.rstrip('_')}"
                break
        else:
            clause = "the statement"
        if clause is not None:
            context = (placeholder.parent_select or placeholder.root()).sql(dialect="athena")
            refused.append(f"? in {clause}: {context[:120]}")
    return refused


def to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL as DuckDB's, by sqlglot, with the rewrites above. Refuses SQL that
    Athena would not run: a `?` parameter outside a WHERE clause."""
    import sqlglot

    statements = sqlglot.parse(sql, read="athena")
    if len(statements) != 1:
        raise AssertionError(f"expected one statement, got {len(statements)}")
    refused = parameters_outside_where(statements[0])
    if refused:
        raise AssertionError("Athena takes ? parameters only in a WHERE clause; " + "; ".join(refused))
    return statements[0].transform(_athena_semantics).sql(dialect="duckdb")


# ---------------------------------------------------------------------------------------------
# The table on DuckDB
# ---------------------------------------------------------------------------------------------


def duckdb_type(hive: str) -> str:
    hive = hive.strip().lower()
    scalars = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "date": "DATE",
               "timestamp": "TIMESTAMP", "double": "DOUBLE", "boolean": "BOOLEAN"}
    if hive in scalars:
        return scalars[hive]
    if hive.startswith("array<") and hive.endswith(">"):
        return duckdb_type(hive[6:-1]) + "[]"
    if hive.startswith("map<") and hive.endswith(">"):
        key, value = hive[4:-1].split(",", 1)
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    raise AssertionError(f"Hive type {hive} is not mapped")


@dataclass(frozen=True)
class DataFile:
    local_path: str
    s3_uri: str
    partition: dict


class LocalBucket:
    """A local copy of the logs bucket (`root/<key>` for every object) read as Athena reads
    the stack's table for `bucket` and `logs_prefix`."""

    def __init__(self, root: Path, bucket: str, logs_prefix: str, today: dt.date | None = None):
        self.root = Path(root)
        self.bucket = bucket
        self.template_text = location_template(bucket, logs_prefix)
        self.pattern = location_pattern(self.template_text)
        self.projection = Projection(table_input()["Parameters"], today)

    def copy_path(self, key: str) -> Path:
        return self.root / key

    def keys(self) -> list[str]:
        found = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                found.append(str(Path(dirpath, name).relative_to(self.root)).replace(os.sep, "/"))
        return sorted(found)

    def classify(self, key: str) -> tuple[str, dict | None]:
        """How Athena treats one object: ('read', partition), or why not: 'outside' (under no
        projected location), 'not projected' (a value the projection does not produce),
        'hidden' (the hidden-file rule)."""
        match = self.pattern.fullmatch(f"s3://{self.bucket}/{key}")
        if not match:
            return "outside", None
        partition = {c.name: match.group(c.name) for c in partition_columns()}
        if not all(self.projection.admits(name, value) for name, value in partition.items()):
            return "not projected", partition
        if is_hidden(match.group("rest")):
            return "hidden", partition
        return "read", partition

    def data_files(self) -> list[DataFile]:
        files = []
        for key in self.keys():
            verdict, partition = self.classify(key)
            if verdict == "read":
                files.append(DataFile(str(self.root / key), f"s3://{self.bucket}/{key}", partition))
        return files

    def connect(self, files: list[DataFile] | None = None):
        """A DuckDB connection with `query_logs` (the table, with Athena's hidden `$path`
        column) and `query_logs_typed` (the view, from its file) over `files` (default: what
        Athena would read)."""
        import duckdb

        files = self.data_files() if files is None else files
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        columns = data_columns()
        partitions = partition_columns()
        con.execute(
            "CREATE TABLE partitions (local_path VARCHAR, s3_uri VARCHAR, "
            + ", ".join(f'"{c.name}" VARCHAR' for c in partitions)
            + ")"
        )
        if files:
            con.executemany(
                f"INSERT INTO partitions VALUES ({', '.join('?' * (2 + len(partitions)))})",
                [[f.local_path, f.s3_uri] + [f.partition[c.name] for c in partitions] for f in files],
            )
        select = ", ".join(
            [f'j."{c.name.upper()}" AS {c.name}' for c in columns]
            + [f'CAST(p."{c.name}" AS {duckdb_type(c.hive_type)}) AS {c.name}' for c in partitions]
            + ['p.s3_uri AS "$path"']
        )
        if files:
            reader_columns = "{" + ", ".join(f"'{c.name.upper()}': '{duckdb_type(c.hive_type)}'" for c in columns) + "}"
            source = (
                # No hive_partitioning: DuckDB would read region_group= and database= from the
                # path into columns that collide with REGION_GROUP and DATABASE (names compare
                # case-insensitively), the very collision the table's partition names avoid.
                f"read_json(?, format = 'newline_delimited', columns = {reader_columns}, filename = true, "
                "hive_partitioning = false) AS j "
                "JOIN partitions AS p ON p.local_path = j.filename"
            )
            con.execute(f"CREATE TABLE {TABLE} AS SELECT {select} FROM {source}", [[f.local_path for f in files]])
        else:
            empty = ", ".join(f'CAST(NULL AS {duckdb_type(c.hive_type)}) AS "{c.name.upper()}"' for c in columns)
            con.execute(
                f"CREATE TABLE {TABLE} AS SELECT {select} FROM (SELECT {empty}, '' AS filename) AS j "
                "JOIN partitions AS p ON p.local_path = j.filename WHERE false"
            )
        con.execute(to_duckdb(VIEW_FILE.read_text()))
        return con


def empty_connection():
    """The table and view with no rows: for their column types."""
    return LocalBucket(Path("/nonexistent"), "bucket", "fauna-logs").connect(files=[])


def run(con, sql: str, params: list) -> tuple[list[str], list[tuple]]:
    """Runs Athena SQL (transpiled) with its execution parameters; column names and rows."""
    cursor = con.execute(to_duckdb(sql), params)
    return [d[0] for d in cursor.description], cursor.fetchall()
