"""Payload -> table row, following Mozilla's BigQuery sink rules.

* JSON property names become the column names the transpiler gave them (snake_case, `_` before a
  leading digit), so Glean's `metrics.counter["glean.error.io"]` lands in
  `metrics.counter.glean_error_io`.
* A JSON object in a REPEATED key/value RECORD column becomes a list of {key, value}.
* A complex value (object, list) or a non-string scalar in a STRING column is written as JSON text.
* A JSON column receives the value as is.
* Whatever fits no column — an unknown field, or a value of the wrong type for its column — is
  kept in the `additional_properties` JSON string, at its original path. A row never fails
  because of its content.

`Coercer(bq_fields)` compiles the schema once into nested closures; coercing a row is then a
single pass over the payload.
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
from typing import Callable

import pybase64

from pingpipe import jsontext
from pingpipe.schemas.transpile import column_name

MISSING = object()  # "this value has no place in the column"
_ALIAS_LIMIT = 4096  # spellings remembered per record (payload keys are client text: keep it bounded)


def _is_map_record(field: dict) -> bool:
    names = [f["name"] for f in field.get("fields", [])]
    return field.get("mode") == "REPEATED" and field.get("type") == "RECORD" and names == ["key", "value"]


# What the warehouses parse as TIMESTAMP / DATETIME / DATE / TIME (ISO 8601, checked here so that one
# bad value goes to additional_properties instead of failing its whole batch in the writer).
# ASCII: \d would also match other scripts' digits, which the warehouses do not parse.
_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?)?(Z|[+-]\d\d(?::?\d\d)?)?", re.ASCII)
_TIME = re.compile(r"(\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?", re.ASCII)


def timestamp_ok(v: str, zone_allowed: bool) -> bool:
    if len(v) == 27 and v[26] == "Z" and v[10] == "T" and v[19] == "." and v.isascii():  # the pipeline's own form
        try:
            dt.datetime.fromisoformat(v[:26])  # over ASCII, it accepts only digits in the right places
        except ValueError:
            return False
        return zone_allowed
    m = _TIMESTAMP.fullmatch(v)
    if m is None or (m.group(7) and not zone_allowed):
        return False
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups()[:6])
    try:
        dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _date_ok(v: str) -> bool:
    try:
        return len(v) == 10 and v.isascii() and dt.date.fromisoformat(v) is not None
    except ValueError:
        return False


def _time_ok(v: str) -> bool:
    m = _TIME.fullmatch(v)
    return m is not None and int(m.group(1)) < 24 and int(m.group(2)) < 60 and int(m.group(3) or 0) < 60


def _base64_ok(v: str) -> bool:
    try:
        pybase64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _scalar(bq_type: str):
    """A converter `(value, extra) -> column value | MISSING` for one scalar column type."""
    if bq_type in ("STRING",):

        def to_string(v, extra):
            if type(v) is str:
                return v
            return jsontext.dumps(v).decode("utf-8")  # complex or non-string values as JSON text

        return to_string
    if bq_type in ("INT64", "INTEGER"):

        def to_int(v, extra):
            t = type(v)
            if t is int:
                return v if -(2**63) <= v < 2**63 else MISSING
            if t is float and v.is_integer() and abs(v) < 2**63:
                return int(v)
            return MISSING

        return to_int
    if bq_type in ("FLOAT64", "FLOAT", "BIGNUMERIC"):

        def to_float(v, extra):
            t = type(v)
            if t is float:
                return v
            if t is int:  # as a float: no JSON encoder or Arrow column takes an int over 64 bits
                try:
                    return float(v)
                except OverflowError:
                    return MISSING
            return MISSING

        return to_float
    if bq_type == "NUMERIC":  # DECIMAL(38, 9): 29 digits before the point
        return lambda v, extra: v if type(v) in (int, float) and abs(v) < 1e29 else MISSING
    if bq_type in ("BOOL", "BOOLEAN"):
        return lambda v, extra: v if type(v) is bool else MISSING
    if bq_type in ("TIMESTAMP", "DATETIME"):
        return lambda v, extra: v if type(v) is str and timestamp_ok(v, bq_type == "TIMESTAMP") else MISSING
    if bq_type == "DATE":
        return lambda v, extra: v if type(v) is str and _date_ok(v) else MISSING
    if bq_type == "TIME":
        return lambda v, extra: v if type(v) is str and _time_ok(v) else MISSING
    if bq_type == "BYTES":
        return lambda v, extra: v if type(v) is str and _base64_ok(v) else MISSING
    if bq_type == "JSON":
        return lambda v, extra: v
    raise ValueError(f"unsupported BigQuery type {bq_type}")


# How a column's values are converted (shared with columns.py): the two commonest kinds inline.
COMPLEX, STRING, INT, SCALAR, RECORD = 0, 1, 2, 3, 4
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def field_kind(field: dict) -> int:
    if field.get("mode") == "REPEATED":
        return COMPLEX
    if field["type"] in ("RECORD", "STRUCT"):
        return RECORD
    if field["type"] == "STRING":
        return STRING
    if field["type"] in ("INT64", "INTEGER"):
        return INT
    return SCALAR


def resolve(columns: dict, known: int, key: str):
    """The column entry for a payload key not seen before under this spelling (None: no column).

    The spelling is remembered, up to _ALIAS_LIMIT per record: payload keys are client text."""
    target = columns.get(column_name(key))
    if len(columns) < known + _ALIAS_LIMIT:
        columns[key] = target
    return target


def convert_other(kind: int, convert: Callable, key: str, value, extra: dict):
    """A value of a column that is not a record, the other way than inline: its column value, or
    MISSING, and then it is kept in `extra` instead (as are the misfit parts of a list or map)."""
    if kind == COMPLEX:
        sub_extra: dict = {}
        converted = convert(value, sub_extra)
        if sub_extra and converted is not MISSING:
            extra[key] = sub_extra
    else:
        converted = convert(value, None)
    if converted is MISSING:
        extra[key] = value
    return converted


def additional_properties(extra: dict) -> str | None:
    """The additional_properties text of a row's values without a column: the client's data only.

    `metadata` is the pipeline's own record. What it holds without a column (document_namespace,
    _type, _version: the table's name says them) is left out, as Mozilla's sink does (it sets the
    record aside before coercion, and BigQuery ignores its unknown fields)."""
    extra.pop("metadata", None)
    return jsontext.dumps(extra).decode("utf-8") if extra else None


class Coercer:
    """Coerce payloads for one table schema (a list of BigQuery fields)."""

    def __init__(self, fields: list[dict]):
        self.fields = fields
        self._record = compile_record(fields)
        self.has_additional = any(f["name"] == "additional_properties" for f in fields)

    def __call__(self, payload: dict) -> dict:
        """The row for a payload (column name -> value); unplaced data in additional_properties."""
        extra: dict = {}
        row = self._record(payload, extra, {})
        if extra and self.has_additional:
            text = additional_properties(extra)
            if text is not None:
                row["additional_properties"] = text
        return row


class Layout:
    """Where the one record walk writes a row: here a nested dict, keyed by column name.

    columns.py's layout writes one flat list per row instead, keyed by column slot (`flat`): a
    nested record marks its own slot and writes its fields into the same list."""

    flat = False

    def leaf(self, field: dict):
        """The key a leaf column's value is written under."""
        return field["name"]

    def record(self, field: dict, compile_fields: Callable[[], Callable]):
        """(key, record function) for a nested record; `compile_fields()` compiles its fields' walk."""
        return field["name"], compile_fields()

    def done(self, fields: list[dict], columns: dict, known: int, record: Callable) -> Callable:
        """The record function the parent calls (a layout may wrap the walk)."""
        return record


