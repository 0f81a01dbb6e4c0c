"""Payloads -> an Arrow table in one pass: coerce.py's rules, written column by column.

`pingpipe up` ships each table's rows as Arrow. Coercing each payload to a row dict and then
building the table (`pa.Table.from_pylist`) walks every row twice, and the second walk visits
every column of the table, present or not. Here coerce.py's one record walk writes each row as a
flat list of values indexed by column slot; the batch is turned into columns in C (`zip`), each
column becomes an Arrow array in one C call, and a column no row filled is a null array.

Most of a Glean ping sits in a few flat records of one type (`metrics.counter`, `metrics.string`,
...). When such an object's keys are all spelled as before and its values all have the exact
Python type of the columns, it is kept whole and Arrow converts it in C (`_Flat`); the keys and
types are checked in C too. Otherwise it takes the general path, value by value.

The walk and the rules are coerce.py's (`compile_record` with this module's layout): the same
values in the same columns, the same additional_properties. Whenever a batch mixes the
two paths in a way Arrow cannot settle (an integer over 64 bits, say), the batch is coerced
again on the general path alone. tests/loader/test_columns.py compares the output with
coerce.py's on every fixture and on generated payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pyarrow as pa

from .arrow import arrow_type, schema_for
from .coerce import MISSING, Layout, additional_properties, compile_record, resolve

# BigQuery types whose values Arrow converts exactly as coerce.py does, given this Python type.
_EXACT = {"STRING": str, "INT64": int, "INTEGER": int, "BOOL": bool, "BOOLEAN": bool, "FLOAT64": float, "FLOAT": float}


class _Redo(Exception):
    """The batch mixed the two paths in a way only the general path settles: coerce it again."""


@dataclass
class _Flat:
    """A record of leaf columns of one type: objects kept whole and converted by Arrow."""

    slot: int  # where the whole objects are kept, per row
    present: int  # the record's own slot (True where the record is present)
    spelling: list[str | None]  # per column, the payload key that names it (learned, then fixed)
    spelled: set[str] = field(default_factory=set)
    types: frozenset = frozenset()  # the Python types a kept object's values may have
    general: Callable | None = None  # the record's general path

    def struct(self, columns: pa.StructType) -> pa.StructType:
        """The columns' struct type under the payload's spellings (Arrow looks values up by name)."""
        return pa.struct([pa.field(s or columns.field(i).name, columns.field(i).type) for i, s in enumerate(self.spelling)])


# A column: its slot (its index in a row's list of values), its Arrow type, and for a record its
# own columns (its slot then holds True where the record is present) and, if flat, how it is kept.
_Node = tuple[int, pa.DataType, "list[_Node] | None", "_Flat | None"]


class _Columns(Layout):
    """coerce.py's walk, writing each row as one flat list of values indexed by column slot."""

    flat = True

    def __init__(self, coercer: "ColumnCoercer"):
        self.coercer = coercer
        self.open: list[tuple[int, list[_Node]]] = [(-1, coercer.nodes)]  # (record slot, its nodes), innermost last

    def leaf(self, field: dict) -> int:
        slot = self.coercer.new_slot()
        self.open[-1][1].append((slot, arrow_type(field), None, None))
        return slot

    def record(self, field: dict, compile_fields: Callable[[], Callable]) -> tuple[int, Callable]:
        slot, children = self.coercer.new_slot(), []
        self.open.append((slot, children))
        try:
            record = compile_fields()
        finally:
            self.open.pop()
        self.open[-1][1].append((slot, arrow_type(field), children, getattr(record, "flat", None)))
        return slot, record

    def done(self, fields: list[dict], columns: dict, known: int, record: Callable) -> Callable:
        types = {_EXACT.get(f["type"]) if f.get("mode") != "REPEATED" else None for f in fields}
        if len(self.open) == 1 or len(types) != 1 or None in types:  # the table itself, or a mixed record
            return record
        return self.coercer.flat(self.open[-1][0], fields, columns, known, record, types.pop())


