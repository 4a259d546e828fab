"""Runs one saved query (infra/athena/queries/<name>.sql) with DuckDB over a local copy of a
logs bucket, as Athena would run it over the stack's table, and prints its answer as a table.

    .venv/bin/python tests/athena/run_saved_query.py --copy DIR --bucket BUCKET [--prefix P] NAME PARAM...

DIR holds the bucket's objects at their keys; PARAMs are the query's `?` values in order
(plain text: ECommerce, 2026-11-24). `make demo` ends with it. Owns printing, nothing more:
the reading is local_athena's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import local_athena


def text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def table(columns: list[str], rows: list[tuple], width: int = 60) -> str:
    cells = [[text(v) for v in row] for row in rows]
    cells = [[c if len(c) <= width else c[: width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(col)] + [len(row[i]) for row in cells]) for i, col in enumerate(columns)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows if row[i] is not None) for i in range(len(columns))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(row) for row in cells])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy", required=True, type=Path, help="local copy of the bucket (objects at their keys)")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="fauna-logs", help="LogsPrefix (default fauna-logs)")
    parser.add_argument("name", help="saved query: " + ", ".join(q.name for q in local_athena.saved_queries()))
    parser.add_argument("params", nargs="*")
    args = parser.parse_args(argv)
    query = local_athena.saved_query(args.name)
    if len(args.params) != query.parameter_count:
        parser.error(f"{args.name} takes {query.parameter_count} parameters")
    local = local_athena.LocalBucket(args.copy, args.bucket, args.prefix)
    files = local.data_files()
    con = local.connect(files)
    columns, rows = local_athena.run(con, query.sql, args.params)
    print(f"{query.title} ({query.path.relative_to(local_athena.ROOT)}; {', '.join(args.params)})")
    print(f"DuckDB over {len(files)} object(s) read as Athena reads the table query_logs\n")
    print(table(columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