ROWS = Layout()


def compile_record(fields: list[dict], layout: Layout = ROWS) -> Callable[[dict, dict, object], object]:
    """`record(obj, extra, out) -> out`: obj's values written into `out` under the layout's keys.

    name -> (key, converter, kind). The two commonest kinds are converted inline, without a
    call: most of a Glean row is strings and integers, and a call per value is the cost here. A
    nested record's own record function is called directly (one call per record, not two)."""
    columns: dict[str, tuple[object, Callable, int] | None] = {}
    for field in fields:
        kind = field_kind(field)
        if kind == RECORD:
            key, convert = layout.record(field, lambda f=field: compile_record(f["fields"], layout))
        else:
            key, convert = layout.leaf(field), compile_field(field)
        columns[field["name"]] = (key, convert, kind)
    known = len(columns)
    same_out = layout.flat

    def record(obj: dict, extra: dict, out):
        for key, value in obj.items():
            if value is None:
                continue
            target = columns.get(key, MISSING)
            if target is MISSING:
                target = resolve(columns, known, key)
            if target is None:
                extra[key] = value
                continue
            at, convert, kind = target
            t = type(value)
            if kind == STRING and t is str:
                out[at] = value
            elif kind == INT and t is int and INT_MIN <= value <= INT_MAX:
                out[at] = value
            elif kind == RECORD:
                if t is not dict:
                    extra[key] = value
                    continue
                sub_extra: dict = {}
                if same_out:
                    out[at] = True
                    convert(value, sub_extra, out)
                else:
                    out[at] = convert(value, sub_extra, {})
                if sub_extra:
                    extra[key] = sub_extra
            else:
                converted = convert_other(kind, convert, key, value, extra)
                if converted is not MISSING:
                    out[at] = converted
        return out

    return layout.done(fields, columns, known, record)


def compile_field(field: dict) -> Callable:
    """`convert(value, extra) -> column value | MISSING` for a field that is not a nullable record."""
    mode = field.get("mode", "NULLABLE")
    bq_type = field["type"]
    if _is_map_record(field):
        value = compile_field(field["fields"][1])

        def map_field(v, extra):
            if type(v) is dict:
                out = []
                for k, item in v.items():
                    if item is None:
                        continue
                    sub: dict = {}
                    converted = value(item, sub)
                    if converted is MISSING:
                        extra[k] = item
                    else:
                        out.append({"key": k, "value": converted})
                        if sub:
                            extra[k] = sub
                return out
            return MISSING

        return map_field
    if mode == "REPEATED":
        item = compile_field({**field, "mode": "NULLABLE"})

        def repeated(v, extra):
            if type(v) is not list:
                return MISSING
            out = []
            for element in v:
                if element is None:
                    continue
                converted = item(element, {})
                if converted is MISSING:
                    return MISSING  # one misfit element: keep the whole list as it was
                out.append(converted)
            return out

        return repeated
    if bq_type in ("RECORD", "STRUCT"):
        record = compile_record(field["fields"])

        def nested(v, extra):
            if type(v) is not dict:
                return MISSING
            return record(v, extra, {})

        return nested
    return _scalar(bq_type)