class ColumnCoercer:
    """Coerce a batch of payloads for one table into an Arrow table (`schema`: arrow.arrow_schema(fields))."""

    def __init__(self, fields: list[dict], schema: pa.Schema):
        self.schema = schema
        self.slots = 0
        self.nodes: list[_Node] = []
        self._flats: list[_Flat] = []
        self._keep_whole = [True]  # off while a batch is coerced again on the general path alone
        self._record = compile_record(fields, _Columns(self))
        names = [f["name"] for f in fields]
        self._additional = self.nodes[names.index("additional_properties")][0] if "additional_properties" in names else None
        self.kept_whole = 0  # objects of the last batch that Arrow converted whole (the fast path), for tests and benchmarks

    def new_slot(self) -> int:
        self.slots += 1
        return self.slots - 1

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
        n, slots = len(payloads), self.slots
        record, additional = self._record, self._additional
        rows = []
        for payload in payloads:
            extra: dict = {}
            out = record(payload, extra, [None] * slots)
            if extra and additional is not None:
                out[additional] = additional_properties(extra)
            rows.append(out)
        cols = list(zip(*rows, strict=False)) if n else [()] * slots
        if self._settle(rows, cols):
            cols = list(zip(*rows, strict=False))
        return pa.Table.from_arrays([self._array(node, cols, n) for node in self.nodes], schema=self.schema)

    def _settle(self, rows: list[list], cols: list[tuple]) -> bool:
        """Where a flat record was kept whole in some rows only, put those value by value too (True if any)."""
        changed = False
        for flat in self._flats:
            kept = cols[flat.slot]
            if kept.count(None) in (len(kept), cols[flat.present].count(None)):  # none kept, or all present kept
                continue
            for r, obj in enumerate(kept):
                if obj is not None:
                    extra: dict = {}
                    rows[r][flat.slot] = None
                    flat.general(obj, extra, rows[r])
                    if extra:  # a value only the general path places (in additional_properties)
                        raise _Redo
            changed = True
        return changed

    def _array(self, node: _Node, cols: list[tuple], n: int) -> pa.Array:
        slot, type_, children, flat = node
        values = cols[slot]
        absent = values.count(None)
        if absent == n:
            return pa.nulls(n, type_)
        if children is None:
            return pa.array(values, type=type_)
        if flat is not None and cols[flat.slot].count(None) == absent:  # every object present was kept whole
            self.kept_whole += n - absent
            whole = pa.array(cols[flat.slot], type=flat.struct(type_))
            return pa.StructArray.from_arrays(whole.flatten(), fields=list(type_), mask=whole.is_null() if absent else None)
        mask = pa.array(values, type=pa.bool_()).is_null() if absent else None
        return pa.StructArray.from_arrays([self._array(c, cols, n) for c in children], fields=list(type_), mask=mask)

    def flat(self, present: int, fields: list[dict], columns: dict, known: int, general: Callable, python_type: type) -> Callable:
        """A record of leaf columns of one type whose objects, once their spellings are known, are kept whole."""
        flat = _Flat(self.new_slot(), present, [None] * len(fields), types=frozenset((python_type, type(None))), general=general)
        self._flats.append(flat)
        first_slot = columns[fields[0]["name"]][0]
        spelling, spelled, types, keep_whole = flat.spelling, flat.spelled, flat.types, self._keep_whole

        def record(obj: dict, extra: dict, out: list) -> list:
            if keep_whole[0] and spelled.issuperset(obj) and types.issuperset(map(type, obj.values())):
                out[flat.slot] = obj
                return out
            for key in obj.keys() - spelled:  # learn each column's spelling: the first key that names it
                target = columns.get(key, MISSING)
                if target is MISSING:
                    target = resolve(columns, known, key)
                if target is not None and spelling[target[0] - first_slot] is None:
                    spelling[target[0] - first_slot] = key
                    spelled.add(key)
            return general(obj, extra, out)

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
