"""Payloads -> an Arrow table in one pass: coerce.py's rules, written column by column.

`pingpipe up` ships each table's rows as Arrow. Coercing each payload to a row dict and then
building the table (`pa.Table.from_pylist`) walks every row twice, and the second walk visits
every column of the table, present or not: 210 for the demo app. Here each value goes straight
to its column's list, at its row's position, and each column becomes an Arrow array in one C
call; a column no row filled is a null array without a walk.

Most of a Glean ping sits in a few flat records of one type (`metrics.counter`, `metrics.string`,
...). When such an object's keys are all spelled as before and its values all have the exact
Python type of the columns, it is kept whole and Arrow converts it in C (`_Flat`); the keys and
types are checked in C too. Otherwise it takes the general path, value by value.

The rules are coerce.py's, shared with it (`resolve`, `convert_other`, `compile_field`): the
same values in the same columns, the same additional_properties. Whenever a batch mixes the
two paths in a way Arrow cannot settle (an integer over 64 bits, say), the batch is coerced
again on the general path alone. tests/loader/test_columns.py compares the output with
coerce.py's on every fixture and on generated payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa

from .arrow import arrow_type, schema_for
from .coerce import (INT, INT_MAX, INT_MIN, MISSING, RECORD, STRING, additional_properties, compile_field, convert_other,
                     field_kind, resolve)

# BigQuery types whose values Arrow converts exactly as coerce.py does, given this Python type.
_EXACT = {"STRING": str, "INT64": int, "INTEGER": int, "BOOL": bool, "BOOLEAN": bool, "FLOAT64": float, "FLOAT": float}


class _Redo(Exception):
    """The batch mixed the two paths in a way only the general path settles: coerce it again."""


@dataclass
class _Flat:
    """A record of leaf columns of one type: objects kept whole and converted by Arrow."""

    slot: int  # where the whole objects are kept, per row
    spelling: list[str | None]  # per column, the payload key that names it (learned, then fixed)
    spelled: set[str] = field(default_factory=set)
    types: frozenset = frozenset()  # the Python types a kept object's values may have
    general: Callable | None = None  # the record's general path

    def struct(self, columns: pa.StructType) -> pa.StructType:
        """The columns' struct type under the payload's spellings (Arrow looks values up by name)."""
        return pa.struct([pa.field(s or columns.field(i).name, columns.field(i).type) for i, s in enumerate(self.spelling)])


# A column: its slot (the index of its list of values), its Arrow type, and for a record its own
# columns (its slot then holds True where the record is present) and, if flat, how it is kept.
_Node = tuple[int, pa.DataType, "list[_Node] | None", "_Flat | None"]


class ColumnCoercer:
    """Coerce a batch of payloads for one table into an Arrow table (`schema`: arrow.arrow_schema(fields))."""

    def __init__(self, fields: list[dict], schema: pa.Schema):
        self.schema = schema
        self._slots = 0
        self._nodes: list[_Node] = []
        self._keep_whole = [True]  # off while a batch is coerced again on the general path alone
        self._record = self._compile(fields, self._nodes, nested=False)
        names = [f["name"] for f in fields]
        self._additional = self._nodes[names.index("additional_properties")][0] if "additional_properties" in names else None
        self.kept_whole = 0  # objects of the last batch that Arrow converted whole (the fast path), for tests and benchmarks

    def __call__(self, payloads: list[dict]) -> pa.Table:
        """The table of these payloads' rows; raises pa.ArrowException (and the like) if Arrow refuses a value."""
        self.kept_whole = 0
        try:
            return self._table(payloads)
        except (_Redo, pa.ArrowException, OverflowError, TypeError, ValueError):
            self._keep_whole[0] = False
            self.kept_whole = 0
            try:
                return self._table(payloads)
            finally:
                self._keep_whole[0] = True

    def _table(self, payloads: list[dict]) -> pa.Table:
        n = len(payloads)
        cols = [[None] * n for _ in range(self._slots)]
        record, additional = self._record, self._additional
        for r, payload in enumerate(payloads):
            extra: dict = {}
            record(payload, r, extra, cols)
            if extra and additional is not None:
                cols[additional][r] = additional_properties(extra)
        return pa.Table.from_arrays([self._array(node, cols, n) for node in self._nodes], schema=self.schema)

    def _array(self, node: _Node, cols: list[list], n: int) -> pa.Array:
        slot, type_, children, flat = node
        values = cols[slot]
        absent = values.count(None)
        if absent == n:
            return pa.nulls(n, type_)
        if children is None:
            return pa.array(values, type=type_)
        kept = 0 if flat is None else n - cols[flat.slot].count(None)
        if kept:
            if kept == n - absent:  # every object present was kept whole
                self.kept_whole += kept
                whole = pa.array(cols[flat.slot], type=flat.struct(type_))
                return pa.StructArray.from_arrays(whole.flatten(), fields=list(type_), mask=whole.is_null() if absent else None)
            for r, obj in enumerate(cols[flat.slot]):  # some were not: put the kept ones value by value too
                if obj is not None:
                    extra: dict = {}
                    flat.general(obj, r, extra, cols)
                    if extra:  # a value only the general path places (in additional_properties)
                        raise _Redo
        mask = pa.array(values, type=pa.bool_()).is_null() if absent else None
        return pa.StructArray.from_arrays([self._array(c, cols, n) for c in children], fields=list(type_), mask=mask)

    def _compile(self, fields: list[dict], nodes: list[_Node], nested: bool = True) -> Callable[[dict, int, dict, list], None]:
        """`record(obj, r, extra, cols)`: obj's values into row r of the columns (coerce.compile_record's twin)."""
        columns: dict[str, tuple[int, Callable, int] | None] = {}
        for f in fields:
            kind = field_kind(f)
            slot = self._slots
            self._slots += 1
            if kind == RECORD:
                children: list[_Node] = []
                convert = self._compile(f["fields"], children)
                nodes.append((slot, arrow_type(f), children, getattr(convert, "flat", None)))
            else:
                convert = compile_field(f)
                nodes.append((slot, arrow_type(f), None, None))
            columns[f["name"]] = (slot, convert, kind)
        known = len(columns)

        def record(obj: dict, r: int, extra: dict, cols: list[list]) -> None:
            for key, value in obj.items():
                if value is None:
                    continue
                target = columns.get(key, MISSING)
                if target is MISSING:
                    target = resolve(columns, known, key)
                if target is None:
                    extra[key] = value
                    continue
                slot, convert, kind = target
                t = type(value)
                if kind == STRING and t is str:
                    cols[slot][r] = value
                elif kind == INT and t is int and INT_MIN <= value <= INT_MAX:
                    cols[slot][r] = value
                elif kind == RECORD:
                    if t is not dict:
                        extra[key] = value
                        continue
                    sub_extra: dict = {}
                    cols[slot][r] = True
                    convert(value, r, sub_extra, cols)
                    if sub_extra:
                        extra[key] = sub_extra
                else:
                    converted = convert_other(kind, convert, key, value, extra)
                    if converted is not MISSING:
                        cols[slot][r] = converted

        types = {_EXACT.get(f["type"]) if f.get("mode") != "REPEATED" else None for f in fields}
        if not nested or len(types) != 1 or None in types:
            return record
        return self._flat(fields, columns, known, record, types.pop())

    def _flat(self, fields: list[dict], columns: dict, known: int, general: Callable, python_type: type) -> Callable:
        flat = _Flat(self._slots, [None] * len(fields), types=frozenset((python_type, type(None))), general=general)
        self._slots += 1
        first_slot = columns[fields[0]["name"]][0]
        spelling, spelled, types, keep_whole = flat.spelling, flat.spelled, flat.types, self._keep_whole

        def record(obj: dict, r: int, extra: dict, cols: list[list]) -> None:
            if keep_whole[0] and spelled.issuperset(obj) and types.issuperset(map(type, obj.values())):
                cols[flat.slot][r] = obj
                return
            for key in obj.keys() - spelled:  # learn each column's spelling: the first key that names it
                target = columns.get(key, MISSING)
                if target is MISSING:
                    target = resolve(columns, known, key)
                if target is not None and spelling[target[0] - first_slot] is None:
                    spelling[target[0] - first_slot] = key
                    spelled.add(key)
            flat.general(obj, r, extra, cols)

        record.flat = flat  # type: ignore[attr-defined]
        return record


_COERCERS: dict[int, tuple[list[dict], ColumnCoercer | None]] = {}


def column_coercer(fields: list[dict]) -> ColumnCoercer | None:
    """The ColumnCoercer of a table's fields, remembered per fields list; None if Arrow cannot carry the table."""
    cached = _COERCERS.get(id(fields))
    if cached is None or cached[0] is not fields:
        schema = schema_for(fields)
        cached = _COERCERS[id(fields)] = (fields, None if schema is None else ColumnCoercer(fields, schema))
    return cached[1]
