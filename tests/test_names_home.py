"""One home for names and one for time: nothing but schemas/names.py spells an attribute name or
builds a `_live`/`_stable`/`_derived` name by hand, and nothing but pingpipe/utc.py writes the
timestamp format. The scan reads each package module's string literals (docstrings aside), so
SQL text, comments and docs may still say `submission_timestamp`; it fails naming file and line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = ("edge", "decoder", "loader", "schemas", "pingpipe", "etl", "logs", "dictionary")
HOMES = {Path("schemas/names.py"), Path("pingpipe/utc.py")}
ATTRIBUTES = {"submission_timestamp"}
# A dataset suffix glued to a name: "x_live", "_stable", f"{family}_derived", f"{family}_stable.{table}".
SUFFIX_END = re.compile(r"_(live|stable|derived)$")
SUFFIX_AFTER_NAME = re.compile(r"^_(live|stable|derived)\.")
TIME_FORMAT = "%Y-%m-%dT"


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of bare string statements (docstrings and the like): prose, not names."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def offences(source: str) -> list[tuple[int, str]]:
    """(line, what) for each hand-built name, attribute literal or timestamp format in a module's source."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for i, part in enumerate(parts):
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    continue
                after_name = i > 0 and isinstance(parts[i - 1], ast.FormattedValue)
                if after_name and SUFFIX_AFTER_NAME.search(part.value):
                    found.append((node.lineno, f"a dataset name built by hand: {part.value!r} after a name"))
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in prose:
            continue
        text = node.value
        if text in ATTRIBUTES:
            found.append((node.lineno, f"the attribute {text!r} spelled out"))
        elif SUFFIX_END.search(text):
            found.append((node.lineno, f"a dataset suffix by hand: {text!r}"))
        if TIME_FORMAT in text:
            found.append((node.lineno, f"the timestamp format written out: {text!r}"))
    return sorted(set(found))


def test_no_module_but_the_names_and_time_modules_spells_a_name_or_a_timestamp_format():
    files = [p for folder in PACKAGE for p in (REPO / folder).rglob("*.py") if ".venv" not in p.parts]
    assert len(files) > 100
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in sorted(files)
        if path.relative_to(REPO) not in HOMES
        for line, what in offences(path.read_text())
    ]
    assert found == [], "use schemas/names.py and pingpipe/utc.py:\n" + "\n".join(found)


def test_the_scan_finds_each_way_of_building_a_name_by_hand():
    source = """
def f(family, table, now, attributes):
    attributes["submission_timestamp"] = now
    a = family + "_live"
    b = dataset.removesuffix("_stable")
    c = f"{family}_derived"
    d = f"{family}_stable.{table}"
    e = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    g = f"SELECT * FROM `{family}_live.{table}`"
"""
    assert [line for line, _ in offences(source)] == [3, 4, 5, 6, 7, 8, 9]


def test_the_scan_leaves_prose_sql_columns_and_other_names_alone():
    source = '''
"""Rows of `<family>_live.<table>`, by submission_timestamp."""
from pingpipe.schemas.names import SUBMISSION_TIMESTAMP, live_table

def f(family, table):
    """The family's `_stable` copy."""
    # "_live" in a comment
    sql = f"SELECT submission_timestamp, document_id FROM {table} WHERE DATE(submission_timestamp) = @d"
    return live_table(family, table), SUBMISSION_TIMESTAMP, "pingpipe_demo_live.baseline_v1", "%Y-%m-%d", sql
'''
    assert offences(source) == []
