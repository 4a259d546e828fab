"""docs/promises.md cannot drift from the tests: every test its table names exists.

The table lists each promise the README makes and the tests that hold it, each named
`path::name`. For a Rust file (under src/ or tests/) the name must be a `fn` of that file marked
as a test (`#[test]`, `#[tokio::test…]`, inside a `proptest!` block too); for a Python file, a
`def` of that file whose name starts with `test`. A row must name at least one test or say
"not tested". Standard library only; `make test` runs it with the other tests of tests/infra.
"""

import re
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROMISES = ROOT / "docs" / "promises.md"

# `src/x.rs::name` or `tests/y.py::test_name`, inside backticks.
TEST_NAME = re.compile(r"`([\w./-]+\.(?:rs|py))::(\w+)`")


def rows(text: str) -> list[tuple[int, str, str]]:
    """The table's rows as (line number, promise, held by), its header and rule left out."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].isdigit():
            continue  # the header, or the |---| rule
        found.append((number, cells[1], cells[-1]))
    return found


def attributes_above(lines: list[str], index: int) -> list[str]:
    """The attributes of the item at line `index`: the `#[…]` lines right above it, doc and
    other comments between them skipped."""
    attrs = []
    i = index - 1
    while i >= 0:
        line = lines[i].strip()
        if line.startswith("#["):
            attrs.append(line)
        elif not line.startswith("//"):
            break
        i -= 1
    return attrs


def rust_tests(path: Path) -> set[str]:
    """The names of the test functions of a Rust file."""
    lines = path.read_text().splitlines()
    names = set()
    for index, line in enumerate(lines):
        m = re.match(r"\s*(?:pub(?:\([\w:]+\))?\s+)?(?:async\s+)?fn\s+(\w+)", line)
        if not m:
            continue
        if any(re.match(r"#\[(?:tokio::)?test\b", a) for a in attributes_above(lines, index)):
            names.add(m.group(1))
    return names


def rust_fns(path: Path) -> set[str]:
    return set(re.findall(r"\bfn\s+(\w+)", path.read_text()))


def python_tests(path: Path) -> set[str]:
    return {n for n in re.findall(r"^\s*def\s+(\w+)\s*\(", path.read_text(), re.M) if n.startswith("test")}


def missing(text: str, root: Path = ROOT) -> list[str]:
    """What is wrong with a promises table: each test it names that is not there, and each row
    that names no test and does not say so."""
    wrong = []
    cache: dict[str, tuple[set[str], set[str]]] = {}
    table = rows(text)
    if not table:
        return ["the table has no rows"]
    for number, promise, held_by in table:
        named = TEST_NAME.findall(held_by)
        if not named and "not tested" not in held_by:
            wrong.append(f"line {number}: names no test and does not say 'not tested': {promise[:80]}")
        for file, name in named:
            path = root / file
            if not path.is_file():
                wrong.append(f"line {number}: {file} does not exist (for {name})")
                continue
            if file not in cache:
                if file.endswith(".rs"):
                    cache[file] = (rust_tests(path), rust_fns(path))
                else:
                    tests = python_tests(path)
                    cache[file] = (tests, tests)
            tests, fns = cache[file]
            if name in tests:
                continue
            if name in fns:
                wrong.append(f"line {number}: {file}::{name} is a function, not a test")
            else:
                wrong.append(f"line {number}: {file} has no test {name}")
    return wrong


class PromisesNameRealTests(unittest.TestCase):
    def test_every_test_the_table_names_exists(self):
        text = PROMISES.read_text()
        self.assertGreaterEqual(len(rows(text)), 30, "docs/promises.md: the table is missing or cut short")
        wrong = missing(text)
        self.assertEqual([], wrong, "docs/promises.md names tests that do not exist:\n" + "\n".join(wrong))

    def test_a_wrong_name_is_caught(self):
        """The check itself: a row naming a test that is not there, in Rust or Python, a helper
        that is no test, or no test at all, is each reported."""
        good_rust = "`tests/layers.rs::modules_only_use_modules_below_them`"
        good_python = "`tests/infra/test_template.py::test_deploys_with_the_defaults`"
        table = "\n".join([
            "| # | promise | held by |",
            "|---|---|---|",
            f"| 1 | fine | {good_rust}, {good_python} |",
            "| 2 | a typo in Rust | `tests/layers.rs::modules_only_use_modules_below_then` |",
            "| 3 | a typo in Python | `tests/infra/test_template.py::test_deploys_with_the_default` |",
            "| 4 | a helper, not a test | `tests/layers.rs::module_of` |",
            "| 5 | a file that is not there | `tests/nowhere.rs::a_test` |",
            "| 6 | nothing named | tested somewhere |",
            "| 7 | honest | not tested |",
        ])
        wrong = missing(table)
        self.assertEqual(5, len(wrong), wrong)
        for line, needle in ((4, "no test modules_only_use_modules_below_then"),
                             (5, "no test test_deploys_with_the_default"),
                             (6, "is a function, not a test"),
                             (7, "does not exist"),
                             (8, "does not say 'not tested'")):
            self.assertTrue(any(w.startswith(f"line {line}:") and needle in w for w in wrong), (line, needle, wrong))

    def test_tests_inside_proptest_blocks_count(self):
        self.assertIn("the_parser_never_panics", rust_tests(ROOT / "crates" / "core" / "src" / "input" / "tests.rs"))


if __name__ == "__main__":
    unittest.main()
